import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from streamer.core.explain import Contribution, decompose, describe, top_contributors
from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind, estimate
from streamer.core.tally import CesTally, CsatTally, NpsTally, total
from tests.core.strategies import tallies_of

POLICY = CesPolicy()
VALUES = st.sampled_from(["chat", "voice", "email", "sms", "web"])


def breakdowns(kind: ScoreKind) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(VALUES, tallies_of(kind.metric), max_size=5)


@st.composite
def csat_groups(draw: st.DrawFn) -> tuple[list[int], list[int], list[int]]:
    """Per group: n (>= 1), satisfied in the baseline, satisfied now."""
    ns = draw(st.lists(st.integers(1, 1000), min_size=1, max_size=5))
    before = [draw(st.integers(0, n)) for n in ns]
    after = [draw(st.integers(0, n)) for n in ns]
    return ns, before, after


def test_worked_example_nps_by_channel():
    # Baseline: chat 40 answers (10 P, 10 passive, 20 D) NPS -25; voice 160 (80 P, 40, 40 D)
    # NPS +25. Touchpoint: 200 answers, 90 P, 60 D: NPS 15 = 0.2 * -25 + 0.8 * 25.
    # Now: chat 100 (20 P, 20, 60 D) NPS -40; voice 100 (50 P, 25, 25 D) NPS +25.
    # Touchpoint: 200 answers, 70 P, 85 D: NPS -7.5 = 0.5 * -40 + 0.5 * 25. Change -22.5.
    # Average of the two touchpoint scores: (15 - 7.5) / 2 = 3.75.
    # chat:  rate = (0.2 + 0.5) / 2 * (-40 - -25) = 0.35 * -15 = -5.25
    #        mix  = (0.5 - 0.2) * ((-25 - 40) / 2 - 3.75) = 0.3 * -36.25 = -10.875
    # voice: rate = 0.65 * (25 - 25) = 0
    #        mix  = (0.5 - 0.8) * (25 - 3.75) = -0.3 * 21.25 = -6.375 (fewer answers from the
    #        better channel)
    # Sum: -5.25 - 10.875 - 6.375 = -22.5.
    base = {"chat": NpsTally(10, 10, 20), "voice": NpsTally(80, 40, 40)}
    current = {"chat": NpsTally(20, 20, 60), "voice": NpsTally(50, 25, 25)}
    result = decompose(ScoreKind.NPS, base, current, POLICY)
    assert result is not None
    assert (result.score_base, result.score_cur, result.n_base, result.n_cur) == (
        15,
        -7.5,
        200,
        200,
    )
    assert result.total_change == pytest.approx(-22.5)
    chat, voice = result.parts
    assert (chat.value, chat.n_base, chat.n_cur) == ("chat", 40, 100)
    assert (chat.share_base, chat.share_cur) == (0.2, 0.5)
    assert (chat.score_base, chat.score_cur) == (-25, -40)
    assert chat.rate == pytest.approx(-5.25)
    assert chat.mix == pytest.approx(-10.875)
    assert chat.total == pytest.approx(-16.125)
    assert voice.rate == 0
    assert voice.mix == pytest.approx(-6.375)
    assert top_contributors(result) == (chat, voice)
    assert top_contributors(result, k=1) == (chat,)


def test_worked_example_csat_text_with_a_new_channel_and_a_small_sample():
    # Baseline: chat 40/50 = 0.8, voice 135/150 = 0.9; touchpoint 175/200 = 0.875.
    # Now: chat 53/80 = 0.6625, voice 98/112 = 0.875, email 4/8 = 0.5 (new: no baseline);
    # touchpoint 155/200 = 0.775. Change -0.1 (-10 points). Average (0.875 + 0.775) / 2 = 0.825.
    # chat:  rate = (0.25 + 0.4) / 2 * (0.6625 - 0.8) = 0.325 * -0.1375 = -0.0446875
    #        mix  = 0.15 * ((0.8 + 0.6625) / 2 - 0.825) = 0.15 * -0.09375 = -0.0140625
    # voice: rate = (0.75 + 0.56) / 2 * (0.875 - 0.9) = 0.655 * -0.025 = -0.016375
    #        mix  = (0.56 - 0.75) * ((0.9 + 0.875) / 2 - 0.825) = -0.19 * 0.0625 = -0.011875
    # email: its score 0.5 stands in both periods, so rate = 0 and
    #        mix  = (0.04 - 0) * (0.5 - 0.825) = -0.013
    # Totals: chat -0.05875, voice -0.02825, email -0.013; sum -0.1.
    base = {"chat": CsatTally(50, 40), "voice": CsatTally(150, 135)}
    current = {"chat": CsatTally(80, 53), "voice": CsatTally(112, 98), "email": CsatTally(8, 4)}
    result = decompose(ScoreKind.CSAT, base, current, POLICY)
    assert result is not None
    chat, email, voice = result.parts  # in order of value
    assert (email.value, email.score_base, email.score_cur, email.rate) == ("email", None, 0.5, 0)
    assert email.mix == pytest.approx(-0.013)
    assert [p.total for p in (chat, voice, email)] == pytest.approx([-0.05875, -0.02825, -0.013])
    assert top_contributors(result) == (chat, voice, email)
    assert describe(top_contributors(result), "channel", ScoreKind.CSAT) == (
        "channel=chat: rate -4.5pp, mix -1.4pp (n 50->80); "
        "channel=voice: rate -1.6pp, mix -1.2pp (n 150->112); "
        "channel=email: rate +0.0pp, mix -1.3pp (n 0->8, n<10)"
    )


def test_ces_mean_on_a_low_effort_scale_ranks_rising_effort_as_worse():
    # 1-5 effort, low is good. Baseline: chat 1,1,2,2 (mean 1.5), voice 2,2,2,2 (mean 2).
    # Now: chat 3,3,4,4 (mean 3.5), voice unchanged. Touchpoint 14/8 = 1.75 -> 22/8 = 2.75.
    # Shares stay 0.5 / 0.5: no mix; chat rate = 0.5 * (3.5 - 1.5) = +1.0, voice 0.
    policy = CesPolicy.low_effort_is_good()
    base = {"chat": CesTally(4, 6, 10, 4), "voice": CesTally(4, 8, 16, 4)}
    current = {"chat": CesTally(4, 14, 50, 0), "voice": CesTally(4, 8, 16, 4)}
    result = decompose(ScoreKind.CES_MEAN, base, current, policy)
    assert result is not None and result.worse_is_higher
    assert result.total_change == 1.0
    worst = top_contributors(result)
    assert [p.value for p in worst] == ["chat"]  # voice did not move: not named
    assert describe(worst, "channel", ScoreKind.CES_MEAN) == (
        "channel=chat: rate +1.00, mix +0.00 (n 4->4, n<10)"
    )
    # The same change on the default 1-7 ease scale is an improvement: nothing to name.
    easy = decompose(ScoreKind.CES_MEAN, base, current, POLICY)
    assert easy is not None and not easy.worse_is_higher
    assert top_contributors(easy) == ()
    assert describe(top_contributors(easy), "channel", ScoreKind.CES_MEAN) == ""


@pytest.mark.parametrize(
    ("base", "current"),
    [
        ({}, {"chat": NpsTally(1, 0, 0)}),  # no baseline answers at all
        ({"chat": NpsTally(1, 0, 0)}, {"chat": NpsTally()}),  # nothing in the current period
    ],
)
def test_no_decomposition_without_answers_in_both_periods(base, current):
    assert decompose(ScoreKind.NPS, base, current, POLICY) is None


def test_values_without_answers_in_either_period_are_left_out():
    base = {"chat": NpsTally(1, 0, 0), "sms": NpsTally()}
    result = decompose(ScoreKind.NPS, base, {"chat": NpsTally(0, 0, 1)}, POLICY)
    assert result is not None
    assert [p.value for p in result.parts] == ["chat"]


@given(st.sampled_from(list(ScoreKind)), st.data())
def test_rate_and_mix_add_up_to_the_change_of_the_touchpoint_score(kind, data):
    base = data.draw(breakdowns(kind))
    current = data.draw(breakdowns(kind))
    result = decompose(kind, base, current, POLICY)
    before = estimate(kind, total(kind.metric, base.values()), POLICY)
    after = estimate(kind, total(kind.metric, current.values()), POLICY)
    if before is None or after is None:
        assert result is None
        return
    assert result is not None
    assert result.total_change == after.value - before.value
    assert sum(p.rate + p.mix for p in result.parts) == pytest.approx(result.total_change, abs=1e-9)
    assert sum(p.share_base for p in result.parts) == pytest.approx(1.0)
    assert sum(p.share_cur for p in result.parts) == pytest.approx(1.0)


@given(csat_groups())
def test_unchanged_shares_leave_no_mix(groups):
    ns, before, after = groups
    base = {f"g{i}": CsatTally(n, s) for i, (n, s) in enumerate(zip(ns, before, strict=True))}
    current = {f"g{i}": CsatTally(n, s) for i, (n, s) in enumerate(zip(ns, after, strict=True))}
    result = decompose(ScoreKind.CSAT, base, current, POLICY)
    assert result is not None
    assert all(p.mix == 0 for p in result.parts)
    assert sum(p.rate for p in result.parts) == pytest.approx(result.total_change, abs=1e-12)


@given(
    st.integers(1, 500),
    st.integers(1, 500),
    st.integers(2, 20),
    st.data(),
)
def test_more_answers_from_the_worse_group_is_pure_negative_mix(n_worse, n_better, times, data):
    # Same scores per group; the worse group's volume is multiplied by `times`.
    worse = CsatTally(n_worse, data.draw(st.integers(0, n_worse)))
    better = CsatTally(n_better, data.draw(st.integers(0, n_better)))
    assume(worse.satisfied / worse.n < better.satisfied / better.n)
    base = {"worse": worse, "better": better}
    current = {"worse": worse * times, "better": better}
    result = decompose(ScoreKind.CSAT, base, current, POLICY)
    assert result is not None
    assert result.total_change < 0
    for part in result.parts:
        assert part.rate == pytest.approx(0, abs=1e-12)
        # More answers from the below-average group, a smaller share for the above-average one.
        assert part.mix < 0
    assert len(top_contributors(result)) == 2


@given(st.data(), st.integers(1, 5))
def test_top_contributors_are_the_worst_values_worst_first(data, k):
    kind = ScoreKind.NPS
    result = decompose(kind, data.draw(breakdowns(kind)), data.draw(breakdowns(kind)), POLICY)
    assume(result is not None)
    assert result is not None
    top = top_contributors(result, k)
    totals = [p.total for p in top]
    assert len(top) <= k
    assert all(t < 0 for t in totals)
    assert totals == sorted(totals)
    left = [p for p in result.parts if p not in top and p.total < 0]
    assert len(top) == k or not left
    assert all(p.total >= totals[-1] for p in left)


@given(st.sampled_from(list(ScoreKind)), st.data())
def test_describe_names_each_value_once_in_the_order_given(kind, data):
    result = decompose(kind, data.draw(breakdowns(kind)), data.draw(breakdowns(kind)), POLICY)
    assume(result is not None)
    assert result is not None
    text = describe(result.parts, "queue", kind)
    assert [entry.split(":")[0] for entry in text.split("; ") if entry] == [
        f"queue={p.value}" for p in result.parts
    ]


@pytest.mark.parametrize(
    ("kind", "rate", "mix", "text"),
    [
        (ScoreKind.NPS, -1e-15, -3.06, "rate +0.0, mix -3.1"),  # rounding noise is no effect
        (ScoreKind.CSAT, 0.0123, -0.004, "rate +1.2pp, mix -0.4pp"),  # shares in points
        (ScoreKind.CES_AGREE, -0.2, 0.0, "rate -20.0pp, mix +0.0pp"),
        (
            ScoreKind.CES_MEAN,
            0.126,
            -0.004,
            "rate +0.13, mix +0.00",
        ),  # two decimals; a rounded zero is no effect
    ],
)
def test_describe_units(kind, rate, mix, text):
    part = Contribution("x", 20, 30, 0.5, 0.5, 1.0, 1.0, rate, mix)
    assert describe([part], "agent", kind) == f"agent=x: {text} (n 20->30)"
