"""A commit waits until everything sent since is acknowledged, whatever Faust's flush says."""

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, ProducerClosed

from streamer.app import worker as worker_module
from streamer.app.outbox import Outbox, RecordLost


class SlowTopic:
    """A topic whose records are acknowledged when the test says so."""

    def __init__(self):
        self.futures = []

    def send_soon(self, **record):
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def run(scenario):
    return asyncio.run(scenario())


async def nothing():
    pass


def refuse(error):
    raise AssertionError(f"no record is lost in this test: {error!r}")


def test_delivered_waits_for_every_acknowledgement_not_for_the_flush():
    """Faust's flush returns with records still buffered (after 0.1 s on one held back): the
    offsets must wait for the records' own acknowledgements."""

    async def scenario():
        outbox = Outbox(nothing, timeout_s=5, on_lost=refuse)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(key=b"k", value=b"1")
        outbox.topic(topic).send_soon(key=b"k", value=b"2")
        waiting = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0.01)
        topic.futures[0].set_result("acked")
        await asyncio.sleep(0.01)
        half = waiting.done()
        topic.futures[1].set_result("acked")
        await waiting
        return half

    assert run(scenario) is False


def test_what_is_not_acknowledged_in_time_is_awaited_again():
    async def scenario():
        outbox = Outbox(nothing, timeout_s=0.05, on_lost=refuse)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"slow")
        with pytest.raises(TimeoutError):
            await outbox.delivered()
        later = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0.01)
        still_waiting = not later.done()
        topic.futures[0].set_result("acked")
        await later
        return still_waiting

    assert run(scenario) is True


def test_a_lost_record_stops_every_later_commit_and_is_reported():
    """A record that failed after the producer's retries carried counts, an answer or a dead
    letter: no commit may pass it, not even one whose own records were all acknowledged (the
    failure used to be raised once, and the next commit went through)."""
    lost = []

    async def scenario():
        outbox = Outbox(nothing, timeout_s=1, on_lost=lost.append)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"lost")
        outbox.topic(topic).send_soon(value=b"kept")
        topic.futures[0].set_exception(KafkaTimeoutError())
        topic.futures[1].set_result("acked")
        with pytest.raises(RecordLost):
            await outbox.delivered()
        outbox.topic(topic).send_soon(value=b"after")
        topic.futures[2].set_result("acked")
        with pytest.raises(RecordLost):
            await outbox.delivered()

    run(scenario)
    assert [type(error) for error in lost] == [KafkaTimeoutError]


def test_a_tables_changelog_records_are_awaited_and_its_data_is_the_tables():
    class Table:
        def __init__(self):
            self.data = {b"k": b"v"}
            self.future = None

        def send_changelog(self, partition, key, value):
            self.future = asyncio.get_running_loop().create_future()
            return self.future

        def on_recover(self, callback):
            return callback

    async def scenario():
        outbox = Outbox(nothing, timeout_s=0.05, on_lost=refuse)
        table = Table()
        tracked = outbox.table(table)
        tracked.send_changelog(0, b"k", b"v")
        with pytest.raises(TimeoutError):
            await outbox.delivered()
        table.future.set_result("acked")
        await outbox.delivered()
        return tracked.data, tracked.on_recover(nothing)

    assert run(scenario) == ({b"k": b"v"}, nothing)


def test_with_nothing_sent_there_is_no_flush_to_wait_for():
    flushes = []

    async def flush():
        flushes.append(1)

    async def scenario():
        outbox = Outbox(flush, timeout_s=1, on_lost=refuse)
        await outbox.delivered()
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"1")
        topic.futures[0].set_result("acked")
        await outbox.delivered()

    run(scenario)
    assert flushes == [1]


def test_overlapping_callers_each_wait_for_what_was_sent_before_them():
    """The timer's seal and the intake's commit may wait at once: the second must not return
    while the records the first is waiting for are still unacknowledged."""

    async def scenario():
        outbox = Outbox(nothing, timeout_s=5, on_lost=refuse)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"1")
        first = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0.01)
        second = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0.01)
        early = second.done()
        topic.futures[0].set_result("acked")
        await asyncio.gather(first, second)
        return early

    assert run(scenario) is False


def test_a_stopped_producer_is_a_kafka_error_not_a_crash():
    async def stopped():
        raise RuntimeError("Cannot flush: Producer not Running")

    async def scenario():
        outbox = Outbox(stopped, timeout_s=1, on_lost=refuse)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"1")
        with pytest.raises(ProducerClosed):
            await outbox.delivered()

    run(scenario)


def test_the_worker_stops_at_once_with_status_3_when_a_record_is_lost(monkeypatch, caplog):
    """Not a clean stop, which would commit past the lost record: os._exit, after one critical
    line saying why and what happens next."""
    codes = []

    def exit_now(code):
        codes.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(worker_module.os, "_exit", exit_now)

    async def scenario():
        outbox = Outbox(nothing, timeout_s=1, on_lost=worker_module.stop_on_lost_record)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"lost")
        topic.futures[0].set_exception(KafkaTimeoutError())
        with pytest.raises(SystemExit):
            await outbox.delivered()

    run(scenario)
    assert codes == [worker_module.EXIT_RECORD_LOST] == [3]
    [line] = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert "counts again from the last commit" in line.getMessage()


def test_a_record_that_fails_during_another_callers_wait_is_found_all_the_same():
    """The intake's commit waits for a log record; meanwhile the timer sends an alert state,
    which fails. The commit's own records are acknowledged, but the failure must not be
    forgotten: it used to be dropped unchecked, and the next commit went through."""
    lost = []

    async def scenario():
        outbox = Outbox(nothing, timeout_s=1, on_lost=lost.append)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"log record")
        commit = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0.01)
        outbox.topic(topic).send_soon(value=b"alert state")
        topic.futures[1].set_exception(KafkaTimeoutError())
        topic.futures[0].set_result("acked")
        with pytest.raises(RecordLost):
            await commit
        with pytest.raises(RecordLost):
            await outbox.delivered()

    run(scenario)
    assert len(lost) == 1


def test_overlapping_callers_whose_records_another_settled_wait_for_nothing_more():
    """The timer's seal forgets the acknowledged records while the intake's commit is still in
    the producer's flush: the commit, whose records were those, returns (it used to call
    asyncio.wait on an empty set: ValueError)."""

    async def slow_flush():
        await asyncio.sleep(0.02)

    async def scenario():
        outbox = Outbox(slow_flush, timeout_s=1, on_lost=refuse)
        topic = SlowTopic()
        outbox.topic(topic).send_soon(value=b"alert state")
        seal = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0.03)
        outbox.topic(topic).send_soon(value=b"log record")
        commit = asyncio.create_task(outbox.delivered())
        await asyncio.sleep(0)
        topic.futures[1].set_result("acked")
        topic.futures[0].set_result("acked")
        await asyncio.gather(seal, commit)

    run(scenario)
