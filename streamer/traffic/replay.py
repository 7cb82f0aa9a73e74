"""``streamer replay FILE``: publish a JSONL or CSV file of events (a backfill).

Keyed by touchpoint.

Lines are sent as they are (JSONL) so that the worker, not the replayer, judges them: a bad line
reaches the dead-letter topic with its reason. CSV rows become JSON objects (``score`` as an
integer when it is one; empty cells omitted).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from streamer.kafka.settings import KafkaSettings
from streamer.traffic.files import read_events
from streamer.traffic.producer import Publisher


async def replay(
    kafka: KafkaSettings, topic: str, path: Path, rate: float = 0.0, quiet: bool = False
) -> int:
    async with Publisher(kafka, topic, f"replay {path.name}", quiet) as publisher:
        for key, value in read_events(path):
            await publisher.send(key, value)
            if rate > 0:
                await asyncio.sleep(1 / rate)
        return publisher.sent
