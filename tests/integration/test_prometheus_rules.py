"""The exported Prometheus rules reach the worker's verdicts, evaluated by a real Prometheus."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli import streamer
from tests.integration.harness import (
    consume_all,
    produce,
    query,
    start_prometheus,
    wait_until,
)

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: NpsLow
    score: nps
    threshold: {window: 5m, below: 0, confidence: 0}
    min_responses: 20
"""


def events(touchpoint, metric, scores, age_s, start):
    now = datetime.now(UTC)
    return [
        (
            touchpoint.encode(),
            json.dumps(
                {
                    "event_id": f"{touchpoint}-{metric}-{start + i}",
                    "touchpoint": touchpoint,
                    "metric": metric,
                    "occurred_at": (now - timedelta(seconds=age_s[i % len(age_s)])).isoformat(),
                    "score": score,
                }
            ).encode(),
        )
        for i, score in enumerate(scores)
    ]


def test_prometheus_fires_what_the_worker_fires(bootstrap, topics, new_worker, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    exported = streamer("rules", "export", "--prometheus", str(rules), "--windows", "5m,1h").stdout
    alert_rules = tmp_path / "alerts.yml"
    alert_rules.write_text(exported)
    worker = new_worker(STREAMER_WINDOWS="5m,1h", STREAMER_RULES=str(rules)).wait_ready()
    prometheus = start_prometheus(tmp_path, [f"127.0.0.1:{worker.port}"], [alert_rules])
    try:
        rng = random.Random(5)
        old = [rng.uniform(900, 2400) for _ in range(50)]
        recent = [rng.uniform(20, 60) for _ in range(50)]
        produce(
            bootstrap,
            topics.input,
            # checkout: a good hour, then a bad few minutes (NPS and CSAT both drop)
            events("checkout", "nps", [10] * 150 + [8] * 40 + [3] * 10, old, 0)
            + events("checkout", "nps", [3] * 30 + [10] * 10, recent, 1000)
            + events("checkout", "csat", [5] * 180 + [2] * 20, old, 0)
            + events("checkout", "csat", [1] * 25 + [5] * 15, recent, 1000)
            # chat: the same mix all along (no drop, NPS positive)
            + events("chat", "nps", [10] * 100 + [7] * 60 + [2] * 40, old, 0)
            + events("chat", "nps", [10] * 20 + [7] * 12 + [2] * 8, recent, 1000),
        )
        worker_alerts = wait_until(
            lambda: (
                {
                    (
                        json.loads(m.value)["labels"]["alertname"],
                        json.loads(m.value)["labels"]["touchpoint"],
                    )
                    for m in consume_all(bootstrap, topics.alerts, 3, timeout_s=2)
                }
                or None
            ),
            60,
            "the worker's alerts",
        )
        assert worker_alerts == {("NpsLow", "checkout")}

        def prometheus_alerts():
            found = {
                (r["metric"]["alertname"], r["metric"]["touchpoint"])
                for r in query(prometheus, 'ALERTS{alertstate="firing"}')
            }
            return found if found == worker_alerts else None

        wait_until(prometheus_alerts, 60, "Prometheus to fire the same alerts")
    finally:
        prometheus.stop()
