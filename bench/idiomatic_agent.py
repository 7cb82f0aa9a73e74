"""The comparison point: a Faust agent written the way the Faust docs write one.

    async for event in stream: table[key] += 1

Run by bench/worker_throughput.py as its own process; prints the rate once it has seen
BENCH_EVENTS events.
"""

from __future__ import annotations

import os
import time

import faust
import orjson

TOPIC = os.environ["BENCH_TOPIC"]
TARGET = int(os.environ["BENCH_EVENTS"])

app = faust.App(
    os.environ["BENCH_APP_ID"],
    broker=f"kafka://{os.environ['KAFKA_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ.get("BENCH_DATA_DIR", "."),
    web_enabled=False,
    broker_session_timeout=10,
    broker_rebalance_timeout=10,
    consumer_auto_offset_reset="earliest",
    topic_partitions=int(os.environ.get("BENCH_PARTITIONS", "8")),
)
source = app.topic(TOPIC, value_serializer="raw")
counts = app.Table("counts", default=int)
state = {"seen": 0, "first": 0.0}


@app.agent(source)
async def count(stream):  # type: ignore[no-untyped-def]
    async for value in stream:
        event = orjson.loads(value)
        counts[f"{event.get('touchpoint')}|{event.get('metric')}"] += 1
        state["seen"] += 1
        if state["seen"] == 1:
            state["first"] = time.perf_counter()
        if state["seen"] == TARGET:
            elapsed = time.perf_counter() - state["first"]
            print(
                f"IDIOMATIC {TARGET} events in {elapsed:.2f}s: {TARGET / elapsed:.0f} events/s",
                flush=True,
            )
            os._exit(0)


if __name__ == "__main__":
    app.main()
