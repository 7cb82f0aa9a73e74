"""Real processes for integration tests: the broker, workers, a producer and readers.

Nothing here is mocked. KAFKA_BOOTSTRAP, when set, points the tests at an existing Kafka
cluster instead of the local broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streamer.dev.demo import stop_group

ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


class Topics:
    """Unique names per test, so tests never see each other's data."""

    def __init__(self, prefix: str = "t") -> None:
        self.app_id = f"{prefix}{uuid.uuid4().hex[:10]}"
        self.input = f"{self.app_id}.responses"
        self.dlq = f"{self.app_id}.dlq"
        self.alerts = f"{self.app_id}.alerts"
        self.detractors = f"{self.app_id}.detractors"


class WorkerProcess:
    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        log_dir: Path,
        partitions: int = 4,
        cwd: Path = ROOT,
        tls: ssl.SSLContext | None = None,
        **env: str,
    ) -> None:
        """``cwd``: where the command starts; ``tls``: the client side, for a worker serving
        HTTPS (STREAMER_WEB_CONFIG_FILE)."""
        self.port = free_port()
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.tls = tls
        self.cwd = cwd
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": bootstrap,
            "STREAMER_APP_ID": topics.app_id,
            "STREAMER_INPUT_TOPIC": topics.input,
            "STREAMER_DLQ_TOPIC": topics.dlq,
            "STREAMER_ALERTS_TOPIC": topics.alerts,
            "STREAMER_DETRACTORS_TOPIC": topics.detractors,
            "STREAMER_PARTITIONS": str(partitions),
            "STREAMER_WEB_PORT": str(self.port),
            "STREAMER_DATA_DIR": str(log_dir / f"data-{self.port}"),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = log_dir / f"worker-{self.port}.log"

    def start(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "worker"],
            cwd=self.cwd,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout_s: float = 120) -> WorkerProcess:
        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.tail()
            return self.get("/readyz") is not None

        wait_until(ready, timeout_s, f"worker on {self.port} to be ready")
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, exactly like a crash."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, 20)

    def get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5, context=self.tls) as response:
                return bytes(response.read())
        except (urllib.error.URLError, OSError):
            return None

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        body = self.get("/metrics")
        if body is None:
            return {}
        samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    def scores(self) -> list[dict[str, Any]]:
        body = self.get("/scores")
        return [] if body is None else list(json.loads(body)["series"])

    def rss_mb(self) -> float:
        assert self.process is not None
        return rss_bytes(self.process.pid) / 2**20

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    max_request_size: int = 1_048_576,
) -> list[tuple[int, int]]:
    """Publish and return each message's (partition, offset), in order."""

    async def run() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=max_request_size,
        )
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key) for key, value in messages]
            results = [await future for future in futures]
            return [(r.partition, r.offset) for r in results]
        finally:
            await producer.stop()

    return asyncio.run(run())


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[Any]:
    async def run() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        got: list[Any] = []
        try:
            deadline = time.monotonic() + timeout_s
            while len(got) < expected and time.monotonic() < deadline:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(messages)
            return got
        finally:
            await consumer.stop()

    return asyncio.run(run())


def count_records(bootstrap: str, topic: str, partitions: int, timeout_s: float = 30) -> int:
    """Records in every partition of ``topic``, read to the highwater a fetch reports (the
    local broker's end offsets fall short: see test_recovery.test_broker_end_offsets_quirk)."""

    async def run() -> int:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            counts = dict.fromkeys(tps, 0)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    counts[tp] += len(records)
                positions = [await consumer.position(tp) for tp in tps]
                if [consumer.highwater(tp) for tp in tps] == positions:
                    return sum(counts.values())
            raise AssertionError(f"{topic} not read to its end in {timeout_s}s")
        finally:
            await consumer.stop()

    return asyncio.run(run())


class Daemon:
    """A Debian-packaged server (Prometheus, Alertmanager) on a loopback port, for one test."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.process = subprocess.Popen(
            args, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(
            lambda: self.get_json("/-/ready") is not None or self._ready_text(),
            60,
            f"{args[0]} to start",
        )

    def _ready_text(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def get_json(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        stop_group(self.process, 10)


def start_alertmanager(
    directory: Path, port: int | None = None, config_text: str | None = None
) -> Daemon:
    """An Alertmanager routing everything nowhere, or with ``config_text``."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    config.write_text(
        config_text
        or "route: {receiver: 'null', group_wait: 0s, group_interval: 1s, repeat_interval: 1h}\n"
        "receivers: [{name: 'null'}]\n"
    )
    return Daemon(
        [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={directory / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        port,
        directory / "alertmanager.log",
    )


def start_prometheus(directory: Path, targets: list[str], rule_files: list[Path] = ()) -> Daemon:
    port = free_port()
    config = directory / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(path) for path in rule_files],
                "scrape_configs": [
                    {"job_name": "streamer", "static_configs": [{"targets": targets}]}
                ],
            }
        )
    )
    return Daemon(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        directory / "prometheus.log",
    )


def query(prometheus: Daemon, promql: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    body = prometheus.get_json(f"/api/v1/query?query={quote(promql)}")
    if not body or body.get("status") != "success":
        return []
    return list(body["data"]["result"])
