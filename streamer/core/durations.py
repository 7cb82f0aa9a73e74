"""Durations as operators write them (``5m``, ``1h``, ``7d``), held as integer milliseconds."""

from __future__ import annotations

import re

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"([0-9]{1,9})(ms|s|m|h|d|w)")


def parse_duration_ms(text: str) -> int:
    """``"5m"`` -> 300000. One positive integer and one unit; raises ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration like 5m, got {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def format_duration_ms(ms: int) -> str:
    """The exact spelling with the largest unit: 300000 -> ``"5m"``, 86400000 -> ``"1d"``."""
    if ms <= 0:
        raise ValueError(f"a duration must be positive, got {ms} ms")
    for unit in ("w", "d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"
