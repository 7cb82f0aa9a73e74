"""Readiness: ready only when recovered, the broker answers and no rebalance is under way; the
probe logs a change of the broker's reachability once, not at every probe."""

import asyncio
import logging
import socket

import pytest

from streamer.app.readiness import BrokerProbe, Readiness
from streamer.kafka.settings import KafkaSettings


@pytest.mark.parametrize(
    ("recovered", "reachable", "rebalancing", "ready"),
    [
        (True, True, False, True),
        (False, True, False, False),
        (True, False, False, False),
        (True, True, True, False),
    ],
)
def test_ready_needs_all_three(recovered, reachable, rebalancing, ready):
    readiness = Readiness(lambda: rebalancing)
    readiness.recovered, readiness.broker_reachable = recovered, reachable
    assert readiness.report() == {
        "ready": ready,
        "recovered": recovered,
        "broker_reachable": reachable,
    }


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_broker_that_stops_answering_is_logged_once(caplog):
    readiness = Readiness(lambda: False)
    readiness.broker_reachable = True
    bootstrap = f"127.0.0.1:{closed_port()}"
    probe = BrokerProbe(KafkaSettings(bootstrap=bootstrap), readiness)

    async def twice():
        await probe.probe()
        await probe.probe()

    with caplog.at_level(logging.INFO, logger="streamer.worker"):
        asyncio.run(twice())
    assert not readiness.broker_reachable
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "streamer.worker"] == [
        (logging.WARNING, f"broker {bootstrap} unreachable")
    ]
