"""A small aiokafka producer wrapper with a progress line, shared by simulate and replay."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from aiokafka import AIOKafkaProducer

from streamer.kafka.options import client_options
from streamer.kafka.settings import KafkaSettings


class Publisher:
    def __init__(self, kafka: KafkaSettings, topic: str, label: str, quiet: bool = False) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=kafka.hosts(), linger_ms=5, acks="all", **client_options(kafka)
        )
        self.topic = topic
        self.label = label
        self.quiet = quiet
        self.sent = 0
        self._started = time.monotonic()
        self._shown = self._started

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self._producer.flush()
        await self._producer.stop()
        self.progress(final=True)

    async def send(self, key: bytes | None, value: bytes) -> None:
        await self._producer.send(self.topic, value, key=key)
        self.sent += 1
        if time.monotonic() - self._shown >= 2:
            self.progress()

    def progress(self, final: bool = False) -> None:
        if self.quiet:
            return
        self._shown = time.monotonic()
        elapsed = max(self._shown - self._started, 1e-9)
        end = "\n" if final else "\r"
        rate = self.sent / elapsed
        sys.stdout.write(f"{self.label}: {self.sent:,} events to {self.topic} ({rate:,.0f}/s){end}")
        sys.stdout.flush()
