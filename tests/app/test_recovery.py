"""Recovery: the Board and alert states rebuilt from the tables for the assigned partitions,
then the intake opened; a revocation closes it; a state it must not read stops the worker."""

import asyncio

import pytest
from faust.types import TP

from streamer.app import recovery as recovery_module
from streamer.app.intake import Intake
from streamer.app.readiness import Readiness
from streamer.app.recovery import EXIT_UNREADABLE_STATE, Recovery
from streamer.app.settings import Settings
from streamer.app.store import AlertStore, ChangelogSeal, StateStore
from streamer.core.board import Board
from streamer.core.scales import Scoring
from streamer.core.watch import Watch
from tests.app.fakes import NOW_MS, Record, Table, answer, counted

PARTITIONS = 4
TIMELINE = Settings(windows="5m,1h").timeline()


async def nothing(*_):
    return True


def recovery(table, assigned, processed, probed=None, scoring=None, watch=None):
    """``probed`` gets the Board's touchpoints at each broker probe, which finds the broker up."""
    board = Board(scoring or Scoring(), TIMELINE, now_ms=NOW_MS)
    seal = ChangelogSeal(nothing)
    intake = Intake({"in"}, processed.extend, nothing, lambda: None, nothing, nothing, nothing, 10)
    readiness = Readiness(lambda: False)

    async def probe():
        if probed is not None:
            probed.append(touchpoints(board))
        readiness.broker_reachable = True

    part = Recovery(
        board,
        watch or Watch((), TIMELINE, Scoring().ces),
        (StateStore(table, seal, PARTITIONS), AlertStore(Table(), seal)),
        intake,
        readiness,
        PARTITIONS,
        lambda: assigned,
        lambda: NOW_MS,
        probe,
    )
    return part, board, intake, readiness


def persisted():
    """A table holding answers of partition 1 (input) and of partition 2 (repartition topic)."""
    table = Table()
    b = Board(Scoring(), TIMELINE, now_ms=NOW_MS)
    counted(b, [answer("a", touchpoint="chat")], partition=1)
    counted(b, [answer("b", touchpoint="call")], partition=PARTITIONS + 2)
    StateStore(table, ChangelogSeal(nothing), PARTITIONS).write(b.flush(NOW_MS))
    return table


def touchpoints(board):
    return {key.touchpoint: totals[0].n for key, totals in board.series()}


def test_the_assigned_partitions_state_is_restored_then_their_input_is_taken():
    processed = []
    part, board, intake, readiness = recovery(persisted(), {2}, processed)
    one, two, three = (
        Record("in", p, offset, NOW_MS, b"k", answer(f"{p}-{offset}"))
        for p, offset in ((1, 0), (2, 0), (2, 1))
    )

    async def during_recovery():
        return {TP("in", 1): [one], TP("in", 2): [two]}

    async def after():
        return {TP("in", 2): [three]}

    async def scenario():
        runner = asyncio.create_task(intake.run())
        await intake.wrap(during_recovery)()  # held until the recovery says whose it is
        await part.recovered()
        await intake.wrap(after)()
        await asyncio.sleep(0.01)
        await part.revoked()
        runner.cancel()

    assert not readiness.recovered
    asyncio.run(scenario())
    assert touchpoints(board) == {"call": 1}, "partition 2's repartitioned answer, only"
    assert processed == [two, three], "the assigned partition's records, once recovered"
    assert not readiness.recovered, "revoked"


def test_ready_once_restored_and_the_broker_answered_not_at_the_probe_timers_next_tick():
    probed = []
    part, _, _, readiness = recovery(persisted(), {1, 2}, [], probed)
    asyncio.run(part.recovered())
    assert readiness.ready()
    assert probed == [{"chat": 1, "call": 1}], "one probe, after the restore"


def test_a_worker_with_half_the_partitions_watches_half_the_false_alarm_budget():
    watch = Watch((), TIMELINE, Scoring().ces)
    part, _, _, _ = recovery(persisted(), {1, 2}, [], watch=watch)
    asyncio.run(part.recovered())
    assert watch.share == 2 / PARTITIONS


@pytest.fixture
def exits(monkeypatch):
    """The exit codes the recovery stopped the worker with (os._exit, raising SystemExit)."""
    codes = []

    def exit_now(code):
        codes.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(recovery_module.os, "_exit", exit_now)
    return codes


def test_a_state_of_another_layout_stops_the_worker_before_it_counts(exits):
    table = Table()
    table.data[b"an old layout's key"] = b"{}"
    part, _, _, readiness = recovery(table, {0}, [])
    with pytest.raises(SystemExit):
        asyncio.run(part.recovered())
    assert exits == [EXIT_UNREADABLE_STATE] and not readiness.recovered


def test_a_state_counted_with_another_ces_scale_stops_the_worker_naming_the_setting(exits, caplog):
    """The worker's Board counts with the settings' scoring (worker.py): a changed
    STREAMER_CES_SCALE finds state counted on 1-7 and stops with one critical line saying what
    to do, rather than mixing 1-7 and 1-5 answers in a 90-day window."""
    part, board, _, readiness = recovery(
        persisted(), {1}, [], scoring=Settings(ces_scale="1-5").scoring()
    )
    with pytest.raises(SystemExit):
        asyncio.run(part.recovered())
    assert exits == [EXIT_UNREADABLE_STATE] and not readiness.recovered
    [line] = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert line.getMessage().startswith(
        "cannot read the persisted state: partition 1: the state was counted with "
        "STREAMER_CES_SCALE=1-7, and this worker is configured with STREAMER_CES_SCALE=1-5"
    )
    assert "Set STREAMER_CES_SCALE back to 1-7" in line.getMessage()
    # The same settings read it.
    part, board, _, readiness = recovery(persisted(), {1}, [], scoring=Settings().scoring())
    asyncio.run(part.recovered())
    assert readiness.recovered and touchpoints(board) == {"chat": 1}
