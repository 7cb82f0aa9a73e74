"""The few statistics streamer needs, in closed form (standard library only)."""

from __future__ import annotations

import math

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


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


def one_sided_drop_p_value(
    baseline: float, baseline_se: float, current: float, current_se: float
) -> float | None:
    """p-value of H1 "current is below baseline" for two independent estimates.

    None when neither estimate has any spread (the z statistic is undefined).
    """
    spread = math.hypot(baseline_se, current_se)
    if spread == 0:
        return None
    return normal_sf((baseline - current) / spread)


def two_proportion_drop_p_value(
    baseline_successes: int, baseline_n: int, current_successes: int, current_n: int
) -> float | None:
    """One-sided pooled two-proportion z-test of "the current proportion is lower"."""
    if baseline_n <= 0 or current_n <= 0:
        return None
    pooled = (baseline_successes + current_successes) / (baseline_n + current_n)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / current_n))
    if spread == 0:
        return None
    diff = baseline_successes / baseline_n - current_successes / current_n
    return normal_sf(diff / spread)
