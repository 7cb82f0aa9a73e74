import itertools
import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core import scores
from streamer.core.scales import CesPolicy
from streamer.core.tally import CesTally, CsatTally, NpsTally
from tests.core.strategies import ces_tallies, csat_tallies

POLICY = CesPolicy()


def test_worked_example_from_the_definition():
    # 5 promoters, 3 passives, 2 detractors: NPS = 50% - 20% = 30, passives count in n.
    estimate = scores.nps(NpsTally(promoters=5, passives=3, detractors=2))
    assert estimate is not None
    assert estimate.value == pytest.approx(30.0)
    assert estimate.n == 10
    # SE = 100 sqrt(((0.5 + 0.2) - (0.5 - 0.2)^2) / 10) = 100 sqrt(0.061)
    assert estimate.standard_error == pytest.approx(100 * math.sqrt(0.061))


@pytest.mark.parametrize(
    ("tally", "nps"),
    [
        (NpsTally(promoters=4), 100.0),  # all promoters
        (NpsTally(detractors=4), -100.0),  # all detractors
        (NpsTally(passives=4), 0.0),  # passives only: zero, not no score
        (NpsTally(promoters=1, detractors=1), 0.0),
    ],
)
def test_nps_extremes(tally, nps):
    estimate = scores.nps(tally)
    assert estimate is not None and estimate.value == nps


# Counts small enough to list every answer (no answers, no score: see below).
listable = st.integers(0, 10_000)


@given(st.builds(NpsTally, listable, listable, listable).filter(lambda t: t.n > 0))
def test_nps_is_the_mean_answer_value_and_its_error_that_of_a_mean(tally):
    # Independent of the closed form: NPS is the mean of +100 (promoter), 0 (passive) and -100
    # (detractor) over every answer, and its standard error that of a mean, sd / sqrt(n).
    estimate = scores.nps(tally)
    assert estimate is not None
    values = [100] * tally.promoters + [0] * tally.passives + [-100] * tally.detractors
    assert -100.0 <= estimate.low <= estimate.value <= estimate.high <= 100.0
    assert estimate.value == pytest.approx(statistics.fmean(values))
    assert estimate.standard_error == pytest.approx(
        statistics.pstdev(values) / math.sqrt(len(values)), abs=1e-9
    )


def test_csat_is_satisfied_over_all_answers_with_wilson():
    estimate = scores.csat(CsatTally(n=10, satisfied=8))
    assert estimate is not None
    assert estimate.value == 0.8
    # Wilson 95% for 8/10, as published tables give it: 0.490 .. 0.943
    assert estimate.low == pytest.approx(0.4902, abs=1e-4)
    assert estimate.high == pytest.approx(0.9433, abs=1e-4)


@given(csat_tallies.filter(lambda t: t.n > 0))
def test_csat_is_a_ratio_inside_its_interval(tally):
    estimate = scores.csat(tally)
    assert estimate is not None
    assert estimate.value == tally.satisfied / tally.n
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0


def test_ces_mean_deviation_and_agree():
    tally = CesTally(n=4, total=4 + 5 + 6 + 7, total_sq=16 + 25 + 36 + 49, agree=3)
    mean = scores.ces_mean(tally, POLICY)
    agree = scores.ces_agree(tally)
    assert mean is not None and agree is not None
    assert mean.value == 5.5
    assert scores.ces_deviation(tally) == pytest.approx(math.sqrt(5 / 3))  # sample deviation
    assert mean.standard_error == pytest.approx(math.sqrt(5 / 3) / 2)
    # Student's t(0.975, 3) = 3.1824 from a table (the normal 1.96 covered too little)
    assert mean.low == pytest.approx(5.5 - 3.1824 * math.sqrt(5 / 3) / 2, abs=1e-4)
    assert mean.high == 7.0  # 5.5 + 2.054 = 7.554, clipped to the scale
    assert agree.value == 0.75


def test_one_ces_answer_says_nothing_about_spread():
    mean = scores.ces_mean(CesTally(n=1, total=6, total_sq=36, agree=1), POLICY)
    assert mean is not None
    assert (mean.value, mean.low, mean.high) == (6.0, 1.0, 7.0)


@given(ces_tallies.filter(lambda t: t.n > 0))
def test_ces_scores_stay_on_the_scale(tally):
    mean, agree = scores.ces_mean(tally, POLICY), scores.ces_agree(tally)
    assert mean is not None and agree is not None
    assert 1.0 <= mean.low <= mean.value <= mean.high <= 7.0
    assert 0.0 <= agree.value <= 1.0


@pytest.mark.parametrize(
    "score",
    [
        lambda: scores.nps(NpsTally()),
        lambda: scores.csat(CsatTally()),
        lambda: scores.ces_mean(CesTally(), POLICY),
        lambda: scores.ces_agree(CesTally()),
    ],
)
def test_no_answers_means_no_score(score):
    assert score() is None


@given(st.integers(0, 500), st.integers(1, 500))
def test_ces_deviation_of_a_constant_sample_is_exactly_zero(value, n):
    tally = CesTally(n=n + 1, total=value * (n + 1), total_sq=value * value * (n + 1), agree=0)
    assert scores.ces_deviation(tally) == 0.0


def test_three_angry_answers_have_an_honest_interval_and_the_defined_standard_error():
    estimate = scores.nps(NpsTally(detractors=3))
    assert estimate is not None
    # The plain normal interval was [-100, -100]: certainty from three answers. The adjusted
    # Wald one (Rocks 2016) reaches 6.58 (worked in tests/core/test_stats.py).
    assert (estimate.value, estimate.low) == (-100.0, -100.0)
    assert estimate.high == pytest.approx(6.58, abs=0.01)
    # The standard error stays the defined one, 100 sqrt(((p + d) - (p - d)^2) / n): 0 here.
    assert estimate.standard_error == 0.0


def _nps_coverage(n, promoters_share, detractors_share, interval):
    """The exact probability that ``interval`` covers the true NPS, over every trinomial sample
    of n answers (the limit of a simulation, without its sampling error)."""
    passives_share = 1 - promoters_share - detractors_share
    true_nps = 100 * (promoters_share - detractors_share)
    covered = 0.0
    for promoters in range(n + 1):
        for detractors in range(n + 1 - promoters):
            passives = n - promoters - detractors
            probability = (
                math.comb(n, promoters)
                * math.comb(n - promoters, detractors)
                * promoters_share**promoters
                * detractors_share**detractors
                * passives_share**passives
            )
            low, high = interval(NpsTally(promoters, passives, detractors))
            covered += probability * (low <= true_nps <= high)
    return covered


def _plain_nps_interval(tally):
    """The interval streamer used to publish: the normal one, NPS ± 1.96 SE, clipped."""
    estimate = scores.nps(tally)
    half = 1.959963984540054 * estimate.standard_error
    return max(-100.0, estimate.value - half), min(100.0, estimate.value + half)


def _published_nps_interval(tally):
    estimate = scores.nps(tally)
    return estimate.low, estimate.high


# Coverage of the "95%" NPS interval, exactly (p = promoter share, d = detractor share).
# Before (plain normal), (p, d) = (0.5, 0.2): 75% at n 3, 84% at n 5, 90% at n 10, 93.5% at n 30;
# at (0.6, 0.1): 72%, 89%, 87%, 93%; one answer: 0%. After (adjusted Wald): 93% to 100% in every
# cell below (3 answers of (0.3, 0.3): 73% before, 100% after).
@pytest.mark.parametrize("n", [3, 5, 10, 30])
@pytest.mark.parametrize("shares", [(0.5, 0.2), (0.6, 0.1), (0.3, 0.3), (0.55, 0.175), (0.2, 0.5)])
def test_the_nps_interval_covers_the_true_nps_at_small_n(n, shares):
    assert _nps_coverage(n, *shares, _published_nps_interval) >= 0.92


def test_the_plain_normal_nps_interval_did_not():
    assert _nps_coverage(3, 0.5, 0.2, _plain_nps_interval) < 0.76
    assert _nps_coverage(1, 0.5, 0.2, _plain_nps_interval) == 0.0


def _ces_mean_coverage(n, shares, interval):
    """The exact probability that ``interval`` covers the true mean of CES scores 1..7 drawn
    with ``shares``, over every sample of n answers (as a multiset, with its multinomial
    probability)."""
    true_mean = sum(score * share for score, share in enumerate(shares, start=1))
    covered = 0.0
    for sample in itertools.combinations_with_replacement(range(1, 8), n):
        probability = float(math.factorial(n))
        for score in range(1, 8):
            count = sample.count(score)
            probability *= shares[score - 1] ** count / math.factorial(count)
        tally = CesTally(n=n, total=sum(sample), total_sq=sum(s * s for s in sample), agree=0)
        low, high = interval(tally)
        covered += probability * (low <= true_mean <= high)
    return covered


def _published_ces_interval(tally):
    estimate = scores.ces_mean(tally, POLICY)
    return estimate.low, estimate.high


def _normal_ces_interval(tally):
    """The interval streamer used to publish: mean ± 1.96 SE, clipped to the scale."""
    estimate = scores.ces_mean(tally, POLICY)
    half = 1.959963984540054 * estimate.standard_error
    return max(1.0, estimate.value - half), min(7.0, estimate.value + half)


# Two normal-ish distributions of 1-7 CES scores (means 4.53 and 4.0). Before (mean ± 1.96 SE):
# 78% / 82% at n 3, 87.5% / 87% at n 5, 91.5% / 92% at n 10. After (Student's t): 94% to 96.5%.
NORMALISH = [(0.03, 0.07, 0.15, 0.30, 0.25, 0.13, 0.07), (0.05, 0.1, 0.2, 0.3, 0.2, 0.1, 0.05)]


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("shares", NORMALISH)
def test_the_ces_mean_t_interval_covers_the_true_mean(n, shares):
    assert _ces_mean_coverage(n, shares, _published_ces_interval) >= 0.93


def test_the_normal_ces_mean_interval_did_not():
    assert _ces_mean_coverage(3, NORMALISH[0], _normal_ces_interval) < 0.8
