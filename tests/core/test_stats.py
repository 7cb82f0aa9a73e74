import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.stats import normal_sf, one_sided_z, wilson_interval


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
