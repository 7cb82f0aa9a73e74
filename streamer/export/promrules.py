"""``streamer rules export --prometheus``: the YAML rules as Prometheus alerting rules.

For teams that alert from Prometheus rather than from the worker. The expressions compute the
same verdicts from the exported window counts: thresholds on the score gauges, gated by
``min_responses``; drops as the same one-sided z-tests, with the baseline taken as the long
window minus the short one. What Prometheus cannot express: the ``clear`` hysteresis of a
threshold and the ``clear_p_value`` of a drop (a Prometheus alert resolves as soon as its
expression stops matching).
"""

from __future__ import annotations

import re
from typing import Any

from streamer.core.events import DIMENSIONS
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scores import ScoreKind
from streamer.export import names

_M = "ignoring(window, metric)"


def _selector(rule: Rule, window: str, extra: str = "") -> str:
    matchers = [f'window="{window}"']
    if rule.selector.touchpoints:
        alternatives = "|".join(re.escape(t) for t in sorted(rule.selector.touchpoints))
        matchers.append(f'touchpoint=~"{alternatives}"')
    chosen = dict(rule.selector.dimensions)
    for name in DIMENSIONS:
        if name not in chosen:
            matchers.append(f'{name}=""')  # the touchpoint series, or this breakdown only
        elif chosen[name]:
            matchers.append(f'{name}=~"{"|".join(re.escape(v) for v in sorted(chosen[name]))}"')
        else:
            matchers.append(f'{name}!=""')
    return "{" + ",".join(([extra] if extra else []) + matchers) + "}"


def _n(rule: Rule, window: str) -> str:
    metric = f'{names.METRIC}="{rule.score.metric.value}"'
    return names.RESPONSES + _selector(rule, window, metric)


def _count(name: str, rule: Rule, window: str) -> str:
    return f"{name}{_selector(rule, window)}"


def expression(rule: Rule) -> str:
    condition = rule.condition
    if isinstance(condition, Threshold):
        gauge = f"{names.SCORES[rule.score]}{_selector(rule, condition.window)}"
        comparison = (
            f"< {condition.below}" if condition.below is not None else f"> {condition.above}"
        )
        enough = f"({_n(rule, condition.window)} >= {rule.min_responses})"
        return f"({gauge} {comparison}) and {_M} {enough}"
    raise ValueError(f"rule {rule.name}: a sequential drop cannot be written in PromQL")


def export(rules: tuple[Rule, ...]) -> dict[str, Any]:
    """A Prometheus rule file (``groups``) with one alerting rule per streamer rule."""
    out = []
    for rule in rules:
        if isinstance(rule.condition, Drop):
            continue  # sequential: evaluated by the worker only (docs/alerting.md)
        entry: dict[str, Any] = {
            "alert": rule.name,
            "expr": expression(rule),
            "labels": {"severity": rule.severity, "score": rule.score.value, **dict(rule.labels)},
            "annotations": {
                "summary": f"{rule.score.value} {rule.condition.window} for "
                f"{{{{ $labels.touchpoint }}}} breaches rule {rule.name}",
                **dict(rule.annotations),
            },
        }
        if rule.for_ms:
            entry["for"] = f"{rule.for_ms // 1000}s"
        out.append(entry)
    return {"groups": [{"name": "streamer", "rules": out}]}
