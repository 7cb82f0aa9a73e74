"""The drop detector: its arithmetic from the definitions, and its calibration by simulation."""

import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind
from streamer.core.sequential import MIN_LIMIT, Cusum, limit, reference
from streamer.core.tally import CesTally, CsatTally, NpsTally

CES = CesPolicy()


def test_a_csat_bucket_weighs_each_answer_by_its_likelihood_ratio():
    # Baseline 80/100, smoothed (80 + 0.5)/(100 + 1) = 0.79703, minus one standard error
    # sqrt(0.79703 * 0.20297 / 101) = 0.04002: p0 = 0.75701, and H1 p1 = p0 - 0.1 = 0.65701.
    p0, p1 = 0.7570, 0.6570
    ref = reference(ScoreKind.CSAT, CsatTally(n=100, satisfied=80), 0.1, CES)
    bucket = CsatTally(n=5, satisfied=3)  # 3 satisfied, 2 not
    by_hand = 3 * math.log(p1 / p0) + 2 * math.log((1 - p1) / (1 - p0))
    assert ref is not None
    assert ref.log_likelihood_ratio(ScoreKind.CSAT, bucket) == pytest.approx(by_hand, rel=1e-3)


def _tilted(shares, mean):
    """The distribution shares * e^(t x) / Z over x = +1, 0, -1 with the given mean (bisection
    on t, written here independently of the code under test)."""
    low, high = -50.0, 50.0
    for _ in range(200):
        t = (low + high) / 2
        weights = [shares[0] * math.exp(t), shares[1], shares[2] * math.exp(-t)]
        if (weights[0] - weights[2]) / sum(weights) < mean:
            low = t
        else:
            high = t
    total = sum(weights)
    return [w / total for w in weights]


@given(
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(0, 500),
    st.floats(1.0, 60.0),
)
def test_nps_in_and_out_of_control_are_the_baseline_tilted_to_two_means(p, a, d, drop):
    assume(p + a + d > 0)  # an empty baseline has no reference (None), tested below
    ref = reference(ScoreKind.NPS, NpsTally(p, a, d), drop, CES)
    total = p + a + d + 1.5
    shares = ((p + 0.5) / total, (a + 0.5) / total, (d + 0.5) / total)
    mean = shares[0] - shares[2]
    margin = math.sqrt((shares[0] + shares[2] - mean**2) / total)  # one standard error
    if mean - margin - drop / 100 <= -1 + 1e-9:
        assert ref is None  # the baseline cannot drop that far
        return
    assume(mean - margin - drop / 100 > -0.98)  # the tilt is then numerically well defined
    assert ref is not None
    in_control = _tilted(shares, mean - margin)
    answers = (NpsTally(1, 0, 0), NpsTally(0, 1, 0), NpsTally(0, 0, 1))
    ratios = [math.exp(ref.log_likelihood_ratio(ScoreKind.NPS, one)) for one in answers]
    dropped = [q * r for q, r in zip(in_control, ratios, strict=True)]
    assert sum(dropped) == pytest.approx(1.0, abs=1e-6)
    assert dropped[0] - dropped[2] == pytest.approx(mean - margin - drop / 100, abs=1e-5)


def test_an_empty_baseline_has_no_reference():
    assert reference(ScoreKind.NPS, NpsTally(), 10, CES) is None


def test_a_ces_mean_drop_is_a_rise_on_the_low_effort_scale():
    baseline = CesTally(n=100, total=200, total_sq=500, agree=80)  # 1-5, mean 2
    easy = CesPolicy.low_effort_is_good()
    ref = reference(ScoreKind.CES_MEAN, baseline, 0.5, easy)
    assert ref is not None
    higher = CesTally(n=4, total=12, total_sq=36, agree=0)  # mean 3: more effort, worse
    lower = CesTally(n=4, total=4, total_sq=4, agree=4)  # mean 1: less effort, better
    assert ref.log_likelihood_ratio(ScoreKind.CES_MEAN, higher) > 0
    assert ref.log_likelihood_ratio(ScoreKind.CES_MEAN, lower) < 0


@pytest.mark.parametrize(
    ("answers_per_ms", "series", "every_ms", "expected"),
    [
        (1 / 60_000, 1, 91 * 86_400_000, math.log(91 * 1440)),  # 1 answer/min, one a quarter
        (1 / 60_000, 20, 91 * 86_400_000, math.log(91 * 1440 * 20)),  # divided over 20 series
        (1 / 60_000, 1, 60_000, MIN_LIMIT),  # a budget of one false page per answer: floored
    ],
)
def test_the_limit_is_the_log_of_answers_per_allowed_false_alarm(
    answers_per_ms, series, every_ms, expected
):
    assert limit(answers_per_ms, series, 1 / every_ms) == pytest.approx(expected)


def _buckets(rng, shares, answers, bucket=5):
    """Simulated answers of the given (promoter, passive, detractor) shares, a bucket at a time."""
    cumulative = [shares[0], shares[0] + shares[1]]
    for start in range(0, answers, bucket):
        counts = [0, 0, 0]
        for _ in range(bucket):
            u = rng.random()
            counts[0 if u < cumulative[0] else 1 if u < cumulative[1] else 2] += 1
        yield start, NpsTally(*counts)


def _alarms(rng, shares, ref, h, answers):
    """Run the detector over simulated in-control answers; count alarms (restart after each)."""
    cusum, alarms = Cusum(), 0
    for start, tally in _buckets(rng, shares, answers):
        cusum = cusum.step(start, tally, ScoreKind.NPS, ref, h)
        if cusum.statistic >= h:
            alarms += 1
            cusum = Cusum()
    return alarms


# The calibration law: with the baseline known, a CUSUM at limit h alarms at most once per e^h
# answers in control (Lorden 1971). Simulated with fixed seeds at a small h, so that the bound
# predicts hundreds of alarms and sampling error is small.
@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    st.sampled_from([(0.55, 0.275, 0.175), (0.3, 0.4, 0.3), (0.8, 0.15, 0.05)]),
    st.sampled_from([10.0, 20.0, 40.0]),
)
def test_in_control_false_alarms_stay_within_the_calibrated_rate(shares, drop):
    baseline = NpsTally(*(round(s * 100_000) for s in shares))
    ref = reference(ScoreKind.NPS, baseline, drop, CES)
    assert ref is not None
    h, answers = 5.0, 150_000
    bound = answers / math.exp(h)  # about 1,010 alarms at most
    alarms = _alarms(random.Random(7), shares, ref, h, answers)
    assert alarms <= bound + 3 * math.sqrt(bound)


def test_a_real_drop_is_found_in_about_h_over_the_information_per_answer():
    shares = (0.55, 0.275, 0.175)
    ref = reference(ScoreKind.NPS, NpsTally(55_000, 27_500, 17_500), 20.0, CES)
    assert ref is not None
    dropped = (0.45, 0.275, 0.275)  # NPS 37.5 -> 17.5
    rng, h, delays = random.Random(3), 10.0, []
    for _ in range(40):
        cusum, answers = Cusum(), 0
        while cusum.statistic < h:
            u = rng.random()
            one = (1, 0, 0) if u < dropped[0] else (0, 1, 0) if u < 0.725 else (0, 0, 1)
            cusum = cusum.step(answers, NpsTally(*one), ScoreKind.NPS, ref, h)
            answers += 1
        delays.append(answers)
    # Expected LLR per answer under the drop is KL(H1 || H0) of the tilted distribution, about
    # 0.036 here: h / 0.036 = 280 answers; in control the same detector needs e^10 = 22,000.
    assert 150 < sorted(delays)[20] < 450
    assert _alarms(random.Random(4), shares, ref, h, 22_000) <= 3


def _resolves(states, h):
    """How often an alarmed detector cleared on a path: as the detector does (back at 0), and
    as it would clearing below h/2."""
    at_zero = at_half = 0
    was, half = False, False
    for state in states:
        at_zero += was and not state.alarmed
        was = state.alarmed
        now = state.statistic >= h or (half and state.statistic >= h / 2)
        at_half += half and not now
        half = now
    return at_zero, at_half


def _run(rng, shares, ref, h, answers, cusum):
    """Feed ``answers`` simulated answers to ``cusum``; its states after each bucket."""
    states = []
    for start, tally in _buckets(rng, shares, answers):
        cusum = cusum.step(start, tally, ScoreKind.NPS, ref, h)
        states.append(cusum)
    return states


def test_a_drop_smaller_than_min_drop_once_paged_rarely_resolves_before_it_is_over():
    """NPS 37.5 falling to 17.5 under a rule of min_drop 30: the statistic drifts up, noisily.
    Clearing below h/2 resolved and paged again over and over within one incident; clearing
    back at 0 does so about a tenth as often (measured: 16-25 against 187-191 in 200,000
    answers at h = 12, three seeds), and a series back at its baseline clears."""
    baseline, during = (0.55, 0.275, 0.175), (0.45, 0.275, 0.275)
    ref = reference(ScoreKind.NPS, NpsTally(55_000, 27_500, 17_500), 30.0, CES)
    assert ref is not None
    h, rng = 12.0, random.Random(0)
    states = _run(rng, during, ref, h, 200_000, Cusum())
    at_zero, at_half = _resolves(states, h)
    assert at_zero * 5 <= at_half, (at_zero, at_half)
    after = _run(rng, baseline, ref, h, 20_000, states[-1])
    assert not after[-1].alarmed  # back at the baseline: cleared


def _expected_exp_llr(kind, ref, outcomes):
    """E[e^LLR] of one answer, exactly: (share, one-answer tally) over the answers' kinds."""
    return sum(share * math.exp(ref.log_likelihood_ratio(kind, tally)) for share, tally in outcomes)


@pytest.mark.parametrize("drop", [10.0, 20.0, 40.0])
@pytest.mark.parametrize("shares", [(0.55, 0.275, 0.175), (0.3, 0.4, 0.3), (0.8, 0.15, 0.05)])
def test_the_calibration_law_holds_exactly_and_fails_for_a_baseline_set_too_high(shares, drop):
    """Lorden's bound (at most one alarm per e^h answers in control) rests on E[e^LLR] <= 1 for
    an answer of the baseline's own distribution. Checked exactly, not by simulation (the
    simulation above is far under its bound, so it could not see a detector that is wrong):
    with the reference from the true baseline it holds, and from a baseline three NPS points
    better than the truth it does not."""
    p, a, d = shares
    outcomes = [(p, NpsTally(1, 0, 0)), (a, NpsTally(0, 1, 0)), (d, NpsTally(0, 0, 1))]
    ref = reference(ScoreKind.NPS, NpsTally(*(round(s * 100_000) for s in shares)), drop, CES)
    assert ref is not None
    assert _expected_exp_llr(ScoreKind.NPS, ref, outcomes) <= 1.0
    better = NpsTally(
        round((p + 0.015) * 100_000), round(a * 100_000), round((d - 0.015) * 100_000)
    )
    wrong = reference(ScoreKind.NPS, better, drop, CES)
    assert wrong is not None
    assert _expected_exp_llr(ScoreKind.NPS, wrong, outcomes) > 1.0


@pytest.mark.parametrize("share", [0.6, 0.85, 0.95])
def test_the_calibration_law_holds_exactly_for_csat(share):
    outcomes = [(share, CsatTally(1, 1)), (1 - share, CsatTally(1, 0))]
    n = 100_000
    ref = reference(ScoreKind.CSAT, CsatTally(n, round(share * n)), 0.05, CES)
    assert ref is not None
    assert _expected_exp_llr(ScoreKind.CSAT, ref, outcomes) <= 1.0
    wrong = reference(ScoreKind.CSAT, CsatTally(n, round((share + 0.01) * n)), 0.05, CES)
    assert wrong is not None
    assert _expected_exp_llr(ScoreKind.CSAT, wrong, outcomes) > 1.0
