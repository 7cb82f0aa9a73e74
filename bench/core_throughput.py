"""Core throughput: decode + validate + tally (+ window update) of realistic events, one core.

    python -m bench.core_throughput [--events N] [--runs R] [--smoke]

Prints events/s for decode+validate alone, decode+validate+tally, the pure-Python floor
(``python_floor``), the full core path including bucket records and window updates (the issue
#12 target: 250,000 events/s) and where its time goes (``split``), and a backfill of a sparse
30-day history (the same number of events spread over 30 days, read in time order, the default
windows up to 90d, the records flushed at every batch as the worker persists them); writes
bench/results/core_throughput.json. The median of R runs is reported.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

import orjson

from bench.report import save
from streamer.core.board import Board, Sourced
from streamer.core.decoder import Decoder
from streamer.core.events import SurveyResponse
from streamer.core.scales import Scoring
from streamer.core.series import parse_breakdowns
from streamer.core.tally import Tallier
from streamer.core.timeline import Timeline

TOUCHPOINTS = [f"touchpoint-{i:02d}" for i in range(50)]
CHANNELS = ["voice", "chat", "email", "web", "ivr"]
METRICS = [("nps", None, 0, 10), ("csat", "1-5", 1, 5), ("ces", None, 1, 7)]


SPAN_MS = 3_600_000
BACKFILL_SPAN_MS = 30 * 86_400_000
JITTER_MS = 120_000


def make_events(
    count: int, now_ms: int, seed: int = 7, shuffled: bool = False, span_ms: int = SPAN_MS
) -> list[bytes]:
    """Realistic values: 50 touchpoints, 5 channels, the three metrics, the last ``span_ms`` of
    time (an hour).

    Answers arrive roughly in the order they were given (each up to 2 minutes late), the way a
    live stream or a replay of the last hour reads; ``shuffled`` spreads every batch over the
    whole hour instead, the worst case for bucket records (one record touched per answer).
    """
    rng = random.Random(seed)
    events = []
    for i in range(count):
        metric, scale, low, high = rng.choice(METRICS)
        if shuffled:
            ago_ms = rng.randrange(span_ms)
        else:
            ago_ms = min(span_ms - 1, span_ms * (count - i) // count + rng.randrange(JITTER_MS))
        doc = {
            "event_id": f"evt-{seed}-{i:09d}",
            "occurred_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime((now_ms - ago_ms) / 1000)
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


def python_floor(events: list[bytes], now_ms: int) -> None:
    """The least any pure-Python core does per answer: decode and validate, a 128-bit digest of
    the event id into a plain set (dedupe with no horizon, no persistence, no memory bound), and
    one dict increment per (metric, touchpoint, channel, minute, score). No series, windows,
    checkpoints or records. A core written in Python cannot run faster than this: it is the
    measured reason a faster target needs native code (bench/README.md)."""
    decode = Decoder().decode
    hasher = blake2b(digest_size=16)
    seen: set[bytes] = set()
    counts: dict[tuple[object, ...], int] = {}
    for raw in events:
        response = decode(raw, now_ms)
        if type(response) is SurveyResponse:
            digest = hasher.copy()
            digest.update(response.event_id.encode())
            event = digest.digest()
            if event in seen:
                continue
            seen.add(event)
            key = (
                response.metric,
                response.touchpoint,
                response.channel,
                response.occurred_at_ms // 60_000,
                response.score,
            )
            counts[key] = counts.get(key, 0) + 1


def full_core(events: list[bytes], now_ms: int) -> None:
    """The worker's core path per batch: decode and validate, then the Board (series admission
    under the cap, dedupe and bucket records, rolling windows of 5m, 1h, 24h, 7d by channel)."""
    _through_board(events, now_ms, "5m,1h,24h,7d", flush=False)


def backfill(events: list[bytes], now_ms: int) -> None:
    """A replay of history through the worker's core path: decode and validate, the Board with
    the default windows by channel, and each batch's records flushed (a commit per batch)."""
    _through_board(events, now_ms, "5m,1h,24h,7d,30d,90d", flush=True)


def _through_board(
    events: list[bytes], now_ms: int, windows: str, flush: bool, batch: int = 5000
) -> None:
    decode = Decoder().decode
    board = Board(Scoring(), Timeline.parse("1m", windows), parse_breakdowns("channel"))
    for start in range(0, len(events), batch):
        answers = []
        for offset, raw in enumerate(events[start : start + batch], start):
            response = decode(raw, now_ms)
            if type(response) is SurveyResponse:
                answers.append(Sourced(0, offset, response))
        board.ingest(answers, now_ms)
        board.advance(now_ms)
        if flush:
            board.flush(now_ms)
            board.acknowledged()


def split(events: list[bytes], now_ms: int, batch: int = 5000) -> dict[str, float]:
    """Where the full core's time goes, in microseconds per answer: decoding and validating,
    ``Board.ingest``'s loop over answers (checkpoint, lateness, dedupe, grouping), and its
    updates per group of a batch (``Board._apply``: admission, windows, log counts). A core at
    250,000 answers/s has 4.0 us for all three."""
    board = Board(Scoring(), Timeline.parse("1m", "5m,1h,24h,7d"), parse_breakdowns("channel"))
    apply, spent = board._apply, {"decode": 0.0, "per_answer": 0.0, "per_group": 0.0}

    def timed_apply(*args: Any) -> None:
        started = time.perf_counter()
        apply(*args)
        spent["per_group"] += time.perf_counter() - started

    board._apply = timed_apply  # type: ignore[method-assign]
    decode = Decoder().decode
    for start in range(0, len(events), batch):
        started = time.perf_counter()
        answers = []
        for offset, raw in enumerate(events[start : start + batch], start):
            response = decode(raw, now_ms)
            if type(response) is SurveyResponse:
                answers.append(Sourced(0, offset, response))
        decoded = time.perf_counter()
        board.ingest(answers, now_ms)
        board.advance(now_ms)
        spent["decode"] += decoded - started
        spent["per_answer"] += time.perf_counter() - decoded
    spent["per_answer"] -= spent["per_group"]
    return {name: 1e6 * seconds / len(events) for name, seconds in spent.items()}


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
    history = make_events(count, now_ms, span_ms=BACKFILL_SPAN_MS)
    figures = {
        "orjson_loads_only": measure(
            lambda ev, _: [orjson.loads(r) for r in ev], events, now_ms, runs
        ),
        "decode_validate": measure(decode_only, events, now_ms, runs),
        "decode_validate_tally": measure(decode_and_tally, events, now_ms, runs),
        "pure_python_floor": measure(python_floor, events, now_ms, runs),
        "full_core_with_records_and_windows": measure(full_core, events, now_ms, runs),
        "backfill_30d_sparse": measure(backfill, history, now_ms, runs),
    }
    costs = [split(events, now_ms) for _ in range(runs)]
    cost = {name: statistics.median(c[name] for c in costs) for name in costs[0]}
    for name, rate in figures.items():
        print(f"{name:38s} {rate:12,.0f} events/s")
    print("full core, us per answer: " + ", ".join(f"{n} {us:.2f}" for n, us in cost.items()))
    print("target (full_core_with_records_and_windows) 250,000 events/s")
    print("target (backfill_30d_sparse)             20,000 events/s")
    if not args.smoke:
        save(
            "core_throughput",
            f"python -m bench.core_throughput --events {count} --runs {runs}",
            {
                "events": count,
                "runs": runs,
                "events_per_second_median": {k: round(v) for k, v in figures.items()},
                "full_core_us_per_answer_median": {k: round(v, 2) for k, v in cost.items()},
            },
        )


if __name__ == "__main__":
    main()
