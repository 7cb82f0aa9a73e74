"""Faults: the broker freezes or stops mid-stream; the worker survives and says so."""

import contextlib
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from streamer.dev import localbroker
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
        with contextlib.suppress(ProcessLookupError):  # a test may have restarted it
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


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(
    bool(os.environ.get("KAFKA_BOOTSTRAP")),
    reason="stops the local broker process, not a cluster",
)
def test_a_stopped_broker_neither_crashes_nor_spins_the_worker(own_broker, tmp_path):
    """Kafka down for 30 s, connections refused: the worker stays up, says it is not ready,
    and does not spin. The local broker keeps its log in memory, so its restart brings back an
    empty cluster: a worker that knew the old one is restarted, as docs/reliability.md says to
    (a broker that kept its log is the frozen broker's test above, which ends exact), and the
    restarted worker counts what is sent afterwards, exactly."""
    bootstrap, _ = own_broker
    port = int(bootstrap.rsplit(":", 1)[1])
    topics = Topics()
    worker = WorkerProcess(bootstrap, topics, tmp_path).start()
    try:
        worker.wait_ready()
        events, messages = stream(2_000, seed=8)
        produce(bootstrap, topics.input, messages)
        wait_until(lambda: counted([worker]) == expected_counts(events), 60, "the first answers")

        localbroker.stop(port)
        stopped_at = time.monotonic()
        cpu_before = cpu_seconds(worker.process.pid)
        wait_until(lambda: not ready(worker), 20, "/readyz to report the broker unreachable")
        while time.monotonic() - stopped_at < 30:
            assert worker.process.poll() is None, worker.tail()
            time.sleep(1)
        cpu = cpu_seconds(worker.process.pid) - cpu_before
        assert cpu < 10, f"the worker used {cpu:.1f} s of CPU in 30 s without a broker"
        log = worker.tail(20_000)
        assert len(re.findall(r"broker \S+ unreachable", log)) == 1
    finally:
        worker.stop()

    localbroker.start(port)
    restarted = WorkerProcess(bootstrap, topics, tmp_path).start()
    try:
        restarted.wait_ready()
        later, more = stream(500, seed=9, start=50_000)
        produce(bootstrap, topics.input, more)
        wait_until(
            lambda: counted([restarted]) == expected_counts(later),
            120,
            "answers sent after the restart to be counted",
        )
        print(f"\nbroker stopped 30 s: worker alive, {cpu:.1f} s CPU while it was down")
    finally:
        restarted.stop()


@pytest.mark.skipif(
    bool(os.environ.get("KAFKA_BOOTSTRAP")),
    reason="freezes the local broker process, not a cluster",
)
def test_a_record_the_broker_never_took_stops_the_worker_and_the_restart_ends_exact(
    own_broker, tmp_path
):
    """The broker freezes mid-stream for longer than the producer may wait
    (STREAMER_PRODUCER_TIMEOUT_S): the records of the next commit are given up. Committing past
    them would lose what they carried; the worker stops at once with status 3 instead, and a
    worker started after the broker is back counts every answer exactly once."""
    bootstrap, pid = own_broker
    topics = Topics()
    worker = WorkerProcess(bootstrap, topics, tmp_path, STREAMER_PRODUCER_TIMEOUT_S="3").start()
    events, messages = stream(20_000, seed=11)

    def send_slowly():  # a stream of a few seconds, so that the freeze comes mid-stream
        for i in range(0, len(messages), 200):
            produce(bootstrap, topics.input, messages[i : i + 200])
            time.sleep(0.1)

    sender = threading.Thread(target=send_slowly)
    try:
        worker.wait_ready()
        sender.start()
        wait_until(
            lambda: 0 < sum(counted([worker]).values()) < len(events) // 2,
            60,
            "the worker to be counting, mid-stream",
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            status = worker.process.wait(timeout=90)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert status == 3, worker.tail()
        assert "was not written to Kafka" in worker.tail(2000)
    finally:
        worker.stop()
    sender.join()
    restarted = WorkerProcess(bootstrap, topics, tmp_path).start()
    try:
        restarted.wait_ready()
        wait_until(
            lambda: counted([restarted]) == expected_counts(events),
            120,
            "every answer counted once after the restart",
        )
    finally:
        restarted.stop()
