"""``streamer simulate``: realistic survey traffic at a rate, with bursts and scripted drops."""

from __future__ import annotations

import asyncio
import time

import orjson

from streamer.kafka.settings import KafkaSettings
from streamer.traffic.model import Drop, Simulator, utc_now
from streamer.traffic.producer import Publisher


async def simulate(
    kafka: KafkaSettings,
    topic: str,
    rate: float,
    duration_s: float,
    seed: int,
    drops: tuple[Drop, ...],
    burst_every_s: float = 60.0,
    quiet: bool = False,
) -> int:
    """Publish for ``duration_s`` (0: until cancelled); each ``burst_every_s`` a 10 s 3x burst."""
    simulator = Simulator(seed=seed, drops=drops)
    started = time.monotonic()
    async with Publisher(kafka, topic, "simulate", quiet) as publisher:
        due = 0.0
        while duration_s <= 0 or time.monotonic() - started < duration_s:
            elapsed = time.monotonic() - started
            burst = burst_every_s > 0 and elapsed % burst_every_s < 10 and elapsed > 10
            due += (rate * (3 if burst else 1)) * 0.05
            for _ in range(int(due)):
                key, event = simulator.next(utc_now(), elapsed)
                await publisher.send(
                    key, event if isinstance(event, bytes) else orjson.dumps(event)
                )
            due -= int(due)
            await asyncio.sleep(0.05)
        return publisher.sent
