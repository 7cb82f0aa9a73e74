"""The privates of Faust and aiokafka that streamer relies on are still there, in the pinned
versions. When one of these fails after an upgrade, streamer/app/faust_hooks.py says why each
was needed and what to do instead."""

import asyncio
import inspect
from types import SimpleNamespace

import aiokafka
import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from faust.tables import TableManager

from streamer.app import faust_hooks


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        faust_hooks.NEW_CONSUMER,
        faust_hooks.GETMANY,
        faust_hooks.COMMIT,
        faust_hooks.CREATE_WORKER_CONSUMER,
        faust_hooks.UPDATE_CHANNELS,
        faust_hooks.ENSURE_CONSUMER,
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_faust_still_has_it(owner, name):
    assert callable(getattr(owner, name, None)), (
        f"{owner.__module__}.{owner.__name__}.{name} is gone: see streamer/app/faust_hooks.py"
    )


def test_faust_still_starts_its_tables_as_streamer_tables_does_after_its_sleep():
    """StreamerTables repeats Faust's start of the table manager without the sleep: a change to
    that start must be looked at."""
    body = inspect.getsource(TableManager.on_start)
    steps = [
        "await self.sleep(1.0)",
        "await self._update_channels()",
        "await self.recovery.start()",
    ]
    assert [step in body for step in steps] == [True] * 3, (
        "Faust's TableManager.on_start changed: see StreamerTables in streamer/app/faust_hooks.py"
    )


def test_aiokafka_still_reads_its_fetch_wait_from_this_attribute():
    async def build():
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1234
        )
        try:
            return getattr(consumer, faust_hooks.FETCH_MAX_WAIT, None)
        finally:
            await consumer.stop()

    assert asyncio.run(build()) == 1234, (
        f"aiokafka no longer keeps fetch_max_wait_ms in {faust_hooks.FETCH_MAX_WAIT}: "
        "the worker would wait 1.5 s per fetch on the local broker (see faust_hooks.py)"
    )


def test_the_hook_wraps_fetches_and_shortens_the_fetch_wait():
    class Thread:
        def _create_worker_consumer(self):
            return type("KafkaConsumer", (), {"_fetch_max_wait_ms": 1500})()

    class Consumer:
        _thread = Thread()

        async def _getmany(self):
            return "records"

    seen = []

    def wrap(getmany):
        seen.append(getmany)
        return getmany

    consumer = faust_hooks.hook_consumer(Consumer(), wrap, 100)
    assert len(seen) == 1 and asyncio.run(consumer._getmany()) == "records"
    assert consumer._thread._create_worker_consumer()._fetch_max_wait_ms == 100


def test_aiokafka_still_keeps_the_members_generation_where_commit_reads_it():
    start = inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    reset = inspect.getsource(GroupCoordinator.reset_generation)
    assert "self._coordinator = GroupCoordinator(" in start, (
        "aiokafka's consumer no longer keeps its coordinator in _coordinator: see commit() in "
        "streamer/app/faust_hooks.py"
    )
    assert "self.generation = OffsetCommitRequest.DEFAULT_GENERATION_ID" in reset, (
        "aiokafka no longer marks a forgotten member by its generation: see commit() in "
        "streamer/app/faust_hooks.py"
    )


def faust_consumer(commit, generation=1):
    """Faust's consumer as far as commit() reaches: its thread's aiokafka consumer's
    coordinator, and its _commit."""
    coordinator = SimpleNamespace(generation=generation)
    kafka_consumer = SimpleNamespace(_coordinator=coordinator)
    thread = SimpleNamespace(_ensure_consumer=lambda: kafka_consumer)
    return SimpleNamespace(_thread=thread, _commit=commit)


def test_a_commit_the_broker_never_takes_gives_up_instead_of_holding_the_intake(caplog):
    async def never(positions):
        await asyncio.Event().wait()  # aiokafka retrying a retriable error, for ever

    async def commit_once():
        started = asyncio.get_running_loop().time()
        done = await faust_hooks.commit(faust_consumer(never), {"tp": 1}, timeout_s=0.2)
        return done, asyncio.get_running_loop().time() - started

    done, waited = asyncio.run(commit_once())
    assert done is False and waited < 5
    assert "took no commit within 0.2 s" in caplog.text


def test_a_commit_the_broker_takes_is_reported_done():
    async def taken(positions):
        return True

    assert asyncio.run(faust_hooks.commit(faust_consumer(taken), {"tp": 1}, timeout_s=1)) is True


def test_a_member_the_group_no_longer_knows_does_not_commit():
    sent = []

    async def send(positions):
        sent.append(positions)
        return True

    consumer = faust_consumer(send, generation=faust_hooks.NO_GENERATION)
    assert asyncio.run(faust_hooks.commit(consumer, {"tp": 1}, timeout_s=1)) is False
    assert sent == []
