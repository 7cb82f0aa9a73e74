"""The persisted layout of one source partition's scoring state, and its idempotence.

Nothing is rewritten per answer. Each flush (the worker's commit) appends one **log record** per
source partition that took input: the highest source offset applied (the checkpoint), the
128-bit digests of the event ids counted for the first time, and the batch's tallies summed per
(series, fine bucket). A log record is written once and deleted as a whole once its digests are
older than the dedupe horizon and its tallies are in a snapshot.

A **snapshot** (a header and a few chunk records) holds every series' tiered buckets; it is
written again when the log since the last one has grown to its size (or its oldest record
reaches the dedupe horizon), so changelog bytes per answer stay a constant (the log's ~20-40
bytes, at most doubled) and recovery reads at most about twice the state.

Idempotence: an answer at or below the checkpoint was counted before a crash and is skipped
(``replayed``); an answer whose event id was counted within the dedupe horizon is a producer's
retry (``duplicate``). The checkpoint and digests go in the same record as the tallies they
cover, so a crash can never keep one without the others.

A record the broker loses (``app/outbox.py``: the worker then stops before any offset passes
it) may be followed by records that were written, in its flush and in any sent before the loss
was seen; so nothing persisted may depend on a record not known written:

- log records are numbered, each the successor of the one before (``{"p": n}`` when that is not
  its own number minus 1), and the log is read from the snapshot along that chain up to the
  first one missing: a later record's checkpoint would hide the lost one's answers when they
  come again. Records off the chain are deleted; numbers are never used twice, nor are
  snapshot generations;
- what a flush makes obsolete (an older snapshot's chunks, log records a snapshot holds past
  the horizon) is deleted only at the flush after one known written (``acknowledged``), and a
  header keeps the last header known written (``previous``; null: the log alone before it),
  read instead when a chunk of its own snapshot is missing;
- a log record in another bucket size than the last header known written (or written before
  any is) says its size (``{"u": ms}``), so that it reads right with whichever header the
  reader finds, or with none;
- one snapshot at a time: while one is not known written the log grows instead, so that a
  Kafka slow for long piles up nothing that may not yet be deleted.

Versioned: a header names the layout (its version, bucket size and tiers) and the scoring
policy the counts were made with (``scales.Scoring.policy``: the CES scale, the CSAT thresholds);
state written with another bucket size that the configured one cannot hold, with another
scoring policy, or by another version, is refused with a message saying what to do
(``LayoutError``; the keys and checks are in ``layout``). The dedupe memory
(``dedupe.Dedupe``) expires ids by log record, as the log records expire.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from hashlib import blake2b
from itertools import accumulate, groupby
from operator import add, itemgetter
from typing import Any, NamedTuple

import orjson

from streamer.core.dedupe import Dedupe
from streamer.core.layout import (
    AFRESH,
    CHUNK_BYTES,
    LAYOUT_VERSION,
    WHAT_TO_DO,
    LayoutError,
    Write,
    check_layout,
    chunk_key,
    header_key,
    log_key,
)
from streamer.core.series import SeriesKey
from streamer.core.timeline import Timeline, bucket_start_ms
from streamer.core.window import SeriesWindows

_EVENT_DIGEST = blake2b(digest_size=16)
"""The 128-bit digest of event ids, before any input (``Journal.remember`` copies it)."""

MIN_SNAPSHOT_BYTES = 65_536
"""A small state is not rewritten at every flush: the log may grow to this before a snapshot."""


class Outcome(enum.StrEnum):
    """What became of an event (the ``outcome`` label of streamer_events_total)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    LATE = "late"
    REPLAYED = "replayed"


class _Segment(NamedTuple):
    """A log record kept: its digests are in the dedupe memory under epoch ``seq``."""

    seq: int
    flushed_ms: int


class Journal:
    """One source partition's persistence: checkpoint, dedupe memory, pending log, snapshots.

    The caller (``board.Board``) keeps the partition's series windows; it asks ``remember``
    for each answer, ``count``s what it added, and ``flush``es at each commit.
    """

    def __init__(
        self,
        partition: int,
        timeline: Timeline,
        dedupe_horizon_ms: int,
        policy: Mapping[str, str],
    ) -> None:
        self.partition = partition
        self.timeline = timeline
        self.dedupe_horizon_ms = dedupe_horizon_ms
        self.policy = dict(policy)
        """The scoring policy the counts are made with (``Scoring.policy()``): recorded in the
        header, and checked against the one of restored state."""
        self.checkpoint = -1
        """The highest source offset applied (in memory; persisted with the next log record)."""
        self._persisted_checkpoint = -1
        self.ids: dict[SeriesKey, int] = {}
        self._next_id = 0
        self._undefined: list[SeriesKey] = []
        self._pending: dict[tuple[int, int], list[int]] = {}
        self._fresh = bytearray()
        self._dedupe = Dedupe()
        self._segments: deque[_Segment] = deque()
        self._seq = 0
        self._generation = 0
        self._chunks = 0
        self._folded_seq = 0
        self._log_bytes = 0
        self._snapshot_bytes = 0
        self._stale: list[bytes] = []
        self._needs_header = True
        """No header yet, or one written with another bucket size (log records count buckets
        in the header's size, so a header of the current layout comes first), or one that does
        not record the scoring policy as configured (written before it was recorded): the next
        flush writes a snapshot."""
        self._keys_by_id: dict[int, SeriesKey] = {}
        """Series by id while restoring."""
        self._forgotten: set[int] = set()
        """Ids of series forgotten since the last log record: their pending tallies are of
        expired buckets, and their definitions are no longer written."""
        self._acked_unit_ms: int | None = None
        """The bucket size of the last header known written: log records in another size, or
        written before any header is known written, say theirs (a header not yet acknowledged
        may be lost, and a reader then reads the one before it, or the log alone)."""
        self._chain_end = 0
        """The number of the last log record read or written in order: the next one's
        predecessor (numbers are never reused: after a gap they skip the records discarded)."""
        self._acked_header: dict[str, Any] | None = None
        """The last header known written: kept in the next one, to be read instead if a record
        of that one's snapshot is lost."""
        self._written_header: dict[str, Any] | None = None
        self._generations: dict[int, int] = {}
        """Chunk counts of the snapshot generations in the changelog."""
        self._last_generation = 0
        """The highest generation ever seen: numbers are never reused either."""
        self._discarded: set[int] = set()
        """Log records found off the chain at a restore, until their deletion is known written:
        every header names them, so that a deletion lost cannot bring one back (under a
        snapshot, where the chain is not traced)."""
        self._superseded: list[bytes] = []
        """Records made obsolete by a flush not yet acknowledged (the chunks of older snapshots,
        log records past the horizon that a snapshot holds): deleted at the flush after it is
        acknowledged (``acknowledged``). Deleted at once, they would be gone with nothing to
        replace them if a record of that flush were lost."""

    # -- answers ---------------------------------------------------------------------------

    def remember(self, event_id: str) -> bool:
        """Remember an answer's event id for the next log record; False if it was counted
        within the dedupe horizon (a producer's retry). Ids are kept as 128-bit digests:
        retries share one, and 10^9 ids collide with odds of 10^-21."""
        hasher = _EVENT_DIGEST.copy()  # a copy of a primed hasher costs less than a new one
        hasher.update(event_id.encode())
        event_digest = hasher.digest()
        if not self._dedupe.add(event_digest, self._seq + 1):
            return False
        self._fresh += event_digest
        return True

    def count(self, series: SeriesKey, bucket_start: int, counts: Sequence[int]) -> None:
        """Tallies added to a series' fine bucket, for the next log record."""
        sid = self.ids.get(series)
        if sid is None:
            sid = self.ids[series] = self._next_id
            self._next_id += 1
            self._undefined.append(series)
        key = (sid, bucket_start // self.timeline.bucket_ms)
        pending = self._pending
        kept = pending.get(key)
        pending[key] = list(counts) if kept is None else list(map(add, kept, counts))

    def forget(self, series: SeriesKey) -> None:
        """A series whose buckets all expired: its id is not reused, and what it counted since
        the last log record (into buckets now expired) is not written."""
        sid = self.ids.pop(series, None)
        if sid is not None:
            self._forgotten.add(sid)

    # -- flushing --------------------------------------------------------------------------

    def flush(self, now_ms: int, windows: Mapping[SeriesKey, SeriesWindows]) -> list[Write]:
        """The records to write at a commit: a log record if anything was applied since the
        last one, a snapshot when due, and deletions of log records past the dedupe horizon."""
        writes = [Write(self.partition, key, None) for key in self._stale]
        self._stale = []
        if self.checkpoint != self._persisted_checkpoint or self._pending or self._fresh:
            writes.append(self._log_record(now_ms))
        oldest_unfolded = next(
            (s.flushed_ms for s in self._segments if s.seq > self._folded_seq), None
        )
        # One snapshot at a time: while one is not known written the log grows instead, so
        # that a Kafka slow for long does not pile up snapshots nothing may yet delete.
        due = self._written_header is None and (
            self._needs_header
            or self._log_bytes >= max(self._snapshot_bytes, MIN_SNAPSHOT_BYTES)
            or (oldest_unfolded is not None and oldest_unfolded < now_ms - self.dedupe_horizon_ms)
        )
        if due:
            writes += self._snapshot(windows)
        self._superseded += [write.key for write in self._expire(now_ms)]
        return writes

    def acknowledged(self) -> None:
        """Everything flushed so far is in Kafka: what it made obsolete goes with the next
        flush."""
        if self._written_header is not None:
            self._acked_header, self._written_header = self._written_header, None
            self._acked_unit_ms = self.timeline.bucket_ms
            kept = self._generation
            for generation, count in self._generations.items():
                if generation != kept:
                    self._superseded += [
                        chunk_key(self.partition, generation, i) for i in range(count)
                    ]
            self._generations = {kept: self._generations[kept]}
        self._stale += self._superseded
        self._superseded = []
        self._discarded.clear()  # their deletions went with a flush now written

    def _log_record(self, now_ms: int) -> Write:
        """``[checkpoint, flushed (s), [[series id, bucket - flushed bucket, *counts]...],
        [[series id, series key]...] for series new to the log, {"p": the previous record's
        number, when not this one's minus 1; "u": the bucket size, when not the header's}]``
        (the last two only when needed), a newline, then the 16-byte digests: about 56 bytes
        for a flush of one answer."""
        self._seq += 1
        seconds = now_ms // 1000
        bucket_ms, forgotten = self.timeline.bucket_ms, self._forgotten
        base = seconds * 1000 // bucket_ms
        meta: list[object] = [
            self.checkpoint,
            seconds,
            [
                [sid, start - base, *counts]
                for (sid, start), counts in self._pending.items()
                if sid not in forgotten
            ],
        ]
        forgotten.clear()
        defined = [[self.ids[key], key.encode()] for key in self._undefined if key in self.ids]
        if defined:
            meta.append(defined)
        extras: dict[str, int] = {}
        if self._chain_end != self._seq - 1:
            extras["p"] = self._chain_end
        if bucket_ms != self._acked_unit_ms:
            extras["u"] = bucket_ms
        if extras:
            meta.append(extras)
        self._chain_end = self._seq
        value = orjson.dumps(meta) + b"\n" + bytes(self._fresh)
        self._segments.append(_Segment(self._seq, seconds * 1000))
        self._persisted_checkpoint = self.checkpoint
        self._undefined, self._pending, self._fresh = [], {}, bytearray()
        key = log_key(self.partition, self._seq)
        self._log_bytes += len(key) + len(value)
        return Write(self.partition, key, value)

    def _snapshot(self, windows: Mapping[SeriesKey, SeriesWindows]) -> list[Write]:
        self._generation = self._last_generation = self._last_generation + 1
        bucket_ms = self.timeline.bucket_ms
        chunks: list[bytes] = []
        part: list[bytes] = []
        size = 0
        for key, series in windows.items():
            sid = self.ids.get(key)
            if sid is None or not series:
                continue
            starts: list[int] = []
            counts: list[int] = []
            previous = 0
            for start, bucket in series.entries():
                unit = start // bucket_ms
                starts.append(unit - previous)  # deltas: small numbers
                previous = unit
                counts.extend(bucket)
            item = orjson.dumps([sid, key.encode(), starts, counts])
            if part and size + len(item) > CHUNK_BYTES:
                chunks.append(b"[" + b",".join(part) + b"]")
                part, size = [], 0
            part.append(item)
            size += len(item) + 1
        chunks.append(b"[" + b",".join(part) + b"]")
        writes = [
            Write(self.partition, chunk_key(self.partition, self._generation, i), chunk)
            for i, chunk in enumerate(chunks)
        ]
        self._chunks = len(chunks)
        self._generations[self._generation] = self._chunks
        # The chain goes on from the snapshot: after a restore that discarded records its end
        # is below the numbers in use, and a record naming it would be read as off the chain.
        self._folded_seq = self._chain_end = self._seq
        header: dict[str, Any] = {
            "v": LAYOUT_VERSION,
            "bucket_ms": bucket_ms,
            "fine_ms": self.timeline.fine_ms,
            "hourly_ms": self.timeline.hourly_ms,
            "generation": self._generation,
            "chunks": self._chunks,
            "seq": self._seq,
            "o": self._persisted_checkpoint,
            "next": self._next_id,
            "scoring": self.policy,
        }
        if self._discarded:
            header["discarded"] = sorted(self._discarded)
        self._written_header = dict(header)
        header["previous"] = self._acked_header  # null: before it, the log alone
        # The header goes after its chunks (one partition keeps the order): a crash before it
        # leaves the previous snapshot whole; so does a lost record of this one, its chunks
        # being deleted only once this one is acknowledged.
        writes.append(Write(self.partition, header_key(self.partition), orjson.dumps(header)))
        self._needs_header = False
        self._snapshot_bytes = sum(len(w.key) + len(w.value or b"") for w in writes)
        self._log_bytes = 0
        return writes

    def _expire(self, now_ms: int) -> list[Write]:
        """Log records whose digests are past the horizon, once a snapshot holds their tallies
        (the newest stays: it carries the checkpoint)."""
        writes = []
        segments = self._segments
        while (
            len(segments) > 1
            and segments[0].flushed_ms < now_ms - self.dedupe_horizon_ms
            and segments[0].seq <= self._folded_seq
        ):
            segment = segments.popleft()
            writes.append(Write(self.partition, log_key(self.partition, segment.seq), None))
        if segments:
            self._dedupe.expire_before(segments[0].seq)
        return writes

    # -- recovery --------------------------------------------------------------------------

    def restore(self, records: Mapping[bytes, bytes], now_ms: int) -> Iterator[Restored]:
        """Read this partition's persisted records (key -> value); yields each series' buckets
        (a snapshot's, then the log's since), in as few runs as it can: one when the log's
        buckets all come after the snapshot's. Raises LayoutError on state it must not read."""
        logs: list[tuple[int, bytes]] = []
        chunks: dict[int, dict[int, bytes]] = {}
        for key, value in records.items():
            parts = key.split(b"|")
            if parts[1:2] not in ([b"H"], [b"L"], [b"S"]):
                raise LayoutError(
                    f"partition {self.partition}: a persisted key {key[:60]!r} is not of layout "
                    f"version {LAYOUT_VERSION} (bucket records of version 1, before tiers). "
                    + WHAT_TO_DO
                )
            if parts[1:2] == [b"L"]:
                logs.append((int(parts[2]), value))
            elif parts[1:2] == [b"S"]:
                chunks.setdefault(int(parts[2]), {})[int(parts[3])] = value
        header_raw = records.get(header_key(self.partition))
        header = self._readable_header(orjson.loads(header_raw), chunks) if header_raw else None
        # Log records count buckets in the header's size unless they say theirs; with no
        # header, a crash came between the very first log record and the header that follows
        # it (in the same flush): nothing records what they were counted with, so they are read
        # as counted with the configured bucket size and scoring policy (one commit's answers).
        stored_bucket_ms = header["bucket_ms"] if header else self.timeline.bucket_ms
        self._last_generation = max([self._last_generation, *chunks])
        snapshot = chunks.pop(self._generation, {}) if header is not None else {}
        for index in [i for i in snapshot if i >= self._chunks]:  # a longer one, unfinished
            del snapshot[index]
            self._stale.append(chunk_key(self.partition, self._generation, index))
        for generation, left in chunks.items():  # unfinished, lost or replaced snapshots
            self._stale += [chunk_key(self.partition, generation, i) for i in left]
        logged = self._read_log(self._in_order(logs), stored_bucket_ms)
        for _, chunk in sorted(snapshot.items()):
            for sid, text, deltas, counts in orjson.loads(chunk):
                series = self._define(sid, SeriesKey.decode(text))
                units = list(accumulate(deltas))
                after = logged.pop(sid, None)
                if after and after[0][0] > units[-1]:
                    units += after[0]
                    counts += after[1]
                    after = None
                yield Restored(series, self._starts(units, stored_bucket_ms), counts)
                if after:
                    yield Restored(series, self._starts(after[0], stored_bucket_ms), after[1])
        for sid, (units, counts) in logged.items():
            defined = self._keys_by_id.get(sid)
            # None: a series forgotten before its tallies were logged (versions before the
            # fix wrote them, without the definition); its buckets had expired.
            if defined is not None:
                yield Restored(defined, self._starts(units, stored_bucket_ms), counts)
        self._keys_by_id.clear()
        # Records that expired while the worker was down (the snapshot read holds them).
        self._stale += [write.key for write in self._expire(now_ms)]

    def _readable_header(
        self, header: dict[str, Any], chunks: Mapping[int, Mapping[int, bytes]]
    ) -> dict[str, Any] | None:
        """The header to read: the one persisted, or, when a record of its snapshot was lost,
        the one before it (null: the log alone), whose records are deleted only once a newer
        one is known written. Sets the journal's state from it; raises LayoutError when
        neither is whole (or a header of a version before "previous" misses chunks)."""
        candidates: list[dict[str, Any] | None] = [header]
        if "previous" in header:
            candidates.append(header.pop("previous"))
        self._discarded = set(header.get("discarded", ()))
        self._last_generation = max([int(header["generation"]), *chunks])
        # Numbers the header on disk used or names are not used again, whichever is read.
        self._seq = max([self._seq, int(header["seq"]), *self._discarded])
        for candidate in candidates:
            if candidate is None:  # nothing acknowledged before: the log from its start,
                # counted as that header was (its records say their bucket size)
                check_layout(self.partition, header, self.timeline.bucket_ms, self.policy)
                self._needs_header = True
                return None
            generation, count = int(candidate["generation"]), int(candidate["chunks"])
            if len(chunks.get(generation, {}).keys() & set(range(count))) < count:
                continue
            check_layout(self.partition, candidate, self.timeline.bucket_ms, self.policy)
            self._generation, self._chunks = generation, count
            self._generations = {generation: count}
            self._folded_seq = self._chain_end = int(candidate["seq"])
            self._seq = max(self._seq, self._folded_seq)
            self.checkpoint = self._persisted_checkpoint = int(candidate["o"])
            self._next_id = int(candidate["next"])
            self._acked_header = candidate
            self._acked_unit_ms = int(candidate["bucket_ms"])
            self._needs_header = (
                candidate is not header
                or candidate["bucket_ms"] != self.timeline.bucket_ms
                or candidate.get("scoring") != self.policy
            )
            return candidate
        raise LayoutError(
            f"partition {self.partition}: the snapshot of generation {header['generation']} "
            f"misses chunks, and nothing before it can be read: records were lost by the "
            f"broker, and the counts of this partition cannot be read exactly. Restore the "
            f"changelog topic from a backup, or {AFRESH}."
        )

    def _in_order(self, logs: list[tuple[int, bytes]]) -> list[tuple[int, list[Any], bytes]]:
        """The log as written, parsed: the records the snapshot holds (for their digests), then
        those after it, each the successor of the one before, up to the first one missing. A
        record the broker lost (``app/outbox.py``) stops the worker before any offset passes
        it, but records sent after it may have been written: read, their checkpoints would skip
        the lost record's answers when they come again. So they are not read, and are deleted
        with the next flush; their numbers are not used again."""
        parsed = []
        for seq, value in sorted(logs):
            meta, _, digests = value.partition(b"\n")
            parsed.append((seq, orjson.loads(meta), digests))
        self._seq = max([self._seq, *(seq for seq, _, _ in parsed)])
        parsed = [record for record in parsed if record[0] not in self._discarded]
        successors: dict[int, int] = {}
        for seq, meta, _ in parsed:
            extras = meta[-1] if isinstance(meta[-1], dict) else {}
            successors.setdefault(int(extras.get("p", seq - 1)), seq)
        chain = {seq for seq, _, _ in parsed if seq <= self._folded_seq}
        at = self._folded_seq
        while at in successors:
            at = successors[at]
            chain.add(at)
        self._chain_end = at
        off = {seq for seq, _, _ in parsed if seq not in chain}
        self._discarded |= off
        self._stale += [log_key(self.partition, seq) for seq in sorted(self._discarded)]
        return [record for record in parsed if record[0] in chain]

    def _read_log(
        self, logs: list[tuple[int, list[Any], bytes]], stored_bucket_ms: int
    ) -> dict[int, tuple[list[int], list[int]]]:
        """Take the log records' checkpoints and digests; returns the buckets they add to the
        snapshot, per series id: their starts in ``stored_bucket_ms`` units, in order, each
        once, and their counts one bucket after another."""
        self._dedupe.restore([(seq, digests) for seq, _, digests in logs])
        logged: dict[tuple[int, int], list[int]] = {}
        for seq, meta, digests in logs:
            checkpoint, seconds, deltas, *rest = meta
            extras = rest.pop() if rest and isinstance(rest[-1], dict) else {}
            self._segments.append(_Segment(seq, seconds * 1000))
            if seq <= self._folded_seq:
                continue  # the header's checkpoint covers it
            self.checkpoint = self._persisted_checkpoint = max(self.checkpoint, checkpoint)
            self._log_bytes += len(orjson.dumps(meta)) + 1 + len(digests)
            for sid, text in rest[0] if rest else ():
                self._define(sid, SeriesKey.decode(text))
            unit_ms = int(extras.get("u", stored_bucket_ms))
            base = seconds * 1000 // unit_ms
            for sid, start, *counts in deltas:
                bucket = (sid, (base + start) * unit_ms // stored_bucket_ms)
                kept = logged.get(bucket)
                logged[bucket] = counts if kept is None else list(map(add, kept, counts))
        runs: dict[int, tuple[list[int], list[int]]] = {}
        for sid, group in groupby(sorted(logged), key=itemgetter(0)):
            units = [unit for _, unit in group]
            runs[sid] = (units, [count for unit in units for count in logged[sid, unit]])
        return runs

    def _starts(self, units: Iterable[int], stored_bucket_ms: int) -> list[int]:
        """Bucket starts stored in units of ``stored_bucket_ms``, as fine buckets of the
        configured size (a multiple of the stored one: ``check_layout``)."""
        bucket_ms = self.timeline.bucket_ms
        if stored_bucket_ms == bucket_ms:
            return [unit * bucket_ms for unit in units]
        return [bucket_start_ms(unit * stored_bucket_ms, bucket_ms) for unit in units]

    def _define(self, sid: int, key: SeriesKey) -> SeriesKey:
        self._keys_by_id[sid] = key
        self.ids[key] = sid
        self._next_id = max(self._next_id, sid + 1)
        return key


class Restored(NamedTuple):
    """Buckets of one series: their fine starts, in order, and their counts one bucket after
    another."""

    series: SeriesKey
    starts: list[int]
    counts: list[int]
