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
from statistics import NormalDist
from typing import Any

from streamer.core.events import DIMENSIONS
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scores import ScoreKind

_GAUGE = {
    ScoreKind.NPS: "cx_nps",
    ScoreKind.CSAT: "cx_csat_ratio",
    ScoreKind.CES_MEAN: "cx_ces_mean",
    ScoreKind.CES_AGREE: "cx_ces_agree_ratio",
}
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
    metric = 'metric="' + rule.score.metric.value + '"'
    return "cx_responses" + _selector(rule, window, metric)


def _count(name: str, rule: Rule, window: str) -> str:
    return f"{name}{_selector(rule, window)}"


def _rest(rule: Rule, condition: Drop, name: str | None = None) -> str:
    """The baseline window minus the short one, of a count (of n when ``name`` is None)."""
    if name is None:
        return f"({_n(rule, condition.baseline)} - {_M} {_n(rule, condition.window)})"
    return (
        f"({_count(name, rule, condition.baseline)} - {_M} {_count(name, rule, condition.window)})"
    )


def _ratio(numerator: str, denominator: str) -> str:
    return f"({numerator} / {_M} {denominator})"


def _nps(promoters: str, detractors: str, n: str) -> str:
    return f"(100 * ({_ratio(promoters, n)} - {_M} {_ratio(detractors, n)}))"


def _nps_variance(promoters: str, detractors: str, n: str) -> str:
    p, d = _ratio(promoters, n), _ratio(detractors, n)
    return f"((10000 * (({p} + {_M} {d}) - {_M} (({p} - {_M} {d}) ^ 2))) / {_M} {n})"


def _mean_variance(total: str, squares: str, n: str) -> str:
    return f"((({_ratio(squares, n)}) - {_M} ({_ratio(total, n)} ^ 2)) / {_M} ({n} - 1))"


def expression(rule: Rule) -> str:
    condition = rule.condition
    if isinstance(condition, Threshold):
        gauge = f"{_GAUGE[rule.score]}{_selector(rule, condition.window)}"
        comparison = (
            f"< {condition.below}" if condition.below is not None else f"> {condition.above}"
        )
        enough = f"({_n(rule, condition.window)} >= {rule.min_responses})"
        return f"({gauge} {comparison}) and {_M} {enough}"
    z = NormalDist().inv_cdf(1 - condition.p_value)
    w = condition.window
    n_w, n_b = _n(rule, w), _rest(rule, condition)
    if rule.score in (ScoreKind.CSAT, ScoreKind.CES_AGREE):
        name = "cx_satisfied" if rule.score is ScoreKind.CSAT else "cx_ces_agree"
        s_w, s_b = _count(name, rule, w), _rest(rule, condition, name)
        diff = f"({_ratio(s_b, n_b)} - {_M} {_ratio(s_w, n_w)})"
        pooled = _ratio(f"({s_b} + {_M} {s_w})", f"({n_b} + {_M} {n_w})")
        spread = f"sqrt({pooled} * (1 - {pooled}) * ((1 / {n_b}) + {_M} (1 / {n_w})))"
    elif rule.score is ScoreKind.NPS:
        p_w, d_w = _count("cx_promoters", rule, w), _count("cx_detractors", rule, w)
        p_b, d_b = _rest(rule, condition, "cx_promoters"), _rest(rule, condition, "cx_detractors")
        diff = f"({_nps(p_b, d_b, n_b)} - {_M} {_nps(p_w, d_w, n_w)})"
        spread = f"sqrt({_nps_variance(p_b, d_b, n_b)} + {_M} {_nps_variance(p_w, d_w, n_w)})"
    else:
        t_w, q_w = _count("cx_ces_score_sum", rule, w), _count("cx_ces_score_squares_sum", rule, w)
        t_b = _rest(rule, condition, "cx_ces_score_sum")
        q_b = _rest(rule, condition, "cx_ces_score_squares_sum")
        diff = f"({_ratio(t_b, n_b)} - {_M} {_ratio(t_w, n_w)})"
        spread = f"sqrt({_mean_variance(t_b, q_b, n_b)} + {_M} {_mean_variance(t_w, q_w, n_w)})"
    return (
        f"(({diff} / {_M} {spread}) > {z:.6f})"
        f" and {_M} ({diff} >= {condition.min_drop})"
        f" and {_M} ({n_w} >= {rule.min_responses})"
        f" and {_M} ({n_b} >= {rule.min_responses})"
    )


def export(rules: tuple[Rule, ...]) -> dict[str, Any]:
    """A Prometheus rule file (``groups``) with one alerting rule per streamer rule."""
    out = []
    for rule in rules:
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
