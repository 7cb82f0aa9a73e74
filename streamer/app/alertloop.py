"""The alert half of the data path, once per tick: move the windows to now, evaluate the rules,
persist the alert states that changed, and hand the transitions to the sinks.

It runs on a timer, not on arriving answers, so a quiet touchpoint's windows still empty and its
alert still resolves. Rules are evaluated only once the state is recovered: a rule read against
half-loaded windows would page on a drop that is only missing data.
"""

from __future__ import annotations

from typing import Protocol

from streamer.app.readiness import Readiness
from streamer.app.rulemetrics import RuleMetrics
from streamer.app.store import AlertStore
from streamer.core.alerting import Alert, AlertState
from streamer.core.monitor import Monitor
from streamer.core.rules import Rule
from streamer.core.series import SeriesKey


class Dispatcher(Protocol):
    def send(self, alerts: list[Alert]) -> None: ...

    def resend(self, firing: list[tuple[Rule, SeriesKey, AlertState]]) -> None: ...


class AlertLoop:
    def __init__(
        self,
        monitor: Monitor,
        store: AlertStore,
        dispatch: Dispatcher,
        metrics: RuleMetrics,
        readiness: Readiness,
        partitions: int,
    ) -> None:
        self._board = monitor.board
        self._monitor = monitor
        self._store = store
        self._dispatch = dispatch
        self._metrics = metrics
        self._readiness = readiness
        self._partitions = partitions

    def tick(self, now_ms: int) -> None:
        self._board.advance(now_ms)
        if not self._monitor.watch.rules or not self._readiness.recovered:
            return
        result = self._monitor.evaluate(now_ms)
        if self._monitor.complete:
            self._metrics.watched(result.watched)
        for state_key, state in result.changed.items():
            # The state lives on the changelog partition of the series it watches, so the
            # worker that takes the series over after a rebalance recovers its alert too.
            source = self._board.partition_of(state_key[1])
            partition = None if source is None else source % self._partitions
            self._store.save(state_key, state, partition)
        self._dispatch.send(result.alerts)

    def resend(self) -> None:
        """What is firing, again: Alertmanager ends an alert not re-sent before its endsAt
        (``sinks/alertmanager.py``)."""
        self._dispatch.resend(self._monitor.watch.firing())
