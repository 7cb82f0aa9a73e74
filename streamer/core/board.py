"""All scoring state of one worker: bucket records by key, rolling windows by series.

The shell feeds it decoded answers with their source partition and offset (``ingest``), moves
it to wall-clock ``now`` on a timer (``advance``), persists the records it reports as changed,
deletes the ones it reports as expired, and reads ``series()`` at scrape time. After a restart
or a rebalance the shell hands back the persisted records (``restore``) and gets the same state.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import NamedTuple

from streamer.core.events import SurveyResponse
from streamer.core.ledger import BucketKey, BucketRecord, Dimensions, Entry, Outcome, apply
from streamer.core.scales import Scoring
from streamer.core.series import Breakdown, SeriesKey, SeriesLimiter, series_keys
from streamer.core.tally import Tallier, Tally
from streamer.core.window import SeriesWindows, Timeline


class Sourced(NamedTuple):
    """A valid answer and where it came from."""

    partition: int
    offset: int
    response: SurveyResponse


class Ingested(NamedTuple):
    changed: list[BucketRecord]
    """Records to persist (each once per batch, however many answers it took)."""
    outcomes: Counter[Outcome]
    accepted: list[Sourced]
    """Answers counted for the first time (not duplicates, replays or late ones)."""
    late: list[Sourced]
    """Answers whose bucket has expired (for the dead-letter topic)."""


class Board:
    def __init__(
        self,
        scoring: Scoring,
        timeline: Timeline,
        breakdowns: Sequence[Breakdown] = (),
        max_series: int = 10_000,
        now_ms: int = 0,
    ) -> None:
        self.timeline = timeline
        self.breakdowns = tuple(breakdowns)
        self.now_ms = now_ms
        self._tallier = Tallier(scoring)
        self.limiter = SeriesLimiter(max_series)
        self.records: dict[BucketKey, BucketRecord] = {}
        self._windows: dict[SeriesKey, SeriesWindows] = {}
        self._partitions: dict[SeriesKey, int] = {}
        self._bucket_starts: list[int] = []  # sorted, for expiry without a scan
        self._keys_by_bucket: dict[int, set[BucketKey]] = {}
        names = [name for breakdown in self.breakdowns for name in breakdown]
        self._identity = attrgetter("metric", "touchpoint", *names)
        self._advanced = False
        self.touched: set[SeriesKey] = set()
        """Series that took answers since the caller last cleared this (rule evaluation)."""
        self._admitted: dict[tuple[object, ...], tuple[str, tuple[Dimensions, ...]]] = {}
        """Admissions already made, by the answer's series identity: the per-answer cost of
        building and admitting series keys, paid once per series while nothing is released."""

    def ingest(self, answers: Iterable[Sourced], now_ms: int) -> Ingested:
        outcomes: Counter[Outcome] = Counter()
        grouped: dict[BucketKey, list[Entry]] = {}
        by_position: dict[tuple[int, int], Sourced] = {}
        late: list[Sourced] = []
        timeline = self.timeline
        for item in answers:
            partition, offset, response = item
            bucket = timeline.bucket_of(response.occurred_at_ms)
            if timeline.is_expired(bucket, now_ms):
                outcomes[Outcome.LATE] += 1
                late.append(item)
                continue
            touchpoint, series = self._admit(response)
            key = BucketKey(partition, response.metric, touchpoint, bucket)
            entry = Entry(offset, response.event_id, response.scale, response.score, series)
            grouped.setdefault(key, []).append(entry)
            by_position[(partition, offset)] = item
        changed = []
        accepted: list[Sourced] = []
        for key, entries in grouped.items():
            before = self.records.get(key)
            applied = apply(before or BucketRecord(key), entries, self._tallier)
            outcomes.update(applied.outcomes)
            accepted.extend(by_position[(key.partition, offset)] for offset in applied.accepted)
            if before is not None and applied.record.applied_offset == before.applied_offset:
                continue  # every entry was a replay: nothing new to keep
            self._keep(applied.record)
            changed.append(applied.record)
            for dims, delta in applied.delta.items():
                self._add(key, dims, delta)
        return Ingested(changed, outcomes, accepted, late)

    def advance(self, now_ms: int) -> list[BucketKey]:
        """Move every window to ``now_ms``; returns the keys of records that expired."""
        bucket_ms = self.timeline.bucket_ms
        # A window at `now` holds the buckets starting in [now - W, now): its edges move just
        # after each bucket boundary, so times in (start, start + bucket] see the same windows.
        same_epoch = -(-now_ms // bucket_ms) == -(-self.now_ms // bucket_ms)
        if same_epoch and now_ms >= self.now_ms and self._advanced:
            self.now_ms = now_ms
            return []
        self._advanced = True
        self.now_ms = now_ms
        for series, windows in list(self._windows.items()):
            windows.advance(now_ms)
            if not windows:
                del self._windows[series]
                self._partitions.pop(series, None)
                self.limiter.release(series)
                self._admitted.clear()
        cut = bisect_left(self._bucket_starts, now_ms - self.timeline.horizon_ms)
        expired: list[BucketKey] = []
        for start in self._bucket_starts[:cut]:
            for key in self._keys_by_bucket.pop(start):
                del self.records[key]
                expired.append(key)
        del self._bucket_starts[:cut]
        return expired

    def restore(self, records: Iterable[BucketRecord], now_ms: int) -> None:
        """Replace all state with persisted records (after recovery or a rebalance)."""
        self.records.clear()
        self._windows.clear()
        self._partitions.clear()
        self._bucket_starts.clear()
        self._keys_by_bucket.clear()
        self.limiter = SeriesLimiter(self.limiter.max_series)
        self._admitted.clear()
        self._advanced = False
        self.now_ms = now_ms
        for record in records:
            if self.timeline.is_expired(record.key.bucket_start, now_ms):
                continue
            self._keep(record)
            for dims, tally in record.tallies.items():
                self.limiter.admit(SeriesKey(record.key.metric, record.key.touchpoint, dims))
                self._add(record.key, dims, tally)
        self.advance(now_ms)

    def series(self) -> Iterator[tuple[SeriesKey, tuple[Tally, ...]]]:
        """Every live series with one tally per window, in the timeline's order."""
        for key, windows in self._windows.items():
            yield key, windows.totals()

    def histories(self) -> Iterator[tuple[SeriesKey, SeriesWindows]]:
        """Every live series with its buckets and window sums (what the alert rules read)."""
        yield from self._windows.items()

    def history(self, series: SeriesKey) -> SeriesWindows | None:
        return self._windows.get(series)

    def partition_of(self, series: SeriesKey) -> int | None:
        """The source partition of a live series (the lowest, for a folded one spanning several)."""
        return self._partitions.get(series)

    def _admit(self, response: SurveyResponse) -> tuple[str, tuple[Dimensions, ...]]:
        identity = self._identity(response)
        known = self._admitted.get(identity)
        if known is not None:
            return known
        keys = series_keys(response, self.breakdowns)
        base = self.limiter.admit(keys[0])
        dims: list[Dimensions] = [()]
        folded = base != keys[0]
        for key in keys[1:]:
            # A touchpoint folded into __other__ takes its breakdowns along.
            admitted = self.limiter.admit(key._replace(touchpoint=base.touchpoint))
            folded = folded or admitted != key
            dims.append(admitted.dimensions)
        admission = base.touchpoint, tuple(dims)
        if not folded:  # a folded answer may be admitted once a slot frees: ask again then
            self._admitted[identity] = admission
        return admission

    def _keep(self, record: BucketRecord) -> None:
        key = record.key
        if key not in self.records:
            keys = self._keys_by_bucket.get(key.bucket_start)
            if keys is None:
                keys = self._keys_by_bucket[key.bucket_start] = set()
                insort(self._bucket_starts, key.bucket_start)
            keys.add(key)
        self.records[key] = record

    def _add(self, key: BucketKey, dims: Dimensions, tally: Tally) -> None:
        series = SeriesKey(key.metric, key.touchpoint, dims)
        windows = self._windows.get(series)
        if windows is None:
            windows = self._windows[series] = SeriesWindows(key.metric, self.timeline, self.now_ms)
            self._partitions[series] = key.partition
        elif key.partition < self._partitions[series]:
            self._partitions[series] = key.partition
        windows.add(key.bucket_start, tally)
        self.touched.add(series)
