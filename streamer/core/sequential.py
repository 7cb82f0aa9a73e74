"""Drop detection with a known false-alarm rate: a CUSUM on the answers, fed bucket by bucket.

Re-running a fixed-level test at every tick ("peeking") on every series makes its p-value
meaningless as a false-alarm rate. A CUSUM (Page 1954) accumulates the log-likelihood ratio of
"the score has dropped by ``min_drop``" against "it is at its baseline" over the answers and
alarms when the sum, floored at 0, reaches a limit ``h``. Its in-control average run length is
at least ``e^h`` answers (Lorden 1971), so a limit of ``ln(answers expected per allowed false
alarm)`` bounds the false-alarm rate of one series; dividing a rule's budget by the number of
series it watches bounds the rule's (docs/alerting.md, with the calibration by simulation).

Each score is a mean of per-answer values, and its log-likelihood ratio is linear in two bucket
statistics, so a bucket's whole contribution is ``slope * stat + per_answer * n``:

- NPS: answers are +1/0/-1; the drop hypothesis is the baseline's promoter/passive/detractor
  distribution exponentially tilted until its mean is ``min_drop`` points lower (the
  closest distribution with that mean, in Kullback-Leibler terms); ``stat = P - D``.
- CSAT and CES agree: Bernoulli, p0 from the baseline against p0 - min_drop; ``stat`` = successes.
- CES mean: answers bounded by the scale, of the baseline's deviation, whose mean is worse by
  ``min_drop`` (lower on a 1-7 agree scale, higher on the 1-5 low-effort scale), against the
  baseline; the increment is linear in the answer with Bennett's bound on its moment generating
  function in place of a likelihood (no distribution is assumed); ``stat`` = sum.

The baseline is itself an estimate: a CUSUM whose in-control level is estimated too high alarms
far more often than its limit promises (Jones, Champ & Rigdon 2004). So the in-control level is
a one-sided confidence bound of the baseline on the worse side, at a confidence that grows with
the number of series the rule watches (``margin_tail``): among 2,000 thin baselines a few are
always estimated well above their truth, and each of those would page as if it had dropped.
The bounds do not collapse near 0 or 1, where a standard error shrinks with the estimate,
nor trust a normal approximation far in its tail: Wilson's for shares (exact after n successes
in n), the adjusted Wald for NPS (Rocks 2016), Bernstein's inequality for the CES mean. So a
baseline in which nobody was ever dissatisfied still gives the first dissatisfied answer a
finite likelihood. The bound costs little with a week of answers and protects a rule whose
baselines are thin. NPS shares are smoothed by half an answer each (Jeffreys) for the tilt, for
the same reason.

The statistic is capped at the limit: once a drop is established, more bad answers do not dig a
hole that recovery must climb out of. The detector alarms when the statistic reaches the limit
and stays alarmed until it is back at 0, i.e. after ``h`` of evidence that the series is back
at its baseline; then the alert clears. Clearing at ``h/2`` let a real drop smaller than
``min_drop`` (whose statistic drifts up, noisily) resolve and page again during one incident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind
from streamer.core.stats import normal_sf, nps_adjusted_wald, wilson_interval
from streamer.core.tally import CesTally, CsatTally, NpsTally, Tally

MARGIN_TAIL = normal_sf(1.0)
"""The chance, for a whole rule, that any of its series' in-control levels sits above its
truth: 16%, one standard error (z = 1) for a rule over one series; divided among the series
like the false-page budget (``margin_tail``)."""

MIN_LIMIT = math.log(20.0)
"""The lowest limit ever used: a budget allowing a false alarm every few answers is no budget."""


@dataclass(frozen=True, slots=True)
class Reference:
    """The log-likelihood ratio of a bucket: ``slope * statistic(bucket) + per_answer * n``."""

    slope: float
    per_answer: float

    def log_likelihood_ratio(self, kind: ScoreKind, bucket: Tally) -> float:
        n = bucket.n
        return self.slope * statistic(kind, bucket) + self.per_answer * n if n else 0.0


def statistic(kind: ScoreKind, tally: Tally) -> int:
    """The per-bucket sufficient statistic of ``kind`` (see the module docstring)."""
    if isinstance(tally, NpsTally):
        return tally.promoters - tally.detractors
    if isinstance(tally, CsatTally):
        return tally.satisfied
    assert isinstance(tally, CesTally)
    return tally.total if kind is ScoreKind.CES_MEAN else tally.agree


def margin_tail(series: float) -> float:
    """The one-sided tail of each series' baseline bound in a rule over ``series`` series:
    ``MARGIN_TAIL`` divided among them (a union bound, as for the false-page budget)."""
    return MARGIN_TAIL / max(1.0, series)


def margin_z(series: float) -> float:
    """The normal quantile of ``margin_tail``: 1 for one series, 2.4 for 20, 3.8 for 2,000."""
    return -NormalDist().inv_cdf(margin_tail(series))


def reference(
    kind: ScoreKind, baseline: Tally, min_drop: float, ces: CesPolicy, series: float = 1.0
) -> Reference | None:
    """The detector of a ``min_drop`` drop from ``baseline`` in a rule over ``series`` series;
    None when the baseline is empty or already so low that it cannot drop that far (nothing to
    detect)."""
    if baseline.n == 0:
        return None
    if isinstance(baseline, NpsTally):
        return _nps(baseline, min_drop / 100.0, series)
    if isinstance(baseline, CsatTally):
        return _bernoulli(baseline.satisfied, baseline.n, min_drop, series)
    assert isinstance(baseline, CesTally)
    if kind is ScoreKind.CES_AGREE:
        return _bernoulli(baseline.agree, baseline.n, min_drop, series)
    return _bounded_mean(baseline, min_drop, ces, series)


def _bernoulli(successes: int, n: int, drop: float, series: float) -> Reference | None:
    tail = margin_tail(series)
    p0 = wilson_interval(successes, n, margin_z(series))[0]
    if successes == n:
        # Wilson's lower bound is too high after n successes (it is 1/(1 + z^2/n)): here the
        # exact bound is simple, the p under which n successes in a row are rarer than ``tail``.
        p0 = min(p0, math.pow(tail, 1.0 / n))
    p1 = p0 - drop
    if p1 <= 0.0:
        return None
    # k ln(p1/p0) + (n - k) ln((1 - p1)/(1 - p0)), rearranged into slope * k + per_answer * n
    failure = math.log((1.0 - p1) / (1.0 - p0))
    return Reference(math.log(p1 / p0) - failure, failure)


def _nps(tally: NpsTally, drop: float, series: float) -> Reference | None:
    total = tally.n + 1.5
    p = (tally.promoters + 0.5) / total
    a = (tally.passives + 0.5) / total
    d = (tally.detractors + 0.5) / total
    level = nps_adjusted_wald(tally.promoters, tally.detractors, tally.n, margin_z(series))[0]
    level /= 100.0
    if level - drop <= -1.0 + 1e-9:
        return None
    # H0 and H1 are both the baseline tilted (H0 down to the bound only): the log-likelihood
    # ratio of an answer x is (theta1 - theta0) x - (K(theta1) - K(theta0)).
    theta0 = _tilt(p, a, d, level)
    theta1 = _tilt(p, a, d, level - drop)
    return Reference(theta1 - theta0, _cumulant(p, a, d, theta0) - _cumulant(p, a, d, theta1))


def _cumulant(p: float, a: float, d: float, theta: float) -> float:
    return math.log(p * math.exp(theta) + a + d * math.exp(-theta))


def _tilt(p: float, a: float, d: float, target: float) -> float:
    """The theta <= 0 whose tilted distribution p e^t, a, d e^-t (normalised) has mean
    ``target``. The mean is increasing in theta, so bisection on a bracket is safe."""
    low, high = -1.0, 0.0
    while _tilted_mean(p, a, d, low) > target:
        low *= 2.0
        if low < -700.0:  # exp() would overflow; the target is then indistinguishable from -1
            return low
    for _ in range(60):
        mid = (low + high) / 2.0
        if _tilted_mean(p, a, d, mid) > target:
            high = mid
        else:
            low = mid
    return (low + high) / 2.0


def _tilted_mean(p: float, a: float, d: float, theta: float) -> float:
    up, down = p * math.exp(theta), d * math.exp(-theta)
    return (up - down) / (up + a + down)


def ces_mean_bound(tally: CesTally, ces: CesPolicy, series: float) -> tuple[float, float]:
    """The in-control level of a CES-mean detector in a rule over ``series`` series: a
    one-sided bound of the baseline's mean on the worse side; and the variance it assumes.

    Bernstein's inequality for a mean of answers bounded by the scale's range R: the mean is
    beyond the estimate by more than sqrt(2 var L / n) + R L / (3 n) with chance under e^-L.
    Student's t, exact for normal answers, sat above the truth up to 57 times too often for
    skewed ones (mostly 6-7 with a few 1s) at the small tails of many series."""
    n = tally.n
    # A constant or single-answer baseline says nothing of the spread: assume a quarter of the
    # scale, the deviation of a typical CES distribution, rather than divide by zero.
    spread = ces.scale.high - ces.scale.low
    floor = spread / 4.0
    variance = (n * tally.total_sq - tally.total**2) / (n * (n - 1)) if n > 1 else 0.0
    variance = max(variance, floor * floor / 4.0) if n > 1 else floor * floor
    bound = math.log(1.0 / margin_tail(series))
    margin = math.sqrt(2.0 * variance * bound / n) + spread * bound / (3.0 * n)
    worse = -1.0 if ces.higher_is_easier else 1.0
    return tally.total / n + worse * margin, variance


def _bounded_mean(tally: CesTally, drop: float, ces: CesPolicy, series: float) -> Reference:
    """Bennett's moment bound: for a worsening Y = level - x (or x - level) of mean <= 0 in
    control, at most R above its mean and of variance var, E[e^(t Y)] <= e^psi(t) with
    psi(t) = var / R^2 (e^(t R) - 1 - t R). An increment t Y - psi(t) then has E[e^inc] <= 1
    whatever the answers' shape: Lorden's bound holds where a normal model's increment paged
    twice its budget on skewed answers with its baseline known (docs/alerting.md). t maximises
    the drift t drop - psi(t) under a drop of ``drop``."""
    level, variance = ces_mean_bound(tally, ces, series)
    spread = ces.scale.high - ces.scale.low
    t = math.log1p(drop * spread / variance) / spread
    psi = variance / (spread * spread) * math.expm1(t * spread) - variance * t / spread
    if ces.higher_is_easier:  # worse is lower: Y = level - x
        return Reference(-t, t * level - psi)
    return Reference(t, -t * level - psi)


def limit(answers_per_ms: float, series: float, false_alarms_per_ms: float) -> float:
    """The CUSUM limit that allows ``false_alarms_per_ms`` for a rule over ``series`` series of
    ``answers_per_ms`` each: ``ln`` of the answers a series sees per false alarm it is allowed."""
    answers_per_alarm = answers_per_ms * max(1, series) / false_alarms_per_ms
    return max(MIN_LIMIT, math.log(answers_per_alarm)) if answers_per_alarm > 1 else MIN_LIMIT


@dataclass(frozen=True, slots=True)
class Cusum:
    """One series' detector: the statistic, the next bucket to read, the run of answers since
    the statistic last stood at 0 (what the evidence is made of), and whether it has alarmed.

    Once the statistic reaches the limit the detector stays alarmed until it is back at 0:
    capped at the limit, the statistic would otherwise dip under it at every ordinary bucket
    of an ongoing drop, and a rule's ``for`` could never be satisfied.
    """

    statistic: float = 0.0
    next_bucket_ms: int | None = None
    since_ms: int | None = None
    run: Tally | None = None
    alarmed: bool = False

    def step(
        self, bucket_ms: int, bucket: Tally, kind: ScoreKind, ref: Reference, cap: float
    ) -> Cusum:
        """Read one bucket (in time order); ``next_bucket_ms`` is the caller's to move."""
        value = min(cap, self.statistic + ref.log_likelihood_ratio(kind, bucket))
        alarmed = value >= cap or self.alarmed
        if value <= 0.0:
            return Cusum(0.0, self.next_bucket_ms, None, None, False)
        if self.run is None:
            return Cusum(value, self.next_bucket_ms, bucket_ms, bucket, alarmed)
        run = self.run + bucket  # type: ignore[operator]
        return Cusum(value, self.next_bucket_ms, self.since_ms, run, alarmed)
