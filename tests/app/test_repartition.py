"""The router: which answers are counted where they arrived, which are re-published and where."""

import logging

from prometheus_client import CollectorRegistry

from streamer.app.repartition import Router, partition_of
from streamer.core.decoder import Decoder
from streamer.core.events import Rejection
from tests.app.fakes import Record, answer
from tests.app.fakes import Topic as Republished

NOW_MS = 1_800_000_000_000


def make_router(partitions=4):
    counted, republished, registry = [], Republished(), CollectorRegistry()
    decoder = Decoder()

    def count(messages, source_base, divert):
        """What Batches.process does with a batch: the offsets it keeps (counted or
        dead-lettered), and the source they are counted under."""
        kept = []
        for message in messages:
            result = decoder.decode(message.value, NOW_MS)
            if isinstance(result, Rejection) or divert is None or not divert(message, result):
                kept.append(message.offset)
        counted.append((kept, source_base))

    router = Router("in", partitions, republished, count, registry, max_touchpoints=100)
    return router, counted, republished, registry


def test_answers_keyed_by_touchpoint_are_counted_where_they_arrived_the_rest_re_published():
    router, counted, republished, registry = make_router()
    router.process(
        [
            Record("in", 1, 10, 1_000, b"chat", answer("a")),
            Record("in", 1, 11, 1_000, None, answer("b")),
            Record("in", 1, 12, 1_000, b"person-1", answer("c", touchpoint="web")),
            Record("in", 1, 13, 1_000, None, answer("d", score=11)),  # rejected
            Record("in", 1, 14, 1_000, None, b"{not json"),
        ]
    )
    # The rejected and undecodable ones stay: they are dead-lettered with their input position.
    assert counted == [([10, 13, 14], 0)]
    assert republished.sent == [
        (b"chat", answer("b"), partition_of(b"chat", 4), 1.0),
        (b"web", answer("c", touchpoint="web"), partition_of(b"web", 4), 1.0),
    ]
    assert registry.get_sample_value("streamer_repartitioned_total") == 2


def test_the_repartition_topic_is_counted_as_its_own_source():
    router, counted, _, _ = make_router(partitions=4)
    home = partition_of(b"chat", 4)
    router.process([Record("app-repartition", home, 3, None, b"chat", answer("a"))])
    assert counted == [([3], 4)]  # offsets of another sequence: sources 4..7


def test_murmur2_partitions_are_those_of_java_clients():
    # Reference values of Kafka's Utils.murmur2 (org.apache.kafka.common.utils.UtilsTest).
    assert partition_of(b"21", 2**31 - 1) == (-973932308 & 0x7FFFFFFF) % (2**31 - 1)
    assert partition_of(b"foobar", 2**31 - 1) == (-790332482 & 0x7FFFFFFF) % (2**31 - 1)


def test_a_touchpoint_on_two_partitions_is_reported_once(caplog):
    router, counted, _, registry = make_router()
    home = partition_of(b"chat", 4)
    elsewhere = (home + 1) % 4
    with caplog.at_level(logging.WARNING, "streamer.repartition"):
        for offset in range(3):
            router.process(
                [
                    Record("in", elsewhere, offset, None, b"chat", answer(f"k{offset}")),
                    Record("in", elsewhere, 100 + offset, None, None, answer(f"u{offset}")),
                ]
            )
    assert registry.get_sample_value("streamer_touchpoint_partition_conflicts_total") == 1
    [line] = caplog.messages
    assert line.startswith(f"touchpoint 'chat' arrives on partitions {elsewhere} and {home}")
    assert [offsets for offsets, _ in counted] == [[0], [1], [2]]
