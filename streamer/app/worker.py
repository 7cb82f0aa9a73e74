"""The worker: builds the parts from the Config and connects them; each part is its own module.

The data path, top to bottom:

    fetched records -> Intake (bulk, under Faust's per-message path)
      -> Router (answers not keyed by touchpoint are re-published keyed) -> Batches (decode,
         dead-letter, count into the Board) -> StateStore (log records, at each commit)
    timer -> AlertLoop.tick (windows to now, rules, alert states) -> AlertStore, Dispatch
    scrape -> ScoreCollector (windows read at scrape time, formatted on a thread)

State lives in Faust tables (memory store, changelog in Kafka), so a restarted worker recovers
it; the Board and the alert states are rebuilt from the tables after every recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import faust
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from streamer.app import application
from streamer.app.alertloop import AlertLoop
from streamer.app.batches import Batches
from streamer.app.buildinfo import register_build_metrics
from streamer.app.config import Config, data_dir, resolve, rules_of
from streamer.app.faust_hooks import StreamerApp, commit
from streamer.app.intake import Intake
from streamer.app.logs import configure_logging
from streamer.app.metrics import (
    LagCollector,
    ScoreCollector,
    StateBytesCollector,
    WorkerMetrics,
    consumer_lag,
)
from streamer.app.outbox import Outbox
from streamer.app.readiness import BrokerProbe, Readiness
from streamer.app.recovery import Recovery
from streamer.app.repartition import Router
from streamer.app.rulemetrics import RuleMetrics
from streamer.app.settings import Settings
from streamer.app.sinks.alertmanager import Alertmanager
from streamer.app.sinks.dispatch import Dispatch
from streamer.app.sinks.http import HttpSink, SinkMetrics
from streamer.app.store import AlertStore, ChangelogSeal, StateStore
from streamer.app.views import register_views
from streamer.core.board import Board
from streamer.core.decoder import Decoder
from streamer.core.monitor import Monitor
from streamer.core.rules import Rule
from streamer.core.watch import Watch
from streamer.kafka.topics import ALERTS_TABLE, BUCKETS_TABLE, ensure_topics

log = logging.getLogger("streamer.worker")

BROKER_PROBE_S = 2.0


EXIT_RECORD_LOST = 3


def stop_on_lost_record(error: BaseException) -> None:
    log.critical(
        "a record was not written to Kafka (%r): stopping without committing, so that the "
        "restart counts again from the last commit what that record carried",
        error,
    )
    # Not a clean stop: that would commit, and every record still buffered would be sent
    # after the one lost (outbox.py).
    os._exit(EXIT_RECORD_LOST)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Worker:
    def __init__(
        self,
        settings: Settings,
        partitions: int | None = None,
        rules: tuple[Rule, ...] | None = None,
    ) -> None:
        config = self.config = resolve(settings, partitions, rules)
        s = settings
        self.board = Board(
            config.scoring,
            config.timeline,
            s.breakdowns(),
            s.max_series,
            wall_clock_ms(),
            s.dedupe_horizon_ms(),
        )
        self.registry = CollectorRegistry()
        register_build_metrics(self.registry)
        app = self.app = application.build_app(config)
        app.streamer_before_start = lambda: ensure_topics(s)
        self.readiness = Readiness(lambda: bool(app.rebalancing))

        # What a commit waits for: every record sent since, acknowledged (see outbox.py).
        outbox = Outbox(app.producer.flush, s.session_timeout_s, stop_on_lost_record)
        seal = ChangelogSeal(outbox.delivered)  # the broker's end-offset quirk: see store.py
        store = StateStore(
            outbox.table(application.changelog_table(app, config, BUCKETS_TABLE)),
            seal,
            config.partitions,
        )
        alert_store = AlertStore(
            outbox.table(application.changelog_table(app, config, ALERTS_TABLE)), seal
        )
        self.batches = Batches(
            self.board,
            Decoder(config.scoring, s.limits()),
            outbox.topic(application.output_topic(app, s.dlq_topic)),
            WorkerMetrics(self.registry),
            wall_clock_ms,
            s.dlq_value_max_bytes,
            follow_ups=outbox.topic(application.output_topic(app, s.detractors_topic))
            if s.detractors_topic
            else None,
            scoring=config.scoring,
        )
        application.counted_topic(app, s.input_topic, config.partitions)
        router = Router(
            s.input_topic,
            config.partitions,
            outbox.topic(
                application.counted_topic(app, config.repartition_topic, config.partitions)
            ),
            self.batches.process,
            self.registry,
            s.max_series,
        )

        async def seal_batch() -> None:
            # What the batches sent is acknowledged before their state is written (the intake's
            # `delivered`): the seal waits for the state's records.
            await seal()
            self.board.acknowledged()

        intake = Intake(
            config.topics,
            router.process,
            outbox.delivered,
            lambda: store.write(self.board.flush(wall_clock_ms())),
            seal_batch,
            lambda positions: commit(app.consumer, positions, s.session_timeout_s),
            lambda positions: app.consumer.seek_wait(positions),
            s.batch_max,
            s.commit_interval_s,
        )
        app.streamer_divert = intake.wrap
        probe = BrokerProbe(s.kafka, self.readiness)
        recovery = Recovery(
            self.board,
            (watch := Watch(config.rules, config.timeline, config.scoring.ces)),
            (store, alert_store),
            intake,
            self.readiness,
            config.partitions,
            lambda: application.assigned_partitions(app, s.input_topic),
            wall_clock_ms,
            probe.probe,
        )
        dispatch = _dispatch(s, app, SinkMetrics(self.registry))
        alerts = AlertLoop(
            Monitor(self.board, watch),
            alert_store,
            dispatch,
            RuleMetrics(self.registry, config.rules),
            self.readiness,
            config.partitions,
        )
        self.registry.register(
            LagCollector(
                lambda: consumer_lag(app.consumer, config.topics, self.batches.next_offset)
            )
        )
        self.registry.register(StateBytesCollector(lambda: store.written_bytes))
        _connect(app, config, store, recovery, intake, alerts, seal, dispatch)
        scores = ScoreCollector(self.board, config.scoring)
        register_views(app, self.registry, scores, self.board, config.scoring.ces, self.readiness)
        app.timer(BROKER_PROBE_S)(application.task(probe.probe))


def _dispatch(settings: Settings, app: faust.App, metrics: SinkMetrics) -> Dispatch:
    capacity = settings.alert_queue_max
    return Dispatch(
        settings.base_url(),
        application.output_topic(app, settings.alerts_topic) if settings.alerts_topic else None,
        [
            Alertmanager(
                f"alertmanager-{i}",
                url,
                metrics,
                resend_s=settings.alert_resend_s,
                capacity=capacity,
            )
            for i, url in enumerate(settings.alertmanager_urls())
        ],
        HttpSink("webhook", settings.alert_webhook_url, metrics, capacity=capacity)
        if settings.alert_webhook_url
        else None,
        settings.dashboard_url,
    )


def _connect(
    app: StreamerApp,
    config: Config,
    store: StateStore,
    recovery: Recovery,
    intake: Intake,
    alerts: AlertLoop,
    seal: ChangelogSeal,
    dispatch: Dispatch,
) -> None:
    """The parts on Faust's callbacks, tasks and timers."""
    store.on_recover(recovery.recovered)

    async def last_commit() -> None:
        try:
            await asyncio.wait_for(recovery.revoked(), config.settings.session_timeout_s)
        except TimeoutError:
            # Past the session the group has moved on without this member: like after a crash,
            # the next owner counts the uncommitted batches from the input.
            log.warning(
                "no last commit within %.0f s of the stop", config.settings.session_timeout_s
            )

    app.streamer_before_stop = last_commit

    @app.on_partitions_revoked.connect
    async def revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await recovery.revoked()

    app.task(application.task(intake.run))

    @app.timer(config.settings.tick_s)
    async def tick() -> None:
        alerts.tick(wall_clock_ms())
        # Alert states wait for no offsets: what is not acknowledged yet is awaited again by
        # the next seal (the intake's commit says so when it has to wait).
        with contextlib.suppress(TimeoutError, KafkaError):
            await seal()
        await intake.commit_due()

    if dispatch.alertmanagers:

        @app.timer(config.settings.alert_resend_s)
        async def resend() -> None:
            alerts.resend()

    for sink in dispatch.http_sinks():
        app.task(application.task(sink.run))


def run(settings: Settings) -> None:
    """``streamer worker``: check the rules and the data directory, create the topics, then run
    one Faust worker until stopped. Nothing touches Kafka before the configuration is known to
    be good (the settings were checked when they were read)."""
    configure_logging(settings.log_level, settings.log_format)
    rules = rules_of(settings)
    data_dir(settings)
    if not settings.public_url and settings.binds_everywhere():
        log.info(
            "alert links point at %s; set STREAMER_PUBLIC_URL to how people reach this worker",
            settings.base_url(),
        )
    partitions = asyncio.run(ensure_topics(settings))
    worker = Worker(settings, partitions, rules)
    worker.app.streamer_before_start = None  # created just above
    # Logging is ours (configure_logging): Faust must not set its own up; without its spinner
    # it logs "Ready" rather than printing to stdout.
    faust_worker = faust.Worker(
        worker.app, loglevel=settings.log_level, override_logging=False, quiet=True
    )
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
