"""The bulk intake: what it takes from a fetch, in what order it persists and commits."""

import asyncio
from collections import namedtuple

from aiokafka.errors import KafkaError
from faust.types import TP

from streamer.app.intake import Intake

Record = namedtuple("Record", "topic partition offset")


def fetch(topic, partition, offsets):
    return {TP(topic, partition): [Record(topic, partition, o) for o in offsets]}


async def unexpected_seek(positions):
    raise AssertionError(f"no seek expected, got {positions}")


def run(scenario):
    return asyncio.run(scenario())


async def nothing_sent():
    pass


def make_intake(log, batch_max=100, process=None):
    async def delivered():
        log.append("delivered")

    async def seal():
        log.append("seal")

    async def commit(positions):
        log.append(("commit", positions))
        return True

    async def seek(positions):
        log.append(("seek", positions))

    return Intake(
        {"input"},
        process or (lambda batch: log.append(("process", len(batch)))),
        delivered,
        lambda: log.append("persist"),
        seal,
        commit,
        seek,
        batch_max,
    )


def test_input_records_are_taken_others_left_to_faust_and_committed_after_the_seal():
    async def scenario():
        log = []
        intake = make_intake(log)
        await intake.open({0, 1})

        async def getmany():
            return {**fetch("input", 0, [5, 6]), **fetch("input", 1, [9]), **fetch("log", 0, [1])}

        left = await intake.wrap(getmany)()
        assert list(left) == [TP("log", 0)]  # a changelog record stays on Faust's path
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return log

    log = run(scenario)
    assert log == [
        ("process", 3),
        "delivered",
        "persist",
        "seal",
        ("commit", {TP("input", 0): 7, TP("input", 1): 10}),
    ]


def test_what_is_fetched_during_the_recovery_is_counted_for_the_partitions_it_gives():
    """Faust seeks back only to a committed offset above 0: records of a partition nobody has
    committed yet, fetched while its recovery runs, are never fetched again. Dropped, they
    were lost (a worker that joined as traffic started counted 110 answers short)."""

    async def scenario():
        taken = []

        async def seal():
            pass

        async def commit(positions):
            return True

        intake = Intake(
            {"input"},
            lambda batch: taken.extend((r.partition, r.offset) for r in batch),
            nothing_sent,
            lambda: None,
            seal,
            commit,
            unexpected_seek,
            100,
        )

        async def during_recovery():
            return {**fetch("input", 0, [0, 1, 2]), **fetch("input", 3, [0, 1])}

        async def after():
            return {**fetch("input", 0, [3]), **fetch("input", 3, [2])}

        await intake.wrap(during_recovery)()  # closed: the recovery has not ended
        await intake.open({0})  # partition 3 went to another worker
        await intake.wrap(after)()
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return taken

    assert run(scenario) == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_what_was_held_for_a_revoked_assignment_is_not_counted_after_the_next():
    async def scenario():
        log = []
        intake = make_intake(log)

        async def during_recovery():
            return fetch("input", 0, [7, 8])

        await intake.wrap(during_recovery)()
        await intake.close()  # revoked again before its recovery ended
        await intake.open({0})
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return log

    assert [step for step in run(scenario) if step[0] == "process"] == []


def test_a_partition_over_the_bound_during_the_recovery_is_read_again_from_its_first_record():
    """Memory stays bounded, and what is counted runs on with no gap: a partition whose records
    overflowed keeps none of them, is sought back to its first one when the recovery ends, and
    what was fetched from beyond the gap meanwhile is dropped, not counted out of order."""

    async def scenario():
        log, taken = [], []
        intake = make_intake(
            log,
            batch_max=2,
            process=lambda batch: taken.extend((r.partition, r.offset) for r in batch),
        )  # holds 4

        async def first():
            return {**fetch("input", 0, [0, 1, 2]), **fetch("input", 1, [0])}

        async def second():
            return fetch("input", 0, [3, 4])

        async def third():
            return fetch("input", 0, [5])

        async def in_flight_at_the_seek():
            return {**fetch("input", 0, [6, 7]), **fetch("input", 1, [1])}

        async def read_again():
            return fetch("input", 0, [0, 1, 2])

        for fetched in (first, second, third):
            await intake.wrap(fetched)()
        await intake.open({0, 1})
        runner = asyncio.create_task(intake.run())
        for fetched in (in_flight_at_the_seek, read_again):
            await intake.wrap(fetched)()
            await asyncio.sleep(0.01)
        runner.cancel()
        return log, taken

    log, taken = run(scenario)
    assert ("seek", {TP("input", 0): 0}) in log
    assert taken == [(1, 0), (1, 1), (0, 0), (0, 1), (0, 2)]


def test_a_failed_seek_back_is_logged_and_the_partition_counted_on(caplog):
    """The seek fails only when the partition is no longer ours, which a revocation follows;
    should it fail otherwise, the partition must not stay blocked behind a gap for ever."""

    async def scenario():
        taken = []

        async def seek(positions):
            raise KafkaError("no current assignment")

        intake = Intake(
            {"input"},
            lambda batch: taken.extend(r.offset for r in batch),
            nothing_sent,
            lambda: None,
            lambda: asyncio.sleep(0),
            lambda positions: asyncio.sleep(0, True),
            seek,
            1,  # holds 2
        )
        await intake.wrap(lambda: asyncio.sleep(0, fetch("input", 0, [0, 1, 2])))()
        await intake.open({0})
        await intake.wrap(lambda: asyncio.sleep(0, fetch("input", 0, [3])))()
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return taken

    assert run(scenario) == [3]
    assert "records skipped: seeking back" in caplog.text


def test_the_fetcher_waits_when_twice_a_batch_is_held():
    async def scenario():
        intake = make_intake([], batch_max=2)
        await intake.open({0})

        async def getmany():
            return fetch("input", 0, [1, 2, 3, 4])

        wrapped = intake.wrap(getmany)
        await wrapped()  # 4 held = the capacity
        second = asyncio.create_task(wrapped())
        await asyncio.sleep(0.01)
        blocked = not second.done()
        await intake.close()  # a revocation releases it, and what it brought is dropped
        await asyncio.sleep(0.01)
        return blocked, second.done()

    assert run(scenario) == (True, True)


def test_commits_wait_for_the_interval_and_a_timer_makes_the_late_one():
    async def scenario():
        log, now = [], [0.0]

        async def seal():
            log.append("seal")

        async def commit(positions):
            log.append(("commit", positions))
            return True

        intake = Intake(
            {"input"},
            lambda batch: log.append(("process", len(batch))),
            nothing_sent,
            lambda: log.append("persist"),
            seal,
            commit,
            unexpected_seek,
            100,
            commit_interval_s=5.0,
            clock=lambda: now[0],
        )
        await intake.open({0})
        runner = asyncio.create_task(intake.run())
        for offset in (1, 2):
            now[0] += 1
            fetched = fetch("input", 0, [offset])
            await intake.wrap(lambda fetched=fetched: asyncio.sleep(0, fetched))()
            await asyncio.sleep(0.01)
        await intake.commit_due()  # 2 s since the start: not due
        now[0] += 4
        await intake.commit_due()
        runner.cancel()
        return log

    assert run(scenario) == [
        ("process", 1),
        ("process", 1),
        "persist",
        "seal",
        ("commit", {TP("input", 0): 3}),
    ]


def _first_commit_times_out(step):
    """Two records fetched and counted; the commit's ``step`` ("delivered": the records the
    batches sent, or "seal": the state's) is not acknowledged in time once. What was done
    before a timer's commit, and after it."""

    async def scenario():
        log, late = [], {step}

        def acknowledging(name):
            async def wait():
                if name in late:
                    late.clear()
                    raise TimeoutError("1 record not acknowledged within 10 s")
                log.append(name)

            return wait

        async def commit(positions):
            log.append(positions)
            return True

        intake = Intake(
            {"input"},
            lambda batch: log.append("process"),
            acknowledging("delivered"),
            lambda: log.append("persist"),
            acknowledging("seal"),
            commit,
            unexpected_seek,
            100,
        )
        await intake.open({0})
        await intake.wrap(lambda: asyncio.sleep(0, fetch("input", 0, [4, 5])))()
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        before = list(log)
        await intake.commit_due()
        runner.cancel()
        return before, log

    return run(scenario)


def test_offsets_wait_for_the_state_to_be_acknowledged():
    """A commit whose records are not acknowledged in time commits no offset; the next one,
    once they are, commits them all."""
    before, after = _first_commit_times_out("seal")
    assert before == ["process", "delivered", "persist"]
    assert after == [*before, "delivered", "persist", "seal", {TP("input", 0): 6}]


def test_the_state_is_written_only_once_what_the_batches_sent_is_acknowledged():
    """A log record's checkpoint covers the answers of its batches. Written while a dead letter
    or follow-up of one of them was not yet acknowledged, and that record then lost, the
    restart would skip the answer as counted and never send its letter again. So a commit
    waits for what the batches sent before it writes the state, and writes nothing while they
    are not acknowledged."""
    before, after = _first_commit_times_out("delivered")
    assert before == ["process"]
    assert after == ["process", "delivered", "persist", "seal", {TP("input", 0): 6}]
