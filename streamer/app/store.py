"""Persisted state in Faust tables: bucket records, and alert states.

Bucket records are each written once per batch to their source partition.

Faust's ``table[key] = value`` takes the changelog partition from the current event, which is
wrong for a batch mixing partitions, so records go through ``send_changelog`` with the
partition they belong to (it is part of their key).
"""

from __future__ import annotations

from typing import Any

import orjson

from streamer.core import ledger
from streamer.core.alerting import AlertState, Status
from streamer.core.ledger import BucketKey, BucketRecord
from streamer.core.series import SeriesKey
from streamer.core.watch import StateKey, decode_state, encode_state


class BucketStore:
    def __init__(self, table: Any) -> None:
        self._table = table

    def on_recover(self, callback: Any) -> None:
        self._table.on_recover(callback)

    def save(self, record: BucketRecord) -> None:
        key = record.key.encode().encode()
        value = orjson.dumps(ledger.encode(record))
        self._table.data[key] = value
        self._table.send_changelog(record.key.partition, key, value)

    def delete(self, key: BucketKey) -> None:
        raw = key.encode().encode()
        self._table.data.pop(raw, None)
        self._table.send_changelog(key.partition, raw, None)

    def load(self, partitions: set[int]) -> list[BucketRecord]:
        """The persisted records of ``partitions``; others (no longer ours) are forgotten."""
        records, foreign = [], []
        for raw, value in list(self._table.data.items()):
            key = BucketKey.decode(raw.decode() if isinstance(raw, bytes) else raw)
            if key.partition not in partitions:
                foreign.append(raw)
            elif value:
                records.append(ledger.decode(orjson.loads(value)))
        for raw in foreign:
            self._table.data.pop(raw, None)
        return records


class AlertStore:
    """Alert states in their own table, on the partition of the series they watch."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._partitions: dict[StateKey, int] = {}

    def save(self, key: StateKey, state: AlertState, partition: int | None) -> None:
        """A state that is no longer kept (inactive, resolved) is deleted."""
        if partition is None:
            partition = self._partitions.get(key)
        if partition is None:
            return  # never persisted, and its series is gone: nothing to write or delete
        raw = orjson.dumps([key[0], key[1].encode()])
        if state.status in (Status.INACTIVE, Status.RESOLVED):
            self._partitions.pop(key, None)
            self._table.data.pop(raw, None)
            self._table.send_changelog(partition, raw, None)
            return
        self._partitions[key] = partition
        value = orjson.dumps({"partition": partition, **encode_state(state)})
        self._table.data[raw] = value
        self._table.send_changelog(partition, raw, value)

    def load(self, partitions: set[int]) -> list[tuple[StateKey, AlertState]]:
        states = []
        for raw, value in list(self._table.data.items()):
            if not value:
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
