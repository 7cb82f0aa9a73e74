"""Drop rules on live series: one CUSUM per (rule, series), fed each event-time bucket once it
has settled, against the rule's baseline (``sequential.py`` for the detector, ``baseline.py``
for calendar baselines); and, when one fires, which breakdown values caused it (``explain.py``).

Detectors are not persisted: a restarted worker rebuilds each from the buckets of the rule's
recent window, starting at the limit when the series' alert had fired. A series whose recent
window is empty starts its detector over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from streamer.core.baseline import HOUR_MS, hour_slots
from streamer.core.explain import decompose, describe, top_contributors
from streamer.core.rules import Drop, Rule, Signal, Verdict
from streamer.core.scales import CesPolicy
from streamer.core.scores import estimate
from streamer.core.sequential import Cusum, Reference, limit, reference
from streamer.core.series import SeriesKey
from streamer.core.tally import Tally, total
from streamer.core.timeline import Timeline

StateKey = tuple[str, SeriesKey]
"""(rule name, series)"""


class History(Protocol):
    """What the rules read of one series (``window.SeriesWindows`` is one)."""

    def totals(self) -> tuple[Tally, ...]: ...

    def between(self, low_ms: int, high_ms: int) -> list[tuple[int, Tally]]: ...

    def total_between(self, low_ms: int, high_ms: int) -> Tally: ...

    def first_start(self) -> int | None: ...


def settled_until(now_ms: int, settle_ms: int, bucket_ms: int) -> int:
    """The end of the settled buckets: those that ended more than ``settle_ms`` before now.
    Like a window's edge, it moves just after a boundary (plus ``settle_ms``), so with a settle
    of whole buckets the detectors move exactly when the windows do."""
    return -(-(now_ms - settle_ms - bucket_ms) // bucket_ms) * bucket_ms


class Drops:
    def __init__(self, timeline: Timeline, ces: CesPolicy) -> None:
        self.timeline = timeline
        self.ces = ces
        self.detectors: dict[StateKey, Cusum] = {}
        self.lengths = {w.label: w.length_ms for w in timeline.windows}

    def verdict(
        self,
        rule: Rule,
        key: SeriesKey,
        history: History,
        totals: Mapping[str, Tally],
        watched: float,
        now_ms: int,
        firing: bool = False,
    ) -> Verdict:
        """Read the buckets settled since the last call, then judge: BREACH while the detector
        is alarmed (until its statistic is back at 0), CLEAR under half the limit, HOLD in
        between (a statistic on its way up, not yet at the limit). ``firing``: the series'
        alert fired, which a detector rebuilt after a restart or a rebalance starts from."""
        condition = rule.condition
        assert isinstance(condition, Drop)
        state_key = (rule.name, key)
        current = estimate(rule.score, totals[condition.window], self.ces)
        if current is None:
            self.detectors.pop(state_key, None)
            return Verdict(Signal.NO_DATA, 0)
        bucket_ms = self.timeline.bucket_ms
        end = settled_until(now_ms, condition.settle_ms, bucket_ms)
        kept = self.detectors.get(state_key)
        cusum = kept or Cusum()
        start = cusum.next_bucket_ms
        if start is None:
            window = next(w for w in self.timeline.windows if w.label == condition.window)
            start = self.timeline.bucket_range(window, now_ms)[0]
        references = _References(self, rule, condition, history, totals, watched, now_ms)
        # Rebuilt from the recent window alone, a detector under a firing alert would see too
        # little evidence and resolve a drop still going on: it starts where the one that fired
        # stood, at the limit, from the first bucket it can judge (a calendar baseline's quiet
        # hours may have too few answers to judge by), so that only evidence of a recovery
        # resolves the alert. Until it can, it holds the alert.
        unseeded = kept is None and firing
        for bucket_start, tally in history.between(start, end):
            found = references.at(bucket_start)
            if found is not None:
                if unseeded:
                    cusum, unseeded = Cusum(found[1], alarmed=True), False
                cusum = cusum.step(bucket_start, tally, rule.score, *found)
        if unseeded:
            # No bucket read (a settle as long as the window leaves none settled in it): the
            # reference of the last settled bucket's hour seeds it, as for INSUFFICIENT below.
            found = references.at(end - bucket_ms)
            if found is not None:
                cusum, unseeded = Cusum(found[1], alarmed=True), False
        if not unseeded:
            self.detectors[state_key] = Cusum(
                cusum.statistic, max(start, end), cusum.since_ms, cusum.run, cusum.alarmed
            )
        base_tally, span_ms = references.baseline(end - bucket_ms)
        base = estimate(rule.score, base_tally, self.ces)
        h = references.limit(base_tally.n, span_ms)
        run = None if cusum.run is None else estimate(rule.score, cusum.run, self.ces)
        if base_tally.n < rule.min_responses or current.n < rule.min_responses:
            signal = Signal.INSUFFICIENT
        elif unseeded:
            signal = Signal.HOLD
        elif cusum.alarmed:
            signal = Signal.BREACH
        else:
            signal = Signal.CLEAR if cusum.statistic < h / 2 else Signal.HOLD
        return Verdict(
            signal,
            current.n,
            current.value,
            current.low,
            current.high,
            baseline=None if base is None else base.value,
            baseline_n=base_tally.n,
            statistic=cusum.statistic,
            limit=h,
            since_ms=cusum.since_ms,
            run_n=None if run is None else run.n,
            run_value=None if run is None else run.value,
        )

    def why(
        self,
        rule: Rule,
        key: SeriesKey,
        everything: Iterable[tuple[SeriesKey, History]],
        now_ms: int,
    ) -> tuple[str, ...]:
        """Per breakdown of the touchpoint, the values that pushed its score down most, split
        into rate and mix, between the baseline and the recent window."""
        condition = rule.condition
        assert isinstance(condition, Drop)
        labels = [w.label for w in self.timeline.windows]
        bucket_ms = self.timeline.bucket_ms
        end = settled_until(now_ms, condition.settle_ms, bucket_ms)
        breakdowns: dict[tuple[str, ...], tuple[dict[str, Tally], dict[str, Tally]]] = {}
        for other, history in everything:
            if other.metric is not key.metric or other.touchpoint != key.touchpoint:
                continue
            if not other.dimensions:
                continue
            names = tuple(name for name, _ in other.dimensions)
            value = "/".join(value for _, value in other.dimensions)
            totals = dict(zip(labels, history.totals(), strict=True))
            references = _References(self, rule, condition, history, totals, 1, now_ms)
            base, current = breakdowns.setdefault(names, ({}, {}))
            base[value] = references.baseline(end - bucket_ms)[0]
            current[value] = totals[condition.window]
        lines = []
        for names, (base, current) in sorted(breakdowns.items()):
            split = decompose(rule.score, base, current, self.ces)
            if split is not None:
                text = describe(top_contributors(split), "+".join(names), rule.score)
                if text:
                    lines.append(text)
        return tuple(lines)

    def forget(self, keep: set[StateKey]) -> None:
        """Drop the detectors of series no longer watched."""
        for state_key in [k for k in self.detectors if k not in keep]:
            del self.detectors[state_key]


class _References:
    """The detector's reference for each bucket it reads, built once per baseline: one for a
    trailing baseline, one per local hour for a calendar baseline."""

    def __init__(
        self,
        drops: Drops,
        rule: Rule,
        condition: Drop,
        history: History,
        totals: Mapping[str, Tally],
        watched: float,
        now_ms: int,
    ) -> None:
        self._drops, self._rule, self._condition = drops, rule, condition
        self._history, self._totals, self._watched = history, totals, watched
        self._now_ms = now_ms
        self._cache: dict[int, tuple[Reference, float] | None] = {}

    def baseline(self, bucket_start: int) -> tuple[Tally, int]:
        """The baseline tally for a bucket, and the span of time it covers (ms): no more than
        the series' history, so that the answer rate of a series younger than its baseline (a
        new touchpoint, a new deploy) is not taken for a fraction of itself, which would set
        its limit, and so its false-page rate, as if it had few answers."""
        condition, lengths = self._condition, self._drops.lengths
        first = self._history.first_start()
        if isinstance(condition.baseline, str):
            tally = self._totals[condition.baseline] - self._totals[condition.window]  # type: ignore[operator]
            span = lengths[condition.baseline] - lengths[condition.window]
            if first is not None:
                span = min(span, self._now_ms - lengths[condition.window] - first)
            return tally, max(self._drops.timeline.bucket_ms, span)
        _, ranges = hour_slots(bucket_start, condition.baseline)
        parts = [self._history.total_between(low, high) for low, high in ranges]
        covered = [high for _, high in ranges if first is None or high > first]
        return total(self._rule.score.metric, parts), max(1, len(covered)) * HOUR_MS

    def limit(self, baseline_n: int, span_ms: int) -> float:
        """The rule's budget, divided among the series watched, at this baseline's answer rate."""
        every_ms = self._condition.false_alarm_every_ms
        return limit(baseline_n / span_ms, self._watched, 1.0 / every_ms)

    def at(self, bucket_start: int) -> tuple[Reference, float] | None:
        condition = self._condition
        calendar = condition.baseline
        slot = 0 if isinstance(calendar, str) else hour_slots(bucket_start, calendar)[0]
        if slot not in self._cache:
            tally, span_ms = self.baseline(bucket_start)
            ref = (
                reference(
                    self._rule.score, tally, condition.min_drop, self._drops.ces, self._watched
                )
                if tally.n >= self._rule.min_responses
                else None
            )
            self._cache[slot] = None if ref is None else (ref, self.limit(tally.n, span_ms))
        return self._cache[slot]
