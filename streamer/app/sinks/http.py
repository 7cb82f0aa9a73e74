"""One HTTP receiver of alerts: its bounded queue, its task, its retries. As is, the generic
webhook (every transition, one per POST); ``alertmanager.py`` batches and replaces.

Scoring never waits for a receiver. Every HTTP receiver (each Alertmanager of
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
counted. A newer document of the same alert (``identity``) replaces the queued one, keeping its
place and its backoff; for the webhook no two transitions are the same, so it gets every one.

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
from prometheus_client import CollectorRegistry, Counter, Gauge

from streamer.app.sinks.document import transition
from streamer.core.alerting import Alert
from streamer.export import names

log = logging.getLogger("streamer.alerts")


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
    transition, in order: none replaces another, and one waiting out a backoff holds back those
    after it (a resolve overtaking its page left a receiver that keeps the last word firing).
    """

    batch_max = 1
    ordered = True

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

    def send(self, alert: Alert, document: dict[str, Any]) -> None:
        self.put(transition(alert, document))

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

    def _enqueue(self, key: Hashable, queued: _Queued, first: bool = False) -> None:
        """Queue an alert last (or ``first``: back at the head of an ordered queue), dropping
        the oldest when the queue is full."""
        if first:
            self._queue = {key: queued, **self._queue}
        else:
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
                if self.ordered:
                    break
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
        if self.ordered:  # only the head may go: what waits behind it waits for it
            due = next((queued.due_s for queued in self._queue.values()), None)
        else:
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
                # bytes, decoded leniently: a proxy's page in another charset than it declares
                # raised here, which ended this task and the worker with it
                body = b"" if status < 300 else await response.read()
                answer = body.decode("utf-8", "replace").strip()[:200]
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
            # an ordered queue's head goes back first, ahead of what was put while in flight
            self._enqueue(key, queued, first=self.ordered)


def _describe(document: dict[str, Any]) -> str:
    return str(document.get("labels", {}))
