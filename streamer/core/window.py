"""Event-time buckets and rolling windows over them, in integer milliseconds.

Resolution: an answer counts in the bucket ``[start, start + bucket_ms)`` holding its event time.
A window of length W at time ``now`` is the merge of the buckets whose start lies in
``[now - W, now)``, so it covers between ``W - bucket_ms`` and ``W`` of event time: the oldest
bucket leaves whole as soon as its start falls out, and the current bucket counts from its start.
A bucket whose start is before ``now - longest window - grace`` is expired: it is deleted, and
an answer that would land in it is late.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass

from streamer.core.durations import format_duration_ms, parse_duration_ms
from streamer.core.scales import Metric
from streamer.core.tally import Tally, empty


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
class Timeline:
    """The bucket size, the windows and the grace period of one deployment."""

    bucket_ms: int
    windows: tuple[WindowSpec, ...]
    grace_ms: int = 600_000

    def __post_init__(self) -> None:
        if self.bucket_ms <= 0 or self.grace_ms < 0:
            raise ValueError("the bucket size must be positive and the grace period not negative")
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

    @property
    def horizon_ms(self) -> int:
        """How long a bucket is kept: the longest window plus the grace period."""
        return max(w.length_ms for w in self.windows) + self.grace_ms

    def bucket_of(self, ts_ms: int) -> int:
        return bucket_start_ms(ts_ms, self.bucket_ms)

    def is_expired(self, bucket_start: int, now_ms: int) -> bool:
        return bucket_start < now_ms - self.horizon_ms

    def bucket_range(self, window: WindowSpec, now_ms: int) -> tuple[int, int]:
        """The half-open range of bucket starts that make up ``window`` at ``now_ms``."""
        return (
            _first_start_at_or_after(now_ms - window.length_ms, self.bucket_ms),
            _first_start_at_or_after(now_ms, self.bucket_ms),
        )


class SeriesWindows:
    """The buckets of one series and one running sum per window, kept incrementally.

    ``add`` merges a bucket tally (adding it to every window that covers the bucket);
    ``advance`` moves every window to a later ``now`` by subtracting the buckets that left and
    adding those that entered, then drops expired buckets. Equal to re-merging every bucket at
    each step (tested against that brute force), without its cost.
    """

    __slots__ = ("_buckets", "_now_ms", "_ranges", "_starts", "_sums", "metric", "timeline")

    def __init__(self, metric: Metric, timeline: Timeline, now_ms: int) -> None:
        self.metric = metric
        self.timeline = timeline
        self._buckets: dict[int, Tally] = {}
        self._starts: list[int] = []
        self._now_ms = now_ms
        self._ranges = [timeline.bucket_range(w, now_ms) for w in timeline.windows]
        self._sums: list[Tally] = [empty(metric) for _ in timeline.windows]

    def __bool__(self) -> bool:
        return bool(self._buckets)

    def buckets(self) -> dict[int, Tally]:
        return dict(self._buckets)

    def add(self, bucket_start: int, tally: Tally) -> None:
        """Merge ``tally`` into the bucket. The caller has checked it is not expired."""
        previous = self._buckets.get(bucket_start)
        if previous is None:
            insort(self._starts, bucket_start)
            self._buckets[bucket_start] = tally
        else:
            self._buckets[bucket_start] = previous + tally  # type: ignore[operator]
        for i, (low, high) in enumerate(self._ranges):
            if low <= bucket_start < high:
                self._sums[i] = self._sums[i] + tally  # type: ignore[operator]

    def advance(self, now_ms: int) -> list[int]:
        """Move the windows to ``now_ms``; returns the starts of the buckets that expired."""
        if now_ms < self._now_ms:
            # A clock that steps back: rebuild rather than run the sums backwards.
            self._now_ms = now_ms
            self._ranges = [self.timeline.bucket_range(w, now_ms) for w in self.timeline.windows]
            self._sums = [self._merge(low, high) for low, high in self._ranges]
        else:
            self._now_ms = now_ms
            for i, window in enumerate(self.timeline.windows):
                old_low, old_high = self._ranges[i]
                low, high = self.timeline.bucket_range(window, now_ms)
                if (low, high) == (old_low, old_high):
                    continue
                left = self._merge(old_low, min(low, old_high))
                entered = self._merge(max(old_high, low), high)
                self._sums[i] = self._sums[i] - left + entered  # type: ignore[operator]
                self._ranges[i] = (low, high)
        return self._expire(now_ms)

    def totals(self) -> tuple[Tally, ...]:
        """One tally per window, in the timeline's order."""
        return tuple(self._sums)

    def between(self, low_ms: int, high_ms: int) -> list[tuple[int, Tally]]:
        """The buckets starting in ``[low_ms, high_ms)``, oldest first."""
        starts = self._starts
        buckets = self._buckets
        return [
            (start, buckets[start])
            for start in starts[bisect_left(starts, low_ms) : bisect_left(starts, high_ms)]
        ]

    def total_between(self, low_ms: int, high_ms: int) -> Tally:
        """The merge of the buckets starting in ``[low_ms, high_ms)``."""
        return self._merge(low_ms, high_ms)

    def _merge(self, low: int, high: int) -> Tally:
        result = empty(self.metric)
        if low >= high:
            return result
        starts = self._starts
        for index in range(bisect_left(starts, low), bisect_left(starts, high)):
            result = result + self._buckets[starts[index]]  # type: ignore[operator]
        return result

    def _expire(self, now_ms: int) -> list[int]:
        cut = bisect_left(self._starts, now_ms - self.timeline.horizon_ms)
        expired = self._starts[:cut]
        if expired:
            del self._starts[:cut]
            for start in expired:
                del self._buckets[start]
        return expired
