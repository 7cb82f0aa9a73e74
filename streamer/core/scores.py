"""Scores of a tally, each with its uncertainty. No answers means no score (None), never 0.

- NPS = 100 (P - D) / n over -100..100, passives in n; standard error
  100 sqrt(((p + d) - (p - d)^2) / n) with p, d the promoter and detractor shares (exported as
  it is defined); the 95% interval is the adjusted Wald interval of Rocks (2016), honest at
  small n where the plain normal one is not (3 detractors of 3: [-100, 6.6], not [-100, -100]).
- CSAT = satisfied / n over 0..1 with the Wilson 95% interval.
- CES: the mean raw score with Student's t 95% interval, mean ± t(0.975, n - 1) s / sqrt(n)
  with s the sample deviation, clipped to the scale (the whole scale while n < 2, as one answer
  says nothing of the spread), and the agree share with Wilson.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass

from streamer.core.scales import CesPolicy, Metric
from streamer.core.stats import nps_adjusted_wald, t_quantile, unseen_share, wilson_interval
from streamer.core.tally import CesTally, CsatTally, NpsTally, Tally


@dataclass(frozen=True, slots=True)
class Estimate:
    """A score with its 95% interval [low, high] and the number of answers behind it."""

    value: float
    low: float
    high: float
    standard_error: float
    n: int


def nps(tally: NpsTally) -> Estimate | None:
    n = tally.n
    if n == 0:
        return None
    p, d = tally.promoters / n, tally.detractors / n
    value = 100.0 * (tally.promoters - tally.detractors) / n
    # max(): rounding can leave a tiny negative variance when every answer is in one category.
    se = 100.0 * math.sqrt(max(0.0, (p + d) - (p - d) ** 2) / n)
    low, high = nps_adjusted_wald(tally.promoters, tally.detractors, n)
    return Estimate(value, low, high, se, n)


def _proportion(successes: int, n: int) -> Estimate | None:
    if n == 0:
        return None
    ratio = successes / n
    low, high = wilson_interval(successes, n)
    return Estimate(ratio, low, high, math.sqrt(ratio * (1 - ratio) / n), n)


def csat(tally: CsatTally) -> Estimate | None:
    return _proportion(tally.satisfied, tally.n)


def ces_agree(tally: CesTally) -> Estimate | None:
    return _proportion(tally.agree, tally.n)


def ces_deviation(tally: CesTally) -> float | None:
    """Sample standard deviation of the raw CES scores; None below two answers."""
    n = tally.n
    if n < 2:
        return None
    # Integer numerator: exact, so a constant sample gives exactly zero spread.
    return math.sqrt((n * tally.total_sq - tally.total * tally.total) / (n * (n - 1)))


def ces_mean(tally: CesTally, policy: CesPolicy) -> Estimate | None:
    n = tally.n
    if n == 0:
        return None
    mean = tally.total / n
    low, high = float(policy.scale.low), float(policy.scale.high)
    deviation = ces_deviation(tally)
    if deviation is None:
        return Estimate(mean, low, high, math.inf, n)
    if deviation == 0.0:
        # Identical answers show no spread, and a t interval of width 0 would claim certainty:
        # the other scores may still hold up to `reach` of the answers, anywhere on the scale.
        reach = unseen_share(n, 0.975)
        return Estimate(mean, mean - reach * (mean - low), mean + reach * (high - mean), 0.0, n)
    se = deviation / math.sqrt(n)
    half = t_quantile(0.975, n - 1) * se
    return Estimate(mean, max(low, mean - half), min(high, mean + half), se, n)


class ScoreKind(enum.StrEnum):
    """A score that can be exported or alerted on; CES has two."""

    NPS = "nps"
    CSAT = "csat"
    CES_MEAN = "ces_mean"
    CES_AGREE = "ces_agree"

    @property
    def metric(self) -> Metric:
        return _METRIC_OF[self]


_METRIC_OF = {
    ScoreKind.NPS: Metric.NPS,
    ScoreKind.CSAT: Metric.CSAT,
    ScoreKind.CES_MEAN: Metric.CES,
    ScoreKind.CES_AGREE: Metric.CES,
}
RANGES: Mapping[ScoreKind, tuple[float, float]] = {
    ScoreKind.NPS: (-100.0, 100.0),
    ScoreKind.CSAT: (0.0, 1.0),
    ScoreKind.CES_MEAN: (1.0, 7.0),  # the widest CES scale (1-7; the older one is 1-5)
    ScoreKind.CES_AGREE: (0.0, 1.0),
}
"""Where each score lies, whatever the deployment's scales: CSAT and CES agree are ratios."""
KINDS: Mapping[Metric, tuple[ScoreKind, ...]] = {
    Metric.NPS: (ScoreKind.NPS,),
    Metric.CSAT: (ScoreKind.CSAT,),
    Metric.CES: (ScoreKind.CES_MEAN, ScoreKind.CES_AGREE),
}


def estimate(kind: ScoreKind, tally: Tally, ces: CesPolicy) -> Estimate | None:
    """The ``kind`` score of a tally of its metric."""
    if kind is ScoreKind.NPS:
        assert isinstance(tally, NpsTally)
        return nps(tally)
    if kind is ScoreKind.CSAT:
        assert isinstance(tally, CsatTally)
        return csat(tally)
    assert isinstance(tally, CesTally)
    return ces_mean(tally, ces) if kind is ScoreKind.CES_MEAN else ces_agree(tally)
