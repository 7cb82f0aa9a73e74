"""The Faust shell: the app, its topics, the bucket table, the bulk intake, the timers, views.

It moves data and calls the core; it holds no math. State lives in the ``buckets`` table
(memory store, changelog in Kafka), so a restarted worker recovers it; the in-memory Board is
rebuilt from the table after every recovery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from aiokafka.client import AIOKafkaClient
from prometheus_client import CollectorRegistry

from streamer.app.buildinfo import register_build_metrics
from streamer.app.faust_hooks import commit, hook_consumer
from streamer.app.ingest import Ingest
from streamer.app.intake import Intake
from streamer.app.kafka import client_options
from streamer.app.logs import configure_logging
from streamer.app.metrics import LagCollector, ScoreCollector, WorkerMetrics
from streamer.app.repartition import Router
from streamer.app.rulemetrics import RuleMetrics
from streamer.app.settings import Settings, SettingsError
from streamer.app.sinks import Alertmanager, Dispatch, HttpSink, SinkMetrics
from streamer.app.store import AlertStore, ChangelogSeal, StateStore
from streamer.app.topics import (
    ALERTS_TABLE,
    BUCKETS_TABLE,
    changelog_topic,
    ensure_topics,
    repartition_topic,
)
from streamer.app.views import register_views
from streamer.app.webconfig import BasicAuth
from streamer.core.board import Board
from streamer.core.events import Decoder
from streamer.core.ledger import LayoutError
from streamer.core.monitor import Monitor
from streamer.core.rules import Calendar, Drop, Rule
from streamer.core.watch import Watch
from streamer.core.window import Timeline
from streamer.rules_file import read_rules

log = logging.getLogger("streamer.worker")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class StreamerApp(faust.App):
    """Creates missing topics before Faust starts using them (unless ``streamer worker`` did),
    and hands the input and repartition topics' fetched records to the intake in bulk."""

    streamer_settings: Settings
    streamer_intake: Intake
    streamer_topics_ready = False

    async def on_first_start(self) -> None:
        if not self.streamer_topics_ready:
            await ensure_topics(self.streamer_settings)
        await super().on_first_start()

    def _new_consumer(self) -> Any:
        return hook_consumer(
            super()._new_consumer(),
            self.streamer_intake.wrap,
            self.streamer_settings.fetch_max_wait_ms,
        )


class Worker:
    def __init__(
        self,
        settings: Settings,
        partitions: int | None = None,
        rules: tuple[Rule, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.partitions = partitions or settings.partitions
        self.scoring = settings.scoring()
        rules = rules_of(settings) if rules is None else rules
        self.timeline = timeline_of(settings, rules)
        self.board = Board(
            self.scoring,
            self.timeline,
            settings.breakdowns(),
            settings.max_series,
            wall_clock_ms(),
            settings.dedupe_horizon_ms(),
        )
        self.registry = CollectorRegistry()
        self.metrics = WorkerMetrics(self.registry)
        register_build_metrics(self.registry)
        self.recovered = False
        self.broker_reachable = False
        self.watch = Watch(rules, self.timeline, self.scoring.ces)
        self.monitor = Monitor(self.board, self.watch)
        self.rule_metrics = RuleMetrics(self.registry, rules)
        self.app = self._build_app()
        self.registry.register(ScoreCollector(self.board, self.scoring))
        self.registry.register(LagCollector(self.lag))

    def _build_app(self) -> StreamerApp:
        s = self.settings
        web = s.web_config()
        app = StreamerApp(
            s.app_id,
            broker=[f"kafka://{host}" for host in s.kafka.hosts()],
            broker_credentials=_credentials(s),
            store="memory://",
            datadir=data_dir(s),
            topic_partitions=self.partitions,
            topic_replication_factor=s.replication_factor,
            broker_session_timeout=s.session_timeout_s,
            broker_rebalance_timeout=s.session_timeout_s,
            broker_heartbeat_interval=max(1.0, s.session_timeout_s / 5),
            broker_max_poll_records=s.batch_max,
            consumer_auto_offset_reset="earliest",
            web_host=s.web_host,
            web_bind=s.web_host,
            web_port=s.web_port,
            web_ssl_context=web.ssl_context,
            web_application_options={"middlewares": [BasicAuth(web.users)] if web.users else []},
        )
        app.streamer_settings = s
        source = app.topic(
            s.input_topic, key_serializer="raw", value_serializer="raw", partitions=self.partitions
        )
        rekeyed = app.topic(
            repartition_topic(s),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.partitions,
        )
        dead_letters = self._raw_topic(app, s.dlq_topic)
        seal = ChangelogSeal(app.producer.flush)  # the broker's end-offset quirk: see store.py
        store = self.store = StateStore(self._raw_table(app, BUCKETS_TABLE), seal, self.partitions)
        alert_store = AlertStore(self._raw_table(app, ALERTS_TABLE), seal)
        self.ingest = Ingest(
            self.board,
            Decoder(self.scoring, s.limits()),
            dead_letters,
            self.metrics,
            wall_clock_ms,
            s.dlq_value_max_bytes,
            follow_ups=self._raw_topic(app, s.detractors_topic) if s.detractors_topic else None,
            scoring=self.scoring,
        )
        sink_metrics = SinkMetrics(self.registry)
        capacity = s.alert_queue_max
        dispatch = Dispatch(
            s.base_url(),
            self._raw_topic(app, s.alerts_topic) if s.alerts_topic else None,
            [
                Alertmanager(f"alertmanager-{i}", url, sink_metrics, capacity=capacity)
                for i, url in enumerate(s.alertmanager_urls())
            ],
            HttpSink("webhook", s.alert_webhook_url, sink_metrics, capacity=capacity)
            if s.alert_webhook_url
            else None,
        )

        # Subscribed for the assignment (the tables follow the input's partitions, and Faust
        # co-partitions topics of equal partition counts), but their records never reach
        # Faust's per-message path: the intake takes them (intake.py).
        app.topics.add(source)
        app.topics.add(rekeyed)
        router = self.router = Router(
            s.input_topic,
            self.partitions,
            rekeyed,
            self.ingest.process,
            app.producer.flush,
            self.registry,
            s.max_series,
        )

        async def seal_batch() -> None:
            await router.flush()
            await seal()

        intake = app.streamer_intake = Intake(
            {s.input_topic, rekeyed.get_topic_name()},
            router.process,
            lambda: store.write(self.board.flush(wall_clock_ms())),
            seal_batch,
            self._commit,
            s.batch_max,
            s.commit_interval_s,
        )
        app.task(_runner(intake.run))

        async def recovered() -> None:
            # Faust recovers every table before it calls any recovery callback.
            mine = self._assigned_partitions(app)
            now_ms = wall_clock_ms()
            try:
                # Sources: the input's partitions, and the repartition topic's (repartition.py).
                sources = mine | {self.partitions + p for p in mine}
                self.board.restore(store.load(mine), sources, now_ms)
            except LayoutError as error:
                log.critical("cannot read the persisted state: %s", error)
                # Nothing was counted or committed: stopping here loses nothing, and a worker
                # that ran on would misread or overwrite the state.
                os._exit(2)
            self.watch.restore(alert_store.load(mine))
            self.recovered = True
            intake.open(mine)
            log.info(
                "state recovered for partitions %s: %d series, %d alert states",
                sorted(mine),
                sum(1 for _ in self.board.series()),
                len(self.watch.states),
            )

        store.on_recover(recovered)

        @app.on_partitions_revoked.connect
        async def revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            self.recovered = False
            await intake.close()

        @app.timer(s.tick_s)
        async def tick() -> None:
            now_ms = wall_clock_ms()
            self.board.advance(now_ms)
            if self.watch.rules and self.recovered:
                result = self.monitor.evaluate(now_ms)
                if self.monitor.complete:
                    self.rule_metrics.watched(result.watched)
                for state_key, state in result.changed.items():
                    source = self.board.partition_of(state_key[1])
                    partition = None if source is None else source % self.partitions
                    alert_store.save(state_key, state, partition)
                dispatch.send(result.alerts)
            await seal()
            await intake.commit_due()

        if dispatch.alertmanagers:

            @app.timer(s.alert_resend_s)
            async def resend() -> None:
                dispatch.resend(self.watch.firing())

        for sink in dispatch.http_sinks():
            app.task(_runner(sink.run))

        probe: dict[str, AIOKafkaClient] = {}

        @app.timer(2.0)
        async def probe_broker() -> None:
            reachable = await _reachable(s, probe)
            if reachable != self.broker_reachable:
                level = logging.INFO if reachable else logging.WARNING
                state = "reachable" if reachable else "unreachable"
                log.log(level, "broker %s %s", s.kafka.bootstrap, state)
                self.broker_reachable = reachable

        register_views(app, self)
        return app

    def _raw_topic(self, app: faust.App, name: str) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    def _raw_table(self, app: faust.App, name: str) -> Any:
        """A table whose values the stores encode themselves (versioned JSON), so its changelog
        carries raw bytes. Faust builds a table's changelog topic while constructing the table,
        so it is passed in; the table's own serializers are what send_changelog writes with."""
        changelog = app.topic(
            changelog_topic(self.settings, name),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.partitions,
            compacting=True,
            acks=False,
            internal=True,
            maxsize=131_072,
            allow_empty=True,
        )
        table: Any = app.Table(
            name, default=None, partitions=self.partitions, changelog_topic=changelog
        )
        table.key_serializer = table.value_serializer = "raw"
        return table

    async def _commit(self, positions: dict[Any, int]) -> bool:
        return await commit(self.app.consumer, positions)

    def _assigned_partitions(self, app: faust.App) -> set[int]:
        return {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == self.settings.input_topic
        }

    def lag(self) -> dict[int, int]:
        """Per partition: messages not yet processed on the input and repartition topics."""
        lags: dict[int, int] = {}
        consumer = self.app.consumer
        topics = (self.settings.input_topic, repartition_topic(self.settings))
        for tp in consumer.assignment():
            if tp.topic not in topics:
                continue
            highwater = consumer.highwater(tp)
            done = self.ingest.next_offset.get((tp.topic, tp.partition))
            if highwater is not None and done is not None:
                lags[tp.partition] = lags.get(tp.partition, 0) + max(0, highwater - done)
        return lags

    def ready(self) -> bool:
        return self.recovered and self.broker_reachable and not self.app.rebalancing


async def _reachable(settings: Settings, probe: dict[str, AIOKafkaClient]) -> bool:
    """One metadata round trip within 2 s: a frozen broker still accepts TCP connections."""
    try:
        client = probe.get("client")
        if client is None:
            client = AIOKafkaClient(
                bootstrap_servers=settings.kafka.hosts(), **client_options(settings.kafka)
            )
            await asyncio.wait_for(client.bootstrap(), 2.0)
            probe["client"] = client
        await asyncio.wait_for(client.fetch_all_metadata(), 2.0)
        return True
    except Exception:  # any failure to answer is "unreachable"; the reason is in the client's log
        client = probe.pop("client", None)
        if client is not None:
            await client.close()
        return False


def _runner(loop: Callable[[], Awaitable[None]]) -> Any:
    """Faust passes the app to a task whose signature takes an argument; a bound method's
    ``self`` would confuse it."""

    async def run() -> None:
        await loop()

    return run


def _credentials(settings: Settings) -> Any:
    kafka = settings.kafka
    options = client_options(kafka)
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=options["sasl_plain_password"],
            mechanism=kafka.sasl_mechanism,
            ssl_context=options.get("ssl_context"),
        )
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


def windows_of(settings: Settings) -> dict[str, int]:
    return {w.label: w.length_ms for w in settings.timeline().windows}


def rules_of(settings: Settings) -> tuple[Rule, ...]:
    """The configured rules; raises RulesError listing every problem."""
    return read_rules(settings.rules, windows_of(settings)) if settings.rules else ()


def timeline_of(settings: Settings, rules: tuple[Rule, ...]) -> Timeline:
    """The configured timeline, with hourly buckets as far back as the rules' calendar
    baselines read one-hour ranges."""
    reach = max(
        (
            rule.condition.baseline.history_ms
            for rule in rules
            if isinstance(rule.condition, Drop) and isinstance(rule.condition.baseline, Calendar)
        ),
        default=0,
    )
    return settings.timeline().with_hourly_reach(reach)


def data_dir(settings: Settings) -> Path:
    """STREAMER_DATA_DIR, created with its parents; raises SettingsError when it cannot be
    written (in a container with a read-only root filesystem: mount a volume there)."""
    path = settings.data_path()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(
            [f"STREAMER_DATA_DIR: cannot create {path}: {error.strerror}"]
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SettingsError([f"STREAMER_DATA_DIR: {path} is not writable"])
    return path


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
    worker.app.streamer_topics_ready = True
    # Logging is ours (configure_logging): Faust must not set its own up; without its spinner
    # it logs "Ready" rather than printing to stdout.
    faust_worker = faust.Worker(
        worker.app, loglevel=settings.log_level, override_logging=False, quiet=True
    )
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()
