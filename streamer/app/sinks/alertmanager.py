"""Alertmanager's API v2 as a receiver: alerts batched, each alert's latest state only.

An alert is its label set: a newer document with the same labels replaces the queued one.
Alertmanager forgets an alert that is not re-sent (its resolve timeout, 5 minutes by default),
so ``Dispatch.resend`` re-sends what is firing on a timer.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from streamer.app.sinks.http import HttpSink, SinkMetrics
from streamer.core.alerting import Alert


class Alertmanager(HttpSink):
    """Alertmanager's API v2: a list of alerts per POST, an alert being its label set."""

    batch_max = 64  # as Prometheus's notifier batches

    def __init__(self, name: str, base_url: str, metrics: SinkMetrics, **options: Any) -> None:
        super().__init__(name, base_url.rstrip("/") + "/api/v2/alerts", metrics, **options)

    def identity(self, document: dict[str, Any]) -> Hashable:
        return frozenset(document["labels"].items())

    def body(self, documents: list[dict[str, Any]]) -> Any:
        return documents

    def send(self, alert: Alert, document: dict[str, Any]) -> None:
        """The alert's latest state (its document says whether it has ended)."""
        self.put(document)
