"""Changelog bytes per answer: what the state costs to persist, by rate and commit interval.

    python -m bench.changelog_bytes [--seconds 300]
    python -m bench.changelog_bytes --worker [--rate 200] [--seconds 300]

The core alone (``Board.ingest`` then ``Board.flush``, as the worker does at each commit) on a
simulated clock: answers at 10, 100 and 1,000 a second on 2 touchpoints (NPS, 1-minute buckets,
the default windows), in 100 ms batches, committed after every batch (the worst case) and every
5 s (the worker's default STREAMER_COMMIT_INTERVAL). Bytes are keys plus values of every record
written, snapshots and deletions included; the seal's one 5-byte tombstone per partition per
commit (the local broker's quirk, store.py) is added. Writes bench/results/changelog_bytes.json.

``--worker``: a live worker on a local broker (the worker's defaults: 5 s commits), answers at
``--rate`` a second on the same 2 touchpoints, produced as they are given, for ``--seconds``.
Bytes per answer two ways: the worker's ``streamer_state_written_bytes_total`` over its accepted
answers, and every key and value on its changelog topics read back (the seals and the alert
table included). Then the worker is SIGKILLed and restarted on that changelog: seconds to ready.
Writes bench/results/changelog_bytes_worker.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.broker import local_broker
from bench.report import save
from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.scales import NPS_SCALE, Metric, Scoring
from streamer.core.timeline import Timeline
from tests.integration.harness import Topics, WorkerProcess, total, value, wait_until

START_MS = 1_795_341_600_000
SEAL_BYTES = 5
TOUCHPOINTS = {"checkout": 0, "support": 1}


def bytes_per_answer(rate: int, commit_ms: int, seconds: int) -> float:
    rng = random.Random(rate)
    board = Board(Scoring(), Timeline.parse("1m", "5m,1h,24h,7d,30d,90d"), now_ms=START_MS)
    written = answers = 0
    carry = 0.0
    last_commit = START_MS
    for step in range(seconds * 10):
        now = START_MS + step * 100
        board.advance(now)
        carry += rate / 10
        batch = []
        while carry >= 1:
            carry -= 1
            touchpoint = rng.choice(list(TOUCHPOINTS))
            response = SurveyResponse(
                f"evt-{answers:012d}",
                now - rng.randrange(5_000),
                touchpoint,
                Metric.NPS,
                rng.randrange(11),
                NPS_SCALE,
            )
            batch.append(Sourced(TOUCHPOINTS[touchpoint], answers, response))
            answers += 1
        board.ingest(batch, now)
        if now - last_commit >= commit_ms:
            last_commit = now
            writes = board.flush(now)
            written += sum(len(key) + len(value or b"") for _, key, value in writes)
            written += SEAL_BYTES * len({partition for partition, _, _ in writes})
            board.acknowledged()
    return written / answers


async def produce_live(bootstrap: str, topic: str, rate: int, seconds: int) -> int:
    """Answers at ``rate`` a second, each given just before it is sent, keyed by touchpoint."""
    rng = random.Random(rate)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            while sent < rate * elapsed:
                touchpoint = rng.choice(list(TOUCHPOINTS))
                event = {
                    "event_id": f"live-{sent:09d}",
                    "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "touchpoint": touchpoint,
                    "metric": "nps",
                    "score": rng.randrange(11),
                }
                await producer.send(topic, json.dumps(event).encode(), key=touchpoint.encode())
                sent += 1
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def topic_bytes(bootstrap: str, topic: str, partitions: int) -> tuple[int, int]:
    """Records and key + value bytes in every partition of ``topic``, read to the highwater."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records = size = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += len(batch)
                size += sum(len(r.key or b"") + len(r.value or b"") for r in batch)
            positions = [await consumer.position(tp) for tp in tps]
            if [consumer.highwater(tp) for tp in tps] == positions:
                return records, size
        raise RuntimeError(f"{topic} not read to its end")
    finally:
        await consumer.stop()


def live_worker(rate: int, seconds: int) -> dict[str, float]:
    topics = Topics("bytes")
    env = {"STREAMER_ALERTS_TOPIC": "", "STREAMER_DETRACTORS_TOPIC": ""}
    partitions = 8
    with local_broker() as (bootstrap, log_dir):
        worker = WorkerProcess(bootstrap, topics, log_dir, partitions, **env).start()
        try:
            worker.wait_ready(180)
            sent = asyncio.run(produce_live(bootstrap, topics.input, rate, seconds))

            def accepted() -> float:
                return (
                    value(worker.metrics(), "streamer_events_total", outcome="accepted", reason="")
                    or 0
                )

            wait_until(lambda: accepted() >= sent, 120, "every answer counted")
            time.sleep(7)  # one more commit interval (5 s): the last answers' records written
            samples = worker.metrics()
            written = total(samples, "streamer_state_written_bytes_total")
            counted = accepted()
            read = [
                asyncio.run(
                    topic_bytes(bootstrap, f"{topics.app_id}-{table}-changelog", partitions)
                )
                for table in ("buckets", "alerts")
            ]
            worker.kill()
            started = time.monotonic()
            worker = WorkerProcess(bootstrap, topics, log_dir, partitions, **env).start()
            worker.wait_ready(600)
            ready_s = time.monotonic() - started
        finally:
            worker.stop()
    records = sum(r for r, _ in read)
    return {
        "answers": counted,
        "exported_bytes_per_answer": round(written / counted, 1),
        "changelog_records": records,
        "changelog_bytes_per_answer": round(sum(b for _, b in read) / counted, 1),
        "restart_to_ready_seconds": round(ready_s, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--worker", action="store_true", help="a live worker instead of the core")
    parser.add_argument("--rate", type=int, default=200, help="answers/s, with --worker")
    args = parser.parse_args()
    seconds = 10 if args.smoke else args.seconds
    if args.worker:
        figures = live_worker(args.rate, seconds)
        for name, figure in figures.items():
            print(f"{name:28s} {figure:,}")
        if not args.smoke:
            command = (
                f"python -m bench.changelog_bytes --worker --rate {args.rate} --seconds {seconds}"
            )
            save("changelog_bytes_worker", command, figures)
        return
    figures = {}
    for commit_ms in (100, 5_000):
        for rate in (10, 100, 1_000):
            figure = bytes_per_answer(rate, commit_ms, seconds)
            figures[f"{rate}/s, commit every {commit_ms} ms"] = round(figure, 1)
            print(
                f"{rate:>5} answers/s, commit every {commit_ms:>5} ms: {figure:6.1f} bytes/answer"
            )
    if not args.smoke:
        save("changelog_bytes", f"python -m bench.changelog_bytes --seconds {seconds}", figures)


if __name__ == "__main__":
    main()
