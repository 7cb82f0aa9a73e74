"""What a Prometheus scrape of the scores costs a worker, by the number of series.

    python -m bench.scrape [--touchpoints N] [--runs R] [--smoke]

Fills a Board with ``N`` touchpoints x 3 metrics, each also by 2 channels (9 series per
touchpoint), the default windows 5m to 90d, then renders /metrics as the worker does
(``streamer.app.views.exposition``): the part on the event loop (the worker's own metrics and the
scores' snapshot), and the samples built and formatted on a thread. Prints the series, the
samples and bytes of a scrape, the event loop's share and the whole render; writes
bench/results/scrape.json. The median of R runs is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import orjson
from prometheus_client import CollectorRegistry

from bench.report import save
from streamer.app.metrics import ScoreCollector
from streamer.app.views import exposition
from streamer.core.board import Board, Sourced
from streamer.core.decoder import Decoder
from streamer.core.scales import Scoring
from streamer.core.series import parse_breakdowns
from streamer.core.timeline import DEFAULT_WINDOWS, Timeline

METRICS = (("nps", 9), ("csat", 4), ("ces", 6))
CHANNELS = ("voice", "chat")


def filled_board(touchpoints: int, now_ms: int) -> Board:
    timeline = Timeline.parse("1m", DEFAULT_WINDOWS)
    board = Board(
        Scoring(), timeline, parse_breakdowns("channel"), max_series=touchpoints * 9, now_ms=now_ms
    )
    decode = Decoder().decode
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000 - 30))
    answers = []
    for tp in range(touchpoints):
        for channel in CHANNELS:
            for metric, score in METRICS:
                raw = orjson.dumps(
                    {
                        "event_id": f"e{len(answers)}",
                        "occurred_at": stamp,
                        "touchpoint": f"touchpoint-{tp}",
                        "metric": metric,
                        "score": score,
                        "channel": channel,
                    }
                )
                answers.append(Sourced(0, len(answers), decode(raw, now_ms)))
    board.ingest(answers, now_ms)
    return board


def measure(board: Board) -> dict[str, float]:
    collector = ScoreCollector(board, Scoring())
    own = CollectorRegistry()
    started = time.perf_counter()
    list(own.collect())
    collector.snapshot()
    on_loop = time.perf_counter() - started
    started = time.perf_counter()
    body = asyncio.run(exposition(own, collector))
    whole = time.perf_counter() - started
    return {
        "loop_s": on_loop,
        "render_s": whole,
        "bytes": len(body),
        "samples": body.count(b"\n") - body.count(b"\n#"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--touchpoints", type=int, default=1111, help="9 series each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run that proves it works")
    args = parser.parse_args()
    touchpoints, runs = (20, 1) if args.smoke else (args.touchpoints, args.runs)
    now_ms = int(time.time() * 1000)
    board = filled_board(touchpoints, now_ms)
    series = len(board.limiter)
    readings = [measure(board) for _ in range(runs)]
    figures = {
        "series": series,
        "samples": readings[0]["samples"],
        "megabytes": round(readings[0]["bytes"] / 1e6, 1),
        "event_loop_ms": round(1000 * statistics.median(r["loop_s"] for r in readings), 1),
        "render_s": round(statistics.median(r["render_s"] for r in readings), 2),
    }
    for name, value in figures.items():
        print(f"{name:16s} {value:>12,}")
    if not args.smoke:
        save("scrape", f"python -m bench.scrape --touchpoints {touchpoints} --runs {runs}", figures)


if __name__ == "__main__":
    main()
