import pytest

from streamer.core.rules import Drop, Rule, Selector, Signal, Threshold, evaluate
from streamer.core.scales import CesPolicy, Metric
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from streamer.core.stats import one_sided_drop_p_value, two_proportion_drop_p_value
from streamer.core.tally import CesTally, CsatTally, NpsTally

CES = CesPolicy()
NPS_LOW = Rule("nps-low", ScoreKind.NPS, Threshold("1h", below=20, clear=25), min_responses=10)


@pytest.mark.parametrize(
    ("tally", "signal"),
    [
        (NpsTally(), Signal.NO_DATA),  # no answers at all
        (NpsTally(detractors=9), Signal.INSUFFICIENT),  # 9 angry answers < min_responses 10
        (NpsTally(promoters=3, passives=4, detractors=3), Signal.BREACH),  # NPS 0 < 20
        (NpsTally(promoters=4, passives=4, detractors=2), Signal.HOLD),  # 20: not below, not 25
        (NpsTally(promoters=5, passives=3, detractors=2), Signal.CLEAR),  # 30 >= 25
    ],
)
def test_threshold_with_hysteresis(tally, signal):
    assert evaluate(NPS_LOW, {"1h": tally}, CES).signal is signal


def test_threshold_above_for_a_high_effort_scale():
    rule = Rule("effort", ScoreKind.CES_MEAN, Threshold("1h", above=3.5), min_responses=2)
    high = CesTally(n=2, total=8, total_sq=32, agree=0)  # mean 4
    assert evaluate(rule, {"1h": high}, CesPolicy.low_effort_is_good()).signal is Signal.BREACH


def test_a_drop_compares_the_window_with_the_rest_of_the_baseline():
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "7d", p_value=0.01), min_responses=30)
    recent = NpsTally(promoters=10, passives=10, detractors=30)  # NPS -40, n 50
    rest = NpsTally(promoters=500, passives=300, detractors=200)  # NPS 30, n 1000
    verdict = evaluate(rule, {"1h": recent, "7d": rest + recent}, CES)
    assert verdict.signal is Signal.BREACH
    assert verdict.baseline == pytest.approx(30.0) and verdict.baseline_n == 1000
    se_recent = 100 * ((0.2 + 0.6 - 0.16) / 50) ** 0.5
    se_rest = 100 * ((0.5 + 0.2 - 0.09) / 1000) ** 0.5
    assert verdict.p_value == pytest.approx(one_sided_drop_p_value(30, se_rest, -40, se_recent))


def test_no_drop_when_the_window_looks_like_the_baseline():
    rule = Rule("drop", ScoreKind.CSAT, Drop("1h", "7d"), min_responses=30)
    recent, rest = CsatTally(n=100, satisfied=79), CsatTally(n=1000, satisfied=800)
    verdict = evaluate(rule, {"1h": recent, "7d": rest + recent}, CES)
    assert verdict.signal is Signal.CLEAR
    assert verdict.p_value == pytest.approx(two_proportion_drop_p_value(800, 1000, 79, 100))


def test_a_drop_smaller_than_min_drop_does_not_page():
    rule = Rule("drop", ScoreKind.CSAT, Drop("1h", "7d", min_drop=0.2), min_responses=30)
    recent, rest = CsatTally(n=2000, satisfied=1500), CsatTally(n=20000, satisfied=16400)
    assert evaluate(rule, {"1h": recent, "7d": rest + recent}, CES).signal is Signal.CLEAR


def test_a_thin_baseline_is_insufficient():
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "7d"), min_responses=30)
    recent = NpsTally(detractors=40)
    assert (
        evaluate(rule, {"1h": recent, "7d": recent + NpsTally(promoters=5)}, CES).signal
        is Signal.INSUFFICIENT
    )


@pytest.mark.parametrize(
    ("selector", "key", "matches"),
    [
        (Selector(), SeriesKey(Metric.NPS, "chat"), True),  # every touchpoint
        (Selector(), SeriesKey(Metric.NPS, "chat", (("channel", "web"),)), False),  # not breakdowns
        (Selector(frozenset({"checkout"})), SeriesKey(Metric.NPS, "chat"), False),
        (
            Selector(dimensions=(("channel", frozenset()),)),
            SeriesKey(Metric.NPS, "c", (("channel", "web"),)),
            True,
        ),
        (
            Selector(dimensions=(("channel", frozenset({"voice"})),)),
            SeriesKey(Metric.NPS, "c", (("channel", "web"),)),
            False,
        ),
    ],
)
def test_selectors(selector, key, matches):
    assert selector.matches(key) is matches


@pytest.mark.parametrize(
    "build",
    [
        lambda: Threshold("1h"),  # neither below nor above
        lambda: Threshold("1h", below=20, above=30),  # both
        lambda: Threshold("1h", below=20, clear=10),  # clears on the unhealthy side
        lambda: Drop("1h", "1h"),  # no baseline
        lambda: Drop("1h", "7d", p_value=0.2, clear_p_value=0.1),
    ],
)
def test_conditions_refuse_nonsense(build):
    with pytest.raises(ValueError):
        build()
