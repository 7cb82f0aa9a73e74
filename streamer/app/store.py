"""Bucket records in the Faust table: each written once per batch to its source partition.

Faust's ``table[key] = value`` takes the changelog partition from the current event, which is
wrong for a batch mixing partitions, so records go through ``send_changelog`` with the
partition they belong to (it is part of their key).
"""

from __future__ import annotations

from typing import Any

import orjson

from streamer.core import ledger
from streamer.core.ledger import BucketKey, BucketRecord


class BucketStore:
    def __init__(self, table: Any) -> None:
        self._table = table

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
