import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.stats import (
    normal_sf,
    one_sided_drop_p_value,
    two_proportion_drop_p_value,
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


def test_two_proportion_test_matches_a_hand_computation():
    # 80/100 vs 60/100: pooled 0.7, se = sqrt(0.7*0.3*0.02) = 0.0648, z = 3.086, p = 0.00101
    assert two_proportion_drop_p_value(80, 100, 60, 100) == pytest.approx(0.001014, rel=1e-3)
    assert two_proportion_drop_p_value(60, 100, 80, 100) == pytest.approx(1 - 0.001014, rel=1e-3)


def test_difference_test_uses_both_standard_errors():
    # (40 - 20) / hypot(6, 8) = 2 -> p = 0.02275
    assert one_sided_drop_p_value(40, 6, 20, 8) == pytest.approx(0.02275, rel=1e-3)
    assert one_sided_drop_p_value(40, 0, 40, 0) is None
