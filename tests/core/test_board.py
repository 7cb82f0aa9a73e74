import random
from hashlib import blake2b
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core import ledger
from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.layout import LayoutError, log_key
from streamer.core.ledger import Outcome
from streamer.core.scales import (
    CES_5,
    CES_7,
    CSAT_5,
    NPS_SCALE,
    CesPolicy,
    CsatPolicy,
    Metric,
    Scale,
    Scoring,
)
from streamer.core.series import OTHER, SeriesKey, parse_breakdowns
from streamer.core.tally import CesTally, CsatTally, NpsTally
from streamer.core.timeline import DAY_MS, Timeline

MINUTE = 60_000
HOUR = 60 * MINUTE
NOW = 1_795_341_600_000
TIMELINE = Timeline.parse("1m", "5m,1h", grace="2m")
SCORING = Scoring()


def answer(event_id, score, touchpoint="checkout", age_ms=1_000, channel="chat", now=NOW):
    return SurveyResponse(
        event_id, now - age_ms, touchpoint, Metric.NPS, score, NPS_SCALE, channel=channel
    )


def scores_of(board):
    return {key: totals for key, totals in board.series()}


def persist(table, writes):
    for _, key, value in writes:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def flushed(board, table, now):
    """A commit: the board's records written, and acknowledged."""
    persist(table, board.flush(now))
    board.acknowledged()


def restored(
    table, partitions, now=NOW, timeline=TIMELINE, breakdowns="channel", scoring=SCORING, **kw
):
    board = Board(scoring, timeline, parse_breakdowns(breakdowns), now_ms=now, **kw)
    items = list(table.items())
    random.Random(len(items)).shuffle(items)  # recovery order is not writing order
    board.restore(items, partitions, now)
    return board


# Ages drawn minute by minute, so that every window's edge is often straddled.
ages = st.builds(lambda m, ms: m * MINUTE + ms, st.integers(0, 50), st.integers(0, MINUTE - 1))
answers = st.lists(
    st.tuples(
        st.integers(0, 30),
        st.integers(0, 10),
        st.sampled_from(["a", "b"]),
        ages,
        st.integers(0, 2),
    ),
    max_size=60,
)


@given(answers, st.integers(1, 20), st.sets(st.integers(0, 60)), st.integers(0, 60))
def test_a_crash_at_any_point_then_redelivery_counts_every_answer_once(
    items, batch, flush_after, crash_at
):
    """Flushes at any batch boundaries, a crash at any point (what was not flushed is lost),
    redelivery from the last commit: the restored board ends where a board that never crashed
    does."""
    sourced = [
        Sourced(partition, offset, answer(f"e{eid}", score, tp, age))
        for offset, (eid, score, tp, age, partition) in enumerate(items)
    ]
    batches = [sourced[i : i + batch] for i in range(0, len(sourced), batch)]
    straight = Board(SCORING, TIMELINE, parse_breakdowns("channel"), now_ms=NOW)
    for part in batches:
        straight.ingest(part, NOW)
    live = Board(SCORING, TIMELINE, parse_breakdowns("channel"), now_ms=NOW)
    table, committed = {}, 0
    for i, part in enumerate(batches[:crash_at]):
        live.ingest(part, NOW)
        if i in flush_after:
            flushed(live, table, NOW)
            committed = (i + 1) * batch  # offsets are committed after the flush
    board = restored(table, {0, 1, 2})
    for start in range(committed, len(sourced), batch):
        board.ingest(sourced[start : start + batch], NOW)
    assert scores_of(board) == scores_of(straight)
    flushed(board, table, NOW)
    assert scores_of(restored(table, {0, 1, 2})) == scores_of(straight)


def nps_counts(scores):
    """Counted by hand from the definition: promoters 9-10, passives 7-8, detractors 0-6."""
    return NpsTally(
        promoters=sum(1 for s in scores if s >= 9),
        passives=sum(1 for s in scores if 7 <= s <= 8),
        detractors=sum(1 for s in scores if s <= 6),
    )


@given(answers)
def test_scores_equal_the_counts_of_first_occurrences(items):
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    sourced = [
        Sourced(0, i, answer(f"e{eid}", score, tp, age))
        for i, (eid, score, tp, age, _) in enumerate(items)
    ]
    outcomes = board.ingest(sourced, NOW).outcomes
    first = {}
    for s in sourced:
        first.setdefault(s.response.event_id, s.response)
    for touchpoint in ("a", "b"):
        expected = []
        for length in (5 * MINUTE, HOUR):  # the 5m and 1h windows: minutes in [NOW - W, NOW)
            scores = [
                r.score
                for r in first.values()
                if r.touchpoint == touchpoint
                and NOW - length <= r.occurred_at_ms // MINUTE * MINUTE < NOW
            ]
            expected.append(nps_counts(scores))
        got = scores_of(board).get(SeriesKey(Metric.NPS, touchpoint), (NpsTally(), NpsTally()))
        assert list(got) == expected
    assert outcomes[Outcome.ACCEPTED] + outcomes[Outcome.DUPLICATE] == len(items)


def test_late_answers_are_not_counted():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    result = board.ingest([Sourced(0, 0, answer("old", 10, age_ms=63 * MINUTE))], NOW)
    assert result.outcomes == {Outcome.LATE: 1} and scores_of(board) == {}


def test_redelivery_after_a_crash_changes_nothing():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    batch = [Sourced(2, i, answer(f"e{i % 4}", 10)) for i in range(5)]  # e0 is sent twice
    first = board.ingest(batch, NOW)
    assert first.accepted == batch[:4] and first.outcomes[Outcome.DUPLICATE] == 1
    again = board.ingest(batch, NOW)
    assert again.outcomes == {Outcome.REPLAYED: 5} and again.accepted == []
    assert scores_of(board)[SeriesKey(Metric.NPS, "checkout")][0] == NpsTally(promoters=4)


def test_a_retry_within_the_dedupe_horizon_is_a_duplicate_after_it_is_counted():
    board = Board(SCORING, Timeline.parse("1m", "5m,7d"), now_ms=NOW, dedupe_horizon_ms=HOUR)
    table = {}
    board.ingest([Sourced(0, 0, answer("e", 10))], NOW)
    flushed(board, table, NOW)
    later = NOW + 30 * MINUTE
    board = restored(table, {0}, later, Timeline.parse("1m", "5m,7d"), dedupe_horizon_ms=HOUR)
    retry = board.ingest([Sourced(0, 1, answer("e", 10, now=later))], later)
    assert retry.outcomes == {Outcome.DUPLICATE: 1}
    flushed(board, table, later)
    much_later = NOW + 2 * HOUR
    board.advance(much_later)
    flushed(board, table, much_later)  # the first segment is past the horizon: gone
    retry = board.ingest([Sourced(0, 2, answer("e", 10, now=much_later))], much_later)
    assert retry.outcomes == {Outcome.ACCEPTED: 1}
    assert scores_of(board)[SeriesKey(Metric.NPS, "checkout")][1] == NpsTally(promoters=2)


def test_quiet_series_decay_and_expire():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("e", 3))], NOW)
    board.advance(NOW + 5 * MINUTE + 1)
    assert scores_of(board)[SeriesKey(Metric.NPS, "checkout")][0] == NpsTally()
    board.advance(NOW + 62 * MINUTE + 1)
    assert scores_of(board) == {} and board.partition_of(SeriesKey(Metric.NPS, "checkout")) is None


def test_the_series_cap_folds_new_touchpoints_and_their_breakdowns():
    board = Board(SCORING, TIMELINE, parse_breakdowns("channel"), max_series=2, now_ms=NOW)
    board.ingest([Sourced(0, i, answer(f"e{i}", 9, touchpoint=f"t{i}")) for i in range(4)], NOW)
    keys = set(scores_of(board))
    assert SeriesKey(Metric.NPS, "t0") in keys
    assert SeriesKey(Metric.NPS, OTHER) in keys
    assert SeriesKey(Metric.NPS, OTHER, (("channel", OTHER),)) in keys
    assert len(keys) == 4  # t0, t0/chat, and the two folded series
    assert board.limiter.overflowed > 0


def test_folded_answers_count_the_same_in_one_batch_or_one_by_one():
    answers = [
        Sourced(0, i, answer(f"e{i}", i % 11, touchpoint=f"t{i % 3}", channel=f"c{i % 2}"))
        for i in range(12)
    ]
    together = Board(SCORING, TIMELINE, parse_breakdowns("channel"), max_series=2, now_ms=NOW)
    together.ingest(answers, NOW)
    alone = Board(SCORING, TIMELINE, parse_breakdowns("channel"), max_series=2, now_ms=NOW)
    for item in answers:
        alone.ingest([item], NOW)
    assert scores_of(together) == scores_of(alone)
    assert together.limiter.overflowed == alone.limiter.overflowed > 0


def test_a_series_on_two_partitions_is_merged_and_each_partition_restores_alone():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(3, 0, answer("e1", 9)), Sourced(1, 0, answer("e2", 2))], NOW)
    key = SeriesKey(Metric.NPS, "checkout")
    assert board.partition_of(key) == 1
    assert scores_of(board)[key][0] == NpsTally(promoters=1, detractors=1)
    board.ingest([Sourced(3, 1, answer("e3", 9))], NOW)
    assert scores_of(board)[key][0] == NpsTally(promoters=2, detractors=1)
    table = {}
    flushed(board, table, NOW)
    assert scores_of(restored(table, {3}, breakdowns=""))[key][0] == NpsTally(promoters=2)
    assert scores_of(restored(table, {1, 3}, breakdowns="")) == scores_of(board)


def test_snapshots_replace_the_log_and_restore_the_same_state(monkeypatch):
    monkeypatch.setattr(ledger, "MIN_SNAPSHOT_BYTES", 2_000)
    timeline = Timeline.parse("1m", "5m,1h,24h,7d,30d")
    board = Board(
        SCORING, timeline, parse_breakdowns("channel"), now_ms=NOW, dedupe_horizon_ms=HOUR
    )
    table, rng, offset = {}, random.Random(3), 0
    for step in range(400):  # 400 flushes over 40 days
        now = NOW + step * 2 * HOUR + rng.randrange(HOUR)
        board.advance(now)
        batch = []
        for _ in range(rng.randrange(4)):
            batch.append(
                Sourced(
                    0,
                    offset,
                    answer(
                        f"e{offset}",
                        rng.randrange(11),
                        rng.choice("xyz"),
                        rng.randrange(3 * HOUR),
                        rng.choice(["chat", "voice"]),
                        now,
                    ),
                )
            )
            offset += 1
        board.ingest(batch, now)
        flushed(board, table, now)
        again = restored(table, {0}, now, timeline, dedupe_horizon_ms=HOUR)
        assert scores_of(again) == scores_of(board)
    headers = [orjson.loads(v) for k, v in table.items() if k.endswith(b"|H")]
    assert headers[0]["generation"] > 5  # snapshots were taken
    logs = [k for k in table if b"|L|" in k]
    assert len(logs) < 20  # log records past the horizon and in a snapshot are gone


def test_bytes_written_per_answer_do_not_grow_with_a_bucket_or_the_rate():
    """One answer per flush into the same bucket, for ever more answers: a constant per answer
    (the log record), never the bucket's whole history."""
    board = Board(SCORING, Timeline.parse("1h", "1h,24h"), now_ms=NOW)
    sizes = []
    for i in range(3_000):
        board.ingest([Sourced(0, i, answer(f"evt-{i:08d}", 9))], NOW)
        sizes.append(sum(len(k) + len(v or b"") for _, k, v in board.flush(NOW)))
        board.acknowledged()  # each commit's records are acknowledged (worker.py)
    log_records = sorted(sizes)[: len(sizes) * 9 // 10]
    assert max(log_records) <= 64
    assert sum(sizes) / len(sizes) <= 2 * 64  # snapshots at most double it


def test_state_of_another_layout_is_refused_with_what_to_do():
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    old = [(b"0|nps|1795341600000|checkout", b'{"v": 1}')]
    with pytest.raises(LayoutError, match="STREAMER_APP_ID"):
        board.restore(old, {0}, NOW)
    board.ingest([Sourced(0, 0, answer("e", 9))], NOW)
    table = {}
    flushed(board, table, NOW)
    header = orjson.loads(table[b"0|H"])
    table[b"0|H"] = orjson.dumps({**header, "v": 99})
    with pytest.raises(LayoutError, match="version 99"):
        restored(table, {0})
    table[b"0|H"] = orjson.dumps(header)
    with pytest.raises(LayoutError, match="STREAMER_BUCKET back to 1m"):
        restored(table, {0}, timeline=Timeline.parse("90s", "3m,90m", grace="3m"))
    # A bucket that holds whole old ones: the state is read, rolled into the larger buckets.
    bigger = restored(table, {0}, timeline=Timeline.parse("5m", "5m,1h", grace="2m"))
    assert scores_of(bigger)[SeriesKey(Metric.NPS, "checkout")][1] == NpsTally(promoters=1)


def test_a_snapshot_missing_a_chunk_is_read_from_the_one_before_it():
    """A chunk lost by the broker while its header was written: the header keeps the one
    before it, whose chunks are deleted only once a newer snapshot is acknowledged, and the
    log since it is still there: the state is read from those, exactly."""
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("e0", 9))], NOW)
    table = {}
    flushed(board, table, NOW)
    board.ingest([Sourced(0, 1, answer("e1", 3, touchpoint="other"))], NOW)
    board.journals[0]._needs_header = True  # a second snapshot in this flush
    writes = board.flush(NOW)
    lost = next(w for w in writes if w.key.startswith(b"0|S|2|"))
    persist(table, [w for w in writes if w is not lost])  # never acknowledged: the worker stops
    assert scores_of(restored(table, {0})) == scores_of(board)


def test_a_first_snapshot_missing_a_chunk_is_read_from_the_log_and_an_old_one_is_refused():
    """The first snapshot's chunk lost: nothing was acknowledged before it, so the log from
    its start is all there (nothing expires until a snapshot is known written) and is read.
    A header written before headers kept the one before them has nothing to fall back on: it
    would restore some series and silently not others, so it is refused, saying what to do."""
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("e", 9))], NOW)
    table = {}
    persist(table, board.flush(NOW))
    chunk = next(key for key in table if b"|S|" in key)
    del table[chunk]
    assert scores_of(restored(table, {0})) == scores_of(board)
    header = orjson.loads(table[b"0|H"])
    del header["previous"]
    table[b"0|H"] = orjson.dumps(header)
    with pytest.raises(LayoutError, match=r"partition 0: .* misses chunks.*STREAMER_APP_ID"):
        restored(table, {0})


LOW_EFFORT = Scoring(ces=CesPolicy.low_effort_is_good())


def rated(event_id, metric, score, scale):
    return SurveyResponse(event_id, NOW - 1_000, "checkout", metric, score, scale)


def counted_with(scoring, responses):
    """The table of a board that counted ``responses`` with ``scoring``, flushed once."""
    board = Board(scoring, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, i, r) for i, r in enumerate(responses)], NOW)
    table = {}
    flushed(board, table, NOW)
    return board, table


def test_the_header_records_the_scoring_policy_and_the_same_policy_restores_exactly():
    scoring = Scoring(CsatPolicy.parse("1-7:6,1-5:5"), CesPolicy.low_effort_is_good())
    responses = [
        *(rated(f"ces{i}", Metric.CES, i % 5 + 1, CES_5) for i in range(10)),
        *(rated(f"csat{i}", Metric.CSAT, i % 5 + 1, CSAT_5) for i in range(10)),
    ]
    board, table = counted_with(scoring, responses)
    header = orjson.loads(table[b"0|H"])
    assert header["scoring"] == {"ces": "1-5", "csat": "1-5:5,1-7:6"}
    again = restored(table, {0}, breakdowns="", scoring=scoring)
    assert scores_of(again) == scores_of(board)
    totals = scores_of(again)
    assert totals[SeriesKey(Metric.CES, "checkout")][0] == CesTally(10, 30, 110, 4)
    assert totals[SeriesKey(Metric.CSAT, "checkout")][0] == CsatTally(10, 2)
    # The same policy spelled another way (the settings' order, spaces) is the same policy.
    spelled = Scoring(CsatPolicy.parse("1-5:5, 1-7:6"), CesPolicy.parse("1-5"))
    assert scores_of(restored(table, {0}, breakdowns="", scoring=spelled)) == totals


def test_state_counted_with_another_ces_scale_is_refused_naming_the_setting():
    # The review's case: ten 7s on 1-7 restored under 1-5 read as a CES mean of 7 on 1-5.
    _, table = counted_with(SCORING, [rated(f"e{i}", Metric.CES, 7, CES_7) for i in range(10)])
    with pytest.raises(LayoutError) as refused:
        restored(table, {0}, scoring=LOW_EFFORT)
    message = str(refused.value)
    assert "partition 0: the state was counted with STREAMER_CES_SCALE=1-7" in message
    assert "configured with STREAMER_CES_SCALE=1-5" in message
    assert "Set STREAMER_CES_SCALE back to 1-7, or start afresh with a new STREAMER_APP_ID" in (
        message
    )
    assert "CSAT" not in message  # only the setting that changed


def test_state_counted_with_another_csat_threshold_is_refused_naming_the_setting():
    _, table = counted_with(SCORING, [rated("e", Metric.CSAT, 4, CSAT_5)])
    stricter = Scoring(CsatPolicy.parse("1-5:5,1-7:6,1-10:9"))
    with pytest.raises(LayoutError) as refused:
        restored(table, {0}, scoring=stricter)
    message = str(refused.value)
    assert "counted with STREAMER_CSAT_SATISFIED_FROM=1-5:4,1-7:6,1-10:9" in message
    assert "configured with STREAMER_CSAT_SATISFIED_FROM=1-5:5,1-7:6,1-10:9" in message
    assert "STREAMER_CES_SCALE" not in message
    # Fewer accepted scales is another policy too: the state may hold answers on 1-10 counted
    # at 9, which a later policy accepting 1-10 again at 8 would mix.
    with pytest.raises(LayoutError, match="STREAMER_CSAT_SATISFIED_FROM back to 1-5:4"):
        restored(table, {0}, scoring=Scoring(CsatPolicy.parse("1-5:4,1-7:6")))
    # Both changed: both named, each with the value to set it back to.
    both = Scoring(CsatPolicy.parse("1-5:5"), CesPolicy.low_effort_is_good())
    with pytest.raises(LayoutError, match="STREAMER_CES_SCALE back to 1-7 and ") as refused:
        restored(table, {0}, scoring=both)
    assert "STREAMER_CSAT_SATISFIED_FROM back to 1-5:4,1-7:6,1-10:9" in str(refused.value)


def unrecorded(table):
    """The table as a version that did not record the scoring policy wrote it."""
    header = orjson.loads(table[b"0|H"])
    del header["scoring"]
    return {**table, b"0|H": orjson.dumps(header)}


def test_a_header_without_the_policy_is_read_as_the_defaults_and_then_records_them():
    """State of a version before the policy was recorded: a worker with the default settings
    reads it (as every worker before read it) and its next snapshot records the policy."""
    board, table = counted_with(SCORING, [rated(f"e{i}", Metric.CES, 7, CES_7) for i in range(3)])
    table = unrecorded(table)
    again = restored(table, {0}, breakdowns="")
    assert scores_of(again) == scores_of(board)
    flushed(again, table, NOW)  # nothing new to log: the header is rewritten regardless
    assert orjson.loads(table[b"0|H"])["scoring"] == SCORING.policy()
    assert scores_of(restored(table, {0}, breakdowns="")) == scores_of(board)
    with pytest.raises(LayoutError, match="counted with STREAMER_CES_SCALE=1-7"):
        restored(table, {0}, scoring=LOW_EFFORT)  # recorded now: a plain mismatch


def test_a_header_without_the_policy_is_refused_when_the_settings_are_not_the_defaults():
    """Nothing says what such state was counted with: read as the defaults, it must not be read
    with other settings, and the message says the defaults were assumed, not recorded."""
    _, table = counted_with(LOW_EFFORT, [rated(f"e{i}", Metric.CES, 2, CES_5) for i in range(3)])
    table = unrecorded(table)
    with pytest.raises(LayoutError) as refused:
        restored(table, {0}, scoring=LOW_EFFORT)
    message = str(refused.value)
    assert "did not record the scoring settings" in message
    assert "their defaults (STREAMER_CES_SCALE=1-7)" in message
    assert "configured with STREAMER_CES_SCALE=1-5" in message
    assert "set STREAMER_CES_SCALE back to 1-7" in message and "STREAMER_APP_ID" in message
    # A part of the policy a header lacks is taken at its default likewise.
    header = orjson.loads(table[b"0|H"])
    partial = {**table, b"0|H": orjson.dumps({**header, "scoring": {"ces": "1-5"}})}
    assert scores_of(restored(partial, {0}, breakdowns="", scoring=LOW_EFFORT))
    stricter = Scoring(CsatPolicy.parse("1-5:5"), LOW_EFFORT.ces)
    with pytest.raises(LayoutError, match="counted with STREAMER_CSAT_SATISFIED_FROM=1-5:4,"):
        restored(partial, {0}, scoring=stricter)


def test_the_policy_is_checked_on_each_restored_partition_with_state():
    _, table = counted_with(SCORING, [rated("e", Metric.CSAT, 4, Scale(1, 7))])
    assert b"0|H" in table
    assert scores_of(restored(table, {1}, scoring=LOW_EFFORT)) == {}  # not this partition's
    with pytest.raises(LayoutError, match=r"^partition 0: "):
        restored(table, {0, 1}, scoring=LOW_EFFORT)


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


def test_a_log_record_keeps_the_blake2b_digest_of_each_id_it_counted():
    """Part of the persisted layout: a worker of any version reads the digests of another."""
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, i, answer(f"e{i % 2}", 10)) for i in range(3)], NOW)
    [record] = [value for _, key, value in board.flush(NOW) if key == log_key(0, 1)]
    assert record is not None
    assert record.split(b"\n", 1)[1] == b"".join(
        blake2b(event_id.encode(), digest_size=16).digest() for event_id in ("e0", "e1")
    )


def test_a_series_that_expires_before_the_commit_leaves_a_log_that_restores():
    """An answer in the oldest bucket just before it expires, for a new series: the timer
    empties and forgets the series before the commit. Its tallies (of an expired bucket) must
    not reach the log without its definition: the restore raised KeyError on every restart."""
    table = {}
    board = Board(SCORING, TIMELINE, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("a", 9, touchpoint="kept"))], NOW)
    flushed(board, table, NOW)
    edge = TIMELINE.on_time_from(NOW)
    counted = board.ingest([Sourced(0, 1, answer("b", 3, "new", age_ms=NOW - edge))], NOW)
    assert counted.outcomes[Outcome.ACCEPTED] == 1
    board.advance(NOW + MINUTE)  # the timer moves on before the commit
    flushed(board, table, NOW + MINUTE)
    again = restored(table, {0}, now=NOW + 2 * MINUTE)
    assert {key.touchpoint for key in scores_of(again)} == {"kept"}


def test_log_records_past_the_horizon_while_the_worker_was_down_are_deleted():
    """Records that expired while no worker ran are deleted by the next flush, not kept (and
    re-read at every recovery) for ever."""
    table, timeline = {}, Timeline.parse("1m", "5m,7d", grace="2m")
    board = Board(SCORING, timeline, now_ms=NOW, dedupe_horizon_ms=HOUR)
    for i in range(3):
        at = NOW + i * MINUTE
        board.ingest([Sourced(0, i, answer(f"e{i}", 9, now=at))], at)
        flushed(board, table, at)
    board.journals[0]._needs_header = True  # a snapshot folds them
    flushed(board, table, NOW + 3 * MINUTE)
    for step in range(3):  # down for 2 h, past the 1 h horizon, then restarted every hour
        at = NOW + (2 + step) * HOUR
        board = restored(table, {0}, now=at, timeline=timeline, dedupe_horizon_ms=HOUR)
        board.ingest([Sourced(0, 10 + step, answer(f"n{step}", 9, now=at))], at)
        flushed(board, table, at)
    # The first three went at the first restart; the later ones go once folded and an hour old,
    # with the commit after the one that finds them so (acknowledged: ``Journal.acknowledged``).
    assert sorted(key for key in table if b"|L|" in key) == [
        log_key(0, 4),
        log_key(0, 5),
        log_key(0, 6),
    ]
    flushed(board, table, at)
    assert sorted(key for key in table if b"|L|" in key) == [log_key(0, 5), log_key(0, 6)]


def test_log_records_after_a_bucket_change_read_right_when_the_new_header_is_lost():
    """STREAMER_BUCKET 1m -> 5m. The first flush after it writes a log record, the chunks and
    the 5m header; the header is lost, and the next flush's log record is written: the reader
    finds the 1m header, and each log record says its 5m buckets, so none is read in 1m ones
    (one was: a 40-minute-old answer showed in a 15-minute window)."""
    one = Timeline.parse("1m", "15m,1h", grace="2m")
    five = Timeline.parse("5m", "15m,1h", grace="2m")
    table = {}
    before = Board(SCORING, one, now_ms=NOW)
    before.ingest([Sourced(0, 0, answer("a", 9))], NOW)
    flushed(before, table, NOW)
    now = NOW + 30_000
    late = [
        Sourced(0, 1, answer("b", 3, age_ms=20 * MINUTE, now=now)),
        Sourced(0, 2, answer("c", 3, age_ms=40 * MINUTE, now=now)),
    ]
    board = restored(table, {0}, now=now, timeline=five, breakdowns="")
    board.ingest(late[:1], now)
    persist(table, [w for w in board.flush(now) if w.key != b"0|H"])
    board.ingest(late[1:], now)
    persist(table, board.flush(now))  # then the worker stops: nothing was acknowledged
    again = restored(table, {0}, now=now, timeline=five, breakdowns="")
    again.ingest(late, now)  # from the last commit
    assert scores_of(again) == scores_of(board)


def test_a_crash_after_a_bucket_change_leaves_log_records_read_in_their_own_unit():
    """After STREAMER_BUCKET 1m -> 5m the first commit writes a log record, then the header
    of the new size. A crash between the two leaves the old header: the record must count in
    its units, or its answers move toward now (a 20-minute-old detractor read as 4 minutes)."""
    one, five = (
        Timeline.parse("1m", "15m,1h", grace="2m"),
        Timeline.parse("5m", "15m,1h", grace="2m"),
    )
    table = {}
    board = Board(SCORING, one, now_ms=NOW)
    board.ingest([Sourced(0, 0, answer("a", 9))], NOW)
    flushed(board, table, NOW)
    now = NOW + 30_000
    board = restored(table, {0}, now=now, timeline=five, breakdowns="")
    board.ingest([Sourced(0, 1, answer("b", 3, age_ms=20 * MINUTE, now=now))], now)
    expected = scores_of(board)
    persist(table, [w for w in board.flush(now) if b"|L|" in w.key])  # the header never came
    assert scores_of(restored(table, {0}, now=now, timeline=five, breakdowns="")) == expected


def board_at(now, horizon_ms=DAY_MS):
    return Board(
        SCORING, TIMELINE, parse_breakdowns("channel"), now_ms=now, dedupe_horizon_ms=horizon_ms
    )


def timed_batches(items, batch, step_ms, horizon_ms=DAY_MS):
    """The answers in batches of ``batch``, each batch's time (the clock moves ``step_ms`` a
    batch), the end time, and the scores of a board that counted them all without a crash."""
    sourced = [
        Sourced(partition, offset, answer(f"e{eid}", score, tp, age))
        for offset, (eid, score, tp, age, partition) in enumerate(items)
    ]
    batches = [sourced[i : i + batch] for i in range(0, len(sourced), batch)]
    times = [NOW + i * step_ms for i in range(len(batches))]
    end = NOW + len(batches) * step_ms
    straight = board_at(NOW, horizon_ms)
    for at, part in zip(times, batches, strict=True):
        straight.advance(at)
        straight.ingest(part, at)
    straight.advance(end)
    return batches, times, end, scores_of(straight)


def counted_then_moved_on(live, part, at, step_ms):
    """A batch counted at ``at``, then the timer moving the board on before its commit, half
    a step later: that time is returned."""
    live.advance(at)
    live.ingest(part, at)
    moved_on = at + step_ms // 2
    live.advance(moved_on)
    return moved_on


def assert_resumed_exactly(table, batches, times, stopped_at, end, expected, horizon_ms=DAY_MS):
    """A board restored from ``table`` at ``stopped_at`` counts the uncommitted ``batches``
    again and ends at ``expected``; so does a board restored from what it persists next."""
    board = restored(table, {0, 1, 2}, now=stopped_at, dedupe_horizon_ms=horizon_ms)
    for at, part in zip(times, batches, strict=True):
        board.advance(max(stopped_at, at))
        board.ingest(part, max(stopped_at, at))
    board.advance(end)
    assert scores_of(board) == expected
    flushed(board, table, end)
    assert scores_of(restored(table, {0, 1, 2}, now=end, dedupe_horizon_ms=horizon_ms)) == expected


# Ages up to the horizon (1 h window + 2 m grace) and past it: buckets expire while the clock
# moves on, between a batch and its flush too. A retry repeats its answer whole (event id,
# occurred_at, score), as a producer's retry does.
retried_answers = st.tuples(
    st.lists(
        st.tuples(st.integers(0, 10), st.sampled_from(["a", "b"]), st.integers(0, 63 * MINUTE)),
        min_size=31,
        max_size=31,
    ),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=60),
).map(lambda drawn: [(eid, *drawn[0][eid], partition) for eid, partition in drawn[1]])


@given(
    retried_answers,
    st.integers(1, 20),
    st.sets(st.integers(0, 60)),
    st.integers(1, 60),
    st.integers(0, 10_000),
    st.integers(0, 30_000),
)
def test_a_crash_inside_a_flush_as_time_moves_on_counts_every_answer_once(
    items, batch, flush_after, crash_at, cut, step_ms
):
    """As above, with the clock moving on between batches and the crash inside a flush: any
    prefix of its records reached Kafka (each partition keeps the order), its offsets were not
    committed; the restored board counts on from there and ends where one that never crashed
    does, and so does a board restored from what it persists next."""
    batches, times, end, expected = timed_batches(items, batch, step_ms)
    live, table, committed, crashed_at = board_at(NOW), {}, 0, NOW
    for i, (at, part) in enumerate(zip(times, batches, strict=True)):
        crashed_at = counted_then_moved_on(live, part, at, step_ms)
        if i == crash_at - 1:  # the crash: part of this flush made it, no offset committed
            writes = live.flush(crashed_at)
            persist(table, writes[: cut % (len(writes) + 1)])
            break
        if i in flush_after:
            flushed(live, table, crashed_at)
            committed = i + 1
    assert_resumed_exactly(table, batches[committed:], times[committed:], crashed_at, end, expected)


# Answers whose ids all differ: with a dedupe horizon of minutes a retry after it is counted
# again, and how often would depend on when a crash made it come back.
unique_answers = st.lists(
    st.tuples(
        st.integers(0, 10),
        st.sampled_from(["a", "b"]),
        st.integers(0, 63 * MINUTE),
        st.integers(0, 2),
    ),
    max_size=60,
).map(lambda drawn: [(eid, *rest) for eid, rest in enumerate(drawn)])


@pytest.mark.parametrize(
    ("horizon_ms", "drawn_answers"),
    [(DAY_MS, retried_answers), (5 * MINUTE, unique_answers)],
    ids=["day", "minutes"],
)
def test_records_lost_by_the_broker_leave_the_state_exact(horizon_ms, drawn_answers):
    """The broker loses any run of a flush's records (a producer batch: log records, chunks, a
    header, deletions) after the producer's retries; records sent after them, in that flush and
    up to three more, are written; nothing is acknowledged or committed from there on (the
    worker stops: app/outbox.py). Snapshots are small, so that they come often, and the dedupe
    horizon is a day or minutes, so that log records expire. The restored board counts on from
    the last commit and ends where one that never lost a record does: never refused, never
    wrong (a later record's checkpoint hiding the lost one's answers, a deletion written without
    what replaced it, a number used twice, a log record read in another bucket size)."""

    loss = st.tuples(
        st.integers(0, 60), st.integers(0, 1_000), st.integers(1, 4), st.integers(0, 3)
    )

    @settings(max_examples=300)
    @given(
        drawn_answers,
        st.integers(1, 20),
        st.sets(st.integers(0, 60)),
        st.lists(loss, min_size=1, max_size=2),
        st.integers(0, 120_000),
    )
    def lose(items, batch, flush_after, losses, step_ms):
        """One loss, or two: the second in the run of the worker restarted after the first
        (its deletions of what the first left may be lost too)."""
        batches, times, end, expected = timed_batches(items, batch, step_ms, horizon_ms)
        live, table, committed, stopped_at = board_at(NOW, horizon_ms), {}, 0, NOW
        for round_, (lost_at, which, run, later_flushes) in enumerate(losses):
            if round_:
                live = restored(table, {0, 1, 2}, now=stopped_at, dedupe_horizon_ms=horizon_ms)
            lost, flushes_after, first = False, 0, committed
            for i in range(first, len(batches)):
                at = max(stopped_at, times[i])
                stopped_at = counted_then_moved_on(live, batches[i], at, step_ms)
                if i not in flush_after and i - first < lost_at:
                    continue
                writes = live.flush(stopped_at)
                if not lost and i - first >= lost_at and writes:
                    start = which % len(writes)
                    persist(table, writes[:start] + writes[start + run :])
                    lost = True
                elif lost:
                    persist(table, writes)
                    flushes_after += 1
                else:
                    persist(table, writes)
                    live.acknowledged()
                    committed = i + 1
                if lost and flushes_after >= later_flushes:
                    break
        assert_resumed_exactly(
            table, batches[committed:], times[committed:], stopped_at, end, expected, horizon_ms
        )

    with mock.patch.object(ledger, "MIN_SNAPSHOT_BYTES", 300):
        lose()
