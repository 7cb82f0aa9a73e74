"""Timestamps as the event contract spells them (RFC 3339 with an offset), held as UTC epoch
milliseconds: read from answers, written in alerts, backtest transitions and JSON logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"  # date and time
    r"(?:\.[0-9]{1,9})?"  # optional fraction
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"  # required offset
)
_UNIX_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000
_offset_ms_cache: dict[tzinfo | None, int] = {}


def format_timestamp_ms(ts_ms: int) -> str:
    """UTC epoch milliseconds -> RFC 3339 with milliseconds and ``Z`` (what streamer writes:
    alert times, backtest transitions, JSON logs)."""
    return (
        datetime.fromtimestamp(ts_ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_timestamp_ms(text: str) -> int:
    """RFC 3339 with a required offset -> UTC epoch milliseconds (sub-millisecond truncated)."""
    # Answers arrive in bursts sharing a second: a small cache skips most of the parsing.
    cached = _stamp_cache.get(text)
    if cached is not None:
        return cached
    stamp_ms = _parse_timestamp_ms(text)
    if len(_stamp_cache) >= _STAMP_CACHE_SIZE:
        _stamp_cache.clear()
    _stamp_cache[text] = stamp_ms
    return stamp_ms


_STAMP_CACHE_SIZE = 4096
_stamp_cache: dict[str, int] = {}


def _parse_timestamp_ms(text: str) -> int:
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise ValueError("expected an RFC 3339 timestamp with an offset, like 2026-11-22T10:00:00Z")
    hours, minutes = found.group(1, 2)
    if hours is not None and (int(hours) > 23 or int(minutes) > 59):
        # Python's own message here names its timedelta internals.
        raise ValueError(f"the offset {text[-6:]} is not one: at most 23:59 either way")
    stamp = datetime.fromisoformat(text.upper())
    # Field arithmetic instead of (stamp - epoch) // 1 ms: the same integer, twice as fast.
    offset_ms = _offset_ms_cache.get(stamp.tzinfo)
    if offset_ms is None:
        offset = stamp.utcoffset() or timedelta(0)
        offset_ms = _offset_ms_cache[stamp.tzinfo] = offset // timedelta(milliseconds=1)
    return (
        (stamp.toordinal() - _UNIX_EPOCH_ORDINAL) * _DAY_MS
        + ((stamp.hour * 60 + stamp.minute) * 60 + stamp.second) * 1000
        + stamp.microsecond // 1000
        - offset_ms
    )
