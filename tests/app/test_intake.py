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


def test_nothing_is_taken_before_recovery_or_for_partitions_not_recovered():
    async def scenario():
        log = []
        intake = make_intake(log)

        async def getmany():
            return {**fetch("input", 0, [1]), **fetch("input", 3, [1])}

        await intake.wrap(getmany)()  # closed: dropped, Faust re-reads from the commit
        intake.open({0})
        await intake.wrap(getmany)()  # partition 3 belongs to another worker now
        runner = asyncio.create_task(intake.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        return log

    assert run(scenario)[0] == ("process", 1)


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
