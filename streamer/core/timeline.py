"""Event-time buckets at tiered resolution, and the rolling windows over them, in integer ms.

Tiers: an answer counts in the fine bucket ``[start, start + bucket_ms)`` holding its event
time. Fine buckets are kept for the last ``fine_ms`` (rounded down to a whole UTC hour: the
*fine cut*); older ones are rolled up into UTC hours, kept for the last ``hourly_ms`` (rounded
down to a whole UTC day: the *hourly cut*); older ones into UTC days. So a series costs at most
``fine_ms / bucket_ms + hourly_ms / 1h + longest window / 1d`` buckets, whatever the rate, and
only the buckets that took answers are kept.

Windows: a window of length W at time ``now`` is the merge of the buckets, at whatever tier
they are at ``now``, whose start lies in ``[now - W, now)``. Its oldest edge moves by whole
buckets of the tier it falls in, its *resolution*: ``bucket_ms`` for W <= ``fine_ms``, one hour
for W <= ``hourly_ms``, one day beyond. It covers between ``W - resolution`` and ``W`` of event
time: the oldest bucket leaves whole as soon as its start falls out, and the current bucket
counts from its start. A bucket whose start is before ``now - longest window - grace`` is
expired: it is deleted, and an answer that would land in it is late.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.core.durations import format_duration_ms, parse_duration_ms

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DEFAULT_WINDOWS = "5m,1h,24h,7d,30d,90d"
"""CSAT read over minutes to a day, NPS over a month and a quarter."""


def bucket_start_ms(ts_ms: int, bucket_ms: int) -> int:
    """Start of the bucket holding ``ts_ms`` (floor, also for times before 1970)."""
    return ts_ms - ts_ms % bucket_ms


def _first_start_at_or_after(ts_ms: int, bucket_ms: int) -> int:
    return -((-ts_ms) // bucket_ms) * bucket_ms


@dataclass(frozen=True, slots=True)
class WindowSpec:
    label: str
    length_ms: int

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """``"24h"`` keeps its spelling as the label an operator configured."""
        return cls(text.strip(), parse_duration_ms(text))


@dataclass(frozen=True, slots=True)
class Cuts:
    """Where the tiers meet at some moment: fine buckets start at or after ``fine``, hourly
    ones at or after ``hourly``, daily ones before it."""

    fine: int
    hourly: int

    def rolled(self, start: int) -> int:
        """The start of the bucket that holds the fine bucket ``start`` at these cuts."""
        if start >= self.fine:
            return start
        if start >= self.hourly:
            return start - start % HOUR_MS
        return start - start % DAY_MS


def check_bucket_ms(bucket_ms: int) -> None:
    """Raises ValueError unless buckets of this size can roll up into hours."""
    if bucket_ms <= 0:
        raise ValueError("the bucket size must be positive")
    if HOUR_MS % bucket_ms:
        raise ValueError(
            f"the bucket size {format_duration_ms(bucket_ms)} does not divide an hour "
            "(older buckets are rolled up into hours)"
        )


@dataclass(frozen=True, slots=True)
class Timeline:
    """The bucket size, the windows, the grace period and the tiers of one deployment."""

    bucket_ms: int
    windows: tuple[WindowSpec, ...]
    grace_ms: int = 600_000
    fine_ms: int = 6 * HOUR_MS
    hourly_ms: int = 8 * DAY_MS
    """Raised by the worker to cover its rules' calendar baselines (``with_hourly_reach``)."""

    def __post_init__(self) -> None:
        check_bucket_ms(self.bucket_ms)
        if self.grace_ms < 0:
            raise ValueError("the grace period must not be negative")
        if self.fine_ms < HOUR_MS or self.fine_ms % HOUR_MS:
            raise ValueError("the fine tier must span a whole number of hours")
        if self.hourly_ms < self.fine_ms or self.hourly_ms % DAY_MS:
            raise ValueError("the hourly tier must span whole days, at least the fine tier")
        if not self.windows:
            raise ValueError("at least one window is needed")
        labels = [w.label for w in self.windows]
        if len(set(labels)) != len(labels):
            raise ValueError(f"window labels repeat: {labels}")
        for window in self.windows:
            if window.length_ms <= 0 or window.length_ms % self.bucket_ms:
                raise ValueError(
                    f"window {window.label} is not a whole number of "
                    f"{format_duration_ms(self.bucket_ms)} buckets"
                )

    @classmethod
    def parse(cls, bucket: str, windows: str, grace: str = "10m") -> Timeline:
        """From settings text: ``Timeline.parse("1m", "5m,1h,24h,7d")``."""
        specs = tuple(WindowSpec.parse(part) for part in windows.split(",") if part.strip())
        return cls(parse_duration_ms(bucket), specs, parse_duration_ms(grace))

    def with_hourly_reach(self, reach_ms: int) -> Timeline:
        """This timeline with hourly buckets at least ``reach_ms`` back (plus a day, for the
        minutes a reader lags behind now), for readers of one-hour ranges that far back."""
        wanted = _first_start_at_or_after(reach_ms, DAY_MS) + DAY_MS
        if wanted <= self.hourly_ms:
            return self
        return Timeline(self.bucket_ms, self.windows, self.grace_ms, self.fine_ms, wanted)

    @property
    def horizon_ms(self) -> int:
        """How long a bucket is kept: the longest window plus the grace period."""
        return max(w.length_ms for w in self.windows) + self.grace_ms

    def resolution_ms(self, window: WindowSpec) -> int:
        """How far the window's oldest edge moves at once (see the module's docstring)."""
        if window.length_ms <= self.fine_ms:
            return self.bucket_ms
        return HOUR_MS if window.length_ms <= self.hourly_ms else DAY_MS

    def cuts(self, now_ms: int) -> Cuts:
        return Cuts(
            bucket_start_ms(now_ms - self.fine_ms, HOUR_MS),
            bucket_start_ms(now_ms - self.hourly_ms, DAY_MS),
        )

    def bucket_of(self, ts_ms: int) -> int:
        """The fine bucket holding ``ts_ms``."""
        return bucket_start_ms(ts_ms, self.bucket_ms)

    def on_time_from(self, now_ms: int) -> int:
        """The earliest event time not late at ``now_ms``: an answer is late when the bucket
        that would hold it (its fine bucket, rolled to its tier) starts before
        ``now_ms - horizon_ms``. The tier a fine bucket rolls to only grows with its start, so
        one edge holds a whole batch."""
        expired = now_ms - self.horizon_ms
        cuts = self.cuts(now_ms)
        first = _first_start_at_or_after(expired, DAY_MS)
        if first < cuts.hourly:
            return first
        first = max(cuts.hourly, _first_start_at_or_after(expired, HOUR_MS))
        if first < cuts.fine:
            return first
        return max(cuts.fine, _first_start_at_or_after(expired, self.bucket_ms))

    def bucket_range(self, window: WindowSpec, now_ms: int) -> tuple[int, int]:
        """The half-open range of bucket starts that make up ``window`` at ``now_ms``."""
        return (
            _first_start_at_or_after(now_ms - window.length_ms, self.bucket_ms),
            _first_start_at_or_after(now_ms, self.bucket_ms),
        )
