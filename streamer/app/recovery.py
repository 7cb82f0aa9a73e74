"""What happens when partitions are assigned or taken away: the Board and the alert states are
rebuilt from the recovered tables, then the intake opens and the broker is probed (ready then,
not at the probe timer's next tick); on a revocation or a clean stop the intake commits what it
has and closes until the next recovery."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Awaitable, Callable

from streamer.app.intake import Intake
from streamer.app.readiness import Readiness
from streamer.app.store import AlertStore, StateStore
from streamer.core.board import Board
from streamer.core.layout import LayoutError
from streamer.core.watch import Watch

log = logging.getLogger("streamer.worker")

EXIT_UNREADABLE_STATE = 2


class Recovery:
    def __init__(
        self,
        board: Board,
        watch: Watch,
        stores: tuple[StateStore, AlertStore],
        intake: Intake,
        readiness: Readiness,
        partitions: int,
        assigned: Callable[[], set[int]],
        clock_ms: Callable[[], int],
        probe_broker: Callable[[], Awaitable[None]],
    ) -> None:
        self._board = board
        self._watch = watch
        self._store, self._alert_store = stores
        self._intake = intake
        self._readiness = readiness
        self._partitions = partitions
        self._assigned = assigned
        self._clock_ms = clock_ms
        self._probe_broker = probe_broker

    async def recovered(self) -> None:
        """Called by Faust once every table is recovered (every record up to the end offsets it
        read before recovering), before it ends the rebalance."""
        mine = self._assigned()
        # Sources: the input's partitions, and the repartition topic's (repartition.py).
        sources = mine | {self._partitions + p for p in mine}
        # The restore holds every parsed record at once: the cyclic collector walked them again
        # and again, 30% of a 10,000-series restore (none of it is cyclic garbage).
        gc.disable()
        try:
            self._board.restore(self._store.load(mine), sources, self._clock_ms())
        except LayoutError as error:
            log.critical("cannot read the persisted state: %s", error)
            # Nothing was counted or committed: stopping here loses nothing, and a worker that
            # ran on would misread or overwrite the state.
            os._exit(EXIT_UNREADABLE_STATE)
        finally:
            gc.enable()
        # With no partition there is no series to watch: any share will do.
        self._watch.restore(self._alert_store.load(mine), max(1, len(mine)) / self._partitions)
        self._readiness.recovered = True
        await self._intake.open(mine)
        log.info(
            "state recovered for partitions %s: %d series, %d alert states",
            sorted(mine),
            sum(1 for _ in self._board.series()),
            len(self._watch.states),
        )
        # The restore blocked the loop for seconds: the last probe's answer is that old, and the
        # timer's next one up to its interval away.
        await self._probe_broker()

    async def revoked(self) -> None:
        """Partitions are taken away, or the worker stops: the batch in hand is committed, so the
        next owner restores it from the changelog instead of counting it again from the input."""
        self._readiness.recovered = False
        await self._intake.close()
