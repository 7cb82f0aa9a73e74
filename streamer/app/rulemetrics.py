"""What the alert rules work with, exported: how many series each watches, and the false-alarm
budget of each drop rule, which is divided among those series (docs/alerting.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Gauge

from streamer.core.rules import Drop, Rule
from streamer.export import names

WEEK_MS = 7 * 86_400_000


class RuleMetrics:
    def __init__(self, registry: CollectorRegistry, rules: Iterable[Rule]) -> None:
        self._series = Gauge(
            names.RULE_SERIES, names.HELP[names.RULE_SERIES], ["rule"], registry=registry
        )
        budget = Gauge(
            names.RULE_FALSE_ALARMS,
            names.HELP[names.RULE_FALSE_ALARMS],
            ["rule"],
            registry=registry,
        )
        for rule in rules:
            if isinstance(rule.condition, Drop):
                budget.labels(rule.name).set(WEEK_MS / rule.condition.false_alarm_every_ms)

    def watched(self, counts: Mapping[str, int]) -> None:
        for rule, count in counts.items():
            self._series.labels(rule).set(count)
