"""The Faust app and the topics and tables it is made of, built from the Config.

Every topic the worker reads or writes carries raw bytes: the core decodes answers itself
(``streamer.core.events``) and the stores encode their records themselves (versioned), so
Faust's serializers never see a value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust

from streamer.app.config import Config, data_dir
from streamer.app.faust_hooks import StreamerApp, StreamerTables
from streamer.app.seams import Table, Topic
from streamer.app.webconfig import BasicAuth
from streamer.kafka.options import client_options
from streamer.kafka.settings import KafkaSettings
from streamer.kafka.topics import changelog_topic


def build_app(config: Config) -> StreamerApp:
    s = config.settings
    web = s.web_config()
    app = StreamerApp(
        s.app_id,
        broker=[f"kafka://{host}" for host in s.kafka.hosts()],
        broker_credentials=credentials(s.kafka),
        store="memory://",
        datadir=data_dir(s),
        topic_partitions=config.partitions,
        topic_replication_factor=s.replication_factor,
        broker_session_timeout=s.session_timeout_s,
        broker_rebalance_timeout=s.session_timeout_s,
        broker_heartbeat_interval=max(1.0, s.session_timeout_s / 5),
        broker_max_poll_records=s.batch_max,
        producer_request_timeout=s.producer_timeout_s,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=s.instance_id or None,
        web_host=s.web_host,
        web_bind=s.web_host,
        web_port=s.web_port,
        web_ssl_context=web.ssl_context,
        web_application_options={"middlewares": [BasicAuth(web.users)] if web.users else []},
        TableManager=StreamerTables,
    )
    app.streamer_fetch_max_wait_ms = s.fetch_max_wait_ms
    return app


def counted_topic(app: faust.App, name: str, partitions: int) -> Topic:
    """An input topic whose records the intake takes (``streamer.app.intake``). Subscribed for
    the assignment: the tables follow the input's partitions, and Faust co-partitions topics of
    equal partition counts."""
    topic = app.topic(name, key_serializer="raw", value_serializer="raw", partitions=partitions)
    app.topics.add(topic)
    typed: Topic = topic
    return typed


def output_topic(app: faust.App, name: str) -> Topic:
    topic: Topic = app.topic(name, key_serializer="raw", value_serializer="raw")
    return topic


def changelog_table(app: faust.App, config: Config, name: str) -> Table:
    """A table whose values the stores encode themselves, so its changelog carries raw bytes.
    Faust builds a table's changelog topic while constructing the table, so it is passed in;
    the table's own serializers are what send_changelog writes with."""
    changelog = app.topic(
        changelog_topic(config.settings, name),
        key_serializer="raw",
        value_serializer="raw",
        partitions=config.partitions,
        compacting=True,
        acks=False,
        internal=True,
        maxsize=131_072,
        allow_empty=True,
    )
    # Any: Faust's TableT does not declare the serializers its Table has.
    table: Any = app.Table(
        name, default=None, partitions=config.partitions, changelog_topic=changelog
    )
    table.key_serializer = table.value_serializer = "raw"
    typed: Table = table
    return typed


def assigned_partitions(app: faust.App, topic: str) -> set[int]:
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def task(loop: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Faust passes the app to a task or timer whose signature takes an argument; a bound
    method's ``self`` would confuse it."""

    async def run() -> None:
        await loop()

    return run


def credentials(kafka: KafkaSettings) -> Any:
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
