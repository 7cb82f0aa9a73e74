import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core import scores
from streamer.core.scales import CesPolicy
from streamer.core.stats import Z95
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
    assert mean.low == pytest.approx(5.5 - Z95 * math.sqrt(5 / 3) / 2)
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
