"""The shapes the shell's parts need of Faust's objects, so each part can be built and tested
with a stand-in: a fetched record, a topic to send to, a table with a changelog, the consumer.

Faust's own types are untyped where it matters (``send_soon`` returns a future of Any, a table's
``data`` is an untyped mapping), so the parts name only what they use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Set
from typing import Protocol

from faust.types import TP


class Message(Protocol):
    """A fetched record: the fields of aiokafka's ConsumerRecord the shell reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    """Milliseconds since the epoch."""
    key: bytes | None
    value: bytes | None


class Topic(Protocol):
    """A topic written without waiting: ``send_soon`` buffers, the producer's flush sends."""

    def send_soon(
        self,
        *,
        key: bytes | None = ...,
        value: bytes | None = ...,
        partition: int | None = ...,
        timestamp: float | None = ...,
    ) -> object: ...


class Table(Protocol):
    """A Faust table of raw bytes, written record by record to a chosen changelog partition."""

    @property
    def data(self) -> MutableMapping[bytes, bytes]: ...

    def send_changelog(self, partition: int, key: bytes, value: bytes | None) -> object: ...

    def on_recover(self, callback: Callable[[], Awaitable[None]]) -> object: ...


class Consumer(Protocol):
    """What the lag gauge reads of Faust's consumer."""

    def assignment(self) -> Set[TP]: ...

    def highwater(self, tp: TP) -> int | None: ...


Flush = Callable[[], Awaitable[None]]
"""Sends what was sent soon: Faust's producer flush, which may return before all of it is
acknowledged; ``streamer.app.outbox.Outbox.delivered`` returns once it is."""
