"""The few statistics streamer needs, in closed form or by a published numerical method
(standard library only; pure functions)."""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def one_sided_z(confidence: float) -> float:
    """The normal quantile of a one-sided bound at ``confidence``; 0 for confidence 0 (the
    point estimate itself)."""
    if not 0 <= confidence < 1:
        raise ValueError("confidence must be in [0, 1)")
    return 0.0 if confidence <= 0.5 else NormalDist().inv_cdf(confidence)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion: stays inside [0, 1] and is honest at small n."""
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # The interval always contains p; at 0 or n successes rounding can nudge a bound past it.
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


NPS_ADDED_ANSWERS = 3.0
"""The adjusted Wald NPS interval's pseudo-answers: 3/4 promoter, 3/4 detractor, 3/2 passive."""
NPS_ADDED_EACH = 0.75


def nps_adjusted_wald(
    promoters: int, detractors: int, n: int, z: float = Z95
) -> tuple[float, float]:
    """Adjusted Wald interval of the NPS (-100..100), the best of the intervals compared by
    Rocks, "Interval estimation for the Net Promoter Score", The American Statistician, 2016
    (arXiv:1601.07235), and confirmed on real survey data by Lewis & Sauro (MeasuringU, 2021).

    3/4 of an answer is added to the promoters and to the detractors and 3 to n; with the
    adjusted shares p' = (P + 3/4) / (n + 3) and d' = (D + 3/4) / (n + 3) the interval is
    ``100 (p' - d') ± z 100 sqrt((p' + d' - (p' - d')^2) / (n + 3))``, clipped to [-100, 100].
    Its centre is pulled toward 0, so at the far end it can miss the observed NPS
    100 (P - D) / n; like ``wilson_interval`` it is widened to contain it (at z = 1.96 only a
    lone promoter or detractor needs that; at the smaller z of one-sided bounds, more counts).
    At z = Z95 it is the two-sided 95% interval; either end at a one-sided quantile
    (``one_sided_z``) is a one-sided bound. Unlike the plain Wald interval it is not degenerate
    at the extremes: 3 detractors out of 3 give [-100, 6.6], not [-100, -100].
    """
    if n <= 0:
        raise ValueError("the NPS interval needs at least one answer")
    if min(promoters, detractors) < 0 or promoters + detractors > n:
        raise ValueError("promoters and detractors must be counts out of n")
    observed = 100.0 * (promoters - detractors) / n
    adjusted_n = n + NPS_ADDED_ANSWERS
    p = (promoters + NPS_ADDED_EACH) / adjusted_n
    d = (detractors + NPS_ADDED_EACH) / adjusted_n
    centre = 100.0 * (p - d)
    # Never negative with the pseudo-answers in (p + d < 1 and p, d > 0); max() for rounding.
    half = z * 100.0 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / adjusted_n)
    low = max(-100.0, min(observed, centre - half))
    high = min(100.0, max(observed, centre + half))
    return low, high


def t_quantile(probability: float, df: float) -> float:
    """The quantile of Student's t distribution with ``df`` degrees of freedom (Student 1908):
    the t with P(T <= t) = ``probability``; accurate to about 1e-9 (the tests check 1e-6).

    - df 1 (Cauchy) and df 2 in closed form: tan(pi (p - 1/2)) and (2p - 1) / sqrt(2p(1 - p));
    - df >= 1000: the Cornish-Fisher expansion in 1/df to its 1/df^4 term (Abramowitz & Stegun,
      Handbook of Mathematical Functions, 1964, 26.7.5), within 1e-9 of the exact t there;
    - otherwise Newton's method on the t distribution's tail, started from that expansion. The
      tail is P(T > t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2) (A&S 26.7.1 and 26.5.27),
      the regularized incomplete beta function evaluated by its continued fraction (DLMF 8.17.22)
      with the modified Lentz algorithm (Press et al., Numerical Recipes, 3rd ed., 2007, 6.4).
    """
    if not 0 < probability < 1:
        raise ValueError("the probability of a quantile must be in (0, 1)")
    if not df > 0:
        raise ValueError("degrees of freedom must be positive")
    if probability == 0.5:
        return 0.0
    if probability < 0.5:
        return -_upper_t_quantile(1.0 - probability, float(df))
    return _upper_t_quantile(probability, float(df))


@lru_cache(maxsize=4096)
def _upper_t_quantile(probability: float, df: float) -> float:
    """t_quantile for probability > 1/2 (the rules ask the same few quantiles over and over)."""
    if df == 1:
        return math.tan(math.pi * (probability - 0.5))
    if df == 2:
        return (2 * probability - 1) / math.sqrt(2 * probability * (1 - probability))
    tail = 1.0 - probability
    t = t_quantile_expansion(probability, df)
    if df >= 1000:
        return t
    t = max(t, 1e-12)
    for _ in range(100):
        # Newton: the tail falls with t at the rate of the density. From above the root a step
        # can overshoot below zero; halving instead keeps t positive, and from below the root
        # Newton's steps on the convex tail rise monotonically to it.
        step = (t_tail(t, df) - tail) / t_density(t, df)
        following = t + step if t + step > 0 else t / 2
        if abs(following - t) <= 1e-13 * max(1.0, t):
            return following
        t = following
    return t


def t_quantile_expansion(probability: float, df: float) -> float:
    """The Cornish-Fisher expansion of the t quantile to its 1/df^4 term (A&S 26.7.5): plain
    arithmetic on df, so PromQL can compute it too; within 1e-6 of ``t_quantile`` only from
    some df on, which depends on the probability (``t_expansion_accurate_from``)."""
    z, g1, g2, g3, g4 = t_expansion_terms(probability)
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def t_expansion_terms(probability: float) -> tuple[float, float, float, float, float]:
    """The normal quantile z and the coefficients g1..g4 of 1/df .. 1/df^4 in the expansion
    t = z + g1/df + g2/df^2 + g3/df^3 + g4/df^4 (A&S 26.7.5)."""
    z = NormalDist().inv_cdf(probability)
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z, g1, g2, g3, g4


def t_expansion_accurate_from(probability: float, tolerance: float = 1e-6) -> int:
    """The fewest degrees of freedom from which on ``t_quantile_expansion`` stays within
    ``tolerance`` of ``t_quantile`` at ``probability`` (from df 1000 on they are the same)."""
    df = 1000
    while df > 1:
        error = t_quantile_expansion(probability, df - 1) - t_quantile(probability, df - 1)
        if abs(error) > tolerance:
            break
        df -= 1
    return df


def t_density(t: float, df: float) -> float:
    """The density of Student's t at ``t``."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


def t_tail(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    # x = df / (df + t^2) and its complement, each computed directly (1 - x loses digits).
    denominator = df + t * t
    tail = 0.5 * _regularized_beta(df / denominator, t * t / denominator, df / 2, 0.5)
    return tail if t >= 0 else 1.0 - tail


def regularized_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if not 0 <= x <= 1:
        raise ValueError("x must be in [0, 1]")
    if not (a > 0 and b > 0):
        raise ValueError("a and b must be positive")
    return _regularized_beta(x, 1.0 - x, a, b)


def _regularized_beta(x: float, y: float, a: float, b: float) -> float:
    """I_x(a, b) with y = 1 - x: its continued fraction where that converges fast,
    x <= (a + 1) / (a + b + 2), and the symmetry I_x(a, b) = 1 - I_y(b, a) elsewhere
    (Numerical Recipes, 3rd ed., 6.4), where y is then strictly under its own limit."""
    if x <= 0 or y <= 0:
        return 0.0 if x <= 0 else 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _regularized_beta(y, x, b, a)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
    return math.exp(log_front + b * math.log(y)) * _beta_fraction(x, a, b) / a


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction 1 / (1 + d1 / (1 + d2 / (1 + ...))) of I_x(a, b) (DLMF 8.17.22),
    by the modified Lentz algorithm."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),  # d_2m
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),  # d_2m+1
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return fraction


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def unseen_share(n: int, confidence: float) -> float:
    """The largest share a kind of answer can have, at ``confidence``, when none of ``n``
    answers was of it (Clopper-Pearson with no successes; the "rule of three" is its 95%
    approximation, 3/n): what a sample of identical answers allows of the others."""
    return 1.0 - math.pow(1.0 - confidence, 1.0 / n)
