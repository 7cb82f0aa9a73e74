"""``streamer replay FILE``: publish a JSONL or CSV file of events (a backfill).

Keyed by touchpoint.

Lines are sent as they are (JSONL) so that the worker, not the replayer, judges them: a bad line
reaches the dead-letter topic with its reason. CSV rows become JSON objects (``score`` as an
integer when it is one; empty cells omitted).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from pathlib import Path

import orjson

from streamer.app.settings import KafkaSettings
from streamer.traffic.producer import Publisher


def read_events(path: Path) -> Iterator[tuple[bytes | None, bytes]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                doc: dict[str, object] = {k: v for k, v in row.items() if k and v not in (None, "")}
                score = doc.get("score")
                if isinstance(score, str) and score.lstrip("-").isdigit():
                    doc["score"] = int(score)
                yield _key(doc), orjson.dumps(doc)
        return
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError:
                parsed = None
            yield (_key(parsed) if isinstance(parsed, dict) else None), line


def _key(doc: dict[str, object]) -> bytes | None:
    touchpoint = doc.get("touchpoint")
    return touchpoint.encode() if isinstance(touchpoint, str) else None


async def replay(
    kafka: KafkaSettings, topic: str, path: Path, rate: float = 0.0, quiet: bool = False
) -> int:
    async with Publisher(kafka, topic, f"replay {path.name}", quiet) as publisher:
        for key, value in read_events(path):
            await publisher.send(key, value)
            if rate > 0:
                await asyncio.sleep(1 / rate)
        return publisher.sent
