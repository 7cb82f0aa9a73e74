"""``streamer backtest`` pages exactly as the live worker does on the same stream: the same
core, the same evaluation policy, event time for a clock."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, consume_all, produce, wait_until

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: NpsLow
    score: nps
    threshold: {window: 30s, below: 0, clear: 20, confidence: 0.9}
    min_responses: 10
    for: 3s
    severity: page
  - name: NpsDrop
    score: nps
    drop: {window: 30s, baseline: 5m, min_drop: 40, false_alarms: 1/week, settle: 5s}
    min_responses: 20
    severity: page
"""
SETTINGS = {
    "STREAMER_WINDOWS": "30s,5m",
    "STREAMER_BUCKET": "5s",
    "STREAMER_GRACE": "1m",
    "STREAMER_TICK_S": "1",
}


def answer(touchpoint, second, k, score):
    return {
        "event_id": f"{touchpoint}-{second}-{k}",
        "occurred_at": datetime.now(UTC).isoformat(),
        "touchpoint": touchpoint,
        "metric": "nps",
        "score": score,
    }


def test_backtest_alerts_equal_the_live_workers(bootstrap, topics, new_worker, tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    new_worker(STREAMER_RULES=str(rules), **SETTINGS).wait_ready()
    history = tmp_path / "answers.jsonl"
    # 40 s good, 25 s of checkout very unhappy, 45 s good again; chat good throughout. Four
    # answers a second per touchpoint, produced as they happen (event time = now).
    with history.open("w") as out:
        for second in range(110):
            started = time.monotonic()
            batch = []
            for touchpoint in ("checkout", "chat"):
                bad = touchpoint == "checkout" and 40 <= second < 65
                for k in range(4):
                    doc = answer(
                        touchpoint, second, k, (0, 1, 2, 0)[k] if bad else (10, 9, 10, 9)[k]
                    )
                    out.write(json.dumps(doc) + "\n")
                    batch.append((touchpoint.encode(), json.dumps(doc).encode()))
            produce(bootstrap, topics.input, batch)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    env = {**os.environ, **SETTINGS, "STREAMER_RULES": str(rules)}
    offline = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "backtest", str(history), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = {
        (e["rule"], e["touchpoint"], e["status"]): datetime.fromisoformat(e["at"]).timestamp()
        for e in (json.loads(line) for line in offline.stdout.splitlines())
    }
    assert sorted(expected) == [
        ("NpsDrop", "checkout", "firing"),
        ("NpsDrop", "checkout", "resolved"),
        ("NpsLow", "checkout", "firing"),
        ("NpsLow", "checkout", "resolved"),
    ]

    def live_transitions():
        records = consume_all(bootstrap, topics.alerts, len(expected), 3)
        return records if len(records) >= len(expected) else None

    live = {}
    for message in wait_until(live_transitions, 60, "the live worker's alert transitions"):
        record = json.loads(message.value)
        labels, status = record["labels"], record["status"]
        at = record["startsAt"] if status == "firing" else record["endsAt"]
        live[(labels["alertname"], labels["touchpoint"], status)] = datetime.fromisoformat(
            at
        ).timestamp()
    assert sorted(live) == sorted(expected)
    gaps = {key: round(live[key] - expected[key], 1) for key in expected}
    print(f"\nlive minus backtest, seconds: {gaps}")
    # The worker sees an answer a moment after it happened, the backtest at once.
    assert all(abs(gap) <= 3 for gap in gaps.values()), gaps
