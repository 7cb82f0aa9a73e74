"""What a drop is measured against: a trailing window, or the same hour in past weeks.

A trailing baseline is the baseline window minus the recent window, so the two samples are
disjoint and an ongoing drop does not drag its own reference down. A calendar baseline is the
same local hour of the same weekday over the last N weeks: wall-clock arithmetic in the contact
center's IANA time zone, so after a DST change "Monday 10:00" is still 10:00 local time.

Its hours are the UTC hours (the hourly buckets past the fine tier are UTC hours, and a range
that cut one would be read wrong), seen on the local clock: 10:00-11:00 in Paris, 10:30-11:30
in India (UTC+5:30), 10:45-11:45 in Nepal (UTC+5:45). Each is the same local time every week.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from streamer.core.rules import Calendar

HOUR_MS = 3_600_000


@lru_cache(maxsize=4096)
def hour_slots(ts_ms: int, calendar: Calendar) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The UTC hour holding ``ts_ms`` (its start, in UTC ms) and, for k = 1..weeks, the
    half-open UTC range of the same local time k weeks before."""
    zone = ZoneInfo(calendar.timezone)
    local = datetime.fromtimestamp((ts_ms - ts_ms % HOUR_MS) / 1000, zone)
    ranges = []
    for k in range(1, calendar.weeks + 1):
        # Aware datetime arithmetic with zoneinfo is wall-clock arithmetic: the same local time.
        start = local - timedelta(weeks=k)
        ranges.append((_utc_ms(start), _utc_ms(start + timedelta(hours=1))))
    return _utc_ms(local), tuple(ranges)


def _utc_ms(moment: datetime) -> int:
    # Round-trip through UTC so a time in a DST gap or fold maps to one definite instant.
    return int(moment.timestamp() * 1000)
