"""One batch through Batches: good answers counted, bad and late ones dead-lettered at their input
position with the reason, retries counted once, unhappy answers sent on for follow-up."""

import base64

from prometheus_client import CollectorRegistry

from streamer.app.batches import Batches
from streamer.app.metrics import WorkerMetrics
from streamer.app.settings import Settings
from streamer.core.board import Board
from streamer.core.decoder import Decoder
from streamer.core.scales import Scoring
from tests.app.fakes import NOW_MS, Record, Topic, answer

TIMELINE = Settings(windows="5m,1h").timeline()


def batches():
    registry = CollectorRegistry()
    board = Board(Scoring(), TIMELINE, now_ms=NOW_MS)
    dead, follow_ups = Topic(), Topic()
    part = Batches(
        board,
        Decoder(),
        dead,
        WorkerMetrics(registry),
        lambda: NOW_MS,
        dlq_value_max_bytes=16,
        follow_ups=follow_ups,
    )
    return part, board, dead, follow_ups, registry


def records(*values, topic="in", partition=3):
    return [Record(topic, partition, 100 + i, NOW_MS, b"k", v) for i, v in enumerate(values)]


def events(registry, outcome, reason=""):
    return registry.get_sample_value(
        "streamer_events_total", {"outcome": outcome, "reason": reason}
    )


def test_good_answers_are_counted_and_a_retry_once():
    part, board, dead, _, registry = batches()
    part.process(records(answer("a", score=10), answer("b", score=8), answer("a", score=10)))
    [(_, totals)] = list(board.series())
    assert (totals[0].promoters, totals[0].passives, totals[0].n) == (1, 1, 2)
    assert events(registry, "accepted") == 2 and events(registry, "duplicate") == 1
    assert dead.sent == []
    assert part.next_offset == {("in", 3): 103}


def test_a_bad_answer_is_dead_lettered_with_its_reason_and_position():
    part, _, dead, _, registry = batches()
    part.process(records(answer("a"), b"{not json", answer("c", score=11)))
    letters = dead.values()
    assert [(d["reason"], d["source"]["offset"]) for d in letters] == [
        ("not_json", 101),
        ("score_out_of_range", 102),
    ]
    assert letters[0]["source"] == {
        "topic": "in",
        "partition": 3,
        "offset": 101,
        "timestamp_ms": NOW_MS,
    }
    assert base64.b64decode(letters[0]["value_base64"]) == b"{not json"
    assert letters[1]["value_truncated"] and letters[1]["value_bytes"] > 16
    assert events(registry, "rejected", "not_json") == 1
    assert registry.get_sample_value("streamer_dead_letters_total") == 2


def test_an_answer_older_than_the_longest_window_is_dead_lettered_as_late():
    part, board, dead, _, _ = batches()
    part.process(records(answer("old", occurred_at="2027-01-15T06:00:00Z")))
    [letter] = dead.values()
    assert letter["reason"] == "late" and "its bucket has expired" in letter["message"]
    assert list(board.series()) == []


def test_a_diverted_answer_is_not_counted_here():
    part, board, dead, _, _ = batches()
    part.process(records(answer("a")), divert=lambda message, response: True)
    assert list(board.series()) == [] and dead.sent == []


def test_detractors_are_sent_on_for_follow_up_promoters_are_not():
    part, _, _, follow_ups, _ = batches()
    part.process(records(answer("happy", score=10), answer("unhappy", score=3, comment="slow")))
    [(key, _, _, _)] = follow_ups.sent
    assert key == b"unhappy"
    assert follow_ups.values()[0]["comment"] == "slow"


def test_a_late_answer_is_dead_lettered_here_not_diverted():
    """Re-publishing it would only find it late on the repartition topic, at a position its
    producer does not know."""
    diverted = []
    part, board, dead, _, _ = batches()
    old = answer("old", occurred_at="2027-01-15T06:00:00Z")
    part.process(records(old, answer("new")), divert=lambda m, r: diverted.append(r) or True)
    assert [r.event_id for r in diverted] == ["new"]
    assert [(d["reason"], d["source"]["offset"]) for d in dead.values()] == [("late", 100)]
    assert list(board.series()) == []
