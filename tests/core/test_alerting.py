from hypothesis import given
from hypothesis import strategies as st

from streamer.core.alerting import TRANSITIONS, AlertState, Status, step
from streamer.core.rules import Rule, Signal, Threshold, Verdict, evaluate_threshold
from streamer.core.scales import CesPolicy, Metric
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from streamer.core.tally import NpsTally

SERIES = SeriesKey(Metric.NPS, "checkout")
RULE = Rule(
    "nps-low", ScoreKind.NPS, Threshold("1h", below=20, clear=25), min_responses=10, for_ms=300_000
)


def run(rule, verdicts):
    state, alerts = AlertState(), []
    for now, verdict in verdicts:
        state, alert = step(rule, SERIES, state, verdict, now)
        if alert:
            alerts.append(alert)
    return state, alerts


def breach(n=50):
    return Verdict(Signal.BREACH, n, 0.0)


def test_every_state_and_signal_has_a_transition():
    assert set(TRANSITIONS) == {(s, v) for s in Status for v in Signal}


def test_fires_once_after_for_and_resolves_once():
    verdicts = [
        (0, breach()),
        (200_000, breach()),
        (300_000, breach()),
        (400_000, breach()),
        (500_000, Verdict(Signal.HOLD, 50)),
        (600_000, Verdict(Signal.CLEAR, 50)),
    ]
    state, alerts = run(RULE, verdicts)
    assert [(a.status, a.starts_at_ms, a.ends_at_ms) for a in alerts] == [
        (Status.FIRING, 300_000, None),
        (Status.RESOLVED, 300_000, 600_000),
    ]
    assert state.status is Status.RESOLVED


def test_an_interrupted_breach_starts_the_for_period_over():
    verdicts = [
        (0, breach()),
        (200_000, Verdict(Signal.HOLD, 50)),
        (250_000, breach()),
        (500_000, breach()),
    ]
    state, alerts = run(RULE, verdicts)
    assert alerts == [] and state.status is Status.PENDING and state.since_ms == 250_000


def test_a_firing_alert_holds_through_a_quiet_spell_and_resolves_on_no_data():
    rule = Rule("x", ScoreKind.NPS, Threshold("1h", below=20), min_responses=10)
    state, alerts = run(
        rule, [(0, breach()), (1, Verdict(Signal.INSUFFICIENT, 3)), (2, Verdict(Signal.NO_DATA, 0))]
    )
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    assert state.status is Status.RESOLVED


# Property: through evaluate and step together, with arbitrary answers and times, no alert ever
# fires unless every evaluation over the preceding `for` was a breach on min_responses answers.
tallies = st.builds(NpsTally, st.integers(0, 30), st.integers(0, 10), st.integers(0, 30))


@given(st.lists(st.tuples(st.integers(1, 200_000), tallies), max_size=40), st.integers(0, 600_000))
def test_never_fires_before_for_or_below_min_responses(steps, for_ms):
    rule = Rule(
        "nps-low", ScoreKind.NPS, Threshold("1h", below=20), min_responses=10, for_ms=for_ms
    )
    state, now, history = AlertState(), 0, []
    for gap, tally in steps:
        now += gap
        verdict = evaluate_threshold(rule, {"1h": tally}, CesPolicy())
        history.append((now, verdict))
        state, alert = step(rule, SERIES, state, verdict, now)
        if alert is not None and alert.status is Status.FIRING:
            run_start = now
            for when, past in reversed(history):
                if past.signal is not Signal.BREACH:
                    break
                assert past.n >= rule.min_responses
                run_start = when
            assert now - run_start >= for_ms
