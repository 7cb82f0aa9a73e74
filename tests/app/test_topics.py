"""What the worker asks of its topics, and what it says about existing ones."""

from streamer.app.settings import load_settings
from streamer.app.topics import Found, judge, wanted_topics

SETTINGS = load_settings(app_id="app", replication_factor=3, min_insync_replicas=2)
GOOD = {"min.insync.replicas": "2"}


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
