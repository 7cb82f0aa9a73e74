"""The few statistics streamer needs, in closed form (standard library only)."""

from __future__ import annotations

import math
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


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))
