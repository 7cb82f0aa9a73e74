"""Core throughput: decode + validate + tally (+ window update) of realistic events, one core.

    python -m bench.core_throughput [--events N] [--runs R] [--smoke]

Prints events/s for decode+validate alone, decode+validate+tally (the issue #3 target:
250,000 events/s), and the full core path including bucket records and window updates; writes
bench/results/core_throughput.json. The median of R runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from streamer.core.events import Decoder, SurveyResponse
from streamer.core.ledger import BucketKey, BucketRecord, Entry, apply
from streamer.core.scales import Scoring
from streamer.core.series import SeriesKey
from streamer.core.tally import Tallier
from streamer.core.window import SeriesWindows, Timeline

RESULTS = Path(__file__).parent / "results"
TOUCHPOINTS = [f"touchpoint-{i:02d}" for i in range(50)]
CHANNELS = ["voice", "chat", "email", "web", "ivr"]
METRICS = [("nps", None, 0, 10), ("csat", "1-5", 1, 5), ("ces", None, 1, 7)]


def make_events(count: int, now_ms: int, seed: int = 7) -> list[bytes]:
    """Realistic values: 50 touchpoints, 5 channels, the three metrics, the last hour of time."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        metric, scale, low, high = rng.choice(METRICS)
        doc = {
            "event_id": f"evt-{seed}-{i:09d}",
            "occurred_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime((now_ms - rng.randrange(3_600_000)) / 1000)
            ),
            "touchpoint": rng.choice(TOUCHPOINTS),
            "metric": metric,
            "score": rng.randint(low, high),
            "channel": rng.choice(CHANNELS),
            "agent_id": f"agent-{rng.randrange(2000)}",
            "interaction_id": f"call-{i}",
        }
        if scale:
            doc["scale"] = scale
        events.append(orjson.dumps(doc))
    return events


def decode_only(events: list[bytes], now_ms: int) -> None:
    decode = Decoder().decode
    for raw in events:
        decode(raw, now_ms)


def decode_and_tally(events: list[bytes], now_ms: int) -> None:
    """The hot path of a batch: decode, then count answers per series and bucket, then tally."""
    decode = Decoder().decode
    tallier = Tallier(Scoring())
    counts: dict[tuple[object, ...], Counter[tuple[object, int]]] = {}
    for raw in events:
        response = decode(raw, now_ms)
        if type(response) is SurveyResponse:
            key = (response.metric, response.touchpoint, response.occurred_at_ms // 60_000)
            bucket = counts.get(key)
            if bucket is None:
                bucket = counts[key] = Counter()
            bucket[(response.scale, response.score)] += 1
    for (metric, _, _), answers in counts.items():
        tallier.tally(metric, answers)  # type: ignore[arg-type]


def full_core(events: list[bytes], now_ms: int, batch: int = 1000) -> None:
    """Decode, dedupe and apply to bucket records, then update the rolling windows, per batch."""
    decode = Decoder().decode
    tallier = Tallier(Scoring())
    timeline = Timeline.parse("1m", "5m,1h,24h,7d")
    records: dict[BucketKey, BucketRecord] = {}
    windows: dict[SeriesKey, SeriesWindows] = {}
    for start in range(0, len(events), batch):
        grouped: dict[BucketKey, list[Entry]] = {}
        for offset, raw in enumerate(events[start : start + batch], start):
            response = decode(raw, now_ms)
            if type(response) is not SurveyResponse:
                continue
            key = BucketKey(
                0, response.metric, response.touchpoint, timeline.bucket_of(response.occurred_at_ms)
            )
            dims = ((), (("channel", response.channel or "unknown"),))
            grouped.setdefault(key, []).append(
                Entry(offset, response.event_id, response.scale, response.score, dims)
            )
        for key, entries in grouped.items():
            applied = apply(records.get(key) or BucketRecord(key), entries, tallier)
            records[key] = applied.record
            for dims, delta in applied.delta.items():
                series = SeriesKey(key.metric, key.touchpoint, dims)
                window = windows.get(series)
                if window is None:
                    window = windows[series] = SeriesWindows(key.metric, timeline, now_ms)
                window.add(key.bucket_start, delta)


def measure(
    stage: Callable[[list[bytes], int], None], events: list[bytes], now_ms: int, runs: int
) -> float:
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        stage(events, now_ms)
        rates.append(len(events) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run that only proves the bench works"
    )
    args = parser.parse_args()
    count, runs = (500, 1) if args.smoke else (args.events, args.runs)
    now_ms = int(time.time() * 1000)
    events = make_events(count, now_ms)
    figures = {
        "orjson_loads_only": measure(
            lambda ev, _: [orjson.loads(r) for r in ev], events, now_ms, runs
        ),
        "decode_validate": measure(decode_only, events, now_ms, runs),
        "decode_validate_tally": measure(decode_and_tally, events, now_ms, runs),
        "full_core_with_records_and_windows": measure(full_core, events, now_ms, runs),
    }
    for name, rate in figures.items():
        print(f"{name:38s} {rate:12,.0f} events/s")
    print("target (decode_validate_tally)          250,000 events/s")
    result = {
        "benchmark": "core_throughput",
        "events": count,
        "runs": runs,
        "events_per_second_median": {k: round(v) for k, v in figures.items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "command": "python -m bench.core_throughput",
    }
    if not args.smoke:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "core_throughput.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
