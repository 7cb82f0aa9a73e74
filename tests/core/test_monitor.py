"""The monitor's shortcut (everything at each epoch, only changed series in between) gives the
same alerts as evaluating every series at every tick, which is what the worker used to do."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.monitor import Monitor
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scales import NPS_SCALE, Metric, Scoring
from streamer.core.scores import ScoreKind
from streamer.core.timeline import Timeline
from streamer.core.watch import Watch

TIMELINE = Timeline.parse("10s", "1m,5m,30m", "1m")
RULES = (
    Rule(
        "low",
        ScoreKind.NPS,
        Threshold("1m", below=0, clear=10, confidence=0.5),
        min_responses=5,
        for_ms=20_000,
    ),
    Rule("drop", ScoreKind.NPS, Drop("1m", "30m", 30, 86_400_000, 10_000), min_responses=10),
)


def stream(seed, seconds):
    rng = random.Random(seed)
    answers = []
    for second in range(seconds):
        bad = (second // 120) % 2 == 1  # two minutes good, two minutes bad, ...
        for touchpoint in ("a", "b", "c"):
            if rng.random() < 0.7:
                score = rng.choice((0, 3, 9, 10) if bad and touchpoint != "c" else (7, 9, 10, 10))
                answers.append(
                    SurveyResponse(
                        f"{touchpoint}{second}",
                        second * 1000,
                        touchpoint,
                        Metric.NPS,
                        score,
                        NPS_SCALE,
                    )
                )
    return answers


def run(answers, seconds, shortcut):
    board = Board(Scoring(), TIMELINE, (), 100, 0)
    watch = Watch(RULES, TIMELINE, Scoring().ces)
    monitor = Monitor(board, watch)
    alerts, index = [], 0
    for now in range(0, seconds * 1000, 1000):
        taken = index
        while index < len(answers) and answers[index].occurred_at_ms <= now:
            index += 1
        board.ingest((Sourced(0, i, answers[i]) for i in range(taken, index)), now)
        board.advance(now)
        result = monitor.evaluate(now) if shortcut else watch.evaluate(board.histories(), now)
        alerts += [
            (a.rule.name, a.series.touchpoint, a.status, a.starts_at_ms) for a in result.alerts
        ]
    return alerts


@settings(max_examples=4, deadline=None, derandomize=True)
@given(st.integers(0, 1000))
def test_the_shortcut_changes_no_alert(seed):
    answers = stream(seed, 900)
    every_tick = run(answers, 900, shortcut=False)
    assert every_tick, "the stream is meant to page"
    assert run(answers, 900, shortcut=True) == every_tick


def test_a_state_restored_between_epochs_is_judged_at_the_next_tick():
    """A rebalance within a bucket restored firing states with no verdict, and nothing judged
    them until the next bucket edge: a re-send meanwhile told Alertmanager only "NPS 1m for a
    is firing", without its value or number of answers; and the rules' budgets stayed divided
    by the old assignment's series."""
    from streamer.core.alerting import decode_state, encode_state

    answers = stream(3, 400)
    board = Board(Scoring(), TIMELINE, (), 100, 0)
    watch = Watch(RULES, TIMELINE, Scoring().ces)
    monitor = Monitor(board, watch)
    for now in range(0, 300_000, 1000):
        board.ingest(
            [
                Sourced(0, i, a)
                for i, a in enumerate(answers)
                if now - 1000 < a.occurred_at_ms <= now
            ],
            now,
        )
        board.advance(now)
        monitor.evaluate(now)
    assert watch.firing(), "the stream pages by minute 5"
    persisted = [(key, decode_state(encode_state(state))) for key, state in watch.states.items()]
    watch.restore(persisted)
    assert all(state.verdict is None for _, _, state in watch.firing())
    board.advance(299_500)  # the same 10 s bucket: no epoch boundary
    result = monitor.evaluate(299_500)
    assert all(state.verdict is not None for _, _, state in watch.firing())
    # and every series counted again: the budget is divided by the new assignment's series
    assert monitor.complete and result.watched == {"low": 3, "drop": 3}
