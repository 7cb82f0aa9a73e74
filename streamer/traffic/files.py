"""Event files: JSONL (one event per line, sent as it is) or CSV (a row per event).

CSV rows become JSON objects (``score`` as an integer when it is written as one; empty cells
omitted); a byte order mark (a CSV saved by Excel) is not part of the first column's name.
Lines are kept as they are so that the decoder, not the reader, judges them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import orjson

_INTEGER = re.compile(r"-?[0-9]+")
"""ASCII digits only: str.isdigit also takes '³', which int() refuses."""


def read_events(path: Path) -> Iterator[tuple[bytes | None, bytes]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                doc: dict[str, object] = {k: v for k, v in row.items() if k and v not in (None, "")}
                score = doc.get("score")
                if isinstance(score, str) and _INTEGER.fullmatch(score):
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
