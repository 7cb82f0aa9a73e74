"""Alerts through the real stack: broker, worker, Alertmanager and Prometheus from Debian."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import (
    consume_all,
    free_port,
    produce,
    query,
    start_alertmanager,
    start_prometheus,
    value,
    wait_until,
)

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: NpsLow
    score: nps
    threshold: {window: 5m, below: 0, clear: 10}
    min_responses: 20
    for: 2s
    severity: page
    labels: {team: cx}
    annotations: {runbook_url: "https://runbooks.example.com/nps-low"}
"""


def answers(touchpoint, scores, start):
    now = datetime.now(UTC) - timedelta(seconds=5)
    return [
        (
            touchpoint.encode(),
            json.dumps(
                {
                    "event_id": f"{touchpoint}-{start + i}",
                    "occurred_at": now.isoformat(),
                    "touchpoint": touchpoint,
                    "metric": "nps",
                    "score": score,
                    "interaction_id": f"call-{touchpoint}-{start + i}",
                    "respondent_id": f"person-{start + i}",
                }
            ).encode(),
        )
        for i, score in enumerate(scores)
    ]


@pytest.fixture
def alertmanager(tmp_path):
    daemon = start_alertmanager(tmp_path)
    yield daemon
    daemon.stop()


def active_alerts(alertmanager):
    return [
        a
        for a in (alertmanager.get_json("/api/v2/alerts") or [])
        if a["status"]["state"] == "active"
    ]


def test_one_page_for_the_dropping_touchpoint_then_its_resolve(
    bootstrap, topics, new_worker, alertmanager, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    worker = new_worker(
        STREAMER_WINDOWS="5m,1h",
        STREAMER_RULES=str(rules),
        STREAMER_ALERTMANAGER_URL=alertmanager.base,
        STREAMER_ALERT_RESEND_S="2",
    ).wait_ready()
    prometheus = start_prometheus(tmp_path, [f"127.0.0.1:{worker.port}"])
    try:
        sent_at = time.monotonic()
        produce(
            bootstrap,
            topics.input,
            answers("checkout", [0] * 30 + [10] * 5, 0)  # NPS -71 on 35 answers: page
            + answers("chat", [10] * 30, 0)  # healthy
            + answers("billing", [0] * 10, 0),
        )  # NPS -100 on 10 answers: too few to page
        page = wait_until(lambda: active_alerts(alertmanager), 60, "the page in Alertmanager")
        paged_after = time.monotonic() - sent_at
        time.sleep(4)  # a re-send or two: still exactly one alert
        alerts = active_alerts(alertmanager)
        assert len(alerts) == 1, alerts
        labels, annotations = alerts[0]["labels"], alerts[0]["annotations"]
        assert labels["alertname"] == "NpsLow" and labels["touchpoint"] == "checkout"
        assert labels["severity"] == "page" and labels["team"] == "cx" and labels["window"] == "5m"
        assert annotations["summary"].startswith("NPS 5m for checkout is -71.4 (n=35), below 0.0")
        assert annotations["n"] == "35" and annotations["runbook_url"].endswith("nps-low")
        assert "person-" not in json.dumps(page)  # personal data stays out of alerts

        # Prometheus scrapes the same numbers the worker computed.
        wait_until(
            lambda: query(prometheus, 'cx_nps{touchpoint="checkout",window="5m"}'), 30, "a scrape"
        )
        scraped = float(
            query(prometheus, 'cx_nps{touchpoint="checkout",window="5m"}')[0]["value"][1]
        )
        assert scraped == pytest.approx(
            value(worker.metrics(), "cx_nps", touchpoint="checkout", window="5m")
        )

        # Enough happy answers clear it: the alert resolves in Alertmanager.
        produce(bootstrap, topics.input, answers("checkout", [10] * 60, 100))
        wait_until(lambda: not active_alerts(alertmanager), 60, "the resolve")

        transitions = [json.loads(m.value) for m in consume_all(bootstrap, topics.alerts, 2)]
        assert [(t["status"], t["labels"]["touchpoint"]) for t in transitions] == [
            ("firing", "checkout"),
            ("resolved", "checkout"),
        ]
        follow_ups = [json.loads(m.value) for m in consume_all(bootstrap, topics.detractors, 40)]
        assert sorted(f["interaction_id"] for f in follow_ups) == sorted(
            [f"call-checkout-{i}" for i in range(30)] + [f"call-billing-{i}" for i in range(10)]
        )
        print(
            f"\nalert: first event to page in {paged_after:.1f}s; Alertmanager received:\n"
            + json.dumps({k: alerts[0][k] for k in ("labels", "annotations", "startsAt")}, indent=2)
        )
    finally:
        prometheus.stop()


def test_alertmanager_down_while_firing_gets_the_page_when_back(
    bootstrap, topics, new_worker, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    port = free_port()  # Alertmanager will come up here, later
    worker = new_worker(
        STREAMER_WINDOWS="5m,1h",
        STREAMER_RULES=str(rules),
        STREAMER_ALERTMANAGER_URL=f"http://127.0.0.1:{port}",
    ).wait_ready()
    produce(bootstrap, topics.input, answers("checkout", [0] * 30, 0))
    wait_until(
        lambda: "alert firing" in worker.tail(200), 60, "the alert to fire with Alertmanager down"
    )
    # Scoring goes on while the sink is down.
    produce(bootstrap, topics.input, answers("chat", [10] * 5, 0))
    wait_until(
        lambda: (
            value(worker.metrics(), "cx_responses", metric="nps", touchpoint="chat", window="5m")
            == 5
        ),
        30,
        "scoring to continue",
    )
    alertmanager = start_alertmanager(tmp_path / "am", port)
    try:
        alerts = wait_until(lambda: active_alerts(alertmanager), 90, "the delayed page")
        assert [a["labels"]["touchpoint"] for a in alerts] == ["checkout"]
        assert (
            worker.tail(400).count("is failing") == 1
        )  # one line for the outage, not one per retry
    finally:
        alertmanager.stop()


DROP_RULES = """
rules:
  - name: NpsDrop
    score: nps
    drop: {window: 30s, baseline: 10m, min_drop: 20, false_alarms: 1/week, settle: 5s}
    min_responses: 60
    severity: page
"""


def test_a_scripted_drop_in_simulated_traffic_pages_once_for_its_touchpoint(
    bootstrap, topics, new_worker, alertmanager, tmp_path
):
    import subprocess
    import sys

    from tests.integration.harness import ROOT

    rules = tmp_path / "rules.yaml"
    rules.write_text(DROP_RULES)
    worker = new_worker(
        STREAMER_WINDOWS="30s,10m",
        STREAMER_BUCKET="5s",
        STREAMER_RULES=str(rules),
        STREAMER_ALERTMANAGER_URL=alertmanager.base,
    ).wait_ready()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamer.cli",
            "simulate",
            "--rate",
            "300",
            "--duration",
            "100",
            "--seed",
            "3",
            "--burst-every",
            "0",
            "--drop",
            "checkout:nps:-40@45s",
            "--topic",
            topics.input,
        ],
        cwd=ROOT,
        env={**worker.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        alerts = wait_until(lambda: active_alerts(alertmanager), 90, "the page for the drop")
        paged_at = time.monotonic() - started
        assert paged_at > 45  # not before the drop
        simulator.wait(120)
        alerts = active_alerts(alertmanager)
        assert [(a["labels"]["alertname"], a["labels"]["touchpoint"]) for a in alerts] == [
            ("NpsDrop", "checkout")
        ]
        fired = [line for line in worker.tail(2000).splitlines() if "alert firing" in line]
        assert len(fired) == 1, fired  # one page, no flapping
        summary = alerts[0]["annotations"]["summary"]
        print(f"\nscripted drop at 45s paged at {paged_at:.0f}s: {summary}")
    finally:
        simulator.kill()


def test_alert_state_survives_a_crash_no_second_page_and_the_resolve_arrives(
    bootstrap, topics, new_worker, alertmanager, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = {
        "STREAMER_WINDOWS": "5m,1h",
        "STREAMER_RULES": str(rules),
        "STREAMER_ALERTMANAGER_URL": alertmanager.base,
        "STREAMER_ALERT_RESEND_S": "2",
    }
    first = new_worker(**settings).wait_ready()
    produce(bootstrap, topics.input, answers("checkout", [0] * 30 + [10] * 5, 0))
    [page] = wait_until(lambda: active_alerts(alertmanager), 60, "the page")
    first.kill()
    second = new_worker(**settings).wait_ready()
    wait_until(lambda: "1 alert states" in second.tail(400), 30, "the alert state to be recovered")
    time.sleep(5)  # several evaluations and re-sends
    assert "alert firing" not in second.tail(2000)  # no second page
    [still] = active_alerts(alertmanager)
    assert still["startsAt"] == page["startsAt"]
    produce(bootstrap, topics.input, answers("checkout", [10] * 60, 100))
    wait_until(lambda: not active_alerts(alertmanager), 60, "the resolve from the restarted worker")
    assert second.tail(2000).count("alert resolved") == 1
