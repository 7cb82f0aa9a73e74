"""Watching every series with every rule: one alert state per (rule, series).

``evaluate`` turns each rule's verdict on each matching series into alert transitions through
the state machine (``alerting.py``). Threshold verdicts come from the window sums; drop verdicts
from a CUSUM per (rule, series) that reads each event-time bucket once it has settled
(``sequential.py``). A rule's false-alarm budget is divided by the number of series it watches
at that moment (budget division, a Bonferroni bound for sequential tests), so a rule over 2,000
agents pages no more often by chance than one over 2 touchpoints.

A series that has vanished (all its buckets expired) gets a NO_DATA verdict, so a firing alert
on it resolves instead of lingering. ``changed`` states are what the shell persists, so alert
state survives a restart: no duplicate page, no lost resolve. Detectors are not persisted: a
restarted worker rebuilds each from the buckets of the rule's recent window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import NamedTuple, Protocol

from streamer.core.alerting import Alert, AlertState, Status, step
from streamer.core.baseline import HOUR_MS, hour_slots
from streamer.core.explain import decompose, describe, top_contributors
from streamer.core.rules import Drop, Rule, Signal, Threshold, Verdict, evaluate_threshold
from streamer.core.scales import CesPolicy
from streamer.core.scores import estimate
from streamer.core.sequential import Cusum, Reference, limit, reference
from streamer.core.series import SeriesKey
from streamer.core.tally import Tally
from streamer.core.window import Timeline, bucket_start_ms

StateKey = tuple[str, SeriesKey]
"""(rule name, series)"""


class History(Protocol):
    """What the rules read of one series (``window.SeriesWindows`` is one)."""

    def totals(self) -> tuple[Tally, ...]: ...

    def between(self, low_ms: int, high_ms: int) -> list[tuple[int, Tally]]: ...

    def total_between(self, low_ms: int, high_ms: int) -> Tally: ...


class Evaluated(NamedTuple):
    alerts: list[Alert]
    """Transitions for the sinks: fired or resolved."""
    changed: dict[StateKey, AlertState]
    """States whose status changed; INACTIVE and RESOLVED ones are no longer kept."""
    watched: dict[str, int]
    """How many series each rule watched: its false-alarm budget was divided by this."""


class Watch:
    def __init__(self, rules: Sequence[Rule], timeline: Timeline, ces: CesPolicy) -> None:
        self.rules = tuple(rules)
        self.timeline = timeline
        self._ces = ces
        self._by_name = {rule.name: rule for rule in self.rules}
        self._index = {w.label: i for i, w in enumerate(timeline.windows)}
        self._lengths = {w.label: w.length_ms for w in timeline.windows}
        self.states: dict[StateKey, AlertState] = {}
        self.detectors: dict[StateKey, Cusum] = {}
        self.watched: Counter[str] = Counter()

    def evaluate(
        self, series: Iterable[tuple[SeriesKey, History]], now_ms: int, complete: bool = True
    ) -> Evaluated:
        """Evaluate the rules on ``series``: every live series when ``complete`` (those missing
        have vanished), or only some (``monitor.py`` knows which can have changed)."""
        alerts: list[Alert] = []
        changed: dict[StateKey, AlertState] = {}
        everything = list(series)
        pairs = [
            (rule, key, history)
            for key, history in everything
            for rule in self.rules
            if rule.score.metric is key.metric and rule.selector.matches(key)
        ]
        if complete:
            self.watched = Counter(rule.name for rule, _, _ in pairs)
        watched = self.watched
        seen: set[StateKey] = set()
        for rule, key, history in pairs:
            seen.add((rule.name, key))
            totals = dict(zip(self._index, history.totals(), strict=True))
            if isinstance(rule.condition, Threshold):
                verdict = evaluate_threshold(rule, totals, self._ces)
            else:
                verdict = self._drop(rule, key, history, totals, watched[rule.name], now_ms)
            alert = self._step(rule, key, verdict, now_ms, changed)
            if (
                alert is not None
                and alert.status is Status.FIRING
                and verdict.statistic is not None
            ):
                alert = replace(alert, why=self._why(rule, key, everything, now_ms))
            if alert is not None:
                alerts.append(alert)
        if not complete:
            return Evaluated(alerts, changed, dict(watched))
        for state_key in [k for k in self.detectors if k not in seen]:
            del self.detectors[state_key]
        for rule_name, key in [k for k in self.states if k not in seen]:
            rule = self._by_name[rule_name]
            alert = self._step(rule, key, Verdict(Signal.NO_DATA, 0), now_ms, changed)
            if alert is not None:
                alerts.append(alert)
        return Evaluated(alerts, changed, {rule.name: watched[rule.name] for rule in self.rules})

    def pending(self) -> list[tuple[SeriesKey, int]]:
        """Series with a pending alert, and when its ``for`` runs out (ms)."""
        return [
            (key, (state.since_ms or 0) + self._by_name[name].for_ms)
            for (name, key), state in self.states.items()
            if state.status is Status.PENDING
        ]

    def settle_delays_ms(self) -> set[int]:
        return {r.condition.settle_ms for r in self.rules if isinstance(r.condition, Drop)}

    def firing(self) -> list[tuple[Rule, SeriesKey, AlertState]]:
        return [
            (self._by_name[name], key, state)
            for (name, key), state in self.states.items()
            if state.status is Status.FIRING
        ]

    def restore(self, states: Iterable[tuple[StateKey, AlertState]]) -> None:
        """Replace the states with persisted ones; those of unknown rules are dropped."""
        self.states = {key: state for key, state in states if key[0] in self._by_name}
        self.detectors.clear()

    def _drop(
        self,
        rule: Rule,
        key: SeriesKey,
        history: History,
        totals: dict[str, Tally],
        watched: int,
        now_ms: int,
    ) -> Verdict:
        condition = rule.condition
        assert isinstance(condition, Drop)
        state_key = (rule.name, key)
        recent = totals[condition.window]
        current = estimate(rule.score, recent, self._ces)
        if current is None:
            # Nothing recent: the evidence is stale, the detector starts over.
            self.detectors.pop(state_key, None)
            return Verdict(Signal.NO_DATA, 0)
        bucket_ms = self.timeline.bucket_ms
        window = self.timeline.windows[self._index[condition.window]]
        end = bucket_start_ms(now_ms - condition.settle_ms, bucket_ms)
        cusum = self.detectors.get(state_key) or Cusum()
        start = cusum.next_bucket_ms
        if start is None:
            start = self.timeline.bucket_range(window, now_ms)[0]
        references = _References(self, rule, condition, history, totals, watched)
        for bucket_start, tally in history.between(start, end):
            found = references.at(bucket_start)
            if found is not None:
                ref, cap = found
                cusum = cusum.step(bucket_start, tally, rule.score, ref, cap)
        self.detectors[state_key] = replace(cusum, next_bucket_ms=max(start, end))
        base_tally, base_span_ms = references.baseline(end - bucket_ms)
        base = estimate(rule.score, base_tally, self._ces)
        base_n = 0 if base is None else base.n
        h = limit(base_n / base_span_ms, watched, 1.0 / condition.false_alarm_every_ms)
        run = estimate(rule.score, cusum.run, self._ces) if cusum.run is not None else None
        facts = {
            "n": current.n,
            "value": current.value,
            "low": current.low,
            "high": current.high,
            "baseline": None if base is None else base.value,
            "baseline_n": base_n,
            "statistic": cusum.statistic,
            "limit": h,
            "since_ms": cusum.since_ms,
            "run_n": None if run is None else run.n,
            "run_value": None if run is None else run.value,
        }
        if base_n < rule.min_responses or current.n < rule.min_responses:
            return Verdict(Signal.INSUFFICIENT, **facts)  # type: ignore[arg-type]
        signal = (
            Signal.BREACH
            if cusum.alarmed
            else Signal.CLEAR
            if cusum.statistic < h / 2
            else Signal.HOLD
        )
        return Verdict(signal, **facts)  # type: ignore[arg-type]

    def _why(
        self,
        rule: Rule,
        key: SeriesKey,
        everything: list[tuple[SeriesKey, History]],
        now_ms: int,
    ) -> tuple[str, ...]:
        """Per breakdown of the touchpoint, the values that pushed its score down most, split
        into rate and mix (``explain.py``), between the baseline and the recent window."""
        condition = rule.condition
        assert isinstance(condition, Drop)
        breakdowns: dict[tuple[str, ...], tuple[dict[str, Tally], dict[str, Tally]]] = {}
        end = bucket_start_ms(now_ms - condition.settle_ms, self.timeline.bucket_ms)
        for other, history in everything:
            if other.metric is not key.metric or other.touchpoint != key.touchpoint:
                continue
            if not other.dimensions:
                continue
            names = tuple(name for name, _ in other.dimensions)
            value = "/".join(value for _, value in other.dimensions)
            totals = dict(zip(self._index, history.totals(), strict=True))
            references = _References(self, rule, condition, history, totals, 1)
            base, current = breakdowns.setdefault(names, ({}, {}))
            base[value] = references.baseline(end - self.timeline.bucket_ms)[0]
            current[value] = totals[condition.window]
        lines = []
        for names, (base, current) in sorted(breakdowns.items()):
            split = decompose(rule.score, base, current, self._ces)
            if split is not None:
                text = describe(top_contributors(split), "+".join(names), rule.score)
                if text:
                    lines.append(text)
        return tuple(lines)

    def _step(
        self,
        rule: Rule,
        key: SeriesKey,
        verdict: Verdict,
        now_ms: int,
        changed: dict[StateKey, AlertState],
    ) -> Alert | None:
        state_key = (rule.name, key)
        before = self.states.get(state_key, AlertState())
        after, alert = step(rule, key, before, verdict, now_ms)
        if after.status in (Status.INACTIVE, Status.RESOLVED):
            self.states.pop(state_key, None)  # both start over at the next breach
        else:
            self.states[state_key] = after
        if after.status is not before.status:
            changed[state_key] = after
        return alert


class _References:
    """The detector's reference for each bucket it reads, built once per baseline: one for a
    trailing baseline, one per local hour for a calendar baseline."""

    def __init__(
        self,
        watch: Watch,
        rule: Rule,
        condition: Drop,
        history: History,
        totals: dict[str, Tally],
        watched: int,
    ) -> None:
        self._watch, self._rule, self._condition = watch, rule, condition
        self._history, self._totals, self._watched = history, totals, watched
        self._cache: dict[int, tuple[Reference, float] | None] = {}

    def baseline(self, bucket_start: int) -> tuple[Tally, int]:
        """The baseline tally for a bucket, and the span of time it covers (ms)."""
        condition, lengths = self._condition, self._watch._lengths
        if isinstance(condition.baseline, str):
            tally = self._totals[condition.baseline] - self._totals[condition.window]  # type: ignore[operator]
            return tally, lengths[condition.baseline] - lengths[condition.window]
        _, ranges = hour_slots(bucket_start, condition.baseline)
        parts = [self._history.total_between(low, high) for low, high in ranges]
        total = parts[0]
        for part in parts[1:]:
            total = total + part  # type: ignore[operator]
        return total, condition.baseline.weeks * HOUR_MS

    def at(self, bucket_start: int) -> tuple[Reference, float] | None:
        condition = self._condition
        slot = (
            0
            if isinstance(condition.baseline, str)
            else hour_slots(bucket_start, condition.baseline)[0]
        )
        if slot not in self._cache:
            tally, span_ms = self.baseline(bucket_start)
            ref = (
                reference(self._rule.score, tally, condition.min_drop, self._watch._ces)
                if tally.n >= self._rule.min_responses
                else None
            )
            cap = limit(tally.n / span_ms, self._watched, 1.0 / condition.false_alarm_every_ms)
            self._cache[slot] = None if ref is None else (ref, cap)
        return self._cache[slot]


def encode_state(state: AlertState) -> dict[str, object]:
    """What is persisted of a state: the verdict is recomputed at the next evaluation."""
    return {"v": 1, "status": state.status.value, "since_ms": state.since_ms}


def decode_state(data: dict[str, object]) -> AlertState:
    if data.get("v") != 1:
        raise ValueError(f"alert state version {data.get('v')!r}, expected 1")
    since = data["since_ms"]
    return AlertState(Status(str(data["status"])), since if isinstance(since, int) else None)
