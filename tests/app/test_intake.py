"""The bulk intake: what it takes from a fetch, in what order it persists and commits."""

import asyncio
from collections import namedtuple

from faust.types import TP

from streamer.app.intake import Intake

Record = namedtuple("Record", "topic partition offset")


def fetch(topic, partition, offsets):
    return {TP(topic, partition): [Record(topic, partition, o) for o in offsets]}


def run(scenario):
    return asyncio.run(scenario())


def make_intake(log, batch_max=100):
    async def seal():
        log.append("seal")

    async def commit(positions):
        log.append(("commit", positions))
        return True

    return Intake(
        {"input"},
        lambda batch: log.append(("process", len(batch))),
        lambda: log.append("persist"),
        seal,
        commit,
        batch_max,
    )


def test_input_records_are_taken_others_left_to_faust_and_committed_after_the_seal():
    async def scenario():
        log = []
        intake = make_intake(log)
        intake.open({0, 1})

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
            lambda: None,
            seal,
            commit,
            100,
        )

        async def during_recovery():
            return {**fetch("input", 0, [0, 1, 2]), **fetch("input", 3, [0, 1])}

        async def after():
            return {**fetch("input", 0, [3]), **fetch("input", 3, [2])}

        await intake.wrap(during_recovery)()  # closed: the recovery has not ended
        intake.open({0})  # partition 3 went to another worker
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
        intake.open({0})
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return log

    assert [step for step in run(scenario) if step[0] == "process"] == []


def test_a_partition_over_the_bound_during_the_recovery_is_dropped_whole(caplog):
    """Memory stays bounded, and what is counted runs on from the committed offset with no
    gap: a partition whose records overflowed keeps none of them, not a prefix and a tail."""

    async def scenario():
        log = []
        intake = make_intake(log, batch_max=2)  # holds 4

        async def first():
            return {**fetch("input", 0, [0, 1, 2]), **fetch("input", 1, [0])}

        async def second():
            return fetch("input", 0, [3, 4])

        async def third():
            return fetch("input", 0, [5])

        for fetched in (first, second, third):
            await intake.wrap(fetched)()
        intake.open({0, 1})
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return log

    assert [step for step in run(scenario) if step[0] == "process"] == [("process", 1)]
    assert "records of partition 0 fetched during the recovery dropped" in caplog.text


def test_the_fetcher_waits_when_twice_a_batch_is_held():
    async def scenario():
        intake = make_intake([], batch_max=2)
        intake.open({0})

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
            lambda: log.append("persist"),
            seal,
            commit,
            100,
            commit_interval_s=5.0,
            clock=lambda: now[0],
        )
        intake.open({0})
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
