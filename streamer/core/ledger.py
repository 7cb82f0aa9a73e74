"""Bucket records: the unit of persisted state, and how a batch of answers is applied to them.

One record per (source partition, metric, touchpoint, bucket). It holds the tallies of the
touchpoint's series and of its breakdown series for that bucket, the event ids already counted
there, and the highest source offset already applied. Applying a batch is therefore idempotent:

- an answer at or below ``applied_offset`` was counted before a crash and is skipped (replayed);
- an answer whose ``event_id`` is in ``seen`` is a duplicate (a producer's retry lands in the same
  bucket, since it repeats ``occurred_at``), so the dedupe horizon is the bucket's lifetime:
  the longest window plus the grace period.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from streamer.core.scales import Metric, Scale
from streamer.core.tally import Tallier, Tally, from_counts

RECORD_VERSION = 1

Dimensions = tuple[tuple[str, str], ...]


class Outcome(enum.StrEnum):
    """What became of an event (the ``outcome`` label of streamer_events_total)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    LATE = "late"
    REPLAYED = "replayed"


class BucketKey(NamedTuple):
    partition: int
    metric: Metric
    touchpoint: str
    bucket_start: int

    def encode(self) -> str:
        """A stable text key for the table (touchpoint last: it may contain the separator)."""
        return f"{self.partition}|{self.metric.value}|{self.bucket_start}|{self.touchpoint}"

    @classmethod
    def decode(cls, text: str) -> BucketKey:
        partition, metric, bucket_start, touchpoint = text.split("|", 3)
        return cls(int(partition), Metric(metric), touchpoint, int(bucket_start))


class Entry(NamedTuple):
    """One answer bound for a record: its source offset, id, score, and series dimensions."""

    offset: int
    event_id: str
    scale: Scale
    score: int
    series: tuple[Dimensions, ...]


@dataclass(frozen=True, slots=True)
class BucketRecord:
    key: BucketKey
    tallies: Mapping[Dimensions, Tally] = field(default_factory=dict)
    seen: frozenset[str] = frozenset()
    applied_offset: int = -1


class Applied(NamedTuple):
    record: BucketRecord
    delta: dict[Dimensions, Tally]
    """What the batch added to each series of the record (for the rolling windows)."""
    outcomes: Counter[Outcome]
    accepted: list[int]
    """Source offsets of the entries counted for the first time."""


def apply(record: BucketRecord, entries: Iterable[Entry], tallier: Tallier) -> Applied:
    """Apply entries in offset order; skip replays and duplicates. Pure: returns a new record."""
    outcomes: Counter[Outcome] = Counter()
    answers: dict[Dimensions, dict[tuple[Scale, int], int]] = {}
    seen = record.seen
    fresh: set[str] = set()
    accepted: list[int] = []
    applied_offset = record.applied_offset
    for entry in entries:
        if entry.offset <= applied_offset:
            outcomes[Outcome.REPLAYED] += 1
            continue
        applied_offset = entry.offset
        event_id = entry.event_id
        if event_id in seen or event_id in fresh:
            outcomes[Outcome.DUPLICATE] += 1
            continue
        fresh.add(event_id)
        accepted.append(entry.offset)
        answer = (entry.scale, entry.score)
        for dims in entry.series:
            counts = answers.get(dims)
            if counts is None:
                answers[dims] = {answer: 1}
            else:
                counts[answer] = counts.get(answer, 0) + 1
    if accepted:
        outcomes[Outcome.ACCEPTED] += len(accepted)
    metric = record.key.metric
    delta = {dims: tallier.tally(metric, counts) for dims, counts in answers.items()}
    tallies = dict(record.tallies)
    for dims, tally in delta.items():
        previous = tallies.get(dims)
        tallies[dims] = tally if previous is None else previous + tally  # type: ignore[operator]
    record = BucketRecord(record.key, tallies, seen | fresh if fresh else seen, applied_offset)
    return Applied(record, delta, outcomes, accepted)


def encode(record: BucketRecord) -> dict[str, Any]:
    """Plain JSON-ready data, versioned so that a changed layout never misreads old state."""
    return {
        "v": RECORD_VERSION,
        "key": record.key.encode(),
        "offset": record.applied_offset,
        "seen": sorted(record.seen),
        "tallies": [
            [[list(pair) for pair in dims], list(t.counts())] for dims, t in record.tallies.items()
        ],
    }


def decode(data: Mapping[str, Any]) -> BucketRecord:
    """Inverse of ``encode``; raises ValueError on a version or layout it does not know."""
    if data.get("v") != RECORD_VERSION:
        raise ValueError(f"bucket record version {data.get('v')!r}, expected {RECORD_VERSION}")
    key = BucketKey.decode(data["key"])
    tallies: dict[Dimensions, Tally] = {}
    for dims, counts in data["tallies"]:
        tallies[tuple((str(name), str(value)) for name, value in dims)] = from_counts(
            key.metric, counts
        )
    return BucketRecord(key, tallies, frozenset(data["seen"]), int(data["offset"]))
