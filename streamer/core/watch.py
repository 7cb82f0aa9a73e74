"""Watching every series with every rule: one alert state per (rule, series).

``evaluate`` turns each rule's verdict on each matching series into alert transitions through
the state machine (``alerting.py``). Threshold verdicts come from the window sums; drop verdicts
from a CUSUM per (rule, series) that reads each event-time bucket once it has settled
(``drops.py``). A rule's false-alarm budget is divided by the number of series it watches
at that moment (budget division, a Bonferroni bound for sequential tests), so a rule over 2,000
agents pages no more often by chance than one over 2 touchpoints. A worker holding part of the
input's partitions watches its share of the budget: its series count divided by its ``share``,
so that the workers' pages add up to the rule's budget, not to a budget per worker.

A series that has vanished (all its buckets expired) gets a NO_DATA verdict, so a firing alert
on it resolves instead of lingering. ``changed`` states are what the shell persists, so alert
state survives a restart: no duplicate page, no lost resolve.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import NamedTuple

from streamer.core.alerting import Alert, AlertState, Status, is_kept, step
from streamer.core.drops import Drops, History, StateKey
from streamer.core.rules import Drop, Rule, Signal, Threshold, Verdict, evaluate_threshold
from streamer.core.scales import CesPolicy
from streamer.core.series import SeriesKey
from streamer.core.timeline import Timeline

__all__ = ["Evaluated", "History", "StateKey", "Watch"]


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
        self._labels = [w.label for w in timeline.windows]
        self.states: dict[StateKey, AlertState] = {}
        self.drops = Drops(timeline, ces)
        self.watched: Counter[str] = Counter()
        self.share = 1.0
        """This worker's share of the input partitions (``restore``)."""
        self.restored = False
        """States were restored since the last complete evaluation (``monitor.py``)."""

    def evaluate(
        self,
        series: Iterable[tuple[SeriesKey, History]],
        now_ms: int,
        complete: bool = True,
        every: Callable[[], Iterable[tuple[SeriesKey, History]]] | None = None,
    ) -> Evaluated:
        """Evaluate the rules on ``series``: every live series when ``complete`` (those missing
        have vanished), or only some (``monitor.py`` knows which can have changed), with
        ``every`` series at hand for explaining a drop that fires."""
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
            totals = dict(zip(self._labels, history.totals(), strict=True))
            if isinstance(rule.condition, Threshold):
                verdict = evaluate_threshold(rule, totals, self._ces)
            else:
                state = self.states.get((rule.name, key))
                verdict = self.drops.verdict(
                    rule,
                    key,
                    history,
                    totals,
                    watched[rule.name] / self.share,
                    now_ms,
                    firing=state is not None and state.status is Status.FIRING,
                )
            alert = self._step(rule, key, verdict, now_ms, changed)
            if (
                alert is not None
                and alert.status is Status.FIRING
                and verdict.statistic is not None
            ):
                breakdowns = everything if complete or every is None else every()
                alert = replace(alert, why=self.drops.why(rule, key, breakdowns, now_ms))
                # Kept with the state: a re-send carries it, and so does a restart.
                fired = replace(self.states[(rule.name, key)], why=alert.why)
                self.states[(rule.name, key)] = changed[(rule.name, key)] = fired
            if alert is not None:
                alerts.append(alert)
        if not complete:
            return Evaluated(alerts, changed, dict(watched))
        self.drops.forget(seen)
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

    def restore(self, states: Iterable[tuple[StateKey, AlertState]], share: float = 1.0) -> None:
        """Replace the states with persisted ones (those of unknown rules are dropped), for a
        worker holding ``share`` of the input's partitions. The detectors of series still here
        go on; those of series gone are dropped at the next complete evaluation."""
        self.states = {key: state for key, state in states if key[0] in self._by_name}
        self.share = share
        self.restored = True

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
        if not is_kept(after):
            self.states.pop(state_key, None)  # both start over at the next breach
        else:
            self.states[state_key] = after
        if after.status is not before.status:
            changed[state_key] = after
        return alert
