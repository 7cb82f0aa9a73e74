"""Losses the persisted layout must survive, each found by a review and failing on the code
before its fix (the commit after 9d43de9): records lost by the broker across restarts, bucket
sizes and scoring policies, and a series that expired while the worker was down."""

import orjson

from streamer.core.board import Board, Sourced
from streamer.core.ledger import Outcome
from streamer.core.scales import Metric
from streamer.core.series import SeriesKey
from streamer.core.timeline import DAY_MS, Timeline
from tests.core.test_board import (
    HOUR,
    MINUTE,
    NOW,
    SCORING,
    TIMELINE,
    answer,
    flushed,
    persist,
    restored,
    scores_of,
)

KEY = SeriesKey(Metric.NPS, "checkout")


def test_snapshot_before_first_log_record_after_restore_breaks_the_chain():
    """Off-chain records at a restore (L2 lost, L3 written), then the first commit after the
    restore writes a snapshot but no log record (the timer's commit before the replay arrives,
    or another partition's batch); here the snapshot is due because the chunk of the lost
    flush's snapshot was lost too (fallback to the previous header). The header's seq is
    _seq (3) while the next log record names its predecessor 1: at the next restore that
    acknowledged, committed record is off the chain and its answers are gone."""
    table = {}
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("a", 9))], NOW)
    flushed(board, table, NOW)  # L1 + snapshot gen1 + H (acked); offset 0 committed
    board.ingest([Sourced(0, 1, answer("b", 9))], NOW)
    board.journals[0]._needs_header = True
    writes = board.flush(NOW)  # L2, S|2|0, H(gen2, previous gen1)
    persist(table, [w for w in writes if b"|L|" not in w.key and b"|S|" not in w.key])
    board.ingest([Sourced(0, 2, answer("c", 9))], NOW)
    persist(table, board.flush(NOW))  # L3 written; never acknowledged: the worker stops
    # Restart: L2 and the gen-2 chunk lost -> read from gen 1, L3 off the chain.
    board = restored(table, {0}, breakdowns="")
    flushed(board, table, NOW + 1_000)  # the timer's commit: snapshot, no log record
    replay = [Sourced(0, 1, answer("b", 9)), Sourced(0, 2, answer("c", 9))]
    board.ingest(replay, NOW + 2_000)
    flushed(board, table, NOW + 2_000)  # acknowledged; offsets 1, 2 committed
    assert scores_of(board)[KEY][0].promoters == 3
    again = restored(table, {0}, breakdowns="", now=NOW + 3_000)
    assert scores_of(again)[KEY][0].promoters == 3  # (was: 1 (b and c lost for good))


def test_snapshot_due_by_time_before_first_log_record_after_restore_breaks_the_chain():
    """The same with no chunk lost: a log record lost and one after it written; the worker
    restarts past the (short) dedupe horizon, so the snapshot is due by time at the first
    commit, which comes before any replayed answer."""
    tl = Timeline.parse("1m", "5m,1h", grace="2m")
    horizon = 5 * MINUTE
    table = {}
    board = Board(SCORING, tl, now_ms=NOW, dedupe_horizon_ms=horizon)
    board.ingest([Sourced(0, 0, answer("a", 9))], NOW)
    flushed(board, table, NOW)
    t1 = NOW + MINUTE
    board.ingest([Sourced(0, 1, answer("b", 9, now=t1))], t1)
    flushed(board, table, t1)  # L2 acknowledged, offset 1 committed
    board.ingest([Sourced(0, 2, answer("c", 9, now=t1))], t1)
    persist(table, [w for w in board.flush(t1) if b"|L|" not in w.key])  # L3 lost
    board.ingest([Sourced(0, 3, answer("d", 9, now=t1))], t1)
    persist(table, board.flush(t1))  # L4 written
    later = NOW + 10 * MINUTE
    board = Board(SCORING, tl, now_ms=later, dedupe_horizon_ms=horizon)
    board.restore(list(table.items()), {0}, later)
    flushed(board, table, later)  # timer commit: snapshot due by time (L2), no log record
    replay = [Sourced(0, 2, answer("c", 9, now=t1)), Sourced(0, 3, answer("d", 9, now=t1))]
    board.ingest(replay, later)
    flushed(board, table, later)
    expected = scores_of(board)
    again = Board(SCORING, tl, now_ms=later, dedupe_horizon_ms=horizon)
    again.restore(list(table.items()), {0}, later)
    assert scores_of(again) == expected  # (was: b and c missing)


def test_first_snapshot_missing_a_chunk_after_a_bucket_change_reads_the_log_in_the_wrong_unit():
    """The very first snapshot's chunk lost (header previous = null): the log is read alone,
    in the *configured* bucket size, though every record of it was written in the header's
    size (1m) without "u". Restarted with STREAMER_BUCKET=5m, a 10-minute-old answer is read
    as 50 minutes old."""
    one = Timeline.parse("1m", "15m,3h", grace="2m")
    five = Timeline.parse("5m", "15m,3h", grace="2m")
    table = {}
    board = Board(SCORING, one, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("a", 3, age_ms=10 * MINUTE))], NOW)
    writes = board.flush(NOW)  # L1, S|1|0, H(previous null)
    persist(table, [w for w in writes if b"|S|" not in w.key])  # the chunk lost
    expected = scores_of(restored(table, {0}, timeline=five, breakdowns="", now=NOW))
    # what a 5m board that counted the answer shows:
    straight = Board(SCORING, five, now_ms=NOW)
    straight.ingest([Sourced(0, 0, answer("a", 3, age_ms=10 * MINUTE))], NOW)
    assert expected == scores_of(straight)  # (was: the 15m window lost the answer)


def test_first_snapshot_missing_a_chunk_skips_the_scoring_policy_check():
    """Same fallback to the log alone: a state counted with one CES policy is read under
    another without the LayoutError every other path raises."""
    import pytest

    from streamer.core.layout import LayoutError
    from streamer.core.scales import CES_7
    from tests.core.test_board import LOW_EFFORT, rated

    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, rated("c", Metric.CES, 2, CES_7))], NOW)
    table = {}
    flushed(board, table, NOW)
    with pytest.raises(LayoutError):
        restored(table, {0}, scoring=LOW_EFFORT, breakdowns="")  # refused: right
    table = {}
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, rated("c", Metric.CES, 2, CES_7))], NOW)
    persist(table, [w for w in board.flush(NOW) if b"|S|" not in w.key])
    with pytest.raises(LayoutError):  # (was: read silently under the other policy)
        restored(table, {0}, scoring=LOW_EFFORT, breakdowns="")


def test_a_retry_of_a_late_arriving_answer_after_a_replay_is_counted_twice():
    """Defaults: 24h dedupe horizon, windows to 90d. An answer that occurred 2 days ago arrives
    now (on time) and is counted; its log record is lost, the snapshot of that flush written.
    The replay skips it (offset <= checkpoint) and does not remember its id again because it
    *occurred* more than 24 h ago; the producer's retry a minute later is counted again. A board
    that never lost a record calls it a duplicate."""
    tl = Timeline.parse("1m", "5m,1h,24h,7d,30d,90d", grace="10m")
    old = answer("x", 9, age_ms=2 * DAY_MS)
    straight = Board(SCORING, tl, now_ms=NOW)
    straight.ingest([Sourced(0, 0, old)], NOW)
    assert straight.ingest([Sourced(0, 1, old)], NOW + MINUTE).outcomes == {Outcome.DUPLICATE: 1}
    board = Board(SCORING, tl, now_ms=NOW)
    board.ingest([Sourced(0, 0, old)], NOW)
    table = {}
    persist(table, [w for w in board.flush(NOW) if b"|L|" not in w.key])  # L1 lost
    board = Board(SCORING, tl, now_ms=NOW)
    board.restore(list(table.items()), {0}, NOW)
    assert board.ingest([Sourced(0, 0, old)], NOW).outcomes == {Outcome.REPLAYED: 1}
    retry = board.ingest([Sourced(0, 1, old)], NOW + MINUTE)
    assert retry.outcomes == {Outcome.DUPLICATE: 1}  # (was: ACCEPTED)


def test_a_series_restored_expired_keeps_its_id_and_its_next_answers_are_lost():
    """No loss at all. A series logged after the last snapshot expires while the worker is
    down; the restore defines its id (from the log) but places no windows, so the journal keeps
    the id and ``forget`` is never called. The first flush takes a snapshot (due: the log's
    oldest record is past the 1 h dedupe horizon) without it; its next answer is logged under
    the old id with no definition, and the restore after that drops it as undefined."""
    tl = Timeline.parse("1m", "5m,1h", grace="2m")
    table = {}
    board = Board(SCORING, tl, now_ms=NOW, dedupe_horizon_ms=HOUR)
    board.ingest([Sourced(0, 0, answer("y", 9, touchpoint="y"))], NOW)
    flushed(board, table, NOW)  # L1 + first snapshot
    board.ingest([Sourced(0, 1, answer("x1", 9, touchpoint="x"))], NOW)
    flushed(board, table, NOW)  # L2: x defined in the log only
    later = NOW + 2 * HOUR  # down for 2 h: x expired
    board = Board(SCORING, tl, now_ms=later, dedupe_horizon_ms=HOUR)
    board.restore(list(table.items()), {0}, later)
    flushed(board, table, later)  # snapshot due by time, without x
    board.ingest([Sourced(0, 2, answer("x2", 3, touchpoint="x", now=later))], later)
    flushed(board, table, later)
    expected = scores_of(board)
    again = Board(SCORING, tl, now_ms=later, dedupe_horizon_ms=HOUR)
    again.restore(list(table.items()), {0}, later)
    assert scores_of(again) == expected  # (was: x's detractor is gone)


def test_log_numbers_are_reused_after_a_fallback_and_a_reused_discarded_number_is_dropped():
    """Numbers are not 'never used twice': after a fallback to the previous header, ``_seq``
    restarts from that header's seq and the log records left, ignoring the newer header's seq
    and its "discarded" numbers. A new record then takes a discarded number; the header
    written in that run still lists it as discarded, so the next restore drops that
    acknowledged, committed record."""
    table = {}
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("a", 9))], NOW)
    flushed(board, table, NOW)  # L1, S|1|0, H1: acknowledged, offset 0 committed
    board.ingest([Sourced(0, 1, answer("b", 9))], NOW)
    persist(table, [w for w in board.flush(NOW) if b"|L|" not in w.key])  # L2 lost
    board.ingest([Sourced(0, 2, answer("c", 9))], NOW)
    persist(table, board.flush(NOW))  # L3 written; the worker stops
    # Run 2: L3 is off the chain (discarded {3}); the replay's flush writes a snapshot whose
    # chunk is lost, and its log record is lost; its header (discarded [3]) and L3's deletion
    # are written.
    board = restored(table, {0}, breakdowns="")
    board.ingest([Sourced(0, 1, answer("b", 9)), Sourced(0, 2, answer("c", 9))], NOW)
    board.journals[0]._needs_header = True
    writes = board.flush(NOW)
    persist(table, [w for w in writes if w.value is None or w.key == b"0|H"])
    assert orjson.loads(table[b"0|H"])["discarded"] == [3]
    # Run 3: the header misses its chunk: read from H1; the next numbers are 2, then 3.
    board = restored(table, {0}, breakdowns="")
    board.ingest([Sourced(0, 1, answer("b", 9)), Sourced(0, 2, answer("c", 9))], NOW)
    flushed(board, table, NOW)  # L2 + snapshot + header still listing discarded [3]
    board.ingest([Sourced(0, 3, answer("d", 9))], NOW)
    flushed(board, table, NOW)  # L3 (a discarded number), acknowledged; offset 3 committed
    assert scores_of(board)[KEY][0].promoters == 4
    again = restored(table, {0}, breakdowns="")
    assert scores_of(again)[KEY][0].promoters == 4  # (was: 3 (d dropped as "discarded"))
