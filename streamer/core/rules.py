"""Alert rules as values, and the verdict of a threshold rule on one series.

Two kinds of condition:
- ``Threshold``: the score in a window is below (or above) a value *with confidence*: the
  one-sided bound of its interval at ``confidence`` (NPS: the adjusted Wald bound of Rocks 2016
  and the plain normal one, whichever is further from the line; CSAT and CES agree: Wilson; CES
  mean: Student's t with the sample deviation, df n - 1) is beyond the line, so a noisy
  estimate from few answers does not page: 3 detractors of 3 have an upper bound of -2.5 at
  95% and 17.2 at 99% (the plain bound alone said -100). ``confidence: 0`` compares the point
  estimate.
  It clears once the point estimate is back past ``clear`` (hysteresis: no flapping at the line).
- ``Drop``: the score has dropped by at least ``min_drop`` from its baseline, detected by a
  CUSUM whose false-alarm rate is the rule's budget (``sequential.py``, docs/alerting.md). The
  baseline is a trailing window minus the recent ``window`` (disjoint samples), or the same
  hour of the week over the last weeks in the contact center's time zone (``Calendar``).

No rule fires on fewer than ``min_responses`` answers (in the window, and in the baseline).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamer.core import scores
from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind, estimate
from streamer.core.series import OTHER, SeriesKey
from streamer.core.stats import (
    nps_adjusted_wald,
    one_sided_z,
    t_quantile,
    unseen_share,
    wilson_interval,
)
from streamer.core.tally import CesTally, CsatTally, NpsTally, Tally


@dataclass(frozen=True, slots=True)
class Threshold:
    window: str
    below: float | None = None
    above: float | None = None
    clear: float | None = None
    """Where the alert clears; the threshold itself when not given."""
    confidence: float = 0.95
    """How sure the score must be of being beyond the line: the one-sided bound's level."""

    def __post_init__(self) -> None:
        if (self.below is None) == (self.above is None):
            raise ValueError("a threshold needs exactly one of below or above")
        line = self.below if self.below is not None else self.above
        if self.clear is not None and line is not None:
            wrong_side = self.clear < line if self.below is not None else self.clear > line
            if wrong_side:
                raise ValueError("clear must be on the healthy side of the threshold")
        if not 0 <= self.confidence < 1:
            raise ValueError("confidence must be at least 0 and below 1")


@dataclass(frozen=True, slots=True)
class Calendar:
    """The same local hour of the same weekday over the last ``weeks`` weeks, in ``timezone``
    (an IANA name): NPS at 3 a.m. on Sunday is not NPS at Monday noon."""

    weeks: int
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.weeks <= 52:
            raise ValueError("same_hour_last_weeks must be from 1 to 52")

    @property
    def history_ms(self) -> int:
        """How far back the buckets must reach (a DST shift moves an hour by at most one)."""
        return self.weeks * 7 * 86_400_000 + 2 * 3_600_000


@dataclass(frozen=True, slots=True)
class Drop:
    window: str
    """Recent answers: left out of a trailing baseline, and the value an alert shows."""
    baseline: str | Calendar
    min_drop: float
    """The smallest worsening worth a page, in the score's units (NPS points, ratio, CES
    points): the shift the detector is tuned to find fastest."""
    false_alarm_every_ms: int = 91 * 86_400_000
    """The rule's false-alarm budget over all the series it watches: at most one per this."""
    settle_ms: int = 60_000
    """How long after a bucket ends the detector reads it, so answers still on their way
    count; an answer arriving later is in the windows but not in the detector."""

    def __post_init__(self) -> None:
        if not self.min_drop > 0:
            raise ValueError("min_drop must be positive: it is the drop the detector looks for")
        if self.window == self.baseline:
            raise ValueError("the baseline must be a different window")
        if self.false_alarm_every_ms <= 0 or self.settle_ms < 0:
            raise ValueError("the false-alarm period must be positive, settle not negative")


@dataclass(frozen=True, slots=True)
class Selector:
    """Which series a rule watches. No touchpoints means every touchpoint; no dimensions means
    the touchpoint series only; dimensions select breakdown series with exactly those names,
    optionally restricted to some values (an empty value set means any value). The series
    beyond the cap (``__other__``, a mix of many touchpoints or values) are watched only by a
    rule that names them: a page "for __other__" would point at no one."""

    touchpoints: frozenset[str] = frozenset()
    dimensions: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches(self, key: SeriesKey) -> bool:
        if self.touchpoints and key.touchpoint not in self.touchpoints:
            return False
        if key.touchpoint == OTHER and not self.touchpoints:
            return False
        if tuple(name for name, _ in key.dimensions) != tuple(name for name, _ in self.dimensions):
            return False
        return all(
            value in allowed if allowed else value != OTHER
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
        if isinstance(condition, Drop) and isinstance(condition.baseline, str):
            return (condition.window, condition.baseline)
        return (condition.window,)


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
    statistic: float | None = None
    """A drop's CUSUM statistic, and the ``limit`` at which it fires."""
    limit: float | None = None
    since_ms: int | None = None
    """Start of the run of answers behind a drop's evidence, their number and score."""
    run_n: int | None = None
    run_value: float | None = None
    bound: float | None = None
    """A threshold's one-sided bound at the rule's confidence: what is compared with the line
    (``low``/``high`` are the two-sided 95% interval shown beside the score)."""


def evaluate_threshold(rule: Rule, totals: Mapping[str, Tally], ces: CesPolicy) -> Verdict:
    """A threshold rule's verdict on one series, given its tally per window label."""
    condition = rule.condition
    assert isinstance(condition, Threshold)
    tally = totals[condition.window]
    current = estimate(rule.score, tally, ces)
    if current is None:
        return Verdict(Signal.NO_DATA, 0)
    if current.n < rule.min_responses:
        return Verdict(Signal.INSUFFICIENT, current.n, current.value, current.low, current.high)
    value = current.value
    if condition.below is not None:
        clear = condition.clear if condition.clear is not None else condition.below
        # Sure it is below: even the upper bound is under the line.
        sure_side = bound(rule.score, tally, current, condition.confidence, ces, upper=True)
        signal = (
            Signal.BREACH
            if sure_side < condition.below
            else Signal.CLEAR
            if value >= clear
            else Signal.HOLD
        )
    else:
        assert condition.above is not None
        clear = condition.clear if condition.clear is not None else condition.above
        sure_side = bound(rule.score, tally, current, condition.confidence, ces, upper=False)
        signal = (
            Signal.BREACH
            if sure_side > condition.above
            else Signal.CLEAR
            if value <= clear
            else Signal.HOLD
        )
    return Verdict(signal, current.n, value, current.low, current.high, bound=sure_side)


def bound(
    kind: ScoreKind,
    tally: Tally,
    current: scores.Estimate,
    confidence: float,
    ces: CesPolicy,
    upper: bool,
) -> float:
    """The one-sided bound of the score at ``confidence``: the point estimate at confidence 0
    (or any up to 0.5, where a one-sided bound would be on the wrong side of it)."""
    z = one_sided_z(confidence)
    if not z:
        return current.value
    if kind in (ScoreKind.CSAT, ScoreKind.CES_AGREE):
        successes = tally.satisfied if isinstance(tally, CsatTally) else _agree(tally)
        low, high = wilson_interval(successes, current.n, z)
        return high if upper else low
    if kind is ScoreKind.NPS:
        # Sure only when both bounds are past the line: the adjusted Wald one (Rocks 2016),
        # which stays honest at small n, and the plain one (value ± z SE), because the adjusted
        # centre is pulled toward 0, which alone would make a bound on that side too eager (a
        # "below" rule on a touchpoint at NPS 50 would breach 13-15% of the time at 0.9 on 30
        # to 100 answers; docs/alerting.md).
        assert isinstance(tally, NpsTally)
        low, high = nps_adjusted_wald(tally.promoters, tally.detractors, tally.n, z)
        spread = z * current.standard_error
        if upper:
            return max(high, min(100.0, current.value + spread))
        return min(low, max(-100.0, current.value - spread))
    if current.n < 2:
        # One answer says nothing of the spread: the bound is the scale's end, never sure.
        return float(ces.scale.high if upper else ces.scale.low)
    if current.standard_error == 0.0:
        # Identical answers: the others may hold up to `reach` of them, at the scale's end.
        reach = unseen_share(current.n, confidence)
        end = ces.scale.high if upper else ces.scale.low
        return current.value + reach * (end - current.value)
    spread = t_quantile(confidence, current.n - 1) * current.standard_error
    return current.value + spread if upper else current.value - spread


def _agree(tally: Tally) -> int:
    assert isinstance(tally, CesTally)
    return tally.agree
