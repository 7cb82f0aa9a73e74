"""Throughput: the raw-consume ceiling, the streamer worker, and an idiomatic Faust agent.

    python -m bench.worker_throughput [--events 1000000] [--idiomatic-events 50000] [--runs 3]

Produces N realistic events (50 touchpoints, 5 channels, the three metrics, event times over
the last hour) to the local broker, then measures on the same topic, one process each:
(a) aiokafka getmany() + orjson.loads of every value; (b) a streamer worker from the start of
the topic (events/s from its own counters, from ready to all counted); (b2) two workers of
one group on the same 8 partitions (scale-out); (c) the idiomatic agent on the first M events
(it is too slow to wait for N). ``--profile FILE`` samples the first run's worker with py-spy
(summarise with ``python -m bench.stacks FILE``).
Writes bench/results/worker_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.broker import local_broker
from bench.core_throughput import make_events
from bench.report import save
from streamer.export.names import LAST_PROCESSED
from tests.integration.harness import Topics, WorkerProcess, total, wait_until

ROOT = Path(__file__).parents[1]
PARTITIONS = 8


async def produce(bootstrap: str, topic: str, events: list[bytes]) -> float:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    for raw in events:
        touchpoint = orjson.loads(raw)["touchpoint"].encode()
        await producer.send(topic, raw, key=touchpoint)
    await producer.flush()
    await producer.stop()
    return len(events) / (time.perf_counter() - started)


async def raw_ceiling(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen, started = 0, 0.0
    while seen < count:
        batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
        for messages in batches.values():
            if not started and messages:
                started = time.perf_counter()
            for message in messages:
                orjson.loads(message.value)
            seen += len(messages)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return count / elapsed


def worker_rate(
    bootstrap: str,
    topic: str,
    count: int,
    log_dir: Path,
    profile: Path | None = None,
    workers: int = 1,
) -> float:
    """Events/s of ``workers`` workers of one group on the topic, from their own counters."""
    topics = Topics("bench")
    topics.input = topic
    settings = {"STREAMER_DETRACTORS_TOPIC": "", "STREAMER_ALERTS_TOPIC": ""}
    group = [
        WorkerProcess(bootstrap, topics, log_dir, partitions=PARTITIONS, **settings).start()
        for _ in range(workers)
    ]
    try:
        for worker in group:
            worker.wait_ready(180)

        def counted() -> float:
            return sum(total(worker.metrics(), "streamer_events_total") for worker in group)

        # From ready (state recovered, input assigned) to all counted: fetching included. Only
        # the events counted in that time: a worker counts some before its readiness is seen
        # (at 150,000 events, most of them: rates above the raw ceiling). The end is the time
        # the last batch was done, by the workers' own clock gauge, so the bench can scrape
        # seldom: scraping every 0.5 s took ~9% of the worker's busy time (py-spy).
        started, before = time.time(), counted()
        spy = None if profile is None else record_profile(group[0], profile)
        wait_until(lambda: counted() >= count, 3600, "every event", every_s=2)
        if before > count // 2:
            print(f"{before:,.0f} of {count:,} events counted before ready: use more --events")
        done = max(total(worker.metrics(), LAST_PROCESSED) for worker in group)
        rate = (count - before) / (done - started) if done > started else float("nan")
        if spy is not None:
            spy.wait(60)
        return rate
    finally:
        for worker in group:
            worker.stop()


def record_profile(
    worker: WorkerProcess, path: Path, duration_s: int = 10
) -> subprocess.Popen[bytes]:
    """py-spy samples the live worker; collapsed stacks, one line per stack."""
    assert worker.process is not None
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            *(spy, "record", "--pid", str(worker.process.pid), "--duration", str(duration_s)),
            "--idle",
            *("--format", "raw", "--output", str(path), "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def idiomatic_rate(bootstrap: str, topic: str, count: int) -> float:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "BENCH_TOPIC": topic,
        "BENCH_EVENTS": str(count),
        "BENCH_APP_ID": f"idiomatic-{uuid.uuid4().hex[:8]}",
        "BENCH_PARTITIONS": str(PARTITIONS),
    }
    with tempfile.TemporaryDirectory() as data:
        env["BENCH_DATA_DIR"] = data
        result = subprocess.run(
            [sys.executable, "-m", "bench.idiomatic_agent", "worker", "-l", "warn"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    # Faust redirects a worker's stdout into its log, on stderr.
    found = re.search(
        r"IDIOMATIC \d+ events in [0-9.]+s: ([0-9.]+) events/s", result.stdout + result.stderr
    )
    if found:
        return float(found.group(1))
    raise RuntimeError(f"the idiomatic agent did not finish: {result.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--idiomatic-events", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--profile", type=Path, help="write py-spy's collapsed stacks of the worker (1st run)"
    )
    args = parser.parse_args()
    count, idiomatic_count, runs = (
        (2_000, 500, 1) if args.smoke else (args.events, args.idiomatic_events, args.runs)
    )
    figures: dict[str, list[float]] = {
        "produce": [],
        "raw_ceiling": [],
        "worker": [],
        "two_workers": [],
        "idiomatic_agent": [],
    }
    with local_broker() as (bootstrap, log_dir):
        events = make_events(count, int(time.time() * 1000))
        for run in range(runs):
            topic = f"bench-{uuid.uuid4().hex[:8]}"
            figures["produce"].append(asyncio.run(produce(bootstrap, topic, events)))
            figures["raw_ceiling"].append(asyncio.run(raw_ceiling(bootstrap, topic, count)))
            profile = args.profile if run == 0 else None
            figures["worker"].append(worker_rate(bootstrap, topic, count, log_dir, profile))
            figures["two_workers"].append(worker_rate(bootstrap, topic, count, log_dir, workers=2))
            figures["idiomatic_agent"].append(idiomatic_rate(bootstrap, topic, idiomatic_count))
            print(
                f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.items()),
                flush=True,
            )
    median = {k: statistics.median(v) for k, v in figures.items()}
    ratios = {
        "worker_vs_raw": _ratio(median["worker"], median["raw_ceiling"]),
        "worker_vs_idiomatic": _ratio(median["worker"], median["idiomatic_agent"]),
        "two_workers_vs_one": _ratio(median["two_workers"], median["worker"]),
    }
    for name, rate in median.items():
        print(f"{name:18s} {rate:12,.0f} events/s (median of {runs})")
    print(f"worker / raw ceiling     {ratios['worker_vs_raw']:.1%}   (target >= 50%)")
    print(f"worker / idiomatic agent {ratios['worker_vs_idiomatic']:.1f}x  (target >= 10x)")
    print(f"two workers / one        {ratios['two_workers_vs_one']:.2f}x (2 cores, one broker)")
    if not args.smoke:
        save(
            "worker_throughput",
            f"python -m bench.worker_throughput --events {count} --runs {runs}",
            {
                "events": count,
                "idiomatic_events": idiomatic_count,
                "runs": runs,
                "events_per_second_median": {k: round(v) for k, v in median.items()},
                "ratios": {k: round(v, 4) for k, v in ratios.items()},
            },
        )


def _ratio(rate: float, base: float) -> float:
    """NaN when there is nothing to compare (a smoke run's events all counted before ready)."""
    return rate / base if base else float("nan")


if __name__ == "__main__":
    main()
