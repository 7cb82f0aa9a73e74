"""The stores: each record on the changelog partition of its source, the seal after each round,
and a restart that gets back the same numbers from what was written."""

import asyncio

from streamer.app.settings import Settings
from streamer.app.store import SENTINEL, ChangelogSeal, StateStore
from streamer.core.board import Board
from streamer.core.scales import Scoring
from tests.app.fakes import NOW_MS, Table, answer, counted

PARTITIONS = 4
TIMELINE = Settings(windows="5m,1h").timeline()


class Flushes:
    def __init__(self):
        self.count = 0

    async def __call__(self):
        self.count += 1


def board():
    return Board(Scoring(), TIMELINE, now_ms=NOW_MS)


def nps_by_touchpoint(b):
    """touchpoint -> (promoters, passives, detractors) in the 5-minute window."""
    return {
        key.touchpoint: (t[0].promoters, t[0].passives, t[0].detractors) for key, t in b.series()
    }


def test_records_go_to_the_changelog_partition_of_their_source_and_are_sealed():
    table, flushes = Table(), Flushes()
    seal = ChangelogSeal(flushes)
    store = StateStore(table, seal, PARTITIONS)
    b = board()
    counted(b, [answer("a", touchpoint="chat")], partition=1)
    counted(b, [answer("b", touchpoint="call")], partition=PARTITIONS + 2)  # repartition topic
    store.write(b.flush(NOW_MS))

    assert {partition for partition, _, _ in table.changelog} == {1, 2}
    assert store.written_bytes == sum(len(k) + len(v or b"") for _, k, v in table.changelog)
    sent = len(table.changelog)
    asyncio.run(seal())
    assert flushes.count == 2, "flushed before and after the seal records"
    assert sorted(table.changelog[sent:]) == [(1, SENTINEL, None), (2, SENTINEL, None)]
    asyncio.run(seal())
    assert flushes.count == 2, "nothing written since: nothing to seal"


def test_a_restarted_board_gets_the_same_numbers_back():
    table = Table()
    store = StateStore(table, ChangelogSeal(Flushes()), PARTITIONS)
    before = board()
    counted(before, [answer(f"p{i}", score=10) for i in range(3)], partition=0)
    counted(before, [answer("d", score=3), answer("n", score=7)], partition=1)
    store.write(before.flush(NOW_MS))

    after = board()
    after.restore(store.load({0, 1}), {0, 1, PARTITIONS, PARTITIONS + 1}, NOW_MS)
    assert nps_by_touchpoint(after) == {"chat": (3, 1, 1)}


def test_loading_other_partitions_forgets_the_records_no_longer_ours():
    table = Table()
    store = StateStore(table, ChangelogSeal(Flushes()), PARTITIONS)
    b = board()
    counted(b, [answer("a", touchpoint="chat")], partition=0)
    counted(b, [answer("b", touchpoint="call")], partition=3)
    store.write(b.flush(NOW_MS))

    restored = board()
    restored.restore(store.load({3}), {3, PARTITIONS + 3}, NOW_MS)
    assert set(nps_by_touchpoint(restored)) == {"call"}
    assert store.load({0}) == [], "partition 0's records were dropped from memory"
