"""Bulk intake of the input and repartition topics, underneath Faust's per-message path.

Faust delivers every fetched message on its own: ``Consumer._drain_messages`` awaits
``wait_first(callback(message), ...)`` per message (two tasks each), then the conductor, the
channel, the stream and an ack. Measured here that path capped the worker near 2,000 events/s
whatever the batch size (bench/README.md). So the input topics' records are taken out of each
fetched record map as they arrive from aiokafka and handed over in bulk; Faust still owns the
group membership, the partition assignment (tables stay co-partitioned with the input), the
changelog recovery, the timers and the web server.

Each batch is counted as soon as it is taken (scores are fresh at once); persisting is a
*commit*, at most every ``commit_interval_s``: what the batches sent (dead letters, follow-ups,
answers re-published by ``streamer.app.repartition``) is acknowledged first, then the state's
log records are written and flushed, and only then are the batches' offsets committed to the
consumer group. A log record's checkpoint thus never covers an answer whose dead letter or
follow-up Kafka may still lose: a record lost stops the worker before that checkpoint is written
(``streamer.app.outbox``), and the restart counts the answer again and sends it again. A crash
replays at most the batches after the last commit: those persisted are skipped by the checkpoint
in the log, those not persisted are counted then (see ``streamer.core.ledger``). At a revocation
what is queued is dropped: the next assignment reads it again from the committed offsets. What
is fetched from that assignment before its recovery ends is held, then counted for the
partitions the recovery gives this worker: Faust seeks back to a committed offset only when it
is above 0, so a partition nobody has committed yet would otherwise lose its first records (a
worker joining while traffic starts). Holding is bounded: a partition whose records overflow it
is sought back, at the end of the recovery, to the first record it could not keep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from aiokafka.errors import KafkaError
from faust.types import TP

from streamer.app.seams import Message

log = logging.getLogger("streamer.intake")


class Intake:
    def __init__(
        self,
        topics: Collection[str],
        process: Callable[[list[Message]], None],
        delivered: Callable[[], Awaitable[None]],
        persist: Callable[[], None],
        seal: Callable[[], Awaitable[None]],
        commit: Callable[[dict[TP, int]], Awaitable[bool]],
        seek: Callable[[dict[TP, int]], Awaitable[None]],
        batch_max: int,
        commit_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._topics = frozenset(topics)
        self._process = process
        self._delivered = delivered
        self._persist = persist
        self._seal = seal
        self._commit = commit
        self._seek = seek
        self._batch_max = batch_max
        self._interval_s = commit_interval_s
        self._clock = clock
        self._committed_at = clock()
        self._positions: dict[TP, int] = {}
        """Offsets processed since the last commit."""
        self._capacity = 2 * batch_max
        """Records held before the fetcher waits: memory stays bounded under any backlog."""
        self._queue: deque[Sequence[Message]] = deque()
        self._held = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._open = False
        self._partitions: frozenset[int] = frozenset()
        self._revocations = 0
        self._waiting: list[tuple[TP, Sequence[Message]]] = []
        """Records fetched while closed, kept until the recovery says which partitions are
        ours (``open``)."""
        self._waiting_count = 0
        self._resume: dict[TP, int] = {}
        """Per topic partition whose records overflowed the holding: the first offset it did
        not keep. Records fetched from beyond it are dropped until it is read again."""
        self._batch = asyncio.Lock()

    def wrap(self, getmany: Callable[..., Awaitable[dict[Any, Any]]]) -> Callable[..., Any]:
        """Wraps a Faust consumer's ``_getmany`` so that records of ``topics`` come here
        instead."""

        async def getmany_diverted(*args: Any, **kwargs: Any) -> dict[Any, Any]:
            records = await getmany(*args, **kwargs)
            mine = [tp for tp in records if tp.topic in self._topics]
            for tp in mine:
                await self._put(tp, records.pop(tp))
            return records

        return getmany_diverted

    async def _put(self, tp: TP, records: Sequence[Message]) -> None:
        revocations = self._revocations
        while self._open and self._held >= self._capacity:
            self._room.clear()
            await self._room.wait()
        if not records or revocations != self._revocations:
            # Fetched before a revocation: the new assignment reads it again from the
            # committed offsets.
            return
        resume = self._resume.get(tp)
        if resume is not None:
            if records[0].offset > resume:
                return  # past a gap: read again once the seek to `resume` takes effect
            del self._resume[tp]
        if not self._open:
            self._wait(tp, records)
        elif tp.partition in self._partitions:  # not another owner's, fetched across a rebalance
            self._enqueue(records)

    def _wait(self, tp: TP, records: Sequence[Message]) -> None:
        """Fetched between an assignment and the end of its recovery, from the positions the
        assignment set. Faust seeks back only to a committed offset above 0, so dropped, the
        first records of a partition nobody has committed yet would never be read again."""
        if self._waiting_count + len(records) > self._capacity:
            # Memory stays bounded. What is counted of a partition must run on with no gap (the
            # checkpoint skips anything below it), so all of this partition's goes, and `open`
            # seeks back to its first record.
            kept = [(held_tp, held) for held_tp, held in self._waiting if held_tp != tp]
            mine = [held for held_tp, held in self._waiting if held_tp == tp]
            self._resume[tp] = (mine[0] if mine else records)[0].offset
            log.info(
                "more than %d records fetched during the recovery: %s is read again from "
                "offset %d once it ends",
                self._capacity,
                tp,
                self._resume[tp],
            )
            self._waiting = kept
            self._waiting_count = sum(len(held) for _, held in kept)
            return
        self._waiting.append((tp, records))
        self._waiting_count += len(records)

    def _enqueue(self, records: Sequence[Message]) -> None:
        self._queue.append(records)
        self._held += len(records)
        self._arrived.set()

    async def open(self, partitions: set[int]) -> None:
        """State is recovered for ``partitions``: their input may be processed, starting with
        what was fetched for them during the recovery, and then what the holding could not keep,
        read again."""
        self._partitions = frozenset(partitions)
        self._open = True
        for tp, records in self._waiting:
            if tp.partition in self._partitions:
                self._enqueue(records)
        self._waiting.clear()
        self._waiting_count = 0
        self._resume = {tp: o for tp, o in self._resume.items() if tp.partition in partitions}
        if not self._resume:
            return
        revocations = self._revocations
        try:
            await self._seek(dict(self._resume))
        except KafkaError as error:
            if revocations == self._revocations:  # else the next assignment reads it again
                log.error("records skipped: seeking back to %s failed: %r", self._resume, error)
                self._resume.clear()

    async def close(self) -> None:
        """Partitions are being revoked: finish the batch in hand and commit it, drop what is
        queued or held, and what fetches waiting for room bring."""
        self._revocations += 1
        self._waiting.clear()
        self._waiting_count = 0
        self._resume.clear()
        async with self._batch:
            if self._open:
                await self._commit_now()
            self._open = False
            self._queue.clear()
            self._held = 0
            self._room.set()

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            async with self._batch:
                batch = self._take()
                if batch:
                    await self._handle(batch)

    def _take(self) -> list[Message]:
        batch: list[Message] = []
        while self._queue and len(batch) < self._batch_max:
            batch.extend(self._queue.popleft())
        self._held -= len(batch)
        if not self._queue:
            self._arrived.clear()
        self._room.set()
        return batch

    async def commit_due(self) -> None:
        """A commit if the interval has passed (from a timer: input may have stopped)."""
        async with self._batch:
            if self._open and self._clock() - self._committed_at >= self._interval_s:
                await self._commit_now()

    async def _handle(self, batch: list[Message]) -> None:
        self._process(batch)
        for record in batch:
            self._positions[TP(record.topic, record.partition)] = record.offset + 1
        if self._clock() - self._committed_at >= self._interval_s:
            await self._commit_now()

    async def _commit_now(self) -> None:
        self._committed_at = self._clock()
        try:
            await self._delivered()  # what the batches sent, before the checkpoint covers them
            self._persist()
            await self._seal()  # the state is in Kafka before the offsets are committed
        except (TimeoutError, KafkaError) as error:
            # Not committed: the offsets wait for the next commit, which waits for these
            # records again; a crash meanwhile replays the batches, and the checkpoints skip
            # those whose log records were written.
            log.warning("records not acknowledged, offsets not committed yet: %r", error)
            return
        positions, self._positions = self._positions, {}
        if positions and not await self._commit(positions):
            log.info("offsets not committed (rebalancing); the next owner skips the replay")
