"""Creating the worker's topics when they are missing (the broker may not auto-create them)."""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streamer.app.kafka import client_options
from streamer.app.settings import Settings

log = logging.getLogger(__name__)

BUCKETS_TABLE = "buckets"
ALERTS_TABLE = "alerts"


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog."""
    return f"{settings.app_id}-{table}-changelog"


async def ensure_topics(settings: Settings) -> int:
    """Create the input, dead-letter and changelog topics if missing; returns the partition count.

    The changelogs must have as many partitions as the input (a record is written to the
    partition of the answers it holds), so an existing input topic decides the count.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka.hosts(), **client_options(settings.kafka)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        partitions = settings.partitions
        if settings.input_topic in existing:
            described = await admin.describe_topics([settings.input_topic])
            partitions = len(described[0]["partitions"]) or partitions
        wanted = [
            settings.input_topic,
            settings.dlq_topic,
            settings.alerts_topic,
            settings.detractors_topic,
        ]
        wanted += [changelog_topic(settings, table) for table in (BUCKETS_TABLE, ALERTS_TABLE)]
        wanted = [name for name in wanted if name]
        missing = [NewTopic(name, partitions, 1) for name in wanted if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
            log.info("created topics %s with %d partitions", [t.name for t in missing], partitions)
        return partitions
    finally:
        await admin.close()
