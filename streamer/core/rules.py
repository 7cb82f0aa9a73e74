"""Alert rules as values, and ``evaluate(rule, totals) -> Verdict``.

Two kinds of condition:
- ``Threshold``: the score in a window is below (or above) a value; it clears only once the score
  is back past ``clear`` (hysteresis, so a score hovering at the line does not flap).
- ``Drop``: the score in a short window is significantly worse than in a baseline window. The
  baseline is the long window *minus* the short one, so the two samples are disjoint and the
  tests' independence holds: NPS and the CES mean use a one-sided z-test on the difference with
  both standard errors; CSAT and CES-agree a one-sided pooled two-proportion z-test.

No rule fires on fewer than ``min_responses`` answers (in the window, and in the baseline).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamer.core import scores
from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind, estimate
from streamer.core.series import SeriesKey
from streamer.core.stats import one_sided_drop_p_value, two_proportion_drop_p_value
from streamer.core.tally import CesTally, CsatTally, Tally


@dataclass(frozen=True, slots=True)
class Threshold:
    window: str
    below: float | None = None
    above: float | None = None
    clear: float | None = None
    """Where the alert clears; the threshold itself when not given."""

    def __post_init__(self) -> None:
        if (self.below is None) == (self.above is None):
            raise ValueError("a threshold needs exactly one of below or above")
        line = self.below if self.below is not None else self.above
        if self.clear is not None and line is not None:
            wrong_side = self.clear < line if self.below is not None else self.clear > line
            if wrong_side:
                raise ValueError("clear must be on the healthy side of the threshold")


@dataclass(frozen=True, slots=True)
class Drop:
    window: str
    baseline: str
    p_value: float = 0.01
    clear_p_value: float = 0.1
    """The drop clears once p rises above this (hysteresis between p_value and it)."""
    min_drop: float = 0.0
    """Smallest worsening worth a page, in the score's units (NPS points, ratio, CES points)."""

    def __post_init__(self) -> None:
        if not 0 < self.p_value <= self.clear_p_value < 1:
            raise ValueError("need 0 < p_value <= clear_p_value < 1")
        if self.min_drop < 0:
            raise ValueError("min_drop cannot be negative")
        if self.window == self.baseline:
            raise ValueError("the baseline must be a different window")


@dataclass(frozen=True, slots=True)
class Selector:
    """Which series a rule watches. No touchpoints means every touchpoint; no dimensions means
    the touchpoint series only; dimensions select breakdown series with exactly those names,
    optionally restricted to some values (an empty value set means any value)."""

    touchpoints: frozenset[str] = frozenset()
    dimensions: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches(self, key: SeriesKey) -> bool:
        if self.touchpoints and key.touchpoint not in self.touchpoints:
            return False
        if tuple(name for name, _ in key.dimensions) != tuple(name for name, _ in self.dimensions):
            return False
        return all(
            not allowed or value in allowed
            for (_, value), (_, allowed) in zip(key.dimensions, self.dimensions, strict=True)
        )


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    score: ScoreKind
    condition: Threshold | Drop
    selector: Selector = field(default_factory=Selector)
    min_responses: int = 30
    for_ms: int = 0
    severity: str = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def windows(self) -> tuple[str, ...]:
        condition = self.condition
        return (
            (condition.window,)
            if isinstance(condition, Threshold)
            else (condition.window, condition.baseline)
        )


class Signal(enum.StrEnum):
    BREACH = "breach"
    HOLD = "hold"
    """Between the firing line and the clearing line: keep whatever state the alert has."""
    CLEAR = "clear"
    INSUFFICIENT = "insufficient"
    """Some answers, fewer than min_responses: nothing can be concluded."""
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Verdict:
    signal: Signal
    n: int
    value: float | None = None
    low: float | None = None
    high: float | None = None
    baseline: float | None = None
    baseline_n: int | None = None
    p_value: float | None = None


def _proportion_counts(kind: ScoreKind, tally: Tally) -> tuple[int, int]:
    if isinstance(tally, CsatTally):
        return tally.satisfied, tally.n
    assert isinstance(tally, CesTally) and kind is ScoreKind.CES_AGREE
    return tally.agree, tally.n


def evaluate(rule: Rule, totals: Mapping[str, Tally], ces: CesPolicy) -> Verdict:
    """The rule's verdict on one series, given its tally per window label."""
    condition = rule.condition
    current = estimate(rule.score, totals[condition.window], ces)
    if current is None:
        return Verdict(Signal.NO_DATA, 0)
    if current.n < rule.min_responses:
        return Verdict(Signal.INSUFFICIENT, current.n, current.value, current.low, current.high)
    if isinstance(condition, Threshold):
        return _threshold(condition, current)
    return _drop(rule, condition, totals, current, ces)


def _threshold(condition: Threshold, current: scores.Estimate) -> Verdict:
    value = current.value
    if condition.below is not None:
        clear = condition.clear if condition.clear is not None else condition.below
        signal = (
            Signal.BREACH
            if value < condition.below
            else Signal.CLEAR
            if value >= clear
            else Signal.HOLD
        )
    else:
        assert condition.above is not None
        clear = condition.clear if condition.clear is not None else condition.above
        signal = (
            Signal.BREACH
            if value > condition.above
            else Signal.CLEAR
            if value <= clear
            else Signal.HOLD
        )
    return Verdict(signal, current.n, value, current.low, current.high)


def _drop(
    rule: Rule,
    condition: Drop,
    totals: Mapping[str, Tally],
    current: scores.Estimate,
    ces: CesPolicy,
) -> Verdict:
    rest = totals[condition.baseline] - totals[condition.window]  # type: ignore[operator]
    baseline = estimate(rule.score, rest, ces)
    if baseline is None or baseline.n < rule.min_responses:
        n_base = 0 if baseline is None else baseline.n
        return Verdict(
            Signal.INSUFFICIENT, current.n, current.value, current.low, current.high, None, n_base
        )
    # "Worse" is lower, except for a CES mean on a scale where a high score means high effort.
    worse_is_higher = rule.score is ScoreKind.CES_MEAN and not ces.higher_is_easier
    sign = -1.0 if worse_is_higher else 1.0
    if rule.score in (ScoreKind.CSAT, ScoreKind.CES_AGREE):
        p = two_proportion_drop_p_value(
            *_proportion_counts(rule.score, rest),
            *_proportion_counts(rule.score, totals[condition.window]),
        )
    else:
        p = one_sided_drop_p_value(
            sign * baseline.value,
            baseline.standard_error,
            sign * current.value,
            current.standard_error,
        )
    worsening = sign * (baseline.value - current.value)
    if p is not None and p < condition.p_value and worsening >= condition.min_drop:
        signal = Signal.BREACH
    elif p is None or p >= condition.clear_p_value or worsening < condition.min_drop:
        signal = Signal.CLEAR
    else:
        signal = Signal.HOLD
    return Verdict(
        signal, current.n, current.value, current.low, current.high, baseline.value, baseline.n, p
    )
