"""Alert transitions fanned out to every configured sink, each driven through ``Sink.send``."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from streamer.app.seams import Topic
from streamer.app.sinks.alertmanager import Alertmanager
from streamer.app.sinks.document import alert_document
from streamer.app.sinks.http import HttpSink
from streamer.app.sinks.topic import AlertTopic
from streamer.core.alerting import Alert, AlertState, Status
from streamer.core.rules import Rule
from streamer.core.series import SeriesKey

log = logging.getLogger("streamer.alerts")


class Sink(Protocol):
    """Where alert transitions go. ``document`` is the alert as ``alert_document`` writes it,
    built once for every sink; a sink never waits for its receiver."""

    def send(self, alert: Alert, document: dict[str, Any]) -> None: ...


class Dispatch:
    """Fans alert transitions out to the alerts topic, the webhook and each Alertmanager, in
    that order; re-sends what is firing to the Alertmanagers, which forget what is not."""

    def __init__(
        self,
        public_url: str,
        topic: Topic | None,
        alertmanagers: list[Alertmanager],
        webhook: HttpSink | None,
        dashboard_url: str | None = None,
    ) -> None:
        self._url = public_url
        self._dashboard_url = dashboard_url
        self.alertmanagers = alertmanagers
        self._webhook = webhook
        topics = [AlertTopic(topic)] if topic is not None else []
        webhooks = [webhook] if webhook is not None else []
        self._sinks: list[Sink] = [*topics, *webhooks, *alertmanagers]

    def http_sinks(self) -> list[HttpSink]:
        """The sinks with a task of their own to run."""
        webhook = [self._webhook] if self._webhook is not None else []
        return [*self.alertmanagers, *webhook]

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            document = alert_document(alert, self._url, self._dashboard_url)
            log.info(
                "alert %s: %s",
                alert.status.value,
                document["annotations"].get("summary", alert.rule.name),
            )
            for sink in self._sinks:
                sink.send(alert, document)

    def resend(self, firing: list[tuple[Rule, SeriesKey, AlertState]]) -> None:
        """Re-send what is firing; a queued state of the same alert is replaced, not repeated."""
        for rule, key, st in firing:
            alert = Alert(rule, key, Status.FIRING, st.since_ms or 0, None, st.verdict, st.why)
            document = alert_document(alert, self._url, self._dashboard_url)
            for alertmanager in self.alertmanagers:
                alertmanager.send(alert, document)
