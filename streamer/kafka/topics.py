"""The worker's topics: created when missing with settings fit for a real cluster, and checked
when they exist.

Every topic it creates gets ``STREAMER_REPLICATION_FACTOR`` replicas and
``min.insync.replicas = STREAMER_MIN_INSYNC_REPLICAS``. The changelogs are compacted and never
expire by time: a bucket record lives until the worker deletes it (a tombstone once its bucket
has left the longest window), so a 7-day broker default retention must not delete the oldest
days of a 7-day window. The repartition topic keeps records for ``REPARTITION_RETENTION_MS``
(deleted, never compacted: compaction would keep one answer per touchpoint).

Existing topics are described on start. A changelog that is not compacted, or a changelog or
repartition topic whose partition count differs from the input's, is refused (exit 2); fewer
replicas or a lower ``min.insync.replicas`` than configured is logged as a warning. A broker that
cannot describe topic configs gets a logged note and the configs go unchecked.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streamer.kafka.options import client_options
from streamer.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")

BUCKETS_TABLE = "buckets"
ALERTS_TABLE = "alerts"
REPARTITION_RETENTION_MS = 7 * 24 * 3600 * 1000
"""How long a re-published answer waits for its worker: as long as Kafka's default retention of
the input topic, the other thing a worker that is down that long would lose."""


def is_topic_name(name: str) -> bool:
    """Whether Kafka takes ``name`` as a topic's name."""
    return _TOPIC_NAME.fullmatch(name) is not None


class TopicSettings(Protocol):
    """What the topics are built from: the worker's settings have it (``STREAMER_*``), as may any
    value resolved from them. An empty alerts or detractors topic is switched off."""

    @property
    def kafka(self) -> KafkaSettings: ...
    @property
    def app_id(self) -> str: ...
    @property
    def input_topic(self) -> str: ...
    @property
    def dlq_topic(self) -> str: ...
    @property
    def alerts_topic(self) -> str: ...
    @property
    def detractors_topic(self) -> str: ...
    @property
    def partitions(self) -> int: ...
    @property
    def replication_factor(self) -> int: ...
    @property
    def min_insync_replicas(self) -> int: ...


class TopicsError(Exception):
    """Existing topics the worker cannot run on; one line per problem, each saying what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def changelog_topic(settings: TopicSettings, table: str) -> str:
    """Faust's name for a table's changelog."""
    return f"{settings.app_id}-{table}-changelog"


def repartition_topic(settings: TopicSettings) -> str:
    """Answers re-published keyed by touchpoint (the Kafka Streams name pattern)."""
    return f"{settings.app_id}-repartition"


@dataclass(frozen=True, slots=True)
class Wanted:
    name: str
    configs: Mapping[str, str]
    compacted: bool = False
    copartitioned: bool = False
    """Must have the input's partition count (its partitions follow the input's assignment)."""


@dataclass(frozen=True, slots=True)
class Found:
    """An existing topic as the broker describes it; ``configs`` is None when it could not."""

    name: str
    partitions: int
    replicas: int
    configs: Mapping[str, str] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Verdict:
    refusals: list[str]
    warnings: list[str]
    unchecked: list[str]
    """Checks the broker gave no answer for (a config it does not report)."""


def wanted_topics(settings: TopicSettings) -> list[Wanted]:
    insync = {"min.insync.replicas": str(settings.min_insync_replicas)}
    plain = [settings.input_topic, settings.dlq_topic, settings.alerts_topic]
    plain.append(settings.detractors_topic)
    wanted = [Wanted(name, insync) for name in plain if name]
    wanted.append(
        Wanted(
            repartition_topic(settings),
            {**insync, "cleanup.policy": "delete", "retention.ms": str(REPARTITION_RETENTION_MS)},
            copartitioned=True,
        )
    )
    wanted += [
        Wanted(
            changelog_topic(settings, table),
            {**insync, "cleanup.policy": "compact", "retention.ms": "-1"},
            compacted=True,
            copartitioned=True,
        )
        for table in (BUCKETS_TABLE, ALERTS_TABLE)
    ]
    return wanted


def judge(
    wanted: Sequence[Wanted], found: Mapping[str, Found], partitions: int, settings: TopicSettings
) -> Verdict:
    """What is wrong with the existing topics among ``wanted``."""
    refusals: list[str] = []
    warnings: list[str] = []
    unchecked: list[str] = []
    for want in wanted:
        topic = found.get(want.name)
        if topic is None:
            continue
        name = want.name
        if want.copartitioned and topic.partitions != partitions:
            refusals.append(
                f"{name} has {topic.partitions} partitions, the input topic {partitions}: "
                "they must be equal (delete it, or recreate it with the input's count)"
            )
        if topic.replicas < settings.replication_factor:
            warnings.append(
                f"{name} has {topic.replicas} replica(s), STREAMER_REPLICATION_FACTOR is "
                f"{settings.replication_factor}: one broker's loss can lose its data"
            )
        if topic.configs is None:
            continue
        insync = topic.configs.get("min.insync.replicas")
        if insync is None:
            unchecked.append(f"{name}: min.insync.replicas")
        elif int(insync) < settings.min_insync_replicas:
            warnings.append(
                f"{name} has min.insync.replicas={insync}, STREAMER_MIN_INSYNC_REPLICAS is "
                f"{settings.min_insync_replicas}: an acknowledged write may live on one broker"
            )
        policy = topic.configs.get("cleanup.policy")
        # Apache Kafka reports every config; a broker that reports only those set explicitly
        # leaves out a topic created without one, which then has the broker default (delete).
        policies = set((policy or "delete").split(","))
        if want.compacted and "compact" not in policies:
            refusals.append(
                f"{name} has cleanup.policy={policy or '(broker default)'}: a changelog must be "
                "compacted or its oldest records are deleted and a restart loses them; run "
                f"kafka-configs --alter --entity-type topics --entity-name {name} "
                "--add-config cleanup.policy=compact"
            )
        elif want.compacted and "delete" in policies:
            retention = topic.configs.get("retention.ms")
            if retention != "-1":
                warnings.append(
                    f"{name} has cleanup.policy={policy} and retention.ms={retention}: records "
                    "older than that are deleted although compacted; set retention.ms=-1"
                )
        if not want.compacted and want.copartitioned and "compact" in policies:
            refusals.append(
                f"{name} has cleanup.policy={policy}: compaction keeps one answer per "
                "touchpoint; set cleanup.policy=delete"
            )
    return Verdict(refusals, warnings, unchecked)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do about the worker's topics, given those the broker has."""

    partitions: int
    """Of the topics to create: the existing input topic's count, else STREAMER_PARTITIONS."""
    verdict: Verdict
    missing: list[Wanted]


def plan_topics(
    wanted: Sequence[Wanted],
    existing: Collection[str],
    found: Mapping[str, Found],
    settings: TopicSettings,
) -> Plan:
    """The changelogs and the repartition topic must have as many partitions as the input (a
    record is written to the partition of the answers it holds), so an existing input topic
    decides the count."""
    partitions = settings.partitions
    if settings.input_topic in found:
        partitions = found[settings.input_topic].partitions or partitions
    verdict = judge(wanted, found, partitions, settings)
    return Plan(partitions, verdict, [w for w in wanted if w.name not in existing])


async def ensure_topics(settings: TopicSettings) -> int:
    """Create the worker's topics if missing and check the existing ones; returns the partition
    count. Raises TopicsError for existing topics the worker cannot run on, creating none."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka.hosts(), **client_options(settings.kafka)
    )
    await admin.start()
    try:
        wanted = wanted_topics(settings)
        existing = set(await admin.list_topics())
        found = await _describe(admin, [w.name for w in wanted if w.name in existing])
        plan = plan_topics(wanted, existing, found, settings)
        for warning in plan.verdict.warnings:
            log.warning("topic settings: %s", warning)
        if plan.verdict.unchecked:
            unchecked = ", ".join(plan.verdict.unchecked)
            log.info("topic settings the broker does not report: %s", unchecked)
        if plan.verdict.refusals:
            raise TopicsError(plan.verdict.refusals)
        if plan.missing:
            replicas = settings.replication_factor
            missing = [
                NewTopic(w.name, plan.partitions, replicas, topic_configs=dict(w.configs))
                for w in plan.missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
            log.info(
                "created topics %s with %d partitions, %d replica(s), min.insync.replicas=%d",
                [t.name for t in missing],
                plan.partitions,
                replicas,
                settings.min_insync_replicas,
            )
        return plan.partitions
    finally:
        await admin.close()


async def _describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, Found]:
    if not names:
        return {}
    described = await admin.describe_topics(names)
    configs = await _configs(admin, names)
    found = {}
    for topic in described:
        parts = topic["partitions"]
        replicas = min((len(p["replicas"]) for p in parts), default=0)
        name = topic["topic"]
        found[name] = Found(name, len(parts), replicas, configs.get(name) if configs else None)
    return found


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configs as the broker reports them; empty when it cannot (noted in the log)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    try:
        responses: list[Any] = await admin.describe_configs(resources)
    except KafkaError as error:
        log.info("topic configs not checked: the broker cannot describe them (%r)", error)
        return {}
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for error_code, message, _type, name, entries in response.resources:
            if error_code:
                log.info("configs of %s not checked: error %d (%s)", name, error_code, message)
                continue
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs
