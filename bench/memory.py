"""Memory: the resident size of a worker's scoring state, once the windows are full.

    python -m bench.memory [--touchpoints 1667] [--per-day 1000000] [--days 90,180] [--runs 1]

Runs the worker's state path in one process on a simulated clock: 1,667 touchpoints x 5
channels (8,335 channel series plus 1,667 touchpoint series: 10,002), NPS, windows 5m, 1h, 24h,
7d, 30d, 90d on 1-minute buckets (tiered: minutes for 6 h, hours for 8 days, days beyond),
``--per-day`` answers a day spread over the series, 8 source partitions. Simulating 90 days at
full rate would take hours, so days older than 10 days before the first reading take
``--sparse-per-day`` answers (enough for nearly every series to fill its daily bucket: the state
held is the same buckets, with smaller counts); the last 10 days, and every day after, the full
rate (the fine and hourly tiers and the 24-hour dedupe memory then hold what they would). Each
simulated minute the answers go through ``Board.ingest`` and ``Board.flush``'s records are kept
as the worker's table holds them (the worker commits every 5 s: it keeps more, smaller log
records for the same digests); every simulated hour the clock advances (``Board.advance``:
windows move, buckets roll up, expired ones go).
RSS is read after 91 and 101 simulated days (10 million more answers between): it must stay
flat once the 90-day window is full.
Writes bench/results/memory.json.

What it leaves out: Faust, aiokafka and the web server (a fixed ~60 MB in a live worker, from
its RSS with no series) and the producer's buffers (bounded by batch size).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import zlib

from bench.report import save
from streamer.app.store import kept
from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.scales import Metric, Scale, Scoring
from streamer.core.series import parse_breakdowns
from streamer.core.timeline import Timeline
from tests.integration import harness

CHANNELS = ("voice", "chat", "email", "web", "ivr")
MINUTE_MS = 60_000
DAY_MS = 86_400_000
NPS = Scale(0, 10)
PARTITIONS = 8
ADVANCE_EVERY_MINUTES = 60
"""The worker advances every second; hourly here keeps a 100-day simulation short (the state
held differs by at most an hour of buckets)."""


def rss_bytes() -> int:
    gc.collect()
    return harness.rss_bytes()


class Simulation:
    """The worker's state path on a simulated clock from ``start_ms``: ``Board.ingest`` every
    minute, ``Board.advance`` every hour, ``Board.flush``'s records kept in ``table`` as the
    worker's table holds them (the compacted changelog). Offsets count per source partition."""

    def __init__(self, touchpoints: int, start_ms: int) -> None:
        self.rng = random.Random(5)
        self.start_ms = start_ms
        self.board = Board(
            Scoring(),
            Timeline.parse("1m", "5m,1h,24h,7d,30d,90d"),
            parse_breakdowns("channel"),
            max_series=max_series(touchpoints),
            now_ms=start_ms,
        )
        self.table: dict[bytes, bytes] = {}
        self.names = [f"touchpoint-{i:05d}" for i in range(touchpoints)]
        self.offsets = [0] * PARTITIONS
        self.answers = 0
        self._carry = 0.0

    def day(self, day: int, per_day: int) -> None:
        """Simulated day ``day`` (from 1) at ``per_day`` answers."""
        rng, board = self.rng, self.board
        per_minute = per_day / (24 * 60)
        for minute in range(24 * 60):
            now_ms = self.start_ms + (day - 1) * DAY_MS + minute * MINUTE_MS
            self._carry += per_minute
            count = int(self._carry)
            self._carry -= count
            answers = []
            for _ in range(count):
                self.answers += 1
                response = SurveyResponse(
                    f"evt-{self.answers:012d}",
                    now_ms - rng.randrange(MINUTE_MS),
                    rng.choice(self.names),
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
                # Keyed by touchpoint, as producers are: one partition per touchpoint.
                partition = zlib.crc32(response.touchpoint.encode()) % PARTITIONS
                answers.append(Sourced(partition, self.offsets[partition], response))
                self.offsets[partition] += 1
            board.ingest(answers, now_ms)
            if minute % ADVANCE_EVERY_MINUTES == 0:
                board.advance(now_ms)
            for _, key, value in board.flush(now_ms):
                if value is None:
                    self.table.pop(key, None)
                else:
                    self.table[key] = kept(value)
            board.acknowledged()


def max_series(touchpoints: int) -> int:
    return touchpoints * (1 + len(CHANNELS)) + 10


def simulate(
    touchpoints: int, per_day: int, sparse_per_day: int, checkpoints_days: list[int]
) -> dict[str, object]:
    simulation = Simulation(touchpoints, 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS)
    rss: dict[str, int] = {}
    series = 0
    baseline = rss_bytes()
    full_from = checkpoints_days[0] - 10
    for day in range(1, max(checkpoints_days) + 1):
        simulation.day(day, per_day if day > full_from else sparse_per_day)
        if day in checkpoints_days:
            rss[f"{day}d"] = rss_bytes() - baseline
            series = sum(1 for _ in simulation.board.series())
            print(
                f"day {day:3d}: {simulation.answers:>10,} answers, {series:,} series, "
                f"{len(simulation.table):,} records, state {rss[f'{day}d'] / 2**20:,.0f} MB",
                flush=True,
            )
    return {
        "rss_bytes": rss,
        "series": series,  # the last day is always a checkpoint
        "records": len(simulation.table),
        "answers": simulation.answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--touchpoints", type=int, default=1667)
    parser.add_argument("--per-day", type=int, default=1_000_000)
    parser.add_argument("--sparse-per-day", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    touchpoints, per_day, days, runs = (
        (50, 2000, [11, 12], 1)
        if args.smoke
        else (args.touchpoints, args.per_day, [91, 101], args.runs)
    )
    sparse = min(per_day, args.sparse_per_day)
    results = [simulate(touchpoints, per_day, sparse, days) for _ in range(runs)]
    rss = {
        k: statistics.median(int(r["rss_bytes"][k]) for r in results)
        for k in results[0]["rss_bytes"]
    }  # type: ignore[index]
    series = int(results[0]["series"])  # type: ignore[arg-type]
    full = rss[f"{days[0]}d"]
    print(
        "state RSS at each reading: "
        + ", ".join(f"{v / 2**20:,.0f} MB" for v in rss.values())
        + f"; {full / series:,.0f} bytes per series ({series:,} series); target < 300 MB, flat"
    )
    if not args.smoke:
        save(
            "memory",
            f"python -m bench.memory --touchpoints {touchpoints} --per-day {per_day} "
            f"--sparse-per-day {sparse} --runs {runs}",
            {
                "touchpoints": touchpoints,
                "channels": len(CHANNELS),
                "answers_per_day": per_day,
                "sparse_answers_per_day": sparse,
                "records": results[0]["records"],
                "series": series,
                "runs": runs,
                "state_rss_mb_median": {k: round(v / 2**20, 1) for k, v in rss.items()},
                "bytes_per_series": round(full / series),
            },
        )


if __name__ == "__main__":
    main()
