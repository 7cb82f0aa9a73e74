"""One series' buckets and window sums, kept incrementally (the tiers and windows are
defined in ``streamer.core.timeline``)."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import compress
from operator import add, lt

from streamer.core.scales import Metric
from streamer.core.tally import TALLY_TYPES, Tally
from streamer.core.timeline import DAY_MS, HOUR_MS, Timeline

NARROW, WIDE = "I", "q"
"""Bucket counts are unsigned 32-bit (half the memory: most of a series' state is its counts),
widened to 64-bit for a series whose count passes 2^32 - 1."""


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
        ranges = self._ranges
        for low, high in ranges:
            if not low <= start < high:
                break
        else:  # in every window (a live answer, the common case): one add in C for them all
            self._sums = list(map(add, self._sums, tuple(counts) * len(ranges)))
            self._totals = None
            return
        sums, width = self._sums, self._width
        base = 0
        for low, high in ranges:
            if low <= start < high:
                for j in range(width):
                    sums[base + j] += counts[j]
            base += width
        self._totals = None

    def extend(self, starts: Sequence[int], counts: Sequence[int]) -> None:
        """Many buckets at once (their starts, and their counts one bucket after another), as
        ``add_counts`` one by one would leave them (the caller has checked none is late), with
        each window's sum computed once at the end: a restart restores millions of buckets, and
        adding each to every window it falls in was two thirds of a restart's time
        (bench/README.md)."""
        ordered = all(map(lt, starts, starts[1:]))
        if ordered and not (starts and self._starts and starts[0] <= self._starts[-1]):
            self._append(starts, counts)
        else:
            width, rolled = self._width, self._cuts.rolled
            for i, start in enumerate(starts):
                self._put(rolled(start), counts[i * width : (i + 1) * width])
        self._sums = [c for low, high in self._ranges for c in self._merge(low, high)]
        self._totals = None

    def _append(self, starts: Sequence[int], counts: Sequence[int]) -> None:
        """Buckets in start order, all after the last one here (a snapshot's buckets of one
        series, then the log's since): taken whole, as arrays. Only the buckets that crossed a
        cut since they were written (the minutes of the hours since, the hours of a day since)
        are merged into their hour or day, a strided sum per hour or day."""
        self._starts.fromlist(list(starts))
        counts = list(counts)  # fromlist: all or nothing, and from another width's array too
        try:
            self._counts.fromlist(counts)
        except OverflowError:  # a count past 32 bits
            self._counts = array(WIDE, self._counts)
            self._counts.fromlist(counts)
        cuts, starts = self._cuts, self._starts
        hourly, fine = bisect_left(starts, cuts.hourly), bisect_left(starts, cuts.fine)
        self._merge_into(HOUR_MS, hourly, fine)
        self._merge_into(DAY_MS, 0, hourly)

    def _merge_into(self, unit: int, first: int, last: int) -> None:
        """Merge the buckets among ``[first, last)`` not yet whole ``unit``s into them (their
        neighbours before are: older tiers are whole ``unit``s already)."""
        starts, width = self._starts, self._width
        strays = compress(range(first, last), map(unit.__rmod__, starts[first:last]))
        stray = next(strays, None)
        if stray is None:
            return
        start = starts[stray] - starts[stray] % unit
        first = bisect_left(starts, start, first, stray)  # a whole unit's start, merged too
        merged: list[int] = []
        counts: list[int] = []
        i = first
        while i < last:
            start = starts[i] - starts[i] % unit
            j = bisect_left(starts, start + unit, i, last)
            merged.append(start)
            counts += [sum(self._counts[i * width + c : j * width : width]) for c in range(width)]
            i = j
        self._starts[first:last] = array("q", merged)
        stored = self._counts
        try:
            stored[first * width : last * width] = array(stored.typecode, counts)
        except OverflowError:  # a merge past 32 bits
            self._counts = stored = array(WIDE, stored)
            stored[first * width : last * width] = array(WIDE, counts)

    def arrays(self) -> tuple[Sequence[int], Sequence[int]]:
        """The buckets' starts, and their counts one bucket after another (for ``extend``)."""
        return self._starts, self._counts

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

    def first_start(self) -> int | None:
        """The start of the oldest bucket kept: how far back this series' history goes."""
        return self._starts[0] if self._starts else None

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
        last = len(starts) - 1
        # Live answers land in the newest bucket or one after it: no search then.
        if last >= 0 and starts[last] == start:
            index = last
        elif last < 0 or starts[last] < start:
            index = last + 1
        else:
            index = bisect_left(starts, start)
        base = index * width
        if index <= last and starts[index] == start:
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
            if index > last:  # fromlist appends all or nothing, and builds no array
                stored.fromlist(list(counts))
            else:
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
        if low >= high:
            return [0] * width
        starts, counts = self._starts, self._counts
        first, last = bisect_left(starts, low), bisect_left(starts, high)
        # One strided slice per count: summed in C, not bucket by bucket.
        return [sum(counts[first * width + j : last * width : width]) for j in range(width)]

    def _expire(self, now_ms: int) -> list[int]:
        cut = bisect_left(self._starts, now_ms - self.timeline.horizon_ms)
        expired = list(self._starts[:cut])
        if expired:
            del self._starts[:cut]
            del self._counts[: cut * self._width]
        return expired
