"""``streamer rules export --prometheus``: the YAML rules as Prometheus alerting rules.

For teams that alert from Prometheus rather than from the worker. A threshold is exported with
its confidence, as the worker judges it: the one-sided bound of the score at ``confidence``,
computed from the exported window counts (NPS: the adjusted Wald bound of Rocks 2016 and the
plain normal one, whichever is further from the line; CSAT and CES agree: Wilson; CES mean:
Student's t with the sample deviation), must be beyond the line, on at least ``min_responses``
answers.

PromQL cannot look up Student's t quantile for the n of each series; the CES mean's is its
Cornish-Fisher expansion in 1/(n - 1) (``stats.t_quantile_expansion``), plain arithmetic that
is within 1e-6 of the worker's quantile from some n on (n 13 at confidence 0.95, 22 at 0.99,
36 at 0.999). A CES mean threshold whose ``min_responses`` is below that n is not exported:
at fewer answers the expansion would page where the worker does not.

What PromQL cannot express is said per rule, as a comment in the output and a line on stderr:
a drop is a sequential CUSUM whose statistic carries state from tick to tick
(docs/alerting.md), so only the worker can page it; a CES mean threshold on too few answers for
the expansion (above); and a threshold's ``clear`` hysteresis has no counterpart (a Prometheus
alert resolves as soon as its expression stops matching).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from streamer.core.events import DIMENSIONS
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scores import ScoreKind
from streamer.core.stats import (
    NPS_ADDED_ANSWERS,
    NPS_ADDED_EACH,
    one_sided_z,
    t_expansion_accurate_from,
    t_expansion_terms,
)
from streamer.export import names

_M = "ignoring(window, metric)"


_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _any_of(values: Iterable[str]) -> str:
    """A PromQL string literal of the regular expression that matches exactly ``values``:
    RE2's metacharacters escaped, then the string's own escapes (Go's). ``re.escape`` wrote
    escapes that neither RE2 (an escaped space) nor a Go string (an escaped hyphen) reads:
    Prometheus refused the whole file for a rule naming the touchpoint ``support-call``."""
    pattern = "|".join(_RE2_SPECIAL.sub(r"\\\1", value) for value in sorted(values))
    return json.dumps(pattern, ensure_ascii=False)


def _selector(rule: Rule, window: str, extra: str = "") -> str:
    matchers = [f'{names.WINDOW}="{window}"']
    if rule.selector.touchpoints:
        matchers.append(f"{names.TOUCHPOINT}=~{_any_of(rule.selector.touchpoints)}")
    chosen = dict(rule.selector.dimensions)
    for name in DIMENSIONS:
        if name not in chosen:
            matchers.append(f'{name}=""')  # the touchpoint series, or this breakdown only
        elif chosen[name]:
            matchers.append(f"{name}=~{_any_of(chosen[name])}")
        else:
            matchers.append(f'{name}!=""')
    return "{" + ",".join(([extra] if extra else []) + matchers) + "}"


_TARGET_LABELS = "instance, pod, endpoint, service, container"
"""Labels Prometheus adds naming the worker it scraped. A series moves to another worker at a
rebalance (a rolling update): kept, they made its alert resolve and fire again, its ``for``
starting over."""


def _one(vector: str) -> str:
    """A series as one, whichever worker exports it (both, for a moment, at a rebalance: the
    same counts, from the same persisted state)."""
    return f"max without ({_TARGET_LABELS}) ({vector})"


def _n(rule: Rule, window: str) -> str:
    metric = f'{names.METRIC}="{rule.score.metric.value}"'
    return _one(names.RESPONSES + _selector(rule, window, metric))


def _count(name: str, rule: Rule, window: str) -> str:
    return _one(f"{name}{_selector(rule, window)}")


def bound(rule: Rule, upper: bool) -> str:
    """PromQL of the one-sided bound of a threshold rule's score at its confidence, from the
    window counts, as ``streamer.core.rules.bound`` computes it."""
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
        # The plain bound, value ± z SE ...
        p = f"({_count(names.PROMOTERS, rule, w)} / {_M} {n})"
        d = f"({_count(names.DETRACTORS, rule, w)} / {_M} {n})"
        variance = f"clamp_min(({p} + {d}) - (({p} - {d}) ^ 2), 0)"
        half = f"({z!r} * (100 * sqrt({variance} / {_M} {n})))"
        plain = f"((100 * ({p} - {d})) {sign} {half})"
        # ... and the adjusted Wald one (Rocks 2016): 3/4 of a promoter and of a detractor
        # added, and 3 to n; whichever is further from the line (the same labels on both).
        adjusted_n = f"({n} + {NPS_ADDED_ANSWERS!r})"
        p = f"(({_count(names.PROMOTERS, rule, w)} + {NPS_ADDED_EACH!r}) / {_M} {adjusted_n})"
        d = f"(({_count(names.DETRACTORS, rule, w)} + {NPS_ADDED_EACH!r}) / {_M} {adjusted_n})"
        variance = f"clamp_min(({p} + {d}) - (({p} - {d}) ^ 2), 0)"
        half = f"({z!r} * (100 * sqrt({variance} / {_M} {adjusted_n})))"
        adjusted = f"((100 * ({p} - {d})) {sign} {half})"
        if upper:
            plain, adjusted = f"clamp_max({plain}, 100)", f"clamp_max({adjusted}, 100)"
            return f"(({plain} >= {adjusted}) or {adjusted})"
        plain, adjusted = f"clamp_min({plain}, -100)", f"clamp_min({adjusted}, -100)"
        return f"(({plain} <= {adjusted}) or {adjusted})"
    total = _count(names.CES_POINTS, rule, w)
    squares = _count(names.CES_POINTS_SQUARED, rule, w)
    # The sample deviation over sqrt(n); NaN below two answers, so nothing fires.
    spread = f"(({n} * {_M} {squares} - {_M} ({total} ^ 2)) / {_M} ({n} * ({n} - 1)))"
    standard_error = f"(sqrt(clamp_min({spread}, 0)) / {_M} sqrt({n}))"
    # Student's t at df = n - 1 by its Cornish-Fisher expansion (A&S 26.7.5), Horner's form.
    z, g1, g2, g3, g4 = t_expansion_terms(condition.confidence)
    df = f"({n} - 1)"
    t = f"({z!r} + ({g1!r} + ({g2!r} + ({g3!r} + {g4!r} / {df}) / {df}) / {df}) / {df})"
    return f"(({total} / {_M} {n}) {sign} {_M} ({t} * {_M} {standard_error}))"


def expression(rule: Rule) -> str:
    condition = rule.condition
    if not isinstance(condition, Threshold):
        raise ValueError(f"rule {rule.name}: a sequential drop cannot be written in PromQL")
    below = condition.below is not None
    line = condition.below if below else condition.above
    comparison = "<" if below else ">"
    enough = f"({_n(rule, condition.window)} >= {rule.min_responses})"
    if not one_sided_z(condition.confidence):
        score = _one(f"{names.SCORES[rule.score]}{_selector(rule, condition.window)}")
    else:
        score = bound(rule, upper=below)  # sure it is below: even the upper bound is
    return f"({score} {comparison} {line}) and {_M} {enough}"


def fewest_answers(rule: Rule) -> int:
    """The fewest answers from which on the exported rule judges as the worker does."""
    condition = rule.condition
    if (
        rule.score is ScoreKind.CES_MEAN
        and isinstance(condition, Threshold)
        and one_sided_z(condition.confidence)
    ):
        return t_expansion_accurate_from(condition.confidence) + 1
    return 1


@dataclass(frozen=True, slots=True)
class Export:
    """A Prometheus rule file, and what it leaves out, per rule."""

    groups: dict[str, Any]
    notes: tuple[str, ...]

    def text(self) -> str:
        comments = "".join(f"# {note}\n" for note in self.notes)
        return comments + yaml.safe_dump(self.groups, sort_keys=False, width=10_000)


def _exported(rule: Rule) -> bool:
    return isinstance(rule.condition, Threshold) and rule.min_responses >= fewest_answers(rule)


def _notes(rule: Rule) -> list[str]:
    condition = rule.condition
    if isinstance(condition, Drop):
        return [
            f"{rule.name}: not exported: a drop is a sequential CUSUM (its statistic carries "
            "state from tick to tick), which PromQL cannot express; the worker pages it"
        ]
    if not _exported(rule):
        return [
            f"{rule.name}: not exported: PromQL approximates Student's t quantile of the CES "
            f"mean's bound, as the worker computes it, only from {fewest_answers(rule)} answers "
            f"on at confidence {condition.confidence} (min_responses is {rule.min_responses}); "
            "the worker pages it"
        ]
    notes = []
    if condition.clear is not None:
        notes.append(
            f"{rule.name}: exported without clear: {condition.clear} (the alert resolves as "
            "soon as the bound is no longer beyond the line)"
        )
    if rule.score is ScoreKind.CES_MEAN and one_sided_z(condition.confidence):
        notes.append(
            f"{rule.name}: a window whose answers are all the same score has no spread: "
            "PromQL's bound is then the mean itself, where the worker allows for the scores "
            "not seen (Clopper-Pearson): Prometheus may fire there when the worker does not"
        )
    return notes


def export(rules: tuple[Rule, ...]) -> Export:
    """One alerting rule per threshold rule; a note for every rule or part left out."""
    out = []
    notes: list[str] = []
    for rule in rules:
        notes.extend(_notes(rule))
        if not _exported(rule):
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
