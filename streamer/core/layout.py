"""The persisted layout's names: keys, the version, and the refusal of state it must not read.

Keys are ``{source partition}|H`` (the header), ``{p}|L|{seq}`` (log records) and
``{p}|S|{generation}|{index}`` (snapshot chunks); ``streamer.core.ledger`` writes and reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from streamer.core.durations import format_duration_ms

LAYOUT_VERSION = 2
CHUNK_BYTES = 262_144
"""A snapshot chunk's size, well under Kafka's default 1 MB message limit."""

WHAT_TO_DO = (
    "Run the version that wrote it, or start afresh with a new STREAMER_APP_ID (the input is "
    "then read again from the start of its retention; the old changelog topics can be deleted)."
)


class LayoutError(ValueError):
    """Persisted state this version cannot read as configured; the message says what to do."""


class Write(NamedTuple):
    """A changelog record to write (``value`` None: delete the key)."""

    partition: int
    key: bytes
    value: bytes | None


def header_key(partition: int) -> bytes:
    return f"{partition}|H".encode()


def log_key(partition: int, seq: int) -> bytes:
    return f"{partition}|L|{seq}".encode()


def chunk_key(partition: int, generation: int, index: int) -> bytes:
    return f"{partition}|S|{generation}|{index}".encode()


def partition_of_key(key: bytes) -> int | None:
    """The source partition a persisted key belongs to (None: not a key of this layout)."""
    head, sep, _ = key.partition(b"|")
    return int(head) if sep and head.isdigit() else None


def check_layout(partition: int, header: Mapping[str, object], bucket_ms: int) -> None:
    """Refuses (``LayoutError``) a header this version must not read with ``bucket_ms``."""
    version = header.get("v")
    if version != LAYOUT_VERSION:
        raise LayoutError(
            f"partition {partition}: state of layout version {version!r}, this version "
            f"reads version {LAYOUT_VERSION}. " + WHAT_TO_DO
        )
    stored = int(header["bucket_ms"])  # type: ignore[call-overload]
    if bucket_ms % stored:
        raise LayoutError(
            f"partition {partition}: the state holds {format_duration_ms(stored)} "
            f"buckets, which {format_duration_ms(bucket_ms)} buckets "
            f"(STREAMER_BUCKET) cannot hold exactly. Set STREAMER_BUCKET back to "
            f"{format_duration_ms(stored)} (or a multiple of it that divides an hour), or "
            "start afresh with a new STREAMER_APP_ID."
        )


def records_of(items: Iterable[tuple[bytes, bytes]], partition: int) -> dict[bytes, bytes]:
    """The records of one partition, from everything persisted."""
    return {key: value for key, value in items if partition_of_key(key) == partition}
