"""``streamer rules export --prometheus``: the YAML rules as Prometheus alerting rules.

For teams that alert from Prometheus rather than from the worker. A threshold is exported with
its confidence, as the worker judges it: the one-sided bound of the score at ``confidence``,
computed from the exported window counts (NPS: normal with its standard error; CSAT and CES
agree: Wilson; CES mean: normal with the sample deviation), must be beyond the line, on at
least ``min_responses`` answers. What PromQL cannot express is said per rule, as a comment in
the output and a line on stderr: a drop is a sequential CUSUM whose statistic carries state
from tick to tick (docs/alerting.md), so only the worker can page it; and a threshold's
``clear`` hysteresis has no counterpart (a Prometheus alert resolves as soon as its expression
stops matching).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from streamer.core.events import DIMENSIONS
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scores import ScoreKind
from streamer.core.stats import one_sided_z
from streamer.export import names

_M = "ignoring(window, metric)"


def _selector(rule: Rule, window: str, extra: str = "") -> str:
    matchers = [f'{names.WINDOW}="{window}"']
    if rule.selector.touchpoints:
        alternatives = "|".join(re.escape(t) for t in sorted(rule.selector.touchpoints))
        matchers.append(f'{names.TOUCHPOINT}=~"{alternatives}"')
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


def bound(rule: Rule, upper: bool) -> str:
    """PromQL of the one-sided bound of a threshold rule's score at its confidence, from the
    window counts, as ``streamer.core.rules`` computes it."""
    condition = rule.condition
    assert isinstance(condition, Threshold)
    z = one_sided_z(condition.confidence)
    sign = "+" if upper else "-"
    w = condition.window
    n = _n(rule, w)
    if rule.score in (ScoreKind.CSAT, ScoreKind.CES_AGREE):
        successes = names.SATISFIED if rule.score is ScoreKind.CSAT else names.CES_AGREE
        p = f"({_count(successes, rule, w)} / {_M} {n})"
        z2 = z * z
        centre = f"(({p} + {_M} ({z2 / 2!r} / {n})) / {_M} (1 + {z2!r} / {n}))"
        spread = f"(({p} * (1 - {p})) / {_M} {n} + {_M} ({z2 / 4!r} / ({n} ^ 2)))"
        half = f"({z!r} * sqrt({spread}) / {_M} (1 + {z2!r} / {n}))"
        return f"({centre} {sign} {_M} {half})"
    if rule.score is ScoreKind.NPS:
        p = f"({_count(names.PROMOTERS, rule, w)} / {_M} {n})"
        d = f"({_count(names.DETRACTORS, rule, w)} / {_M} {n})"
        value = f"(100 * ({p} - {d}))"
        variance = f"clamp_min(({p} + {d}) - (({p} - {d}) ^ 2), 0)"
        standard_error = f"(100 * sqrt({variance} / {_M} {n}))"
    else:
        total = _count(names.CES_POINTS, rule, w)
        squares = _count(names.CES_POINTS_SQUARED, rule, w)
        value = f"({total} / {_M} {n})"
        # The sample deviation over sqrt(n); NaN below two answers, so nothing fires.
        spread = f"(({n} * {_M} {squares} - {_M} ({total} ^ 2)) / {_M} ({n} * ({n} - 1)))"
        standard_error = f"(sqrt(clamp_min({spread}, 0)) / {_M} sqrt({n}))"
    return f"({value} {sign} {_M} ({z!r} * {standard_error}))"


def expression(rule: Rule) -> str:
    condition = rule.condition
    if not isinstance(condition, Threshold):
        raise ValueError(f"rule {rule.name}: a sequential drop cannot be written in PromQL")
    below = condition.below is not None
    line = condition.below if below else condition.above
    if one_sided_z(condition.confidence):
        score = bound(rule, upper=below)  # sure it is below: even the upper bound is
    else:
        score = f"{names.SCORES[rule.score]}{_selector(rule, condition.window)}"
    enough = f"({_n(rule, condition.window)} >= {rule.min_responses})"
    return f"({score} {'<' if below else '>'} {line}) and {_M} {enough}"


@dataclass(frozen=True, slots=True)
class Export:
    """A Prometheus rule file, and what it leaves out, per rule."""

    groups: dict[str, Any]
    notes: tuple[str, ...]

    def text(self) -> str:
        comments = "".join(f"# {note}\n" for note in self.notes)
        return comments + yaml.safe_dump(self.groups, sort_keys=False, width=10_000)


def _notes(rule: Rule) -> list[str]:
    condition = rule.condition
    if isinstance(condition, Drop):
        return [
            f"{rule.name}: not exported: a drop is a sequential CUSUM (its statistic carries "
            "state from tick to tick), which PromQL cannot express; the worker pages it"
        ]
    if condition.clear is not None:
        return [
            f"{rule.name}: exported without clear: {condition.clear} (the alert resolves as "
            "soon as the bound is no longer beyond the line)"
        ]
    return []


def export(rules: tuple[Rule, ...]) -> Export:
    """One alerting rule per threshold rule; a note for every rule or part left out."""
    out = []
    notes: list[str] = []
    for rule in rules:
        notes.extend(_notes(rule))
        if isinstance(rule.condition, Drop):
            continue
        entry: dict[str, Any] = {
            "alert": rule.name,
            "expr": expression(rule),
            # the worker's label set, so a team switching alert paths keeps its routes
            "labels": {
                "severity": rule.severity,
                "score": rule.score.value,
                names.WINDOW: rule.condition.window,
                **dict(rule.labels),
            },
            "annotations": {
                "summary": f"{rule.score.value} {rule.condition.window} for "
                f"{{{{ $labels.touchpoint }}}} breaches rule {rule.name}",
                **dict(rule.annotations),
            },
        }
        if rule.for_ms:
            entry["for"] = f"{rule.for_ms // 1000}s"
        out.append(entry)
    return Export({"groups": [{"name": "streamer", "rules": out}]}, tuple(notes))
