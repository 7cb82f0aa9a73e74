"""Every use of a private of Faust or aiokafka, in one place, each with why.

The pinned versions (faust-streaming 0.15.3, aiokafka 0.14.0) are checked by
``tests/app/test_faust_hooks.py``: an upgrade that renames one of these fails that test with the
name of what moved, instead of a worker that fails at start or silently waits 1.5 s per fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiokafka.protocol.commit import OffsetCommitRequest
from faust.tables import TableManager
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

log = logging.getLogger("streamer.worker")

NEW_CONSUMER = (faust.App, "_new_consumer")
"""Where the app builds its consumer: the one place to hook it before it starts fetching."""
GETMANY = (Consumer, "_getmany")
"""Faust's fetch of record maps: the bulk intake takes the input's records out of each one
before Faust's per-message path (two tasks per message: the throughput wall, bench/README.md)."""
COMMIT = (Consumer, "_commit")
"""Faust commits only offsets of messages it delivered; the intake's go through the same
consumer, which treats a rebalance in progress as "not committed"."""
CREATE_WORKER_CONSUMER = (AIOKafkaConsumerThread, "_create_worker_consumer")
"""Where Faust builds its aiokafka consumer, with fetch_max_wait_ms fixed at 1500."""
UPDATE_CHANNELS = (TableManager, "_update_channels")
"""What Faust's table manager does when it starts, after a one-second sleep (``StreamerTables``)."""
ENSURE_CONSUMER = (AIOKafkaConsumerThread, "_ensure_consumer")
"""The aiokafka consumer in Faust's consumer thread; its group coordinator (``_coordinator``,
built when it starts) holds the member's ``generation``."""
NO_GENERATION = OffsetCommitRequest.DEFAULT_GENERATION_ID
"""aiokafka's generation for a member the group does not know (yet, or any more)."""
FETCH_MAX_WAIT = "_fetch_max_wait_ms"
"""aiokafka reads it when the consumer starts. The local broker answers a fetch only when that
wait ends, not when data arrives: measured p50 276 ms from produce to fetch at 1500, 25 ms at
100. On Apache Kafka a shorter wait only adds idle requests."""


def hook_consumer(consumer: Any, wrap_getmany: Callable[[Any], Any], fetch_max_wait_ms: int) -> Any:
    """Faust's consumer, with its fetches passed through the intake and a shorter fetch wait."""
    consumer._getmany = wrap_getmany(consumer._getmany)
    create = consumer._thread._create_worker_consumer

    def create_worker_consumer(*args: Any, **kwargs: Any) -> Any:
        kafka_consumer = create(*args, **kwargs)
        setattr(kafka_consumer, FETCH_MAX_WAIT, fetch_max_wait_ms)
        return kafka_consumer

    consumer._thread._create_worker_consumer = create_worker_consumer
    return consumer


async def commit(consumer: Any, positions: dict[Any, int], timeout_s: float) -> bool:
    """Commit the intake's offsets through Faust's consumer: False during a rebalance, or when
    the broker has not taken them within ``timeout_s``. aiokafka retries a commit for as long as
    the broker answers with a retriable error (a partition it no longer knows, after a broker
    that lost its log came back), and the intake holds its batch meanwhile: a revocation would
    wait behind it and the worker would never be ready again. Giving up loses nothing: the
    checkpoints skip whatever is read again from the last committed offsets.

    A member the group no longer knows (its session expired, or the broker forgot the group)
    does not commit: aiokafka would send the commit without a generation, which fences nothing,
    and a broker that lost its log answers it with a retriable error for ever, the retries
    holding one of the consumer thread's two method workers and logging every 100 ms."""
    if consumer._thread._ensure_consumer()._coordinator.generation == NO_GENERATION:
        return False
    try:
        return bool(await asyncio.wait_for(consumer._commit(positions), timeout_s))
    except TimeoutError:
        log.warning(
            "the broker took no commit within %g s: the group's offsets stay where they were,"
            " and the checkpoints skip what is read again from them",
            timeout_s,
        )
        return False


class StreamerTables(TableManager):
    """Faust's table manager without the second it sleeps before registering the tables (for
    tables declared once the app runs; the worker declares all of its own before): the consumer
    joins the group a second sooner at every start and restart."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


class StreamerApp(faust.App):
    """A Faust app whose consumer hands its fetches to ``streamer_divert`` (the bulk intake), that
    runs ``streamer_before_start`` (creating the topics) before Faust first uses them and
    ``streamer_before_stop`` (the last commit) before Faust stops its consumer and tables.
    The attributes are prefixed: Faust's App has many of its own."""

    streamer_divert: Callable[[Any], Any]
    streamer_fetch_max_wait_ms = 1500
    streamer_before_start: Callable[[], Awaitable[object]] | None = None
    streamer_before_stop: Callable[[], Awaitable[object]] | None = None

    async def on_first_start(self) -> None:
        if self.streamer_before_start is not None:
            await self.streamer_before_start()
        await super().on_first_start()

    async def on_stop(self) -> None:
        # A stop revokes nothing (aiokafka leaves the group without calling the rebalance
        # listener, and Faust skips its revocation when stopping): this is the last moment the
        # consumer, the producer and the tables all still run.
        if self.streamer_before_stop is not None:
            await self.streamer_before_stop()
        await super().on_stop()

    def _new_consumer(self) -> Any:
        return hook_consumer(
            super()._new_consumer(), self.streamer_divert, self.streamer_fetch_max_wait_ms
        )
