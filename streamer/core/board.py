"""All scoring state of one worker: rolling windows by series, and their persistence.

The shell feeds it decoded answers with their source partition and offset (``ingest``), moves
it to wall-clock ``now`` on a timer (``advance``), persists what ``flush`` returns at each
commit, and reads ``series()`` at scrape time. After a restart or a rebalance the shell hands
back the persisted records (``restore``) and gets the same state. Each source partition's
series are kept apart (its *shard*, which its ``ledger.Journal`` persists), so a partition can
move to another worker alone; a series seen on several partitions is also kept merged.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from operator import add, attrgetter
from typing import NamedTuple

from streamer.core.events import SurveyResponse
from streamer.core.layout import LAYOUT_VERSION, WHAT_TO_DO, LayoutError, Write, partition_of_key
from streamer.core.ledger import Journal, Outcome
from streamer.core.scales import Metric, Scale, Scoring
from streamer.core.series import Breakdown, SeriesKey, SeriesLimiter, series_keys
from streamer.core.tally import Tallier, Tally
from streamer.core.timeline import DAY_MS, Timeline
from streamer.core.window import SeriesWindows

_SCORED = attrgetter("metric", "scale", "score")
"""An answer's key in ``Board._units``."""


class Sourced(NamedTuple):
    """A valid answer and where it came from."""

    partition: int
    offset: int
    response: SurveyResponse


Group = tuple[int, tuple[object, ...], int]
"""(source partition, series identity, bucket start): the answers of a batch counted together."""


class Ingested(NamedTuple):
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
        dedupe_horizon_ms: int = DAY_MS,
    ) -> None:
        self.timeline = timeline
        self.breakdowns = tuple(breakdowns)
        self.now_ms = now_ms
        self.dedupe_horizon_ms = dedupe_horizon_ms
        self._tallier = Tallier(scoring)
        self._policy = scoring.policy()
        """What the counts mean, recorded in and checked against each partition's header."""
        self._units: dict[tuple[Metric, Scale, int], tuple[int, ...]] = {}
        self.limiter = SeriesLimiter(max_series)
        self.journals: dict[int, Journal] = {}
        self._shards: dict[int, dict[SeriesKey, SeriesWindows]] = {}
        """Per source partition, the windows of its answers: what its journal persists."""
        self._windows: dict[SeriesKey, SeriesWindows] = {}
        """Per series, its shard's windows, or their merge for a series on several partitions."""
        self._partitions: dict[SeriesKey, set[int]] = {}
        names = [name for breakdown in self.breakdowns for name in breakdown]
        self._identity = attrgetter("metric", "touchpoint", *names)
        self._advanced = False
        self.touched: set[SeriesKey] = set()
        """Series that took answers since the caller last cleared this (rule evaluation)."""
        self._admitted: dict[tuple[object, ...], tuple[SeriesKey, ...]] = {}
        """Admissions already made, by the answer's series identity: the per-answer cost of
        building and admitting series keys, paid once per series while nothing is released."""

    def ingest(self, answers: Iterable[Sourced], now_ms: int) -> Ingested:
        outcomes: Counter[Outcome] = Counter()
        late: list[Sourced] = []
        accepted: list[Sourced] = []
        # The batch is summed per (partition, series identity, bucket) first: series, windows
        # and the log then see each group once, whatever the rate.
        groups: dict[Group, Sequence[int]] = {}
        first: dict[tuple[object, ...], SurveyResponse] = {}
        on_time_from = self.timeline.on_time_from(now_ms)
        bucket_ms = self.timeline.bucket_ms
        identity, units, scored = self._identity, self._units, _SCORED
        accept = accepted.append
        journal, current = None, None
        for item in answers:
            partition, offset, response = item
            if partition != current or journal is None:
                journal, current = self._journal(partition), partition
            occurred = response.occurred_at_ms
            if offset <= journal.checkpoint:
                outcomes[Outcome.REPLAYED] += 1
                if occurred >= on_time_from:
                    # Counted before: its id is remembered again, in case the log record that
                    # held it was lost (ledger.py) while a snapshot kept its counts.
                    journal.remember(response.event_id)
                continue
            journal.checkpoint = offset
            if occurred < on_time_from:
                outcomes[Outcome.LATE] += 1
                late.append(item)
                continue
            if not journal.remember(response.event_id):
                outcomes[Outcome.DUPLICATE] += 1
                continue
            accept(item)
            unit = units.get(scored(response))
            if unit is None:
                unit = self._unit(response)
            who = identity(response)
            key = (partition, who, occurred - occurred % bucket_ms)
            group = groups.get(key)
            if group is None:
                groups[key] = unit
                if who not in first:
                    first[who] = response
            else:
                groups[key] = list(map(add, group, unit))
        if accepted:
            outcomes[Outcome.ACCEPTED] += len(accepted)
        self._apply(groups, first)
        return Ingested(outcomes, accepted, late)

    def _unit(self, response: SurveyResponse) -> tuple[int, ...]:
        """An answer's tally counts, and a 1 after them (groups count their answers)."""
        metric, scale, score = response.metric, response.scale, response.score
        unit = self._units[metric, scale, score] = (
            *self._tallier.unit(metric, scale, score).counts(),
            1,
        )
        return unit

    def _apply(
        self, groups: dict[Group, Sequence[int]], first: dict[tuple[object, ...], SurveyResponse]
    ) -> None:
        """Add a batch's counts: each series and bucket once, summed over its answers."""
        admitted: dict[tuple[object, ...], tuple[tuple[SeriesKey, ...], int]] = {}
        # Summed per series, then per bucket: a series key (nested tuples, hashed again at each
        # lookup) is looked up once per group and once per series, not once per bucket.
        sums: dict[tuple[int, SeriesKey], dict[int, Sequence[int]]] = {}
        limiter = self.limiter
        for (partition, who, bucket), counted in groups.items():
            admission = admitted.get(who)
            if admission is None:
                overflowed = limiter.overflowed
                keys = self._admit(first[who])
                # The cap holds through a batch (slots free only in `advance`): an identity
                # folded once is folded for each of its answers, as the count says.
                admission = admitted[who] = (keys, limiter.overflowed - overflowed)
                limiter.overflowed = overflowed
            keys, fold = admission
            if fold:
                limiter.overflowed += fold * counted[-1]
            counts = counted[:-1]  # a new sequence, never changed in place below
            for key in keys:
                buckets = sums.get((partition, key))
                if buckets is None:
                    sums[partition, key] = {bucket: counts}
                else:
                    total = buckets.get(bucket)
                    buckets[bucket] = counts if total is None else list(map(add, total, counts))
        views, touched = self._windows, self.touched
        for (partition, key), buckets in sums.items():
            windows = self._shards[partition].get(key)
            if windows is not None and views.get(key) is windows:  # one partition's, known
                touched.add(key)
                for bucket, counts in buckets.items():
                    windows.add_counts(bucket, counts)
            else:
                for bucket, counts in buckets.items():
                    self._add(partition, key, bucket, counts)
            count = self.journals[partition].count
            for bucket, counts in buckets.items():
                count(key, bucket, counts)

    def advance(self, now_ms: int) -> None:
        """Move every window to ``now_ms``, roll buckets up, drop expired ones."""
        bucket_ms = self.timeline.bucket_ms
        # A window at `now` holds the buckets starting in [now - W, now): its edges move just
        # after each bucket boundary, so times in (start, start + bucket] see the same windows;
        # roll-ups and expiry move at bucket boundaries too.
        same_epoch = -(-now_ms // bucket_ms) == -(-self.now_ms // bucket_ms)
        if same_epoch and now_ms >= self.now_ms and self._advanced:
            self.now_ms = now_ms
            return
        self._advanced = True
        self.now_ms = now_ms
        for partition, shard in self._shards.items():
            for series, windows in list(shard.items()):
                windows.advance(now_ms)
                if not windows:
                    del shard[series]
                    self.journals[partition].forget(series)
                    self._partitions[series].discard(partition)
        for series, windows in list(self._windows.items()):
            partitions = self._partitions[series]
            if len(partitions) > 1 or windows is not self._shard_windows(series):
                windows.advance(now_ms)  # a merge: not one of the shards advanced above
            if not partitions:
                del self._windows[series], self._partitions[series]
                self.limiter.release(series)
                self._admitted.clear()

    def flush(self, now_ms: int) -> list[Write]:
        """What to persist at a commit: per partition, its log record and any snapshot or
        deletions due (``ledger.Journal.flush``)."""
        writes: list[Write] = []
        for partition, journal in self.journals.items():
            writes += journal.flush(now_ms, self._shards[partition])
        return writes

    def acknowledged(self) -> None:
        """Everything flushed so far is in Kafka (``ledger.Journal.acknowledged``)."""
        for journal in self.journals.values():
            journal.acknowledged()

    def restore(
        self, persisted: Iterable[tuple[bytes, bytes]], partitions: Iterable[int], now_ms: int
    ) -> None:
        """Replace all state with what was persisted for ``partitions`` (after recovery or a
        rebalance). Raises LayoutError on state written in a layout it must not read, or
        counted with another scoring policy (``Scoring.policy``)."""
        self.journals.clear()
        self._shards.clear()
        self._windows.clear()
        self._partitions.clear()
        self.limiter = SeriesLimiter(self.limiter.max_series)
        self._admitted.clear()
        self._advanced = False
        self.now_ms = now_ms
        wanted = set(partitions)
        by_partition: dict[int, dict[bytes, bytes]] = {p: {} for p in wanted}
        for key, value in persisted:
            partition = partition_of_key(key)
            if partition is None:
                raise LayoutError(
                    f"a persisted key {key[:60]!r} is not of layout version {LAYOUT_VERSION}. "
                    + WHAT_TO_DO
                )
            if partition in wanted and value:
                by_partition[partition][key] = value
        timeline = self.timeline
        on_time = timeline.on_time_from(now_ms)
        for partition, records in by_partition.items():
            journal, shard = self._journal(partition), self._shards[partition]
            for series, starts, counts in journal.restore(records, now_ms):
                # Buckets that expired while the worker was down (starts come in order).
                first = bisect_left(starts, on_time)
                if first:
                    counts = counts[first * len(counts) // len(starts) :]
                    starts = starts[first:]
                if not starts:
                    continue
                windows = shard.get(series)
                if windows is None:
                    self.limiter.admit(series)
                    windows = shard[series] = SeriesWindows(series.metric, timeline, now_ms)
                    self._partitions.setdefault(series, set()).add(partition)
                windows.extend(starts, counts)
            for series in [key for key in journal.ids if key not in shard]:
                # Every bucket expired while the worker was down: as if forgotten in
                # ``advance``, its next answers define it again.
                journal.forget(series)
        for series, partitions in self._partitions.items():
            if len(partitions) == 1:
                [partition] = partitions
                self._windows[series] = self._shards[partition][series]
            else:  # a series on two partitions (a producer not keying by touchpoint): the merge
                view = self._windows[series] = SeriesWindows(series.metric, timeline, now_ms)
                for p in sorted(partitions):
                    view.extend(*self._shards[p][series].arrays())
        self.touched.clear()
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
        """The source partition of a live series (the lowest, for one spanning several)."""
        partitions = self._partitions.get(series)
        return min(partitions) if partitions else None

    def _journal(self, partition: int) -> Journal:
        journal = self.journals.get(partition)
        if journal is None:
            journal = self.journals[partition] = Journal(
                partition, self.timeline, self.dedupe_horizon_ms, self._policy
            )
            self._shards[partition] = {}
        return journal

    def _admit(self, response: SurveyResponse) -> tuple[SeriesKey, ...]:
        identity = self._identity(response)
        known = self._admitted.get(identity)
        if known is not None:
            return known
        keys = series_keys(response, self.breakdowns)
        base = self.limiter.admit(keys[0])
        admitted = [base]
        folded = base != keys[0]
        for key in keys[1:]:
            # A touchpoint folded into __other__ takes its breakdowns along.
            admitted.append(self.limiter.admit(key._replace(touchpoint=base.touchpoint)))
            folded = folded or admitted[-1] != key
        admission = tuple(admitted)
        if not folded:  # a folded answer may be admitted once a slot frees: ask again then
            self._admitted[identity] = admission
        return admission

    def _shard_windows(self, series: SeriesKey) -> SeriesWindows | None:
        partitions = self._partitions.get(series)
        if not partitions or len(partitions) > 1:
            return None
        return self._shards[next(iter(partitions))].get(series)

    def _add(
        self, partition: int, series: SeriesKey, bucket_start: int, counts: Sequence[int]
    ) -> None:
        """``_apply`` for a series new to the partition, or kept merged over several."""
        shard = self._shards[partition]
        windows = shard.get(series)
        view = self._windows.get(series)
        self.touched.add(series)
        if windows is None:
            windows = shard[series] = SeriesWindows(series.metric, self.timeline, self.now_ms)
        windows.add_counts(bucket_start, counts)
        partitions = self._partitions.setdefault(series, set())
        if view is None:
            self._windows[series] = windows
        elif view is not windows:
            if len(partitions) == 1 and partition not in partitions:
                # A second partition (a producer not keying by touchpoint): keep the merge.
                view = self._windows[series] = SeriesWindows(
                    series.metric, self.timeline, self.now_ms
                )
                for other in (*partitions, partition):
                    for start, kept in self._shards[other][series].entries():
                        view.add_counts(start, kept)
            else:
                view.add_counts(bucket_start, counts)
        partitions.add(partition)
