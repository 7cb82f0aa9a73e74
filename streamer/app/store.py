"""Persisted state in Faust tables: scoring state (log records, snapshots), and alert states.

The local broker (Tansu 0.6.0) reports a partition's end offset as the base offset of its
last record batch + 1, so Faust's recovery, which reads up to the end offset, misses the rest
of a multi-record last batch. ``ChangelogSeal`` keeps the last batch a single record: after a
round of writes it waits until they are acknowledged (``Outbox.delivered``), appends one
sentinel tombstone to each partition written, and waits for those. On Apache Kafka it costs
one tiny record per partition per processed batch.

Scoring state is written at each commit as the Board's ``flush`` says (``streamer.core.ledger``:
log records, snapshots, deletions), each record to the changelog partition of its source.

Faust's ``table[key] = value`` takes the changelog partition from the current event, which is
wrong for a batch mixing partitions, so records go through ``send_changelog`` with the
partition they belong to (it is part of their key). A record's key names its source, which
for the repartition topic's answers is the partition count + its partition; the changelog
partition is the source modulo the partition count (see ``streamer.app.repartition``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import orjson

from streamer.app.seams import Flush, Table
from streamer.core.alerting import AlertState, decode_state, encode_state, is_kept
from streamer.core.layout import Write, partition_of_key
from streamer.core.series import SeriesKey
from streamer.core.watch import StateKey

SENTINEL = b"\x00seal"
"""The key of the seal records; never a real key (those are text without NUL)."""


def kept(value: bytes) -> bytes:
    """An exact-size copy of ``orjson.dumps`` output for values held in memory: orjson's bytes
    keep the allocation of its output buffer, and a table of small records held that way was
    measured at 3.5x the resident memory (bench/memory.py: 42 MB against 12 MB)."""
    return bytes(memoryview(value))


class ChangelogSeal:
    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._written: dict[int, tuple[Table, set[int]]] = {}

    def wrote(self, table: Table, partition: int) -> None:
        self._written.setdefault(id(table), (table, set()))[1].add(partition)

    async def __call__(self) -> None:
        if not self._written:
            return
        written, self._written = self._written, {}
        await self._flush()
        for table, partitions in written.values():
            for partition in partitions:
                table.send_changelog(partition, SENTINEL, None)
        await self._flush()


class StateStore:
    """The scoring state's table: records written as ``Board.flush`` returns them, each to the
    changelog partition of its source (the source modulo the partition count)."""

    def __init__(self, table: Table, seal: ChangelogSeal, partitions: int) -> None:
        self._table = table
        self._seal = seal
        self._partitions = partitions
        self.written_bytes = 0
        """Key and value bytes sent to the changelog (the seal's records left out)."""

    def on_recover(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._table.on_recover(callback)

    def write(self, writes: Iterable[Write]) -> None:
        data = self._table.data
        for source, key, value in writes:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value = kept(value)
            partition = source % self._partitions
            self._table.send_changelog(partition, key, value)
            self._seal.wrote(self._table, partition)
            self.written_bytes += len(key) + len(value or b"")

    def load(self, partitions: set[int]) -> list[tuple[bytes, bytes]]:
        """The persisted records of ``partitions``; others (no longer ours) are forgotten."""
        mine, foreign = [], []
        for raw, value in list(self._table.data.items()):
            key = raw if isinstance(raw, bytes) else raw.encode()
            if key == SENTINEL or not value:
                continue
            source = partition_of_key(key)
            if source is None or source % self._partitions in partitions:
                mine.append((key, value))  # a key of another layout: the Board refuses it
            else:
                foreign.append(raw)
        for raw in foreign:
            self._table.data.pop(raw, None)
        return mine


class AlertStore:
    """Alert states in their own table, on the partition of the series they watch."""

    def __init__(self, table: Table, seal: ChangelogSeal) -> None:
        self._table = table
        self._seal = seal
        self._partitions: dict[StateKey, int] = {}

    def save(self, key: StateKey, state: AlertState, partition: int | None) -> None:
        """A state that is no longer kept (inactive, resolved) is deleted."""
        if partition is None:
            partition = self._partitions.get(key)
        if partition is None:
            return  # never persisted, and its series is gone: nothing to write or delete
        raw = orjson.dumps([key[0], key[1].encode()])
        if not is_kept(state):
            self._partitions.pop(key, None)
            self._table.data.pop(raw, None)
            self._table.send_changelog(partition, raw, None)
            self._seal.wrote(self._table, partition)
            return
        self._partitions[key] = partition
        value = kept(orjson.dumps({"partition": partition, **encode_state(state)}))
        self._table.data[raw] = value
        self._table.send_changelog(partition, raw, value)
        self._seal.wrote(self._table, partition)

    def load(self, partitions: set[int]) -> list[tuple[StateKey, AlertState]]:
        states = []
        for raw, value in list(self._table.data.items()):
            if not value or raw == SENTINEL:
                continue
            rule, series = orjson.loads(raw)
            data = orjson.loads(value)
            key = (rule, SeriesKey.decode(series))
            if data["partition"] in partitions:
                self._partitions[key] = data["partition"]
                states.append((key, decode_state(data)))
            else:
                self._table.data.pop(raw, None)
        return states
