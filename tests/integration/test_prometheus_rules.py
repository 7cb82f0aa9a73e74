"""The exported Prometheus rules reach the worker's verdicts, evaluated by a real Prometheus."""

import http.server
import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from streamer.core.tally import CesTally, CsatTally, NpsTally
from streamer.export import names
from streamer.export.promrules import bound
from streamer.rules_file import read_rules
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
    threshold: {window: 5m, below: 0, confidence: 0.95}
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


BOUND_RULES = """
rules:
  - {name: NpsLow, score: nps, threshold: {window: 1h, below: 20, confidence: 0.9}}
  - {name: CsatLow, score: csat, threshold: {window: 1h, below: 0.8, confidence: 0.95}}
  - {name: CesHard, score: ces_mean, threshold: {window: 1h, below: 5, confidence: 0.99}}
  - {name: CesAgreeHigh, score: ces_agree, threshold: {window: 1h, above: 0.5, confidence: 0.8}}
"""
# Known window counts of one touchpoint, as the worker exports them.
TALLIES = {
    "nps": NpsTally(promoters=20, passives=15, detractors=25),
    "csat": CsatTally(n=80, satisfied=52),
    "ces": CesTally(n=50, total=240, total_sq=1300, agree=31),
}


# Each bound worked by hand, with one-sided normal quantiles from a table: z(0.80) = 0.8416212,
# z(0.90) = 1.2815516, z(0.95) = 1.6448536, z(0.99) = 2.3263479, and Student's t(0.99, 49) =
# 2.4048918.
WORKED_BOUNDS = {
    # NPS 20/15/25 of 60 = -8.33333; per-answer variance 45/60 - (5/60)^2 = 0.743056, SE
    # 100 sqrt(0.743056 / 60) = 11.12846; upper bound -8.33333 + 1.2815516 * 11.12846. The
    # adjusted Wald bound (Rocks 2016), P' = 20.75/63, D' = 25.75/63, centre -7.93651, SE'
    # 100 sqrt((46.5/63 - (5/63)^2) / 63) = 10.77774, is 5.875631: nearer the line, not the bound.
    "NpsLow": 5.928361,
    # CSAT 52/80 = 0.65, z^2 = 2.705543: Wilson centre (0.65 + 2.705543/160) / (1 + 2.705543/80)
    # = 0.666910 / 1.033819 = 0.645093, half width 1.6448536 sqrt(0.65 * 0.35/80 + 2.705543/25600)
    # / 1.033819 = 0.086408; upper bound
    "CsatLow": 0.731501,
    # CES mean 240/50 = 4.8, sample variance (1300 - 50 * 4.8^2) / 49 = 148/49 = 3.020408, SE
    # sqrt(3.020408 / 50) = 0.245781; upper bound 4.8 + 2.4048918 * 0.245781 (PromQL's expansion
    # of t is within 2e-8 of the table's at 49 degrees of freedom)
    "CesHard": 5.391076,
    # CES agree 31/50 = 0.62, z^2 = 0.708326: Wilson centre (0.62 + 0.708326/100)
    # / (1 + 0.708326/50) = 0.627083 / 1.014167 = 0.618324, half width 0.8416212
    # sqrt(0.62 * 0.38/50 + 0.708326/10000) / 1.014167 = 0.057392; lower bound
    "CesAgreeHigh": 0.560932,
}


class _Exposition(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        labels = 'touchpoint="checkout",window="1h"'
        nps, csat, ces = TALLIES["nps"], TALLIES["csat"], TALLIES["ces"]
        lines = [
            f'{names.RESPONSES}{{metric="nps",{labels}}} {nps.n}',
            f"{names.PROMOTERS}{{{labels}}} {nps.promoters}",
            f"{names.DETRACTORS}{{{labels}}} {nps.detractors}",
            f'{names.RESPONSES}{{metric="csat",{labels}}} {csat.n}',
            f"{names.SATISFIED}{{{labels}}} {csat.satisfied}",
            f'{names.RESPONSES}{{metric="ces",{labels}}} {ces.n}',
            f"{names.CES_POINTS}{{{labels}}} {ces.total}",
            f"{names.CES_POINTS_SQUARED}{{{labels}}} {ces.total_sq}",
            f"{names.CES_AGREE}{{{labels}}} {ces.agree}",
        ]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_prometheus_computes_the_workers_confidence_bound(tmp_path):
    """Each exported threshold's bound, evaluated by Prometheus on known counts, equals the
    bound worked by hand from the definitions (the one the worker compares with the line)."""
    path = tmp_path / "rules.yaml"
    path.write_text(BOUND_RULES)
    rules = read_rules(path, {"1h": 3_600_000})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prometheus = start_prometheus(tmp_path, [f"127.0.0.1:{server.server_address[1]}"])
    try:
        for rule in rules:
            upper = rule.condition.below is not None
            found = wait_until(
                lambda rule=rule, upper=upper: query(prometheus, bound(rule, upper)),
                30,
                f"Prometheus to evaluate the bound of {rule.name}",
            )
            assert len(found) == 1
            assert float(found[0]["value"][1]) == pytest.approx(WORKED_BOUNDS[rule.name], rel=1e-5)
    finally:
        prometheus.stop()
        server.shutdown()
