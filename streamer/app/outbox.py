"""What the worker sends without waiting, awaited before input offsets are committed.

Faust's ``send_soon`` and a table's ``send_changelog`` buffer a record and return a future
that resolves when the broker acknowledges it, or fails. Faust's producer flush is no proof of
that: it stops waiting once a record has taken 0.1 s to leave its buffer (aiokafka holds a
partition's next batch while the previous one is in flight, as for a 256 KB snapshot chunk)
and returns with records still buffered. So every such future is kept here, and a commit
waits for all of them: the offsets of a batch are committed only once its state records,
re-published answers, dead letters and follow-ups are acknowledged.

A record that *fails* (refused, or expired after the producer's retries: a broker away for
longer than its request timeout) is lost, and so is what it carried: the counts of a log record,
a re-published answer, a dead letter. No later commit may then pass it, and a later state
record must not be read as following it. So a lost record is reported to ``on_lost``, which
stops the worker (``worker.py``): the restart reads the state as it was persisted, in order
(``ledger``: the log is read up to its first gap), and counts again from the last commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from aiokafka.errors import ProducerClosed

from streamer.app.seams import Flush, Table, Topic


class RecordLost(Exception):
    """A record the broker did not take: nothing sent after it may be committed."""


class Outbox:
    def __init__(
        self, flush: Flush, timeout_s: float, on_lost: Callable[[BaseException], None]
    ) -> None:
        self._flush = flush
        self._timeout_s = timeout_s
        self._on_lost = on_lost
        self._pending: list[asyncio.Future[Any]] = []
        self._lost: BaseException | None = None

    def sent(self, future: object) -> None:
        self._pending.append(asyncio.ensure_future(cast(Awaitable[Any], future)))

    def topic(self, topic: Topic) -> Topic:
        """``topic``, whose records are awaited by ``delivered``."""
        return _Topic(topic, self)

    def table(self, table: Table) -> Table:
        """``table``, whose changelog records are awaited by ``delivered``."""
        return _Table(table, self)

    async def delivered(self) -> None:
        """Every record sent so far is acknowledged. Raises TimeoutError when some are not
        acknowledged within the timeout: those are awaited again next time (never cancelled:
        they are Faust's own futures). A record that failed (after the producer's own retries)
        is given to ``on_lost``, then RecordLost is raised, now and at every later call.
        Callers may overlap (the intake's commit, the timer's seal): each waits for everything
        sent before it was called, and a failure is found whichever caller sees it done."""
        if self._lost is not None:
            raise RecordLost() from self._lost
        pending = list(self._pending)
        if not pending:
            return  # nothing of ours is buffered: no flush to wait for
        try:
            await self._flush()
        except RuntimeError as error:  # Faust's "Cannot flush: Producer not Running", stopping
            raise ProducerClosed() from error
        _, undone = await asyncio.wait(pending, timeout=self._timeout_s)
        self._settle()
        if undone:
            raise TimeoutError(
                f"{len(undone)} records not acknowledged within {self._timeout_s:g} s"
            )

    def _settle(self) -> None:
        """Forget the acknowledged records; a failed one, sent by any caller, is a lost one."""
        if self._lost is None:
            for future in self._pending:
                if future.done() and not future.cancelled() and future.exception() is not None:
                    self._lost = cast(BaseException, future.exception())
                    self._on_lost(self._lost)
                    break
        if self._lost is not None:
            raise RecordLost() from self._lost
        self._pending = [f for f in self._pending if not f.done()]


class _Topic:
    def __init__(self, topic: Topic, outbox: Outbox) -> None:
        self._topic = topic
        self._outbox = outbox

    def send_soon(self, **record: Any) -> object:
        future = self._topic.send_soon(**record)
        self._outbox.sent(future)
        return future


class _Table:
    def __init__(self, table: Table, outbox: Outbox) -> None:
        self._table = table
        self._outbox = outbox

    @property
    def data(self) -> MutableMapping[bytes, bytes]:
        return self._table.data

    def send_changelog(self, partition: int, key: bytes, value: bytes | None) -> object:
        future = self._table.send_changelog(partition, key, value)
        self._outbox.sent(future)
        return future

    def on_recover(self, callback: Callable[[], Awaitable[None]]) -> object:
        return self._table.on_recover(callback)
