import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.ledger import Outcome
from streamer.core.scales import NPS_SCALE, Metric, Scoring
from streamer.core.series import OTHER, SeriesKey, parse_breakdowns
from streamer.core.tally import NpsTally, tally_of, total
from streamer.core.window import Timeline

MINUTE = 60_000
NOW = 1_795_341_600_000
TIMELINE = Timeline.parse("1m", "5m,1h", grace="2m")
SCORING = Scoring()


def answer(event_id, score, touchpoint="checkout", age_ms=1_000, channel="chat"):
    return SurveyResponse(
        event_id, NOW - age_ms, touchpoint, Metric.NPS, score, NPS_SCALE, channel=channel
    )


def scores_of(board):
    return {key: totals for key, totals in board.series()}


answers = st.lists(
    st.tuples(
        st.integers(0, 30),
        st.integers(0, 10),
        st.sampled_from(["a", "b"]),
        st.integers(0, 50 * MINUTE),
    ),
    max_size=60,
)


@given(answers, st.integers(1, 20), st.randoms(use_true_random=False))
def test_restoring_persisted_records_gives_the_same_scores(items, batch, rng):
    """What a restarted worker rebuilds from the changelog equals what the live one had."""
    live = Board(SCORING, TIMELINE, parse_breakdowns("channel"), now_ms=NOW)
    persisted = {}
    sourced = [
        Sourced(0, offset, answer(f"e{eid}", score, tp, age))
        for offset, (eid, score, tp, age) in enumerate(items)
    ]
    for start in range(0, len(sourced), batch):
        for record in live.ingest(sourced[start : start + batch], NOW).changed:
            persisted[record.key] = record
    records = list(persisted.values())
    rng.shuffle(records)  # recovery order is not ingestion order
    restored = Board(SCORING, TIMELINE, parse_breakdowns("channel"), now_ms=NOW)
    restored.restore(records, NOW)
    assert scores_of(restored) == scores_of(live)


@given(answers)
def test_scores_equal_the_tally_of_first_occurrences(items):
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    sourced = [
        Sourced(0, i, answer(f"e{eid}", score, tp, age))
        for i, (eid, score, tp, age) in enumerate(items)
    ]
    outcomes = board.ingest(sourced, NOW).outcomes
    first = {}
    for s in sourced:
        r = s.response
        first.setdefault((r.touchpoint, r.occurred_at_ms // MINUTE, r.event_id), r)
    for touchpoint in ("a", "b"):
        expected = []
        for window in TIMELINE.windows:
            low, high = TIMELINE.bucket_range(window, NOW)
            inside = [
                tally_of(Metric.NPS, NPS_SCALE, r.score, SCORING)
                for r in first.values()
                if r.touchpoint == touchpoint and low <= TIMELINE.bucket_of(r.occurred_at_ms) < high
            ]
            expected.append(total(Metric.NPS, inside))
        got = scores_of(board).get(SeriesKey(Metric.NPS, touchpoint), (NpsTally(), NpsTally()))
        assert list(got) == expected
    assert outcomes[Outcome.ACCEPTED] + outcomes[Outcome.DUPLICATE] == len(items)


def test_late_answers_are_not_counted():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    result = board.ingest([Sourced(0, 0, answer("old", 10, age_ms=63 * MINUTE))], NOW)
    assert result.outcomes == {Outcome.LATE: 1} and result.changed == [] and scores_of(board) == {}


def test_redelivery_after_a_crash_changes_nothing():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    batch = [Sourced(2, i, answer(f"e{i % 4}", 10)) for i in range(5)]  # e0 is sent twice
    first = board.ingest(batch, NOW)
    assert first.accepted == batch[:4] and first.outcomes[Outcome.DUPLICATE] == 1
    again = board.ingest(batch, NOW)
    assert again.outcomes == {Outcome.REPLAYED: 5} and again.changed == [] and again.accepted == []
    assert scores_of(board)[SeriesKey(Metric.NPS, "checkout")][0] == NpsTally(promoters=4)


def test_quiet_series_decay_and_their_records_expire():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("e", 3))], NOW)
    board.advance(NOW + 5 * MINUTE + 1)
    assert scores_of(board)[SeriesKey(Metric.NPS, "checkout")][0] == NpsTally()
    expired = board.advance(NOW + 62 * MINUTE + 1)
    assert [k.touchpoint for k in expired] == ["checkout"]
    assert scores_of(board) == {} and board.records == {}


def test_the_series_cap_folds_new_touchpoints_and_their_breakdowns():
    board = Board(SCORING, TIMELINE, parse_breakdowns("channel"), max_series=2, now_ms=NOW)
    board.ingest([Sourced(0, i, answer(f"e{i}", 9, touchpoint=f"t{i}")) for i in range(4)], NOW)
    keys = set(scores_of(board))
    assert SeriesKey(Metric.NPS, "t0") in keys
    assert SeriesKey(Metric.NPS, OTHER) in keys
    assert SeriesKey(Metric.NPS, OTHER, (("channel", OTHER),)) in keys
    assert len(keys) == 4  # t0, t0/chat, and the two folded series
    assert board.limiter.overflowed > 0


def test_a_series_knows_its_partition():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(3, 0, answer("e", 9))], NOW)
    assert board.partition_of(SeriesKey(Metric.NPS, "checkout")) == 3
    assert board.partition_of(SeriesKey(Metric.NPS, "elsewhere")) is None


@pytest.mark.parametrize("offset_ms", [0, 1, 59_999])
def test_advancing_tick_by_tick_equals_advancing_at_once(offset_ms):
    # A window holds the buckets starting in [now - W, now): at a bucket boundary the current
    # bucket is not in it yet, one millisecond later it is. Ticks landing exactly on a boundary
    # (the backtest's whole seconds) must see that, whatever the board skipped before.
    start = NOW - NOW % MINUTE
    items = [  # one answer every 10 s, from 5 minutes before `start` to 6 minutes after
        Sourced(0, i + 30, answer(f"e{i}", 10 if i % 2 else 0, age_ms=NOW - start - 10_000 * i))
        for i in range(-30, 36)
    ]
    end = start + 5 * MINUTE + offset_ms
    ticked = Board(SCORING, TIMELINE, (), 100, start - 5 * MINUTE)
    ticked.ingest(items, start - 5 * MINUTE)
    for now in [*range(start - 5 * MINUTE, end, 1_000), end]:
        ticked.advance(now)
    direct = Board(SCORING, TIMELINE, (), 100, start - 5 * MINUTE)
    direct.ingest(items, start - 5 * MINUTE)
    direct.advance(end)
    assert scores_of(ticked) == scores_of(direct)
