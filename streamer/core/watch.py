"""Watching every series with every rule: one alert state per (rule, series).

``evaluate`` runs each rule's verdict through the state machine for each matching series. A
series that has vanished (all its buckets expired) gets a NO_DATA verdict, so a firing alert
on it resolves instead of lingering. ``changed`` states are what the shell persists, so alert
state survives a restart: no duplicate page, no lost resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from streamer.core.alerting import Alert, AlertState, Status, step
from streamer.core.rules import Rule, Signal, Verdict, evaluate
from streamer.core.scales import CesPolicy
from streamer.core.series import SeriesKey
from streamer.core.tally import Tally

StateKey = tuple[str, SeriesKey]
"""(rule name, series)"""


class Evaluated(NamedTuple):
    alerts: list[Alert]
    """Transitions for the sinks: fired or resolved."""
    changed: dict[StateKey, AlertState]
    """States whose status changed; INACTIVE and RESOLVED ones are no longer kept."""


class Watch:
    def __init__(self, rules: Sequence[Rule], window_labels: Sequence[str], ces: CesPolicy) -> None:
        self.rules = tuple(rules)
        self._labels = tuple(window_labels)
        self._ces = ces
        self._by_name = {rule.name: rule for rule in self.rules}
        self.states: dict[StateKey, AlertState] = {}

    def evaluate(
        self, series: Iterable[tuple[SeriesKey, tuple[Tally, ...]]], now_ms: int
    ) -> Evaluated:
        alerts: list[Alert] = []
        changed: dict[StateKey, AlertState] = {}
        seen: set[StateKey] = set()
        for key, totals in series:
            by_window = dict(zip(self._labels, totals, strict=True))
            for rule in self.rules:
                if rule.score.metric is key.metric and rule.selector.matches(key):
                    seen.add((rule.name, key))
                    self._step(
                        rule, key, evaluate(rule, by_window, self._ces), now_ms, alerts, changed
                    )
        for rule_name, key in [k for k in self.states if k not in seen]:
            self._step(
                self._by_name[rule_name], key, Verdict(Signal.NO_DATA, 0), now_ms, alerts, changed
            )
        return Evaluated(alerts, changed)

    def firing(self) -> list[tuple[Rule, SeriesKey, AlertState]]:
        return [
            (self._by_name[name], key, state)
            for (name, key), state in self.states.items()
            if state.status is Status.FIRING
        ]

    def restore(self, states: Iterable[tuple[StateKey, AlertState]]) -> None:
        """Replace the states with persisted ones; those of unknown rules are dropped."""
        self.states = {key: state for key, state in states if key[0] in self._by_name}

    def _step(
        self,
        rule: Rule,
        key: SeriesKey,
        verdict: Verdict,
        now_ms: int,
        alerts: list[Alert],
        changed: dict[StateKey, AlertState],
    ) -> None:
        state_key = (rule.name, key)
        before = self.states.get(state_key, AlertState())
        after, alert = step(rule, key, before, verdict, now_ms)
        if after.status in (Status.INACTIVE, Status.RESOLVED):
            self.states.pop(state_key, None)  # both start over at the next breach
        else:
            self.states[state_key] = after
        if after.status is not before.status:
            changed[state_key] = after
        if alert is not None:
            alerts.append(alert)


def encode_state(state: AlertState) -> dict[str, Any]:
    """What is persisted of a state: the verdict is recomputed at the next evaluation."""
    return {"v": 1, "status": state.status.value, "since_ms": state.since_ms}


def decode_state(data: dict[str, Any]) -> AlertState:
    if data.get("v") != 1:
        raise ValueError(f"alert state version {data.get('v')!r}, expected 1")
    return AlertState(Status(data["status"]), data["since_ms"])
