"""Faults: the broker freezes mid-stream; the worker survives, says so, and ends exact."""

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from streamer import localbroker
from tests.integration.harness import Topics, WorkerProcess, free_port, produce, wait_until
from tests.integration.test_recovery import counted, expected_counts, stream

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path: Path):
    """A broker of this test's own, so that freezing it disturbs no other test."""
    previous = localbroker.RUN_DIR
    localbroker.RUN_DIR = tmp_path / "broker"
    port = free_port()
    pid = localbroker.start(port)
    try:
        yield f"127.0.0.1:{port}", pid
    finally:
        os.kill(pid, signal.SIGCONT)
        localbroker.stop(port)
        localbroker.RUN_DIR = previous


def ready(worker):
    return worker.get("/readyz") is not None


@pytest.mark.skipif(
    bool(os.environ.get("KAFKA_BOOTSTRAP")),
    reason="freezes the local broker process, not a cluster",
)
def test_a_frozen_broker_makes_the_worker_unready_then_it_ends_exact(own_broker, tmp_path):
    bootstrap, pid = own_broker
    worker = WorkerProcess(bootstrap, Topics(), tmp_path).start()
    try:
        worker.wait_ready()
        events, messages = stream(6_000, seed=7)
        half = len(messages) // 2
        produce(bootstrap, worker.env["STREAMER_INPUT_TOPIC"], messages[:half])
        wait_until(lambda: sum(counted([worker]).values()) > 0, 60, "some answers counted")

        os.kill(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        wait_until(lambda: not ready(worker), 20, "/readyz to report the broker unreachable")
        assert worker.get("/healthz") is not None  # alive all the same
        while time.monotonic() - frozen_at < 30:
            assert worker.process.poll() is None, worker.tail()
            time.sleep(1)
        os.kill(pid, signal.SIGCONT)

        sender = threading.Thread(
            target=produce, args=(bootstrap, worker.env["STREAMER_INPUT_TOPIC"], messages[half:])
        )
        sender.start()
        wait_until(lambda: ready(worker), 90, "/readyz to recover")
        sender.join()
        wait_until(
            lambda: counted([worker]) == expected_counts(events),
            120,
            "exact tallies after the stall",
        )
        log = worker.tail(5000)
        gone = re.findall(r"broker \S+ unreachable", log)
        back = re.findall(r"broker \S+ reachable", log)
        assert len(gone) == 1, "one line when the broker goes, not one per retry"
        assert len(back) == 2  # at start, and once when it is back
    finally:
        worker.stop()
