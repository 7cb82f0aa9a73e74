"""Changelog bytes per answer: what the state costs to persist, by rate and commit interval.

    python -m bench.changelog_bytes [--seconds 300]

The core alone (``Board.ingest`` then ``Board.flush``, as the worker does at each commit) on a
simulated clock: answers at 10, 100 and 1,000 a second on 2 touchpoints (NPS, 1-minute buckets,
the default windows), in 100 ms batches, committed after every batch (the worst case) and every
5 s (the worker's default STREAMER_COMMIT_INTERVAL). Bytes are keys plus values of every record
written, snapshots and deletions included; the seal's one 5-byte tombstone per partition per
commit (the local broker's quirk, store.py) is added. Writes bench/results/changelog_bytes.json.
"""

from __future__ import annotations

import argparse
import random

from bench.report import save
from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.scales import NPS_SCALE, Metric, Scoring
from streamer.core.timeline import Timeline

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
    return written / answers


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    seconds = 10 if args.smoke else args.seconds
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
