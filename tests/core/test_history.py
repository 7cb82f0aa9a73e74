"""A 90-day history through the board, flushes and a restart, against ground truth computed
from the answers alone (tests/integration/expected.py) at each window's documented resolution."""

import random

from streamer.core.board import Board, Sourced
from streamer.core.events import SurveyResponse
from streamer.core.scales import NPS_SCALE, Metric, Scoring
from streamer.core.series import SeriesKey
from streamer.core.timeline import Timeline
from tests.integration.expected import tallies

HOUR, DAY = 3_600_000, 86_400_000
START = 1_790_000_000_000
TIMELINE = Timeline.parse("1m", "5m,1h,24h,7d,30d,90d")


def expected_in(events, window_ms, now):
    """Answers whose bucket starts in [now - W, now), the bucket being, as documented, its
    minute from the fine cut on (now - 6 h, down to a whole UTC hour), its UTC hour from the
    hourly cut on (now - 8 d, down to a whole UTC day), else its UTC day."""
    fine_cut = (now - 6 * HOUR) // HOUR * HOUR
    hourly_cut = (now - 8 * DAY) // DAY * DAY
    inside = []
    for event in events:
        start = event["ts"] // 60_000 * 60_000
        if start < hourly_cut:
            start = start // DAY * DAY
        elif start < fine_cut:
            start = start // HOUR * HOUR
        if now - window_ms <= start < now:
            inside.append(event)
    return inside


def test_a_90_day_history_is_exact_at_each_windows_resolution():
    rng = random.Random(90)
    board = Board(Scoring(), TIMELINE, now_ms=START)
    table = {}
    events, offset = [], 0
    now = START
    for step in range(100 * 24):  # hourly flushes for 100 days
        now = START + step * HOUR + rng.randrange(HOUR)
        board.advance(now)
        batch = []
        for _ in range(rng.randrange(6)):
            ts = now - rng.randrange(2 * HOUR)
            event = {
                "event_id": f"e{offset}",
                "ts": ts,
                "touchpoint": rng.choice(["web", "shop"]),
                "metric": "nps",
                "score": rng.randrange(11),
            }
            response = SurveyResponse(
                event["event_id"], ts, event["touchpoint"], Metric.NPS, event["score"], NPS_SCALE
            )
            batch.append(Sourced(offset % 2, offset, response))
            if rng.random() < 0.05:  # a producer's retry
                batch.append(Sourced(offset % 2, offset + 1, response))
                offset += 1
            events.append(event)
            offset += 1
        board.ingest(batch, now)
        for _, key, value in board.flush(now):
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        board.acknowledged()
    again = Board(Scoring(), TIMELINE, now_ms=now)
    again.restore(list(table.items()), {0, 1}, now)
    for live in (board, again):
        scores = dict(live.series())
        for i, window in enumerate(TIMELINE.windows):
            truth = tallies(expected_in(events, window.length_ms, now))
            for touchpoint in ("web", "shop"):
                got = scores[SeriesKey(Metric.NPS, touchpoint)][i]
                want = truth.get((touchpoint, "nps"), {})
                assert got.n == want.get("n", 0), (window.label, touchpoint)
                assert got.promoters == want.get("promoters", 0)
                assert got.detractors == want.get("detractors", 0)
    assert len(events) > 5_000
