"""Alertmanager's API v2 as a receiver: alerts batched, each alert's latest state only.

An alert is its label set: a newer document with the same labels replaces the queued one.
Alertmanager forgets an alert that is not re-sent, so ``Dispatch.resend`` re-sends what is
firing on a timer (``STREAMER_ALERT_RESEND_S``), and each firing alert says until when it holds
without a re-send (``endsAt``), as Prometheus does: four re-send periods. Without it
Alertmanager applies its own resolve timeout (5 minutes by default), which a re-send period of
5 minutes or more outlasted: the alert resolved, then fired again, at every re-send.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from streamer.app.sinks.http import HttpSink, SinkMetrics
from streamer.core.alerting import Alert
from streamer.core.timestamps import format_timestamp_ms

RESENDS_HELD = 4
"""A firing alert holds for this many re-send periods (Prometheus's notifier does the same)."""


class Alertmanager(HttpSink):
    """Alertmanager's API v2: a list of alerts per POST, an alert being its label set."""

    batch_max = 64  # as Prometheus's notifier batches
    ordered = False  # a newer state replaces an older: nothing to overtake

    def __init__(
        self,
        name: str,
        base_url: str,
        metrics: SinkMetrics,
        *,
        resend_s: float | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        **options: Any,
    ) -> None:
        super().__init__(name, base_url.rstrip("/") + "/api/v2/alerts", metrics, **options)
        self._held_ms = None if resend_s is None else round(RESENDS_HELD * resend_s * 1000)
        self._clock_ms = clock_ms

    def identity(self, document: dict[str, Any]) -> Hashable:
        return frozenset(document["labels"].items())

    def body(self, documents: list[dict[str, Any]]) -> Any:
        """The documents, a firing one (no ``endsAt`` yet) holding from the time it is sent."""
        if self._held_ms is None:
            return documents
        ends_at = format_timestamp_ms(self._clock_ms() + self._held_ms)
        return [d if "endsAt" in d else {**d, "endsAt": ends_at} for d in documents]

    def send(self, alert: Alert, document: dict[str, Any]) -> None:
        """The alert's latest state (its document says whether it has ended)."""
        self.put(document)
