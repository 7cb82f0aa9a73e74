"""The dedupe memory: 128-bit event-id digests seen within the horizon, in flat arrays.

A Python set of 128-bit ints took ~128 bytes per id (the int object, the set's slot and its
spare room), most of a worker's memory at a million answers a day. Here an id is two 64-bit
halves in one ``array('Q')`` and a 32-bit *epoch* (the sequence number of the log record that
persists it) in an ``array('I')``: 20 bytes a slot, open addressing with double hashing.

Ids expire by epoch, as their log records do: ``expire_before(epoch)`` makes every slot of an
older epoch free for reuse without touching it (a lookup walks past such slots: a later id may
have been placed beyond one). When free plus expired slots run short, the table is rebuilt at
a size for its live ids.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from struct import Struct

_HALVES = Struct(">QQ")
_unpack = _HALVES.unpack
MIN_CAPACITY = 1024
MAX_LOAD = 0.75
"""Slots ever written (live or expired) per slot, at most, before a rebuild."""
SPARE = 2
"""A rebuilt table has at least this many slots per live id."""


class Dedupe:
    __slots__ = ("_epochs", "_halves", "_limit", "_live", "_live_from", "_mask", "_used")

    def __init__(self) -> None:
        self._live_from = 1
        self._allocate(MIN_CAPACITY)

    def _allocate(self, capacity: int) -> None:
        size = MIN_CAPACITY
        while size < capacity:
            size *= 2
        self._mask = size - 1
        self._limit = int(MAX_LOAD * size)
        self._halves = array("Q", bytes(16 * size))
        self._epochs = array("I", bytes(4 * size))
        """0: never written since the last rebuild."""
        self._used = 0
        self._live: dict[int, int] = {}
        """Ids per live epoch."""

    def __len__(self) -> int:
        return sum(self._live.values())

    def nbytes(self) -> int:
        return self._halves.itemsize * len(self._halves) + self._epochs.itemsize * len(self._epochs)

    def add(self, digest: bytes, epoch: int) -> bool:
        """Remember a 16-byte digest under ``epoch`` (at least 1, at least every live epoch);
        False if it is already remembered (a duplicate)."""
        high, low = _unpack(digest)
        epochs, mask = self._epochs, self._mask
        slot = low & mask
        slot_epoch = epochs[slot]
        free = -1
        if slot_epoch:  # taken: probe on (most adds find their first slot never written)
            halves, live_from = self._halves, self._live_from
            step = (high & mask) | 1  # odd: the probe visits every slot of a power-of-two table
            while slot_epoch:
                if slot_epoch < live_from:
                    if free < 0:
                        free = slot
                elif halves[2 * slot + 1] == low and halves[2 * slot] == high:
                    return False
                slot = (slot + step) & mask
                slot_epoch = epochs[slot]
        if free < 0:
            free = slot
            self._used += 1
        halves = self._halves
        halves[2 * free] = high
        halves[2 * free + 1] = low
        epochs[free] = epoch
        live = self._live
        live[epoch] = live.get(epoch, 0) + 1
        if self._used > self._limit:
            self._rebuild()
        return True

    def restore(self, records: Sequence[tuple[int, bytes]]) -> None:
        """Remember the digests (16 bytes each, one after another) of log records, each under
        its epoch, at a restart, into a table that has expired nothing yet: a day of ids is
        placed in one pass into a table sized once. A log record holds each id once; an id in
        two records (counted again after the horizon) takes two slots until the older expires,
        which no lookup minds."""
        if self._live_from > 1:
            raise ValueError("digests are restored before anything expires")
        count = sum(len(digests) for _, digests in records) // 16
        if self._used + count > self._limit:
            self._rebuild(len(self) + count)
        self._place(
            (high, low, epoch)
            for epoch, digests in records
            for high, low in _HALVES.iter_unpack(digests)
        )
        self._used += count
        for epoch, digests in records:
            self._live[epoch] = self._live.get(epoch, 0) + len(digests) // 16

    def expire_before(self, epoch: int) -> None:
        """Forget every id of an epoch below ``epoch``."""
        if epoch <= self._live_from:
            return
        self._live_from = epoch
        for old in [e for e in self._live if e < epoch]:
            del self._live[old]

    def _rebuild(self, room: int = 0) -> None:
        old_halves, old_epochs, live_from, live = (
            self._halves,
            self._epochs,
            self._live_from,
            self._live,
        )
        self._allocate(max(SPARE * len(self), int(room / MAX_LOAD) + 1))
        self._live = live  # the same ids stay, under the same epochs
        self._place(
            (old_halves[2 * old], old_halves[2 * old + 1], slot_epoch)
            for old, slot_epoch in enumerate(old_epochs)
            if slot_epoch >= live_from
        )
        self._used = sum(live.values())

    def _place(self, ids: Iterable[tuple[int, int, int]]) -> None:
        """Write (high, low, epoch) ids known to be absent: the probe of ``add``, in a table
        with no expired slots (just rebuilt, or just started)."""
        halves, epochs, mask = self._halves, self._epochs, self._mask
        for high, low, epoch in ids:
            slot, step = low & mask, (high & mask) | 1
            while epochs[slot]:
                slot = (slot + step) & mask
            halves[2 * slot] = high
            halves[2 * slot + 1] = low
            epochs[slot] = epoch
