"""Freshness: from producing an answer to its effect on the /metrics exposition.

    python -m bench.freshness [--seconds 60] [--rate 1000] [--runs 3]

A worker scores a steady stream (``--rate`` answers/s, 50 touchpoints, 5 channels) on the
local broker. Four times a second one of those answers goes to a marker touchpoint; a poller
reads /metrics every 100 ms, and each marker's latency is the time from just before it was
handed to the producer until the first exposition whose marker count includes it (a bound
from above: it includes rendering and reading /metrics). Prints p50/p95/p99 (the target is
p99 < 1 s) and writes bench/results/freshness.json.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.broker import local_broker
from bench.core_throughput import make_events
from bench.report import save
from tests.integration.harness import Topics, WorkerProcess

MARKER = "freshness-marker"
MARKER_EVERY_S = 0.25
POLL_EVERY_S = 0.1
"""Polling back to back made the worker spend most of its time rendering /metrics."""
_MARKER_LINES = re.compile(
    rb'^cx_responses\{([^}]*touchpoint="' + MARKER.encode() + rb'"[^}]*)\} (\S+)$', re.MULTILINE
)


def marker_count(exposition: bytes) -> int | None:
    """The marker touchpoint's answers in its 5m window (the series without breakdown)."""
    for labels, count in _MARKER_LINES.findall(exposition):
        if b'window="5m"' in labels and b"channel=" not in labels:
            return int(float(count))
    return None


class Poller(threading.Thread):
    """Reads /metrics in a loop; records when each marker count was first seen."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen_at: dict[int, float] = {}
        self.stopping = threading.Event()
        self.render_s: list[float] = []

    def run(self) -> None:
        while not self.stopping.wait(POLL_EVERY_S):
            asked = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    body = response.read()
            except OSError:
                continue
            now = time.time()
            self.render_s.append(now - asked)
            count = marker_count(body)
            if count is not None:
                for k in range(len(self.seen_at) + 1, count + 1):
                    self.seen_at[k] = now


def marker(serial: int) -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (
        f'{{"event_id":"marker-{serial}","occurred_at":"{stamp}","touchpoint":"{MARKER}",'
        f'"metric":"nps","score":9,"channel":"web"}}'
    ).encode()


async def steady_stream(bootstrap: str, topic: str, rate: int, seconds: float) -> list[float]:
    """Produces ``rate`` answers a second for ``seconds``; returns the markers' send times."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    background = make_events(int(rate * seconds) + rate, int(time.time() * 1000), seed=11)
    sent_at: list[float] = []
    tick_s = 0.01
    per_tick = max(1, round(rate * tick_s))
    started = time.perf_counter()
    next_marker = started
    index = 0
    try:
        while (elapsed := time.perf_counter() - started) < seconds:
            due = min(len(background), int(elapsed * rate) + per_tick)
            while index < due:
                await producer.send(topic, background[index], key=str(index % 50).encode())
                index += 1
            if time.perf_counter() >= next_marker:
                sent_at.append(time.time())
                await producer.send(topic, marker(len(sent_at)), key=MARKER.encode())
                next_marker += MARKER_EVERY_S
            await asyncio.sleep(tick_s)
        await producer.flush()
    finally:
        await producer.stop()
    return sent_at


def one_run(bootstrap: str, log_dir: Path, rate: int, seconds: float) -> list[float]:
    topics = Topics(f"fresh{uuid.uuid4().hex[:6]}")
    worker = WorkerProcess(
        bootstrap,
        topics,
        log_dir,
        partitions=8,
        STREAMER_DETRACTORS_TOPIC="",
        STREAMER_ALERTS_TOPIC="",
    ).start()
    try:
        worker.wait_ready(180)
        poller = Poller(worker.base + "/metrics")
        poller.start()
        sent_at = asyncio.run(steady_stream(bootstrap, topics.input, rate, seconds))
        deadline = time.time() + 30
        while len(poller.seen_at) < len(sent_at) and time.time() < deadline:
            time.sleep(0.1)
        poller.stopping.set()
        missing = len(sent_at) - len(poller.seen_at)
        if missing:
            raise RuntimeError(f"{missing} markers never reached /metrics")
        print(f"/metrics answered in {statistics.median(poller.render_s) * 1000:.0f} ms (median)")
        return [poller.seen_at[k + 1] - sent for k, sent in enumerate(sent_at)]
    finally:
        worker.stop()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    seconds, runs = (3.0, 1) if args.smoke else (args.seconds, args.runs)
    per_run: list[dict[str, float]] = []
    with local_broker() as (bootstrap, log_dir):
        for run in range(runs):
            latencies = one_run(bootstrap, log_dir, args.rate, seconds)
            figures = {f"p{p}": percentile(latencies, p / 100) for p in (50, 95, 99)}
            figures["max"] = max(latencies)
            per_run.append(figures)
            print(
                f"run {run + 1}: {len(latencies)} markers, "
                + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in figures.items()),
                flush=True,
            )
    median = {k: statistics.median(run[k] for run in per_run) for k in per_run[0]}
    print(
        f"freshness at {args.rate}/s (median of {runs} runs): "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in median.items())
        + "   (target p99 < 1000 ms)"
    )
    if not args.smoke:
        save(
            "freshness",
            f"python -m bench.freshness --seconds {seconds:g} --rate {args.rate} --runs {runs}",
            {
                "rate_per_second": args.rate,
                "seconds": seconds,
                "runs": runs,
                "latency_ms_median_of_runs": {k: round(v * 1000) for k, v in median.items()},
            },
        )


if __name__ == "__main__":
    main()
