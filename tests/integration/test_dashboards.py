"""Every dashboard query returns data from a real Prometheus scraping a live worker, the
recorded re-aggregations equal the ground truth, and the worker's /metrics passes
``promtool check metrics``."""

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.harness import produce, query, start_prometheus, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def test_every_panel_query_returns_data(bootstrap, topics, new_worker, tmp_path):
    worker = new_worker(STREAMER_WINDOWS="5m,1h", STREAMER_DIMENSIONS="channel").wait_ready()
    prometheus = start_prometheus(
        tmp_path, [f"127.0.0.1:{worker.port}"], [ROOT / "deploy/prometheus/recording_rules.yml"]
    )
    try:
        rng = random.Random(9)
        now = datetime.now(UTC)
        events = []
        for i in range(600):
            metric = ("nps", "csat", "ces")[i % 3]
            events.append(
                {
                    "event_id": f"d{i}",
                    "occurred_at": (now - timedelta(seconds=rng.uniform(10, 60))).isoformat(),
                    "touchpoint": rng.choice(["checkout", "chat", "billing"]),
                    "metric": metric,
                    "score": rng.randint(*{"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[metric]),
                    "channel": rng.choice(["voice", "web"]),
                }
            )
        produce(
            bootstrap,
            topics.input,
            [(e["touchpoint"].encode(), json.dumps(e).encode()) for e in events[:300]],
        )
        produce(bootstrap, topics.input, [(b"x", b"not json")])  # a rejection for the outcome panel
        wait_until(lambda: query(prometheus, "cx_nps"), 30, "the first scrape")
        produce(
            bootstrap,
            topics.input,
            [(e["touchpoint"].encode(), json.dumps(e).encode()) for e in events[300:]],
        )

        dashboard = json.loads((ROOT / "deploy/grafana/dashboards/streamer.json").read_text())
        expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        every = {
            v["name"]: v.get("allValue", "5m")  # every value, or the worker's 5m window
            for v in dashboard["templating"]["list"]
            if v["type"] != "datasource"
        }
        every["job"] = "streamer"  # the one deployment here: start_prometheus's scrape job
        for expr in expressions:
            promql = expr
            for name, value in every.items():
                promql = promql.replace(f"${name}", value)
            wait_until(lambda promql=promql: query(prometheus, promql), 60, f"data for {promql}")

        linted = subprocess.run(
            ["promtool", "check", "metrics"], input=worker.get("/metrics"), capture_output=True
        )
        assert linted.returncode == 0, (linted.stdout + linted.stderr).decode()

        nps = [e for e in events if e["metric"] == "nps"]
        expected = (
            100 * (sum(e["score"] >= 9 for e in nps) - sum(e["score"] <= 6 for e in nps)) / len(nps)
        )

        def recorded():
            result = query(
                prometheus, 'namespace_job_window:cx_nps:ratio_of_sums{job="streamer",window="5m"}'
            )
            return result and abs(float(result[0]["value"][1]) - expected) < 1e-9

        wait_until(recorded, 30, f"the recorded all-touchpoint NPS to be {expected}")
    finally:
        prometheus.stop()
