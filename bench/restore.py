"""How long the core takes to rebuild a worker's state from its persisted records: the part of a
restart after SIGKILL that is streamer's own (``Board.restore``), without the broker.

Builds the memory bench's state (``bench.memory.Simulation``: touchpoints x 5 channels,
``5m,1h,24h,7d,30d,90d``, sparse days then full ones) on a simulated clock, then restores it into
a new Board ``--runs`` times and reports the best time, per bucket, and a digest of every series'
window totals (equal before and after a change to the restore, or the change is wrong).
Writes bench/results/restore.json. ``bench.recovery`` times the whole restart through the broker.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time

from bench.memory import DAY_MS, Simulation
from bench.report import save
from streamer.core.board import Board
from streamer.core.scales import Scoring
from streamer.core.series import parse_breakdowns
from streamer.core.timeline import Timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--touchpoints", type=int, default=167)
    parser.add_argument("--days", type=int, default=91)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--sparse-per-day", type=int, default=4_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    touchpoints, days, per_day, sparse, runs = (
        (5, 12, 2_000, 200, 1)
        if args.smoke
        else (args.touchpoints, args.days, args.per_day, args.sparse_per_day, args.runs)
    )
    simulation = Simulation(touchpoints, 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS)
    for day in range(1, days + 1):
        simulation.day(day, per_day if day > days - 10 else sparse)
    now_ms, partitions = simulation.board.now_ms, sorted(simulation.board.journals)
    times = []
    for _ in range(runs):
        board = Board(
            Scoring(),
            Timeline.parse("1m", "5m,1h,24h,7d,30d,90d"),
            parse_breakdowns("channel"),
            max_series=simulation.board.limiter.max_series,
            now_ms=now_ms,
        )
        started = time.perf_counter()
        gc.disable()  # as the worker restores (streamer/app/recovery.py)
        try:
            board.restore(simulation.table.items(), partitions, now_ms)
        finally:
            gc.enable()
        times.append(time.perf_counter() - started)
    buckets = sum(len(windows) for _, windows in board.histories())
    totals = repr(
        sorted((str(key), [t.counts() for t in tallies]) for key, tallies in board.series())
    )
    figures = {
        "answers": simulation.answers,
        "records": len(simulation.table),
        "buckets": buckets,
        "restore_s": round(min(times), 3),
        "us_per_bucket": round(min(times) / max(buckets, 1) * 1e6, 2),
        "totals_digest": hashlib.sha256(totals.encode()).hexdigest()[:16],
    }
    print(", ".join(f"{name} {value}" for name, value in figures.items()))
    if not args.smoke:  # a smoke run's figures once overwrote the measured ones
        save("restore", "python -m bench.restore", figures)


if __name__ == "__main__":
    main()
