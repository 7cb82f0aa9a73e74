"""Recovery: a worker restarted after SIGKILL with 90 days of state, until ready and exact.

    python -m bench.recovery [--series 10000] [--days 90] [--per-day 1000000] [--runs 3]

Feeding 90 days of answers through the broker would take days, so the state is seeded the cheap
way: the memory bench's simulation (``bench.memory.Simulation``: the worker's core, Board and
ledger, on a simulated clock ending now) builds it, 10,002 series (1,667 touchpoints x 5
channels + touchpoints) x ``5m,1h,24h,7d,30d,90d``, the last 10 days at ``--per-day`` answers
and the days before at ``--sparse-per-day`` (the same buckets, smaller counts: see
bench/memory.py). Its records, as a compacted changelog holds them, are written to the worker's
changelog topic on a local broker, with the seal the broker needs (streamer/app/store.py), and
the consumer group's committed offsets are set to what the state says was applied.

Then a worker starts on it (the first start), is SIGKILLed once ready and exact, and is
restarted ``--runs`` times. Each restart is timed from the new process's start to ``/readyz``
200 (ready) and to a ``/scores`` answer equal, count for count in every series and window, to the
simulation's own Board moved to the worker's clock (exact: the time the answer arrived).
``--instance-id`` runs the workers with STREAMER_INSTANCE_ID (static group membership).
``--profile FILE`` samples the first restart with py-spy (``python -m bench.stacks FILE``).
Writes bench/results/recovery.json (recovery_instance_id.json with ``--instance-id``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.broker import local_broker
from bench.memory import CHANNELS, DAY_MS, MINUTE_MS, PARTITIONS, Simulation, max_series
from bench.report import save
from bench.worker_throughput import record_profile
from streamer.app.metrics import series_labels
from streamer.app.settings import load_settings
from streamer.app.store import SENTINEL
from streamer.core.board import Board
from streamer.core.layout import partition_of_key
from streamer.kafka.topics import BUCKETS_TABLE, changelog_topic, ensure_topics
from tests.integration.harness import Topics, WorkerProcess, wait_until

FULL_RATE_DAYS = 10
"""The last days at the full rate (bench/memory.py: the fine and hourly tiers and the 24-hour
dedupe memory then hold what they would)."""

Scores = dict[tuple[tuple[str, str], ...], dict[str, Any]]


def build_state(touchpoints: int, days: int, per_day: int, sparse_per_day: int) -> Simulation:
    now_ms = time.time_ns() // 1_000_000
    simulation = Simulation(touchpoints, now_ms - now_ms % MINUTE_MS - days * DAY_MS)
    started = time.perf_counter()
    for day in range(1, days + 1):
        simulation.day(day, per_day if day > days - FULL_RATE_DAYS else sparse_per_day)
        if day % 10 == 0 or day == days:
            print(
                f"state day {day:3d}: {simulation.answers:>11,} answers, "
                f"{len(simulation.table):,} records ({time.perf_counter() - started:,.0f} s)",
                flush=True,
            )
    return simulation


async def seed_changelog(bootstrap: str, topic: str, table: dict[bytes, bytes]) -> None:
    """The records to the changelog partition of their source, then one seal per partition: the
    local broker's end offset would otherwise miss the rest of the last batch (store.py)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        acks="all",
    )
    await producer.start()
    try:
        for key, value in table.items():
            source = partition_of_key(key)
            assert source is not None, key
            await producer.send(topic, value, key=key, partition=source % PARTITIONS)
        await producer.flush()
        for partition in range(PARTITIONS):
            await producer.send_and_wait(topic, None, key=SENTINEL, partition=partition)
    finally:
        await producer.stop()


async def commit_offsets(bootstrap: str, group: str, topic: str, offsets: list[int]) -> None:
    """What the state says was applied, as the worker would have committed it."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        positions = {TopicPartition(topic, p): offset for p, offset in enumerate(offsets)}
        consumer.assign(list(positions))
        await consumer.commit(positions)
    finally:
        await consumer.stop()


def expected_scores(board: Board, now_ms: int) -> Scores:
    board.advance(now_ms)
    windows = [w.label for w in board.timeline.windows]
    return {
        tuple(sorted({"metric": series.metric.value, **series_labels(series, window)}.items())): (
            asdict(tally)
        )
        for series, totals in board.series()
        for window, tally in zip(windows, totals, strict=True)
    }


def observed_scores(worker: WorkerProcess) -> tuple[int, Scores] | None:
    """The worker's clock and its counts by series and window (a generous timeout: the answer
    for 10,000 series is some MB)."""
    try:
        with urllib.request.urlopen(worker.base + "/scores", timeout=60) as response:
            body = json.loads(response.read())
    except OSError:
        return None
    scores = {}
    for entry in body["series"]:
        counts = entry.pop("counts")
        for field in ("n", "scores"):
            entry.pop(field)
        scores[tuple(sorted(entry.items()))] = counts
    return int(body["now_ms"]), scores


def wait_exact(worker: WorkerProcess, board: Board, timeout_s: float) -> float:
    """Seconds (monotonic clock) at which an answer equal to the expected state arrived."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        found = observed_scores(worker)
        arrived = time.monotonic()
        if found is not None and found[0] >= board.now_ms:
            now_ms, scores = found
            expected = expected_scores(board, now_ms)
            if scores == expected:
                return arrived
            wrong = [k for k in expected if scores.get(k) != expected[k]]
            last = (
                f"{len(scores):,} series x windows, {len(expected):,} expected, "
                f"{len(wrong):,} differ (e.g. {wrong[:1]})"
            )
        time.sleep(0.2)
    raise AssertionError(f"not exact after {timeout_s} s: {last}\n{worker.tail()}")


def timed_start(
    worker: WorkerProcess, board: Board, profile: Path | None = None
) -> tuple[float, float]:
    """Seconds from the process's start to ready, and to exact."""
    started = time.monotonic()
    worker.start()
    spy = None if profile is None else record_profile(worker, profile, duration_s=40)

    def ready() -> bool:
        assert worker.process is not None and worker.process.poll() is None, worker.tail()
        return worker.get("/readyz") is not None

    wait_until(ready, 600, "ready", every_s=0.1)
    ready = time.monotonic()
    exact = wait_exact(worker, board, 600)
    if spy is not None:
        spy.wait(120)
    return ready - started, exact - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=1_000_000)
    parser.add_argument("--sparse-per-day", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--instance-id", action="store_true", help="workers with STREAMER_INSTANCE_ID set"
    )
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks, 1st restart")
    args = parser.parse_args()
    series, days, per_day, runs = (
        (60, 12, 5_000, 1) if args.smoke else (args.series, args.days, args.per_day, args.runs)
    )
    touchpoints = -(-series // (1 + len(CHANNELS)))
    sparse = min(per_day, args.sparse_per_day)
    simulation = build_state(touchpoints, days, per_day, sparse)
    table = simulation.table
    state_bytes = sum(len(k) + len(v) for k, v in table.items())
    live = sum(1 for _ in simulation.board.series())
    print(f"state: {live:,} series, {len(table):,} records, {state_bytes / 2**20:,.1f} MB")
    topics = Topics("recovery")
    env = {
        "STREAMER_DIMENSIONS": "channel",
        "STREAMER_MAX_SERIES": str(max_series(touchpoints)),
        "STREAMER_ALERTS_TOPIC": "",
        "STREAMER_DETRACTORS_TOPIC": "",
        **({"STREAMER_INSTANCE_ID": "recovery-0"} if args.instance_id else {}),
    }
    with local_broker() as (bootstrap, log_dir):
        os.environ["KAFKA_BOOTSTRAP"] = bootstrap
        settings = load_settings(
            app_id=topics.app_id,
            input_topic=topics.input,
            dlq_topic=topics.dlq,
            alerts_topic="",
            detractors_topic="",
            partitions=PARTITIONS,
        )
        asyncio.run(ensure_topics(settings))
        started = time.perf_counter()
        asyncio.run(seed_changelog(bootstrap, changelog_topic(settings, BUCKETS_TABLE), table))
        asyncio.run(commit_offsets(bootstrap, topics.app_id, topics.input, simulation.offsets))
        print(f"changelog seeded in {time.perf_counter() - started:,.1f} s", flush=True)
        worker = WorkerProcess(bootstrap, topics, log_dir, partitions=PARTITIONS, **env)
        try:
            first = timed_start(worker, simulation.board)
            print(f"first start: ready {first[0]:.1f} s, exact {first[1]:.1f} s", flush=True)
            restarts = []
            for run in range(runs):
                worker.kill()
                worker = WorkerProcess(bootstrap, topics, log_dir, partitions=PARTITIONS, **env)
                profile = args.profile if run == 0 else None
                restarts.append(timed_start(worker, simulation.board, profile))
                rss_mb = worker.rss_mb()
                print(
                    f"restart {run + 1} after SIGKILL: ready {restarts[-1][0]:.1f} s, "
                    f"exact {restarts[-1][1]:.1f} s, worker RSS {rss_mb:,.0f} MB",
                    flush=True,
                )
        finally:
            worker.stop()
    ready = statistics.median(r[0] for r in restarts)
    exact = statistics.median(r[1] for r in restarts)
    print(
        f"restart to ready {ready:.1f} s, restart to exact {exact:.1f} s "
        f"(median of {runs}; target <= 15 s)"
    )
    if not args.smoke:
        save(
            "recovery_instance_id" if args.instance_id else "recovery",
            f"python -m bench.recovery --series {series} --days {days} --per-day {per_day} "
            f"--sparse-per-day {sparse} --runs {runs}"
            + (" --instance-id" if args.instance_id else ""),
            {
                "series": live,
                "days": days,
                "answers_per_day": per_day,
                "sparse_answers_per_day": sparse,
                "answers": simulation.answers,
                "records": len(table),
                "changelog_mb": round(state_bytes / 2**20, 1),
                "runs": runs,
                "first_start_seconds": {"ready": round(first[0], 1), "exact": round(first[1], 1)},
                "restart_seconds_median": {"ready": round(ready, 1), "exact": round(exact, 1)},
                "restart_seconds": [[round(r, 1) for r in run] for run in restarts],
                "worker_rss_mb": round(rss_mb),
                "load_average": os.getloadavg(),
            },
        )


if __name__ == "__main__":
    main()
