"""Durations as operators write them (``5m``, ``1h``, ``7d``), and false-alarm budgets as rates
(``1/quarter``), held as integer milliseconds."""

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


_PERIODS_MS = {
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "quarter": 91 * 86_400_000,
    "year": 365 * 86_400_000,
}


def parse_false_alarms(text: str) -> int:
    """``"1/quarter"``, ``"2/year"`` or ``"1/30d"`` -> one false alarm allowed per that many ms."""
    count, slash, period = str(text).partition("/")
    period = period.strip()
    try:
        times = int(count.strip()) if slash else 0
        period_ms = _PERIODS_MS.get(period) or parse_duration_ms(period)
    except ValueError:
        times = 0
    if times < 1:
        raise ValueError(
            "expected a count per period like 1/quarter, 2/year or 1/30d "
            f"(periods: {', '.join(_PERIODS_MS)} or a duration), got {text!r}"
        )
    return period_ms // times
