import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.stats import (
    normal_sf,
    nps_adjusted_wald,
    one_sided_z,
    regularized_beta,
    t_density,
    t_expansion_accurate_from,
    t_quantile,
    t_quantile_expansion,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("z", "p"),
    [
        (0.0, 0.5),
        (1.959963984540054, 0.025),
        (2.3263478740408408, 0.01),
        (-1.6448536269514722, 0.95),
    ],
)
def test_normal_tail(z, p):
    assert normal_sf(z) == pytest.approx(p, rel=1e-9)


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_proportion_and_stays_in_unit_range(successes_n):
    successes, n = successes_n
    low, high = wilson_interval(successes, n)
    assert 0.0 <= low <= successes / n <= high <= 1.0


@pytest.mark.parametrize(
    ("confidence", "z"),
    [
        (0.0, 0.0),  # confidence 0: the point estimate itself
        (0.95, 1.6448536269514722),  # one-sided 95%
        (0.99, 2.3263478740408408),
    ],
)
def test_one_sided_quantiles(confidence, z):
    assert one_sided_z(confidence) == pytest.approx(z, rel=1e-9)


def test_wilson_bound_of_a_hand_computed_case():
    # 8/10 at z=1.96: centre (0.8 + 0.192)/1.384 = 0.7168, half 1.96*sqrt(0.016+0.0096)/1.384
    # = 0.2266 -> 0.490 .. 0.943
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)


# Student's t quantiles as printed in tables (e.g. NIST/SEMATECH e-Handbook, 1.3.6.7.2).
@pytest.mark.parametrize(
    ("probability", "df", "t"),
    [
        (0.975, 1, 12.7062),  # closed form: tan(pi (p - 1/2))
        (0.975, 2, 4.3027),  # closed form: (2p - 1) / sqrt(2p(1 - p))
        (0.975, 5, 2.5706),
        (0.975, 30, 2.0423),
        (0.995, 10, 3.1693),
        (0.95, 1, 6.3138),
        (0.95, 9, 1.8331),
        (0.975, 3, 3.1824),
        (0.99, 20, 2.5280),
        (0.999, 4, 7.1732),
        (0.975, 100, 1.9840),
    ],
)
def test_t_quantile_against_tables(probability, df, t):
    assert t_quantile(probability, df) == pytest.approx(t, abs=5e-5)
    assert t_quantile(1 - probability, df) == pytest.approx(-t, abs=5e-5)  # symmetric


def test_t_quantile_tends_to_the_normal_one():
    for probability in (0.9, 0.975, 0.999):
        z = one_sided_z(probability)
        gaps = [t_quantile(probability, df) - z for df in (10, 100, 1_000, 10_000, 10**6)]
        assert all(gap > 0 for gap in gaps)  # heavier tails than the normal
        assert gaps == sorted(gaps, reverse=True)
        assert gaps[-1] < 1e-5


def _t_cdf_by_finite_series(t, df):
    """P(T <= t) for integer df by the finite sums of Abramowitz & Stegun 26.7.3/26.7.4, a
    method independent of the continued fraction t_quantile inverts."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:
        term = total = math.cos(theta) if df > 1 else 0.0
        for k in range(3, df - 1, 2):
            term *= (k - 1) / k * c2
            total += term
        within = 2 / math.pi * (theta + math.sin(theta) * total)
    else:
        term = total = 1.0
        for k in range(2, df - 1, 2):
            term *= (k - 1) / k * c2
            total += term
        within = math.sin(theta) * total
    return 0.5 + within / 2


@given(st.integers(1, 400), st.floats(0.501, 0.99999))
def test_t_quantile_inverts_the_t_distribution_to_1e6(df, probability):
    t = t_quantile(probability, df)
    # |t - t*| is about |F(t) - p| / density; the exact quantile is within 1e-6 of it.
    assert abs(_t_cdf_by_finite_series(t, df) - probability) <= 1e-6 * t_density(t, df)


@pytest.mark.parametrize("probability", [0.6, 0.9, 0.95, 0.975, 0.99, 0.999, 0.9999])
def test_the_expansion_promql_computes_holds_from_where_it_says(probability):
    start = t_expansion_accurate_from(probability)
    for df in range(start, 1_001):
        assert abs(t_quantile_expansion(probability, df) - t_quantile(probability, df)) <= 1e-6
    if start > 1:
        error = t_quantile_expansion(probability, start - 1) - t_quantile(probability, start - 1)
        assert abs(error) > 1e-6


def test_the_expansion_needs_more_answers_the_surer_the_bound():
    # Where the export starts to agree with the worker (docs and promrules say these numbers)
    assert [t_expansion_accurate_from(c) for c in (0.95, 0.99, 0.999)] == [12, 21, 35]


@pytest.mark.parametrize(
    ("x", "a", "b", "expected"),
    [
        (0.3, 2.5, 1.0, 0.3**2.5),  # I_x(a, 1) = x^a
        (0.3, 1.0, 4.5, 1 - 0.7**4.5),  # I_x(1, b) = 1 - (1 - x)^b
        (0.5, 7.0, 7.0, 0.5),  # symmetric
        (0.0, 2.0, 3.0, 0.0),
        (1.0, 2.0, 3.0, 1.0),
    ],
)
def test_regularized_beta_closed_forms(x, a, b, expected):
    assert regularized_beta(x, a, b) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "call",
    [
        lambda: t_quantile(1.0, 5),
        lambda: t_quantile(0.0, 5),
        lambda: t_quantile(0.9, 0),
        lambda: nps_adjusted_wald(0, 0, 0),
        lambda: nps_adjusted_wald(3, 2, 4),
        lambda: regularized_beta(1.5, 1.0, 1.0),
    ],
)
def test_nonsense_is_refused(call):
    with pytest.raises(ValueError):
        call()


def test_adjusted_wald_of_three_angry_answers_is_honest():
    # 3 detractors of 3: p' = 0.75/6, d' = 3.75/6, centre -50, variance 0.75 - 0.25 = 0.5,
    # SE 100 sqrt(0.5/6) = 28.87; -50 + 1.96 * 28.87 = 6.58. The plain Wald interval was
    # [-100, -100] (SE 0).
    low, high = nps_adjusted_wald(0, 3, 3)
    assert low == -100.0
    assert high == pytest.approx(6.58, abs=0.01)


def test_adjusted_wald_worked_example():
    # 5 promoters, 3 passives, 2 detractors: p' = 5.75/13, d' = 2.75/13, centre 23.08, variance
    # 0.65385 - 0.05325 = 0.60059, SE 100 sqrt(0.60059/13) = 21.494, half width 42.13.
    low, high = nps_adjusted_wald(5, 2, 10)
    assert (low, high) == (pytest.approx(-19.05, abs=0.01), pytest.approx(65.20, abs=0.01))


counts_out_of_n = st.integers(1, 5_000).flatmap(
    lambda n: st.integers(0, n).flatmap(
        lambda p: st.tuples(st.just(p), st.integers(0, n - p), st.just(n))
    )
)


@given(counts_out_of_n, st.floats(0.0, 4.0), st.floats(0.0, 4.0))
def test_adjusted_wald_contains_the_nps_and_widens_with_z(counts, z1, z2):
    promoters, detractors, n = counts
    observed = 100 * (promoters - detractors) / n
    low, high = nps_adjusted_wald(promoters, detractors, n, min(z1, z2))
    wider_low, wider_high = nps_adjusted_wald(promoters, detractors, n, max(z1, z2))
    assert -100.0 <= wider_low <= low <= observed <= high <= wider_high <= 100.0
