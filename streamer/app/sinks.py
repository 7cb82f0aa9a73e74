"""Where alert transitions go: Alertmanager (API v2), a Kafka topic, a generic webhook.

Scoring never waits for a sink. Every HTTP receiver (each Alertmanager of
``STREAMER_ALERTMANAGER_URL``, comma-separated as Prometheus takes an HA pair, and the webhook)
has its own bounded queue and its own task, so one receiver down never delays another. Each
alert is retried on its own, so one bad alert never holds back the others:

- 2xx: delivered.
- 5xx, 408, 429, a connection error, a timeout: the receiver is unwell; the alert is retried
  after a backoff with full jitter, uniform in [0, min(30 s, 1 s * 2^(failures - 1))], so alerts
  that failed together do not retry together. One line is logged when the receiver starts
  failing, one when it accepts alerts again; then every queued alert is sent at once.
- any other answer (a 4xx: Alertmanager refuses a label name, say): the alert is logged once
  and dropped; re-sending it could never succeed. Alertmanager answers 400 to a list holding one
  bad alert without saying which alerts it kept, so the alerts of a rejected batch are sent
  again one by one (a repeat is harmless: an alert is its label set), and only those rejected
  alone are dropped; an alert once rejected is sent alone from then on.

A queue holds at most ``STREAMER_ALERT_QUEUE_MAX`` alerts; past that the oldest is dropped and
counted. Alertmanager wants each alert's latest state only, so a newer document with the same
label set replaces the queued one, keeping its place and its backoff; the webhook gets every
transition. Alertmanager forgets an alert that is not re-sent (its resolve timeout, 5 minutes by
default), so firing alerts are re-sent to every Alertmanager on a timer.

Metrics, on the worker's registry, with ``sink`` = ``alertmanager-0``, ``alertmanager-1``, … (the
URLs in their configured order) or ``webhook``:

- ``streamer_alerts_sent_total{sink}``: alerts the receiver accepted;
- ``streamer_alert_send_failures_total{sink, reason}``: alerts not delivered by one attempt, with
  ``reason`` ``http_5xx``, ``throttled`` (429), ``timeout`` (408 or no answer in time),
  ``connection`` (these are retried, and count once per attempt), or ``http_4xx`` (rejected
  alone, dropped), ``dropped_queue_full``;
- ``streamer_alert_queue{sink}``: alerts waiting for delivery, in flight included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from streamer.core.alerting import Alert, AlertState, Status
from streamer.core.rules import Drop, Rule, Threshold
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from streamer.core.timestamps import format_timestamp_ms
from streamer.export import names

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
                annotations["since"] = format_timestamp_ms(verdict.since_ms)
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
        "startsAt": format_timestamp_ms(alert.starts_at_ms),
        "generatorURL": f"{public_url}/scores",
    }
    if alert.status is Status.RESOLVED and alert.ends_at_ms is not None:
        document["endsAt"] = format_timestamp_ms(alert.ends_at_ms)
    return document


class SinkMetrics:
    """The sinks' instruments, on the registry they are given; ``sink`` names the receiver."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            names.ALERTS_SENT, names.HELP[names.ALERTS_SENT], ["sink"], registry=registry
        )
        self.failures = Counter(
            names.ALERT_SEND_FAILURES,
            names.HELP[names.ALERT_SEND_FAILURES],
            ["sink", "reason"],
            registry=registry,
        )
        self.queue = Gauge(
            names.ALERT_QUEUE, names.HELP[names.ALERT_QUEUE], ["sink"], registry=registry
        )


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full jitter: the n-th retry waits ``draw * min(cap, base * 2^(n - 1))``, draw in [0, 1)."""

    base_s: float = 1.0
    cap_s: float = 30.0

    def delay_s(self, failures: int, draw: float) -> float:
        # the exponent stops growing long after the cap is reached, before floats overflow
        return draw * min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 64))


@dataclass(frozen=True, slots=True)
class _Queued:
    document: dict[str, Any]
    failures: int = 0
    due_s: float = 0.0
    """Monotonic time of the next attempt; 0 for at once."""
    alone: bool = False
    """Sent in a body of its own: it was in a batch the receiver rejected."""


# A retry is worth it when the receiver may answer differently later.
_RETRYABLE = {408: "timeout", 429: "throttled"}


class HttpSink:
    """One receiver: a bounded queue of alert documents, and the task that delivers them.

    The webhook receives one transition (a document plus its ``status``) per POST, and every
    transition: none replaces another.
    """

    batch_max = 1

    def __init__(
        self,
        name: str,
        url: str,
        metrics: SinkMetrics,
        *,
        capacity: int = 10_000,
        backoff: Backoff = Backoff(),
        timeout_s: float = 5.0,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.url = url
        self._capacity = capacity
        self._backoff = backoff
        self._draw = draw
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._queue: dict[Hashable, _Queued] = {}
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._rejected: dict[Hashable, None] = {}  # identities logged as rejected, oldest first
        self._sequence = itertools.count()
        self._failing = False
        self._overflowing = False
        self._sent = metrics.sent.labels(name)
        self._failures = metrics.failures
        metrics.queue.labels(name).set_function(self.pending)

    def identity(self, document: dict[str, Any]) -> Hashable:
        """What makes two documents the same alert, the newer replacing the older in the queue."""
        return next(self._sequence)

    def body(self, documents: list[dict[str, Any]]) -> Any:
        [document] = documents
        return document

    def put(self, document: dict[str, Any]) -> None:
        key = self.identity(document)
        queued = self._queue.get(key)
        if queued is not None:
            self._queue[key] = replace(queued, document=document)
        else:
            self._enqueue(key, _Queued(document, alone=key in self._rejected))
        self._wake.set()

    def pending(self) -> int:
        return len(self._queue) + self._in_flight

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            while True:
                batch = self._take_due(time.monotonic())
                if batch:
                    await self._deliver(session, batch)
                else:
                    await self._wait()

    def _enqueue(self, key: Hashable, queued: _Queued) -> None:
        self._queue[key] = queued
        if len(self._queue) > self._capacity:
            oldest = next(iter(self._queue))
            document = self._queue.pop(oldest).document
            self._failures.labels(self.name, "dropped_queue_full").inc()
            if not self._overflowing:
                log.warning(
                    "%s queue is full (%d alerts): dropping the oldest, first %s",
                    self.name,
                    self._capacity,
                    _describe(document),
                )
                self._overflowing = True

    def _take_due(self, now_s: float) -> list[tuple[Hashable, _Queued]]:
        """The alerts to send now: one sent alone, or up to ``batch_max`` others, oldest first."""
        batch: list[tuple[Hashable, _Queued]] = []
        for key, queued in self._queue.items():
            if queued.due_s > now_s:
                continue
            if queued.alone:
                if not batch:
                    batch.append((key, queued))
                    break
                continue
            batch.append((key, queued))
            if len(batch) == self.batch_max:
                break
        for key, _ in batch:
            del self._queue[key]
        self._in_flight = len(batch)
        return batch

    async def _wait(self) -> None:
        """Until an alert is put, or the next retry is due."""
        if not self._queue:
            self._overflowing = False
        self._wake.clear()
        due = min((queued.due_s for queued in self._queue.values()), default=None)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver(
        self, session: aiohttp.ClientSession, batch: list[tuple[Hashable, _Queued]]
    ) -> None:
        try:
            async with session.post(
                self.url, json=self.body([queued.document for _, queued in batch])
            ) as response:
                status = response.status
                answer = "" if status < 300 else (await response.text()).strip()[:200]
        except TimeoutError:
            self._retry(batch, "timeout", f"no answer within {self._timeout.total} s")
            return
        except aiohttp.ClientError as error:
            self._retry(batch, "connection", f"{type(error).__name__}: {error}")
            return
        finally:
            self._in_flight = 0
        if status < 300:
            self._sent.inc(len(batch))
            if self._failing:
                log.info("%s at %s accepts alerts again", self.name, self.url)
                self._failing = False
                # the receiver is back: what waits out a backoff can go now
                for key, queued in self._queue.items():
                    self._queue[key] = replace(queued, failures=0, due_s=0.0)
        elif status >= 500 or status in _RETRYABLE:
            self._retry(batch, _RETRYABLE.get(status, "http_5xx"), f"HTTP {status}: {answer}")
        elif len(batch) > 1:
            for key, queued in batch:
                self._requeue(key, replace(queued, alone=True))
        else:
            [(key, queued)] = batch
            self._failures.labels(self.name, "http_4xx").inc()
            if key not in self._rejected:
                log.warning(
                    "%s at %s rejected %s (HTTP %d: %s); dropped, not retried",
                    self.name,
                    self.url,
                    _describe(queued.document),
                    status,
                    answer,
                )
                self._rejected[key] = None
                if len(self._rejected) > self._capacity:
                    del self._rejected[next(iter(self._rejected))]

    def _retry(self, batch: list[tuple[Hashable, _Queued]], reason: str, problem: str) -> None:
        if not self._failing:
            log.warning(
                "%s at %s is failing (%s); retrying with backoff", self.name, self.url, problem
            )
            self._failing = True
        self._failures.labels(self.name, reason).inc(len(batch))
        now_s = time.monotonic()
        for key, queued in batch:
            failures = queued.failures + 1
            due_s = now_s + self._backoff.delay_s(failures, self._draw())
            self._requeue(key, replace(queued, failures=failures, due_s=due_s))

    def _requeue(self, key: Hashable, queued: _Queued) -> None:
        # A newer state put while this one was in flight supersedes it.
        if key not in self._queue:
            self._enqueue(key, queued)


def _describe(document: dict[str, Any]) -> str:
    return str(document.get("labels", {}))


class Alertmanager(HttpSink):
    """Alertmanager's API v2: a list of alerts per POST, an alert being its label set."""

    batch_max = 64  # as Prometheus's notifier batches

    def __init__(self, name: str, base_url: str, metrics: SinkMetrics, **options: Any) -> None:
        super().__init__(name, base_url.rstrip("/") + "/api/v2/alerts", metrics, **options)

    def identity(self, document: dict[str, Any]) -> Hashable:
        return frozenset(document["labels"].items())

    def body(self, documents: list[dict[str, Any]]) -> Any:
        return documents


class Dispatch:
    """Fans alert transitions out to the configured sinks."""

    def __init__(
        self,
        public_url: str,
        topic: Any | None,
        alertmanagers: list[Alertmanager],
        webhook: HttpSink | None,
    ) -> None:
        self._url = public_url
        self._topic = topic
        self.alertmanagers = alertmanagers
        self._webhook = webhook

    def http_sinks(self) -> list[HttpSink]:
        webhook = [self._webhook] if self._webhook is not None else []
        return [*self.alertmanagers, *webhook]

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            document = alert_document(alert, self._url)
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
            for alertmanager in self.alertmanagers:
                alertmanager.put(document)

    def resend(self, firing: list[tuple[Rule, SeriesKey, AlertState]]) -> None:
        """Re-send what is firing; a queued state of the same alert is replaced, not repeated."""
        for rule, key, st in firing:
            alert = Alert(rule, key, Status.FIRING, st.since_ms or 0, None, st.verdict)
            document = alert_document(alert, self._url)
            for alertmanager in self.alertmanagers:
                alertmanager.put(document)
