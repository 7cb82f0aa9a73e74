"""Any producer keying: answers not keyed by their touchpoint go through a repartition topic.

A touchpoint's answers must reach one partition: its bucket records, its event-id dedupe and its
alert rules live with that partition's owner. Producers may key by conversation, respondent or
nothing. So each input answer whose message key is not its touchpoint is re-published to
``<app_id>-repartition`` keyed by touchpoint (murmur2, as Java and aiokafka producers hash keys),
with the input's partition count, and counted from there; the worker subscribes to both topics,
which Faust's assignor co-partitions (same partition numbers to the same worker), so the
repartition topic's partition ``p`` is counted beside input partition ``p``.

The input is decoded once: ``Batches.process`` asks the router about each valid input answer
(rejected ones are dead-lettered from the input). An answer keyed by its touchpoint is counted
where it arrived, whatever the producer's
partitioner (librdkafka clients hash with CRC32, Java and aiokafka with murmur2: each is
consistent per key). Two producers with different partitioners put one touchpoint on two
partitions; it is still counted exactly where one worker owns both (its series sum their
records), but it is reported: ``streamer_touchpoint_partition_conflicts_total`` and one log line
per touchpoint.

Crash safety: re-published records are acknowledged before the input offsets of their batch
are committed (``streamer.app.outbox``), so a crash re-publishes at most the uncommitted
batches (at least once), and a second copy repeats the answer's event id and occurred_at, so
the dedupe skips it. The repartition topic's offsets are another sequence than the input's:
its records are ledger sources ``partitions + p`` (``source_base``), kept in changelog
partition ``p``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

from aiokafka.partitioner import murmur2
from prometheus_client import CollectorRegistry, Counter

from streamer.app.seams import Message, Topic
from streamer.core.events import SurveyResponse
from streamer.export import names

log = logging.getLogger("streamer.repartition")


class Count(Protocol):
    """``Batches.process``."""

    def __call__(
        self,
        messages: Sequence[Message],
        source_base: int,
        divert: Callable[[Message, SurveyResponse], bool] | None,
    ) -> None: ...


@lru_cache(maxsize=65_536)
def partition_of(key: bytes, partitions: int) -> int:
    """The partition a Java or aiokafka producer picks for ``key`` (murmur2, positive)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Homes:
    """The first partition each touchpoint was seen on, to report one seen on a second."""

    def __init__(self, capacity: int, conflicts: Counter) -> None:
        self._first: dict[str, int] = {}
        self._conflicted: set[str] = set()
        self._capacity = capacity
        """Touchpoints remembered, at most (beyond the series cap they fold into __other__)."""
        self._conflicts = conflicts

    def saw(self, touchpoint: str, partition: int) -> None:
        first = self._first.get(touchpoint)
        if first is None:
            if len(self._first) < self._capacity:
                self._first[touchpoint] = partition
        elif first != partition and touchpoint not in self._conflicted:
            self._conflicted.add(touchpoint)
            self._conflicts.inc()
            log.warning(
                "touchpoint %r arrives on partitions %d and %d: two producers key it with "
                "different partitioners; it is counted exactly only while one worker owns both",
                touchpoint,
                first,
                partition,
            )


class Router:
    """Counts each batch; input answers not keyed by their touchpoint are re-published instead."""

    def __init__(
        self,
        input_topic: str,
        partitions: int,
        republish: Topic,
        count: Count,
        registry: CollectorRegistry,
        max_touchpoints: int,
    ) -> None:
        self._input = input_topic
        self._partitions = partitions
        self._republish = republish
        self._count = count
        self.repartitioned = Counter(
            names.REPARTITIONED, names.HELP[names.REPARTITIONED], registry=registry
        )
        conflicts = Counter(
            names.TOUCHPOINT_CONFLICTS, names.HELP[names.TOUCHPOINT_CONFLICTS], registry=registry
        )
        self.homes = Homes(max_touchpoints, conflicts)

    def process(self, batch: Sequence[Message]) -> None:
        fresh = [m for m in batch if m.topic == self._input]
        rekeyed = [m for m in batch if m.topic != self._input]
        if fresh:
            self._count(fresh, 0, self._reroute)
        if rekeyed:
            for message in rekeyed:
                self.homes.saw((message.key or b"").decode(errors="replace"), message.partition)
            self._count(rekeyed, self._partitions, None)

    def _reroute(self, message: Message, answer: SurveyResponse) -> bool:
        """Re-publishes a valid input answer whose key is not its touchpoint (rejected ones are
        dead-lettered from the input before this is asked)."""
        touchpoint = answer.touchpoint
        key = touchpoint.encode()
        if message.key == key:
            self.homes.saw(touchpoint, message.partition)
            return False
        partition = partition_of(key, self._partitions)
        self.homes.saw(touchpoint, partition)
        self._republish.send_soon(
            key=key,
            value=message.value,
            partition=partition,
            timestamp=message.timestamp / 1000 if message.timestamp else None,
        )
        self.repartitioned.inc()
        return True
