import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.scales import CSAT_5, CSAT_7, CSAT_10, NPS_SCALE, CesPolicy, Metric, Scoring
from streamer.core.tally import (
    CesTally,
    CsatTally,
    NpsTally,
    Tallier,
    empty,
    tally_of,
    total,
)
from tests.core.strategies import SCORING, answers, tallies_of

metrics = st.sampled_from(list(Metric))


@given(metrics.flatmap(lambda m: st.tuples(tallies_of(m), tallies_of(m), tallies_of(m))))
def test_merge_is_associative_and_commutative(abc):
    a, b, c = abc
    assert (a + b) + c == a + (b + c)
    assert a + b == b + a


@given(metrics.flatmap(lambda m: st.tuples(st.just(m), tallies_of(m), tallies_of(m))))
def test_empty_is_the_identity_and_subtraction_undoes_addition(mab):
    metric, a, b = mab
    assert a + empty(metric) == a == empty(metric) + a
    assert (a + b) - b == a


@given(metrics.flatmap(lambda m: st.tuples(tallies_of(m), st.integers(0, 300))))
def test_multiplying_is_repeated_addition(tally_times):
    tally, times = tally_times
    repeated = type(tally)()
    for _ in range(times):
        repeated = repeated + tally
    assert tally * times == repeated


@given(st.lists(answers(), max_size=60), st.lists(answers(), max_size=60))
def test_tally_of_a_concatenation_is_the_sum_of_tallies(first, second):
    def tally(items, metric):
        return total(metric, (tally_of(m, s, v, SCORING) for m, s, v in items if m is metric))

    for metric in Metric:
        assert tally(first + second, metric) == tally(first, metric) + tally(second, metric)


@given(st.lists(answers(), max_size=200))
def test_bulk_tallier_equals_one_by_one(items):
    tallier = Tallier(SCORING)
    for metric in Metric:
        histogram: dict = {}
        for m, scale, score in items:
            if m is metric:
                histogram[(scale, score)] = histogram.get((scale, score), 0) + 1
        one_by_one = total(metric, (tally_of(m, s, v, SCORING) for m, s, v in items if m is metric))
        assert tallier.tally(metric, histogram) == one_by_one


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0, NpsTally(detractors=1)),  # lowest score
        (6, NpsTally(detractors=1)),  # highest detractor
        (7, NpsTally(passives=1)),  # lowest passive
        (8, NpsTally(passives=1)),  # highest passive
        (9, NpsTally(promoters=1)),  # lowest promoter
        (10, NpsTally(promoters=1)),  # highest score
    ],
)
def test_nps_categories(score, expected):
    assert tally_of(Metric.NPS, NPS_SCALE, score, SCORING) == expected


@pytest.mark.parametrize(
    ("scale", "score", "satisfied"),
    [
        (CSAT_5, 3, 0),  # neutral is not satisfied
        (CSAT_5, 4, 1),  # top-2-box starts at 4 on 1-5
        (CSAT_5, 5, 1),
        (CSAT_7, 5, 0),
        (CSAT_7, 6, 1),  # top-2-box starts at 6 on 1-7
        (CSAT_10, 8, 0),
        (CSAT_10, 9, 1),  # top-2-box starts at 9 on 1-10
    ],
)
def test_csat_is_top_two_box(scale, score, satisfied):
    assert tally_of(Metric.CSAT, scale, score, SCORING) == CsatTally(n=1, satisfied=satisfied)


def test_ces_keeps_sums_and_agree_on_the_default_scale():
    tallies = [tally_of(Metric.CES, SCORING.ces.scale, s, SCORING) for s in (4, 5, 7)]
    assert total(Metric.CES, tallies) == CesTally(n=3, total=16, total_sq=90, agree=2)


def test_ces_low_effort_scale_counts_one_and_two_as_agree():
    scoring = Scoring(ces=CesPolicy.low_effort_is_good())
    agree = [tally_of(Metric.CES, scoring.ces.scale, s, scoring).agree for s in range(1, 6)]
    assert agree == [1, 1, 0, 0, 0]


@pytest.mark.parametrize(
    "build",
    [
        lambda: NpsTally(promoters=1) - NpsTally(promoters=2),  # removal below zero
        lambda: CsatTally(n=1, satisfied=2),  # more satisfied than answers
        lambda: CesTally(n=1, total=3, total_sq=9, agree=2),  # more agree than answers
    ],
)
def test_impossible_tallies_are_refused(build):
    with pytest.raises(ValueError):
        build()
