"""Where alert transitions go: Alertmanager (API v2), a Kafka topic, a generic webhook.

Scoring never waits for a sink: transitions are queued, and each HTTP sink delivers from its
own task, retrying with backoff (1 s doubling to 30 s) until the receiver answers, logging one
line when it starts failing and one when it recovers. Alertmanager forgets an alert that is not
re-sent (its resolve timeout, 5 minutes by default), so firing alerts are re-sent on a timer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from streamer.core.alerting import Alert, AlertState, Status
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey

log = logging.getLogger("streamer.alerts")

_FORMAT = {
    ScoreKind.NPS: "{:.1f}",
    ScoreKind.CSAT: "{:.1%}",
    ScoreKind.CES_MEAN: "{:.2f}",
    ScoreKind.CES_AGREE: "{:.1%}",
}
_NAMES = {
    ScoreKind.NPS: "NPS",
    ScoreKind.CSAT: "CSAT",
    ScoreKind.CES_MEAN: "CES",
    ScoreKind.CES_AGREE: "CES agree",
}


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def alert_document(alert: Alert, public_url: str) -> dict[str, Any]:
    """An Alertmanager v2 alert (labels, annotations, startsAt, endsAt, generatorURL)."""
    rule, series, verdict = alert.rule, alert.series, alert.verdict
    fmt = _FORMAT[rule.score].format
    condition = rule.condition
    where = series.touchpoint + "".join(f" {name}={value}" for name, value in series.dimensions)
    name = f"{_NAMES[rule.score]} {condition.window}"
    annotations: dict[str, str] = {}
    if verdict is not None and verdict.value is not None:
        annotations |= {"value": fmt(verdict.value), "n": str(verdict.n)}
        if verdict.low is not None and verdict.high is not None:
            annotations["interval_95"] = f"{fmt(verdict.low)} .. {fmt(verdict.high)}"
        if isinstance(condition, Threshold):
            line = condition.below if condition.below is not None else condition.above
            side = "below" if condition.below is not None else "above"
            summary = (
                f"{name} for {where} is {fmt(verdict.value)} (n={verdict.n}), {side} {fmt(line)}"
            )
        else:
            assert isinstance(condition, Drop)
            if verdict.baseline is not None:
                annotations |= {
                    "baseline": fmt(verdict.baseline),
                    "baseline_n": str(verdict.baseline_n),
                }
            if verdict.statistic is not None and verdict.limit is not None:
                annotations["evidence"] = f"{verdict.statistic:.1f} of {verdict.limit:.1f}"
            if verdict.since_ms is not None and verdict.run_value is not None:
                annotations["since"] = _iso(verdict.since_ms)
                annotations["since_value"] = f"{fmt(verdict.run_value)} (n={verdict.run_n})"
            baseline = fmt(verdict.baseline) if verdict.baseline is not None else "?"
            against = (
                f"the rest of {condition.baseline}"
                if isinstance(condition.baseline, str)
                else f"the same hour of the last {condition.baseline.weeks} weeks"
            )
            summary = (
                f"{name} for {where} dropped to {fmt(verdict.value)} (n={verdict.n}) "
                f"from {baseline} over {against}"
            )
            for index, text in enumerate(alert.why):
                annotations[f"why_{index + 1}" if index else "why"] = text
        annotations["summary"] = summary
    annotations |= dict(rule.annotations)
    labels = {
        "alertname": rule.name,
        "severity": rule.severity,
        "touchpoint": series.touchpoint,
        "score": rule.score.value,
        "window": condition.window,
        **dict(series.dimensions),
        **dict(rule.labels),
    }
    document: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(alert.starts_at_ms),
        "generatorURL": f"{public_url}/scores",
    }
    if alert.status is Status.RESOLVED and alert.ends_at_ms is not None:
        document["endsAt"] = _iso(alert.ends_at_ms)
    return document


class HttpSink:
    """Delivers JSON bodies in order, retrying each until the receiver accepts it."""

    def __init__(self, name: str, url: str, timeout_s: float = 5.0) -> None:
        self.name = name
        self.url = url
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.failing = False
        self.delivered = 0

    def put(self, body: Any) -> None:
        self._queue.put_nowait(body)

    def pending(self) -> int:
        return self._queue.qsize()

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                body = await self._queue.get()
                await self._deliver(session, body)

    async def _deliver(self, session: aiohttp.ClientSession, body: Any) -> None:
        delay = 1.0
        while True:
            try:
                async with session.post(self.url, json=body) as response:
                    if response.status < 300:
                        self.delivered += 1
                        if self.failing:
                            log.info("%s at %s accepts alerts again", self.name, self.url)
                            self.failing = False
                        return
                    problem = f"HTTP {response.status}: {(await response.text())[:200]}"
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}"
            if not self.failing:
                log.warning(
                    "%s at %s is failing (%s); retrying with backoff", self.name, self.url, problem
                )
                self.failing = True
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)


class Alertmanager(HttpSink):
    def __init__(self, base_url: str) -> None:
        super().__init__("alertmanager", base_url.rstrip("/") + "/api/v2/alerts")

    def send(self, documents: list[dict[str, Any]]) -> None:
        if documents:
            self.put(documents)

    def resend(self, documents: list[dict[str, Any]]) -> None:
        """Re-send what is firing, unless a delivery is still queued (it will carry news)."""
        if documents and self.pending() == 0:
            self.put(documents)


class Dispatch:
    """Fans alert transitions out to the configured sinks."""

    def __init__(
        self,
        public_url: str,
        topic: Any | None,
        alertmanager: Alertmanager | None,
        webhook: HttpSink | None,
    ) -> None:
        self._url = public_url
        self._topic = topic
        self.alertmanager = alertmanager
        self._webhook = webhook

    def http_sinks(self) -> list[HttpSink]:
        return [sink for sink in (self.alertmanager, self._webhook) if sink is not None]

    def send(self, alerts: list[Alert]) -> None:
        documents = []
        for alert in alerts:
            document = alert_document(alert, self._url)
            documents.append(document)
            log.info(
                "alert %s: %s",
                alert.status.value,
                document["annotations"].get("summary", alert.rule.name),
            )
            record = {"status": alert.status.value, **document}
            if self._topic is not None:
                self._topic.send_soon(
                    key=alert.series.touchpoint.encode(), value=orjson.dumps(record)
                )
            if self._webhook is not None:
                self._webhook.put(record)
        if self.alertmanager is not None:
            self.alertmanager.send(documents)

    def resend(self, firing: list[tuple[Rule, SeriesKey, AlertState]]) -> None:
        if self.alertmanager is not None:
            alerts = [
                Alert(rule, key, Status.FIRING, st.since_ms or 0, None, st.verdict)
                for rule, key, st in firing
            ]
            self.alertmanager.resend([alert_document(alert, self._url) for alert in alerts])
