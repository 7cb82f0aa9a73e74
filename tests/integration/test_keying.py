"""Any producer keying, and the worker's topic settings, through the real broker.

Three producers write one stream: aiokafka without keys (a random partition per message, so a
retry usually lands on another partition than its original), aiokafka keyed by respondent, and
confluent-kafka (librdkafka, CRC32 partitioner) keyed by touchpoint. Each retries 3% of its
answers (the same message again: same event id and occurred_at).
"""

import asyncio
import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from confluent_kafka import Producer

from streamer.app.repartition import partition_of
from tests.integration.harness import WorkerProcess, count_records, produce, value, wait_until
from tests.integration.test_crashes import assert_scores_equal_truth
from tests.integration.test_recovery import expected_counts

pytestmark = pytest.mark.integration
TOUCHPOINTS = [f"tp-{i}" for i in range(8)]


def answers(count, seed, retry_share=0.03):
    """Unique answers of the last minute, and the messages sent: each once, some twice."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events, sent = [], []
    for i in range(count):
        metric = rng.choice(["nps", "csat", "ces"])
        event = {
            "event_id": f"k{seed}-{i}",
            "occurred_at": (now - timedelta(seconds=rng.uniform(5, 60))).isoformat(),
            "touchpoint": rng.choice(TOUCHPOINTS),
            "metric": metric,
            "score": rng.randint(*{"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[metric]),
            "respondent_id": f"person-{rng.randrange(500)}",
        }
        events.append(event)
        sent.append(event)
        if rng.random() < retry_share:
            sent.append(sent[rng.randrange(len(sent))])
    return events, sent


def produce_with_librdkafka(bootstrap, topic, sent):
    """Keyed by touchpoint with confluent-kafka's default partitioner; returns each touchpoint's
    partition as the delivery reports give it."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    placed, failed = {}, []

    def delivered(error, message):
        if error is not None:
            failed.append(error)
        else:
            placed[message.key().decode()] = message.partition()

    for event in sent:
        key = event["touchpoint"].encode()
        producer.produce(topic, json.dumps(event).encode(), key=key, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0 and not failed, failed
    return placed


def test_any_producer_keying_is_counted_exactly_and_no_retry_twice(bootstrap, topics, new_worker):
    worker = new_worker().wait_ready()
    unkeyed_events, unkeyed = answers(1500, seed=1)
    by_person_events, by_person = answers(1500, seed=2)
    keyed_events, keyed = answers(1500, seed=3)
    produce(bootstrap, topics.input, [(None, json.dumps(e).encode()) for e in unkeyed])
    produce(
        bootstrap,
        topics.input,
        [(e["respondent_id"].encode(), json.dumps(e).encode()) for e in by_person],
    )
    placed = produce_with_librdkafka(bootstrap, topics.input, keyed)
    events = unkeyed_events + by_person_events + keyed_events
    answers_, checks = assert_scores_equal_truth([worker], events)
    samples = worker.metrics()
    retries = len(unkeyed) + len(by_person) + len(keyed) - len(events)
    # Every retry was recognised as one, none counted: "exact" is not a coincidence of totals.
    assert value(samples, "streamer_events_total", outcome="duplicate", reason="") == retries
    assert value(samples, "streamer_events_total", outcome="accepted", reason="") == len(events)
    assert value(samples, "streamer_repartitioned_total") == len(unkeyed) + len(by_person)
    # Touchpoints librdkafka put on another partition than murmur2 (where the re-published
    # answers go) arrive on two partitions: reported, once each, and still counted exactly.
    split = sorted(tp for tp, p in placed.items() if p != partition_of(tp.encode(), 4))
    assert value(samples, "streamer_touchpoint_partition_conflicts_total") == len(split)
    warned = [line for line in worker.tail(400).splitlines() if "arrives on partitions" in line]
    assert sorted(line.split("'")[1] for line in warned) == split
    print(
        f"\nkeying: {answers_} answers from 3 producers ({retries} retries, each counted once), "
        f"{checks} scores equal; {len(unkeyed) + len(by_person)} re-published; "
        f"{len(split)} of 8 touchpoints on two partitions (CRC32 vs murmur2), counted exactly"
    )


def test_a_crash_in_the_middle_of_the_repartition_hop_counts_each_answer_once(
    bootstrap, topics, new_worker
):
    """SIGKILL while the worker re-publishes a backlog of unkeyed answers: the re-published
    copies of the batches it had not committed are published again, and counted once."""
    events, sent = answers(30_000, seed=4, retry_share=0.02)
    first = new_worker().wait_ready()
    sender = threading.Thread(
        target=produce,
        args=(bootstrap, topics.input, [(None, json.dumps(e).encode()) for e in sent]),
    )
    sender.start()
    wait_until(
        lambda: (value(first.metrics(), "streamer_repartitioned_total") or 0) >= 3_000,
        120,
        "re-publishing under way",
        every_s=0.1,
    )
    first.kill()
    sender.join()
    second = new_worker().wait_ready()
    answers_, checks = assert_scores_equal_truth([second], events)
    republished = count_records(bootstrap, f"{topics.app_id}-repartition", 4)
    samples = second.metrics()
    replayed = value(samples, "streamer_events_total", outcome="replayed", reason="") or 0
    print(
        f"\nrepartition crash: {len(sent)} unkeyed messages ({len(events)} answers); "
        f"{republished} records in the repartition topic ({republished - len(sent)} published "
        f"twice across the kill); final {answers_} counted = "
        f"{sum(expected_counts(events).values())} expected, {checks} scores equal; "
        f"{replayed:.0f} replayed after the restart"
    )
    # Copies published twice (1 to 409 in 11 runs, never none): the kill landed mid-hop, after
    # copies the broker took and before their input offsets were committed; counted once.
    assert republished > len(sent)


def test_topics_are_created_for_a_cluster_and_existing_ones_checked(bootstrap, topics, tmp_path):
    """What the local broker (Tansu 0.6.0) lets this check: topic configs are stored and
    described back (only those set explicitly); a requested replication factor is accepted but
    every partition reports one replica, so replica counts are checked against what it reports.
    """
    worker = WorkerProcess(bootstrap, topics, tmp_path)
    wanted = {
        f"{topics.app_id}-buckets-changelog": {"cleanup.policy": "compact", "retention.ms": "-1"},
        f"{topics.app_id}-alerts-changelog": {"cleanup.policy": "compact"},
        f"{topics.app_id}-repartition": {"cleanup.policy": "delete", "retention.ms": "604800000"},
        topics.input: {},
        topics.dlq: {},
    }
    worker.start().wait_ready()
    worker.stop()
    described = asyncio.run(describe(bootstrap, list(wanted)))
    for name, configs in wanted.items():
        assert described[name].items() >= {**configs, "min.insync.replicas": "1"}.items(), name

    # Another deployment whose changelog was created by hand without compaction, on a cluster
    # that asks for 3 replicas and 2 in sync: refused, with what to do.
    other = type(topics)()
    asyncio.run(create(bootstrap, f"{other.app_id}-buckets-changelog", {}))
    refused = WorkerProcess(
        bootstrap,
        other,
        tmp_path,
        STREAMER_REPLICATION_FACTOR="3",
        STREAMER_MIN_INSYNC_REPLICAS="2",
    ).start()
    assert refused.process.wait(60) == 2
    said = refused.log.read_text()
    assert "refusing to start, its existing topics do not fit" in said
    assert f"{other.app_id}-buckets-changelog has cleanup.policy=(broker default)" in said
    assert "1 replica(s), STREAMER_REPLICATION_FACTOR is 3" in said  # a warning, logged first
    assert "topic settings the broker does not report" in said  # min.insync.replicas: not set


async def describe(bootstrap, names):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        found = {}
        for response in await admin.describe_configs(resources):
            for _code, _message, _type, name, entries in response.resources:
                found[name] = {entry[0]: entry[1] for entry in entries}
        return found
    finally:
        await admin.close()


async def create(bootstrap, name, configs):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 4, 1, topic_configs=configs)])
    finally:
        await admin.close()
