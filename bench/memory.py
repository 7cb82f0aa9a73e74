"""Memory: the resident size of a worker's scoring state, once the windows are full.

    python -m bench.memory [--touchpoints 2000] [--per-day 20000] [--runs 1]

Runs the worker's state path in one process on a simulated clock: 2,000 touchpoints x 5
channels (10,000 channel series, plus the touchpoint series), NPS, windows 5m, 1h, 24h, 7d on
1-minute buckets, ``--per-day`` answers a day spread over the series. Each simulated minute
the answers go through ``Board.ingest`` and the changed records are kept encoded, as the
worker's table holds them; every simulated hour the clock advances (``Board.advance``: windows
move, expired buckets go).
RSS is read after 7, 14 and 28 simulated days (1x, 2x, 4x the events): it must stay flat once
the 7-day window is full. Writes bench/results/memory.json.

What it leaves out: Faust, aiokafka and the web server (a fixed ~60 MB in a live worker, from
its RSS with no series) and the producer's buffers (bounded by batch size).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics

import orjson

from bench.report import save
from streamer.app.store import kept
from streamer.core import ledger
from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.scales import Metric, Scale, Scoring
from streamer.core.series import parse_breakdowns
from streamer.core.window import Timeline
from tests.integration import harness

CHANNELS = ("voice", "chat", "email", "web", "ivr")
MINUTE_MS = 60_000
DAY_MS = 86_400_000
NPS = Scale(0, 10)
ADVANCE_EVERY_MINUTES = 60
"""The worker advances every second; hourly here keeps a 28-day simulation short (the state
held differs by at most an hour of buckets out of 7 days)."""


def rss_bytes() -> int:
    gc.collect()
    return harness.rss_bytes()


def simulate(touchpoints: int, per_day: int, checkpoints_days: list[int]) -> dict[str, object]:
    rng = random.Random(5)
    start_ms = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS
    board = Board(
        Scoring(),
        Timeline.parse("1m", "5m,1h,24h,7d"),
        parse_breakdowns("channel"),
        max_series=touchpoints * (1 + len(CHANNELS)) + 10,
        now_ms=start_ms,
    )
    table: dict[bytes, bytes] = {}
    names = [f"touchpoint-{i:05d}" for i in range(touchpoints)]
    per_minute = per_day / (24 * 60)
    carry = 0.0
    serial = 0
    rss: dict[str, int] = {}
    series = 0
    baseline = rss_bytes()
    for day in range(1, max(checkpoints_days) + 1):
        for minute in range(24 * 60):
            now_ms = start_ms + (day - 1) * DAY_MS + minute * MINUTE_MS
            carry += per_minute
            count, carry = int(carry), carry - int(carry)
            answers = []
            for _ in range(count):
                serial += 1
                response = SurveyResponse(
                    f"evt-{serial:012d}",
                    now_ms - rng.randrange(MINUTE_MS),
                    rng.choice(names),
                    Metric.NPS,
                    rng.randint(0, 10),
                    NPS,
                    rng.choice(CHANNELS),
                    None,
                    None,
                    f"agent-{rng.randrange(3000)}",
                    None,
                    None,
                    None,
                )
                answers.append(Sourced(serial % 8, serial, response))
            for record in board.ingest(answers, now_ms).changed:
                table[record.key.encode().encode()] = kept(orjson.dumps(ledger.encode(record)))
            if minute % ADVANCE_EVERY_MINUTES == 0:
                for key in board.advance(now_ms):
                    table.pop(key.encode().encode(), None)
        if day in checkpoints_days:
            rss[f"{day}d"] = rss_bytes() - baseline
            series = sum(1 for _ in board.series())
            print(
                f"day {day:3d}: {serial:>10,} answers, {series:,} series, "
                f"{len(board.records):,} bucket records, state {rss[f'{day}d'] / 2**20:,.0f} MB",
                flush=True,
            )
    return {
        "rss_bytes": rss,
        "series": series,  # the last day is always a checkpoint
        "records": len(board.records),
        "answers": serial,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--touchpoints", type=int, default=2000)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    touchpoints, per_day, days, runs = (
        (50, 2000, [1, 2], 1)
        if args.smoke
        else (args.touchpoints, args.per_day, [7, 14, 28], args.runs)
    )
    results = [simulate(touchpoints, per_day, days) for _ in range(runs)]
    rss = {
        k: statistics.median(int(r["rss_bytes"][k]) for r in results)
        for k in results[0]["rss_bytes"]
    }  # type: ignore[index]
    series = int(results[0]["series"])  # type: ignore[arg-type]
    full = rss[f"{days[0]}d"]
    print(
        "state RSS at 1x/2x/4x the events: "
        + ", ".join(f"{v / 2**20:,.0f} MB" for v in rss.values())
        + f"; {full / series:,.0f} bytes per series ({series:,} series); target < 300 MB, flat"
    )
    if not args.smoke:
        save(
            "memory",
            f"python -m bench.memory --touchpoints {touchpoints} --per-day {per_day} --runs {runs}",
            {
                "touchpoints": touchpoints,
                "channels": len(CHANNELS),
                "answers_per_day": per_day,
                "series": series,
                "runs": runs,
                "state_rss_mb_median": {k: round(v / 2**20, 1) for k, v in rss.items()},
                "bytes_per_series": round(full / series),
            },
        )


if __name__ == "__main__":
    main()
