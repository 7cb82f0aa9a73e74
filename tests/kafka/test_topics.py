"""What the worker asks of its topics, and what it says about existing ones."""

from dataclasses import dataclass, field, replace

import pytest

from streamer.kafka.settings import KafkaSettings
from streamer.kafka.topics import (
    Found,
    is_topic_name,
    judge,
    plan_topics,
    wanted_topics,
)


@dataclass(frozen=True)
class Topics:
    """The topic settings of a worker on a three-broker cluster."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    app_id: str = "app"
    input_topic: str = "answers"
    dlq_topic: str = "answers.dlq"
    alerts_topic: str = "alerts"
    detractors_topic: str = "detractors"
    partitions: int = 8
    replication_factor: int = 3
    min_insync_replicas: int = 2


SETTINGS = Topics()
GOOD = {"min.insync.replicas": "2"}
COMPACT = {"cleanup.policy": "compact", "retention.ms": "-1"}


def test_changelogs_are_created_compacted_without_time_retention_and_every_topic_in_sync():
    wanted = {w.name: w for w in wanted_topics(SETTINGS)}
    changelog = wanted["app-buckets-changelog"].configs
    assert changelog["cleanup.policy"] == "compact" and changelog["retention.ms"] == "-1"
    assert wanted["app-alerts-changelog"].configs["cleanup.policy"] == "compact"
    assert wanted["app-repartition"].configs["cleanup.policy"] == "delete"
    assert {w.configs["min.insync.replicas"] for w in wanted.values()} == {"2"}
    assert set(wanted) >= {SETTINGS.input_topic, SETTINGS.dlq_topic, "app-repartition"}


def test_a_changelog_that_is_not_compacted_is_refused_with_the_fix():
    for policy in ({"cleanup.policy": "delete"}, {}):  # {}: the broker reports only what is set
        found = {"app-buckets-changelog": Found("app-buckets-changelog", 8, 3, GOOD | policy)}
        verdict = judge(wanted_topics(SETTINGS), found, 8, SETTINGS)
        assert len(verdict.refusals) == 1
        assert "app-buckets-changelog" in verdict.refusals[0]
        assert "--add-config cleanup.policy=compact" in verdict.refusals[0]


def test_a_compacted_changelog_that_also_deletes_by_time_is_a_warning():
    configs = GOOD | {"cleanup.policy": "compact,delete", "retention.ms": "604800000"}
    found = {"app-buckets-changelog": Found("app-buckets-changelog", 8, 3, configs)}
    verdict = judge(wanted_topics(SETTINGS), found, 8, SETTINGS)
    assert not verdict.refusals
    assert ["retention.ms=604800000" in w for w in verdict.warnings] == [True]


def test_fewer_replicas_or_a_lower_min_insync_is_a_warning_not_a_refusal():
    topic = SETTINGS.input_topic
    found = {topic: Found(topic, 8, 1, {"min.insync.replicas": "1"})}
    verdict = judge(wanted_topics(SETTINGS), found, 8, SETTINGS)
    assert not verdict.refusals
    assert len(verdict.warnings) == 2
    assert "1 replica(s), STREAMER_REPLICATION_FACTOR is 3" in verdict.warnings[0]
    assert "min.insync.replicas=1, STREAMER_MIN_INSYNC_REPLICAS is 2" in verdict.warnings[1]


def test_partition_counts_that_break_co_partitioning_are_refused():
    found = {
        "app-repartition": Found("app-repartition", 4, 3, GOOD | {"cleanup.policy": "delete"}),
        SETTINGS.dlq_topic: Found(SETTINGS.dlq_topic, 1, 3, GOOD),  # its count does not matter
    }
    verdict = judge(wanted_topics(SETTINGS), found, 8, SETTINGS)
    assert verdict.refusals == [
        "app-repartition has 4 partitions, the input topic 8: they must be equal "
        "(delete it, or recreate it with the input's count)"
    ]


def test_a_compacted_repartition_topic_is_refused():
    configs = GOOD | {"cleanup.policy": "compact"}
    found = {"app-repartition": Found("app-repartition", 8, 3, configs)}
    verdict = judge(wanted_topics(SETTINGS), found, 8, SETTINGS)
    assert ["keeps one answer per touchpoint" in r for r in verdict.refusals] == [True]


def test_configs_a_broker_cannot_describe_are_not_judged_but_replicas_still_are():
    found = {"app-buckets-changelog": Found("app-buckets-changelog", 8, 1, None)}
    verdict = judge(wanted_topics(SETTINGS), found, 8, SETTINGS)
    assert not verdict.refusals and len(verdict.warnings) == 1
    partial = {"app-buckets-changelog": Found("app-buckets-changelog", 8, 3, {})}
    assert judge(wanted_topics(SETTINGS), partial, 8, SETTINGS).unchecked == [
        "app-buckets-changelog: min.insync.replicas"
    ]


def test_every_topic_is_wanted_and_a_switched_off_output_is_not():
    names = [w.name for w in wanted_topics(SETTINGS)]
    assert names == [
        "answers",
        "answers.dlq",
        "alerts",
        "detractors",
        "app-repartition",
        "app-buckets-changelog",
        "app-alerts-changelog",
    ]
    quiet = replace(SETTINGS, alerts_topic="", detractors_topic="")
    assert {w.name for w in wanted_topics(quiet)} == set(names) - {"alerts", "detractors"}


def test_on_an_empty_cluster_every_topic_is_created_with_the_configured_partitions():
    wanted = wanted_topics(SETTINGS)
    plan = plan_topics(wanted, set(), {}, SETTINGS)
    assert plan.partitions == 8
    assert plan.missing == wanted
    assert plan.verdict.refusals == plan.verdict.warnings == plan.verdict.unchecked == []


def test_an_existing_input_topic_decides_the_partitions_of_the_topics_created():
    wanted = wanted_topics(SETTINGS)
    found = {"answers": Found("answers", 3, 3, {"min.insync.replicas": "2"})}
    plan = plan_topics(wanted, {"answers", "unrelated"}, found, SETTINGS)
    assert plan.partitions == 3
    assert [w.name for w in plan.missing] == [w.name for w in wanted if w.name != "answers"]


def test_an_existing_changelog_is_judged_against_the_existing_inputs_partitions():
    found = {
        "answers": Found("answers", 3, 3, GOOD),
        "app-buckets-changelog": Found("app-buckets-changelog", 8, 3, GOOD | COMPACT),
    }
    plan = plan_topics(wanted_topics(SETTINGS), set(found), found, SETTINGS)
    assert plan.verdict.refusals == [
        "app-buckets-changelog has 8 partitions, the input topic 3: they must be equal "
        "(delete it, or recreate it with the input's count)"
    ]


def test_an_input_topic_described_without_partitions_leaves_the_configured_count():
    found = {"answers": Found("answers", 0, 0, None)}
    assert plan_topics(wanted_topics(SETTINGS), {"answers"}, found, SETTINGS).partitions == 8


@pytest.mark.parametrize(
    ("name", "legal"),
    [
        ("cx.survey-responses_2", True),
        ("x" * 249, True),
        ("x" * 250, False),
        ("", False),
        ("survey answers", False),
        ("alerts!", False),
        ("café", False),
    ],
)
def test_topic_names_are_kafkas_legal_ones(name, legal):
    assert is_topic_name(name) is legal
