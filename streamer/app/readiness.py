"""Is this worker ready to serve its numbers? Its state is recovered, the broker answers, and no
rebalance is moving partitions. ``/readyz`` says which of these is missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka.client import AIOKafkaClient

from streamer.kafka.options import client_options
from streamer.kafka.settings import KafkaSettings

log = logging.getLogger("streamer.worker")

PROBE_TIMEOUT_S = 2.0


class Readiness:
    def __init__(self, rebalancing: Callable[[], bool]) -> None:
        self._rebalancing = rebalancing
        self.recovered = False
        """The state of every assigned partition is loaded (set by recovery, cleared on a
        revocation)."""
        self.broker_reachable = False

    def ready(self) -> bool:
        return self.recovered and self.broker_reachable and not self._rebalancing()

    def report(self) -> dict[str, bool]:
        return {
            "ready": self.ready(),
            "recovered": self.recovered,
            "broker_reachable": self.broker_reachable,
        }


class BrokerProbe:
    """One metadata round trip within 2 s: a frozen broker still accepts TCP connections, so a
    connection alone proves nothing. Changes are logged once, not at every probe."""

    def __init__(self, kafka: KafkaSettings, readiness: Readiness) -> None:
        self._kafka = kafka
        self._readiness = readiness
        self._client: AIOKafkaClient | None = None
        self._probing = asyncio.Lock()
        """The timer's probe and recovery's may overlap: one client, one round trip at a time."""

    async def probe(self) -> None:
        async with self._probing:
            reachable = await self._reachable()
            if reachable != self._readiness.broker_reachable:
                level = logging.INFO if reachable else logging.WARNING
                state = "reachable" if reachable else "unreachable"
                log.log(level, "broker %s %s", self._kafka.bootstrap, state)
                self._readiness.broker_reachable = reachable

    async def _reachable(self) -> bool:
        try:
            if self._client is None:
                client = AIOKafkaClient(
                    bootstrap_servers=self._kafka.hosts(), **client_options(self._kafka)
                )
                self._client = client
                await asyncio.wait_for(client.bootstrap(), PROBE_TIMEOUT_S)
            await asyncio.wait_for(self._client.fetch_all_metadata(), PROBE_TIMEOUT_S)
            return True
        except (
            Exception
        ):  # any failure to answer is "unreachable"; the reason is in the client's log
            client, self._client = self._client, None
            if client is not None:
                await client.close()
            return False
