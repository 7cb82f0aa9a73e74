"""Event-time buckets at tiered resolution, and rolling windows over them, in integer ms.

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

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamer.core.durations import format_duration_ms, parse_duration_ms
from streamer.core.scales import Metric
from streamer.core.tally import TALLY_TYPES, Tally

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
NARROW, WIDE = "I", "q"
"""Bucket counts are unsigned 32-bit (half the memory: most of a series' state is its counts),
widened to 64-bit for a series whose count passes 2^32 - 1."""


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
        if self.bucket_ms <= 0 or self.grace_ms < 0:
            raise ValueError("the bucket size must be positive and the grace period not negative")
        if HOUR_MS % self.bucket_ms:
            raise ValueError(
                f"the bucket size {format_duration_ms(self.bucket_ms)} does not divide an hour "
                "(older buckets are rolled up into hours)"
            )
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

    def is_expired(self, bucket_start: int, now_ms: int) -> bool:
        return bucket_start < now_ms - self.horizon_ms

    def is_late(self, ts_ms: int, now_ms: int) -> bool:
        """Whether the bucket that would hold ``ts_ms`` at ``now_ms`` has expired."""
        return self.is_expired(self.cuts(now_ms).rolled(self.bucket_of(ts_ms)), now_ms)

    def on_time_from(self, now_ms: int) -> int:
        """The earliest event time not late at ``now_ms`` (``is_late`` is ``ts <`` it): the
        tier a fine bucket rolls to only grows with its start, so one edge holds a batch."""
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


class SeriesWindows:
    """The buckets of one series and one running sum per window, kept incrementally.

    Buckets are two flat arrays in start order (starts, and the tally counts of each bucket one
    after another): 8 bytes per start and 4 per count, where a dict of tally objects took ~130
    bytes per bucket. ``add`` merges a tally into the bucket holding a fine bucket's start
    (adding it to every window that covers that bucket); ``advance`` rolls buckets that crossed
    a cut into their hour or day, moves every window to a later ``now`` by subtracting the
    buckets that left and adding those that entered, then drops expired buckets. Equal to
    re-merging every answer at its tier at each step (tested against that brute force), without
    its cost.
    """

    __slots__ = (
        "_counts",
        "_cuts",
        "_now_ms",
        "_ranges",
        "_starts",
        "_sums",
        "_totals",
        "_type",
        "_width",
        "metric",
        "timeline",
    )

    def __init__(self, metric: Metric, timeline: Timeline, now_ms: int) -> None:
        self.metric = metric
        self.timeline = timeline
        self._type = TALLY_TYPES[metric]
        self._width = len(self._type().counts())
        self._starts = array("q")
        self._counts = array(NARROW)
        self._now_ms = now_ms
        self._cuts = timeline.cuts(now_ms)
        self._ranges = [timeline.bucket_range(w, now_ms) for w in timeline.windows]
        self._sums = [0] * (self._width * len(timeline.windows))
        """Each window's counts, one window after another (tallies are built when read)."""
        self._totals: tuple[Tally, ...] | None = None

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __len__(self) -> int:
        return len(self._starts)

    def buckets(self) -> dict[int, Tally]:
        return {start: self._tally(i) for i, start in enumerate(self._starts)}

    def add(self, bucket_start: int, tally: Tally) -> None:
        """Merge ``tally`` into the bucket that holds the fine bucket ``bucket_start`` now (any
        bucket start rolls to its own tier). The caller has checked it is not late."""
        self.add_counts(bucket_start, tally.counts())

    def add_counts(self, bucket_start: int, counts: Sequence[int]) -> None:
        """``add`` for a tally's counts (``Tally.counts()``), with no tally built."""
        cuts = self._cuts
        start = bucket_start if bucket_start >= cuts.fine else cuts.rolled(bucket_start)
        self._put(start, counts)
        sums, width = self._sums, self._width
        base = 0
        for low, high in self._ranges:
            if low <= start < high:
                for j in range(width):
                    sums[base + j] += counts[j]
            base += width
        self._totals = None

    def advance(self, now_ms: int) -> list[int]:
        """Move the windows to ``now_ms``; returns the starts of the buckets that expired."""
        timeline = self.timeline
        if now_ms < self._now_ms:
            # A clock that steps back: rebuild rather than run the sums backwards. Rolled-up
            # buckets stay rolled up (the cuts never move back).
            self._now_ms = now_ms
            self._ranges = [timeline.bucket_range(w, now_ms) for w in timeline.windows]
            self._sums = [c for low, high in self._ranges for c in self._merge(low, high)]
            self._totals = None
            return self._expire(now_ms)
        self._now_ms = now_ms
        cuts = timeline.cuts(now_ms)
        if cuts != self._cuts:
            old, self._cuts = self._cuts, cuts
            if cuts.fine > old.fine:
                self._roll(old.fine, cuts.fine)
            if cuts.hourly > old.hourly:
                self._roll(old.hourly, cuts.hourly)
        starts = self._starts
        for i, window in enumerate(timeline.windows):
            old_low, old_high = self._ranges[i]
            low, high = timeline.bucket_range(window, now_ms)
            if (low, high) == (old_low, old_high):
                continue
            self._ranges[i] = (low, high)
            # Most moves cross no bucket of a sparse series: no tally arithmetic then.
            left_high, entered_low = min(low, old_high), max(old_high, low)
            if bisect_left(starts, old_low) != bisect_left(starts, left_high):
                self._shift(i, self._merge(old_low, left_high), -1)
            if bisect_left(starts, entered_low) != bisect_left(starts, high):
                self._shift(i, self._merge(entered_low, high), 1)
        return self._expire(now_ms)

    def totals(self) -> tuple[Tally, ...]:
        """One tally per window, in the timeline's order."""
        if self._totals is None:
            width, sums = self._width, self._sums
            self._totals = tuple(
                self._type(*sums[i : i + width]) for i in range(0, len(sums), width)
            )
        return self._totals

    def between(self, low_ms: int, high_ms: int) -> list[tuple[int, Tally]]:
        """The buckets (at their tier's resolution) starting in ``[low_ms, high_ms)``, oldest
        first."""
        starts = self._starts
        first, last = bisect_left(starts, low_ms), bisect_left(starts, high_ms)
        return [(starts[i], self._tally(i)) for i in range(first, last)]

    def total_between(self, low_ms: int, high_ms: int) -> Tally:
        """The merge of the buckets starting in ``[low_ms, high_ms)``: exactly the answers of
        that range when both edges fall on bucket starts of the tier there (whole hours in the
        hourly tier, whole UTC days in the daily one)."""
        return self._type(*self._merge(low_ms, high_ms))

    def entries(self) -> Iterable[tuple[int, Sequence[int]]]:
        """Every bucket as (start, counts), oldest first (for persisting)."""
        width, counts = self._width, self._counts
        for i, start in enumerate(self._starts):
            yield start, counts[i * width : (i + 1) * width]

    def _tally(self, index: int) -> Tally:
        width = self._width
        return self._type(*self._counts[index * width : (index + 1) * width])

    def _put(self, start: int, counts: Sequence[int]) -> None:
        starts, width, stored = self._starts, self._width, self._counts
        index = bisect_left(starts, start)
        base = index * width
        if index < len(starts) and starts[index] == start:
            j = 0
            try:
                for j in range(width):
                    stored[base + j] += counts[j]
            except OverflowError:  # a count past 32 bits: the series' take 64 from now on
                self._counts = stored = array(WIDE, stored)
                for k in range(j, width):  # an add that overflows leaves its count as it was
                    stored[base + k] += counts[k]
            return
        try:
            stored[base:base] = array(stored.typecode, counts)
        except OverflowError:
            self._counts = stored = array(WIDE, stored)
            stored[base:base] = array(WIDE, counts)
        starts.insert(index, start)

    def _roll(self, low: int, high: int) -> None:
        """Regroup the buckets starting in ``[low, high)`` at the current cuts, and move the
        window sums with them (a bucket whose start moves below a window's edge leaves it)."""
        starts, width, cuts = self._starts, self._width, self._cuts
        first, last = bisect_left(starts, low), bisect_left(starts, high)
        if first == last:
            return
        moved = [(starts[i], self._counts[i * width : (i + 1) * width]) for i in range(first, last)]
        del starts[first:last]
        del self._counts[first * width : last * width]
        for start, counts in moved:
            rolled = cuts.rolled(start)
            if rolled != start:
                for i, (low, high) in enumerate(self._ranges):
                    was, now = low <= start < high, low <= rolled < high
                    if was != now:
                        self._shift(i, counts, 1 if now else -1)
            self._put(rolled, counts)

    def _shift(self, window: int, counts: Sequence[int], sign: int) -> None:
        """Add (``sign`` 1) or remove (-1) counts from a window's sum."""
        sums, width = self._sums, self._width
        for j in range(width):
            sums[window * width + j] += sign * counts[j]
        if min(sums[window * width : (window + 1) * width]) < 0:
            raise ValueError(f"a window's counts cannot go negative: {sums}")
        self._totals = None

    def _merge(self, low: int, high: int) -> list[int]:
        width = self._width
        sums = [0] * width
        if low >= high:
            return sums
        starts, counts = self._starts, self._counts
        first, last = bisect_left(starts, low), bisect_left(starts, high)
        for base in range(first * width, last * width, width):
            for j in range(width):
                sums[j] += counts[base + j]
        return sums

    def _expire(self, now_ms: int) -> list[int]:
        cut = bisect_left(self._starts, now_ms - self.timeline.horizon_ms)
        expired = list(self._starts[:cut])
        if expired:
            del self._starts[:cut]
            del self._counts[: cut * self._width]
        return expired
