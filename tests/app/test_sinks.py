import asyncio
import contextlib
import json
import logging
import re
import socket
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streamer.app.metrics import snapshot
from streamer.app.selection import selection
from streamer.app.settings import Settings
from streamer.app.sinks.alertmanager import Alertmanager
from streamer.app.sinks.dispatch import Dispatch
from streamer.app.sinks.document import alert_document
from streamer.app.sinks.http import Backoff, HttpSink, SinkMetrics
from streamer.app.views import score_rows
from streamer.core.alerting import Alert, AlertState, Status
from streamer.core.board import Board
from streamer.core.rules import Drop, Rule, Signal, Threshold, Verdict
from streamer.core.scales import Metric, Scoring
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from tests.app.fakes import NOW_MS, answer, counted

FAST = Backoff(base_s=0.01, cap_s=0.05)  # real backoff shape, test-sized durations
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")  # what Alertmanager accepts


class Receiver:
    """A fake receiver on 127.0.0.1: answers from a script, then as Alertmanager would (400 for
    a body holding any alert with an invalid label name, 200 otherwise)."""

    def __init__(self, *answers: int, hold: bool = False) -> None:
        self.answers = list(answers)
        self.bodies: list = []  # every POST body, in order
        self.times: list[float] = []
        self.accepted: list[dict] = []  # alerts of the bodies answered with 200
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        self.times.append(time.monotonic())
        self.entered.set()
        await self.release.wait()
        if self.answers:
            return web.Response(status=self.answers.pop(0))
        alerts = body if isinstance(body, list) else [body]
        if any(not LABEL_NAME.match(name) for a in alerts for name in a["labels"]):
            return web.Response(status=400, text="invalid label set")
        self.accepted.extend(alerts)
        return web.Response(status=200)


@contextlib.asynccontextmanager
async def serving(receiver: Receiver, port: int = 0):
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    app.router.add_post("/api/v2/alerts", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        receiver.release.set()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running(*sinks: HttpSink):
    tasks = [asyncio.create_task(sink.run()) for sink in sinks]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(condition, what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def document(touchpoint: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": "NpsLow", "touchpoint": touchpoint, **labels},
        "annotations": {},
        "startsAt": "2024-01-01T00:00:00.000Z",
    }


class Counts:
    def __init__(self, registry: CollectorRegistry, sink: str) -> None:
        self._registry, self._sink = registry, sink

    def sent(self) -> float:
        return (
            self._registry.get_sample_value("streamer_alerts_sent_total", {"sink": self._sink}) or 0
        )

    def failures(self, reason: str) -> float:
        labels = {"sink": self._sink, "reason": reason}
        return self._registry.get_sample_value("streamer_alert_send_failures_total", labels) or 0

    def queue(self) -> float | None:
        return self._registry.get_sample_value("streamer_alert_queue", {"sink": self._sink})


def alertmanager(url: str, name: str = "alertmanager-0", **options):
    registry = CollectorRegistry()
    sink = Alertmanager(name, url, SinkMetrics(registry), backoff=FAST, **options)
    return sink, Counts(registry, name)


def test_a_rejected_alert_is_logged_once_and_dropped_and_later_alerts_get_through(caplog):
    caplog.set_level(logging.INFO, logger="streamer.alerts")
    bad, good = document("checkout", **{"queue-name": "x"}), document("billing")

    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as url:
            sink, counts = alertmanager(url)
            async with running(sink):
                sink.put(bad)
                await until(lambda: counts.failures("http_4xx") == 1, "the rejection")
                sink.put(good)
                await until(lambda: counts.sent() == 1, "the good alert")
                sink.put(bad)  # re-sent while firing: rejected again, not logged again
                await until(lambda: counts.failures("http_4xx") == 2, "the second rejection")
                assert sink.pending() == 0
        return receiver

    receiver = asyncio.run(scenario())
    assert receiver.accepted == [good]
    assert caplog.text.count("rejected") == 1 and "is failing" not in caplog.text


def test_a_batch_with_one_bad_alert_delivers_its_good_alerts():
    first, bad, last = document("a"), document("b", **{"0bad": "x"}), document("c")

    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as url:
            sink, counts = alertmanager(url)
            for d in (first, bad, last):
                sink.put(d)
            async with running(sink):
                await until(lambda: counts.sent() + counts.failures("http_4xx") == 3, "all three")
        return receiver, counts

    receiver, counts = asyncio.run(scenario())
    assert receiver.bodies[0] == [first, bad, last]  # one batch, rejected whole
    assert receiver.accepted == [first, last]
    assert (counts.sent(), counts.failures("http_4xx")) == (2, 1)


def test_server_errors_are_retried_with_growing_backoff_until_delivered(caplog):
    caplog.set_level(logging.INFO, logger="streamer.alerts")
    backoff = Backoff(base_s=0.02, cap_s=1.0)

    async def scenario():
        receiver = Receiver(500, 503, 429)
        async with serving(receiver) as url:
            registry = CollectorRegistry()
            sink = HttpSink(
                "webhook", f"{url}/hook", SinkMetrics(registry), backoff=backoff, draw=lambda: 1.0
            )
            counts = Counts(registry, "webhook")
            async with running(sink):
                sink.put(document("checkout"))
                await until(lambda: counts.sent() == 1, "the delivery")
        return receiver, counts

    receiver, counts = asyncio.run(scenario())
    assert len(receiver.bodies) == 4 and receiver.accepted == [document("checkout")]
    gaps = [b - a for a, b in zip(receiver.times, receiver.times[1:], strict=False)]
    for gap, failures in zip(gaps, (1, 2, 3), strict=True):
        assert gap >= 0.9 * backoff.delay_s(failures, 1.0)  # 20 ms, 40 ms, 80 ms at least
    assert (counts.failures("http_5xx"), counts.failures("throttled")) == (2, 1)
    assert caplog.text.count("is failing") == 1 and caplog.text.count("accepts alerts again") == 1


def test_alerts_backing_off_go_at_once_when_the_receiver_is_back():
    async def scenario():
        receiver = Receiver(500)
        async with serving(receiver) as url:
            registry = CollectorRegistry()
            slow = Backoff(base_s=60.0, cap_s=60.0)  # would outlast the test
            sink = Alertmanager(
                "alertmanager-0", url, SinkMetrics(registry), backoff=slow, draw=lambda: 1.0
            )
            counts = Counts(registry, "alertmanager-0")
            async with running(sink):
                sink.put(document("checkout"))
                await until(lambda: counts.failures("http_5xx") == 1, "the failure")
                sink.put(document("billing"))
                await until(lambda: counts.sent() == 2, "both alerts")
        return receiver

    receiver = asyncio.run(scenario())
    assert receiver.accepted == [document("billing"), document("checkout")]


def test_connection_errors_and_timeouts_are_counted_and_retried():
    async def scenario():
        port = free_port()
        sink, counts = alertmanager(f"http://127.0.0.1:{port}", timeout_s=0.2)
        async with running(sink):
            sink.put(document("checkout"))
            await until(lambda: counts.failures("connection") >= 2, "connection errors")
            receiver = Receiver(hold=True)  # up, but slower than the sink waits
            async with serving(receiver, port):
                await until(lambda: counts.failures("timeout") >= 1, "a timeout")
                receiver.release.set()
                await until(lambda: counts.sent() == 1, "the delivery")
        return receiver

    receiver = asyncio.run(scenario())
    # the timed-out POSTs are answered too once released: delivery is at least once, which
    # Alertmanager absorbs (an alert is its label set)
    assert receiver.accepted and all(a == document("checkout") for a in receiver.accepted)


def test_every_alertmanager_gets_every_alert_and_a_stuck_one_delays_no_other():
    rule = Rule("NpsLow", ScoreKind.NPS, Threshold("1h", below=30))
    series = SeriesKey(Metric.NPS, "checkout")
    alert = Alert(rule, series, Status.FIRING, 0, None, None)

    async def scenario():
        up, stuck, hook = Receiver(), Receiver(hold=True), Receiver()
        async with serving(up) as up_url, serving(stuck) as stuck_url, serving(hook) as hook_url:
            registry = CollectorRegistry()
            metrics = SinkMetrics(registry)
            sinks = [
                Alertmanager("alertmanager-0", up_url, metrics, backoff=FAST),
                Alertmanager("alertmanager-1", stuck_url, metrics, backoff=FAST),
            ]
            webhook = HttpSink("webhook", f"{hook_url}/hook", metrics, backoff=FAST)
            dispatch = Dispatch("http://w", None, sinks, webhook)
            up_counts, stuck_counts = (
                Counts(registry, "alertmanager-0"),
                Counts(registry, "alertmanager-1"),
            )
            async with running(*dispatch.http_sinks()):
                dispatch.send([alert])
                await until(lambda: len(up.accepted) == 1, "the first Alertmanager")
                await stuck.entered.wait()
                assert stuck_counts.queue() == 1 and stuck_counts.sent() == 0  # still waiting
                stuck.release.set()
                await until(lambda: len(stuck.accepted) == 1, "the second Alertmanager")
                await until(lambda: len(hook.accepted) == 1, "the webhook")
                # Alertmanager forgets what is not re-sent: each one gets the re-sends
                dispatch.resend([(rule, series, AlertState(Status.FIRING, since_ms=0))])
                await until(lambda: len(up.accepted) == len(stuck.accepted) == 2, "the re-sends")
                # A receiver has the alert before its sink has the answer and counts it.
                await until(
                    lambda: (up_counts.sent(), stuck_counts.sent()) == (2, 2), "the sends counted"
                )
        return up, hook

    up, hook = asyncio.run(scenario())
    expected = alert_document(alert, "http://w")
    assert up.accepted == [expected, expected]
    assert hook.accepted == [{"status": "firing", **expected}]


def test_a_full_queue_drops_its_oldest_alerts_and_counts_them():
    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as url:
            registry = CollectorRegistry()
            sink = HttpSink("webhook", f"{url}/hook", SinkMetrics(registry), capacity=3)
            counts = Counts(registry, "webhook")
            for i in range(5):  # before the sink runs: as if the receiver were down
                sink.put(document(f"t{i}"))
            assert (sink.pending(), counts.queue()) == (3, 3)
            assert counts.failures("dropped_queue_full") == 2
            async with running(sink):
                await until(lambda: counts.sent() == 3, "the delivery")
            assert counts.queue() == 0
        return receiver

    receiver = asyncio.run(scenario())
    assert [a["labels"]["touchpoint"] for a in receiver.accepted] == ["t2", "t3", "t4"]


def test_a_newer_state_of_a_queued_alert_replaces_it():
    firing, other = document("checkout"), document("billing")
    resolved = {**firing, "endsAt": "2024-01-01T01:00:00.000Z"}

    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as url:
            sink, counts = alertmanager(url, capacity=2)
            for d in (firing, other, resolved):
                sink.put(d)
            assert sink.pending() == 2 and counts.failures("dropped_queue_full") == 0
            async with running(sink):
                await until(lambda: counts.sent() == 2, "the delivery")
        return receiver

    receiver = asyncio.run(scenario())
    assert receiver.bodies == [[resolved, other]]  # its place in the queue, the newest state


def test_the_webhook_gets_each_alerts_transitions_in_order_through_a_backoff():
    """A page that failed once waited out its backoff at the end of the queue: the resolve put
    meanwhile overtook it, and a receiver keeping the last word showed the incident open."""
    fired = {"status": "firing", **document("checkout")}
    resolved = {"status": "resolved", **document("checkout"), "endsAt": "2024-01-01T01:00:00Z"}

    async def scenario():
        receiver = Receiver(503)
        async with serving(receiver) as url:
            registry = CollectorRegistry()
            backoff = Backoff(base_s=0.2, cap_s=0.2)  # the resolve is put well within it
            sink = HttpSink(
                "webhook", f"{url}/hook", SinkMetrics(registry), backoff=backoff, draw=lambda: 1.0
            )
            counts = Counts(registry, "webhook")
            looked, take_due = [0], sink._take_due

            def counted(now_s):
                looked[0] += 1
                return take_due(now_s)

            sink._take_due = counted
            async with running(sink):
                sink.put(fired)
                await until(lambda: counts.failures("http_5xx") == 1, "the failure")
                sink.put(resolved)
                await until(lambda: counts.sent() == 2, "both transitions")
        return receiver, looked

    receiver, looked = asyncio.run(scenario())
    assert [a["status"] for a in receiver.accepted] == ["firing", "resolved"]
    # The transition behind the head waited with it, not in a busy loop (138,429 looks in 2 s)
    assert looked[0] < 20


def test_an_ordered_queue_stays_within_its_bound_when_its_head_comes_back():
    """The webhook's failed head went back to the front without the bound's check: one alert
    over STREAMER_ALERT_QUEUE_MAX. Now the oldest, that head, is dropped and counted."""

    async def scenario():
        receiver = Receiver(503, hold=True)
        async with serving(receiver) as url:
            registry = CollectorRegistry()
            sink = HttpSink("webhook", f"{url}/hook", SinkMetrics(registry), capacity=2)
            counts = Counts(registry, "webhook")
            async with running(sink):
                sink.put(document("a"))
                await receiver.entered.wait()  # a in flight
                sink.put(document("b"))
                sink.put(document("c"))
                receiver.release.set()
                await until(lambda: counts.failures("http_5xx") == 1, "the failure")
                assert sink.pending() <= 2
                await until(lambda: counts.sent() == 2, "the delivery")
        return receiver, counts

    receiver, counts = asyncio.run(scenario())
    assert [a["labels"]["touchpoint"] for a in receiver.accepted] == ["b", "c"]
    assert counts.failures("dropped_queue_full") == 1


def test_an_error_page_in_another_charset_than_it_says_is_retried_not_fatal():
    """A proxy's 502 page in Latin-1 labelled UTF-8 raised while its text was read: the task
    sending the alerts died, and the worker with it."""
    answers = [web.Response(status=502, body=b"Passerelle d\xe9faillante", charset="utf-8")]
    received = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return answers.pop(0) if answers else web.Response(status=200)

    async def scenario():
        app = web.Application()
        app.router.add_post("/api/v2/alerts", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        sink, counts = alertmanager(url)
        try:
            async with running(sink):
                sink.put(document("checkout"))
                await until(lambda: counts.sent() == 1, "the delivery after the bad answer")
        finally:
            await runner.cleanup()
        return counts

    counts = asyncio.run(scenario())
    assert counts.failures("http_5xx") == 1 and len(received) == 2


def test_a_firing_alert_holds_for_four_resends_and_a_resolve_keeps_its_end():
    """Without endsAt, Alertmanager resolved a firing alert after its own 5-minute timeout: a
    re-send period of 5 minutes or more resolved and fired it again at every re-send."""
    firing, other = document("checkout"), document("billing")
    resolved = {**other, "endsAt": "2024-01-01T01:00:00.000Z"}

    async def scenario():
        receiver = Receiver()
        async with serving(receiver) as url:
            clock = lambda: 1_704_067_200_000  # noqa: E731  2024-01-01T00:00:00Z
            sink, counts = alertmanager(url, resend_s=300, clock_ms=clock)
            async with running(sink):
                sink.put(firing)
                sink.put(resolved)
                await until(lambda: counts.sent() == 2, "the delivery")
        return receiver

    receiver = asyncio.run(scenario())
    assert receiver.accepted == [{**firing, "endsAt": "2024-01-01T00:20:00.000Z"}, resolved]


@pytest.mark.parametrize(
    ("failures", "draw", "delay_s"),
    [
        (1, 1.0, 1.0),  # first retry: up to the base
        (2, 1.0, 2.0),  # doubling
        (5, 1.0, 16.0),
        (6, 1.0, 30.0),  # capped
        (10_000, 1.0, 30.0),  # no overflow after a long outage
        (3, 0.5, 2.0),  # full jitter: a uniform share of the ceiling
        (3, 0.0, 0.0),
    ],
)
def test_backoff_doubles_to_its_cap_under_full_jitter(failures, draw, delay_s):
    assert Backoff(base_s=1.0, cap_s=30.0).delay_s(failures, draw) == delay_s


def test_an_alertmanager_document_says_what_where_how_much_and_how_sure():
    rule = Rule(
        "NpsDrop", ScoreKind.NPS, Drop("1h", "7d", 20), annotations={"runbook_url": "https://rb"}
    )
    verdict = Verdict(
        Signal.BREACH,
        84,
        -12.0,
        -25.1,
        1.1,
        38.5,
        1200,
        statistic=14.2,
        limit=13.0,
        since_ms=30_000,
        run_n=61,
        run_value=-20.0,
    )
    series = SeriesKey(Metric.NPS, "checkout")
    why = ("channel=chat: rate -30.2, mix -4.1 (n 600->40)",)
    document = alert_document(
        Alert(rule, series, Status.FIRING, 0, None, verdict, why), "http://w:6066"
    )
    assert document["labels"] == {
        "alertname": "NpsDrop",
        "severity": "warning",
        "touchpoint": "checkout",
        "score": "nps",
        "window": "1h",
    }
    annotations = document["annotations"]
    assert annotations["summary"] == (
        "NPS 1h for checkout dropped to -12.0 (n=84) from 38.5 over the rest of 7d"
    )
    assert annotations["interval_95"] == "-25.1 .. 1.1"
    assert annotations["evidence"] == "14.2 of 13.0"
    assert annotations["since"] == "1970-01-01T00:00:30.000Z"
    assert annotations["since_value"] == "-20.0 (n=61)"
    assert annotations["why"] == why[0]
    assert annotations["baseline_n"] == "1200" and annotations["runbook_url"] == "https://rb"
    assert document["startsAt"] == "1970-01-01T00:00:00.000Z" and "endsAt" not in document
    recovered = replace(verdict, signal=Signal.CLEAR, value=35.0)
    resolved = alert_document(
        Alert(rule, series, Status.RESOLVED, 0, 60_000, recovered, why), "http://w:6066"
    )
    assert resolved["annotations"]["summary"] == (
        "NPS 1h for checkout recovered: 35.0 (n=84) against 38.5 over the rest of 7d"
    )
    assert resolved["endsAt"] == "1970-01-01T00:01:00.000Z"


def test_every_summary_is_true_of_the_alert_it_goes_with():
    """A receiver shows the last copy it got: a re-send in the hysteresis band, a resolve and
    a quiet window must not repeat the line of the first page."""
    low = Rule("NpsLow", ScoreKind.NPS, Threshold("24h", below=20, clear=25))
    series = SeriesKey(Metric.NPS, "checkout")

    def said(rule, status, verdict):
        alert = Alert(rule, series, status, 0, None if status is Status.FIRING else 1, verdict)
        return alert_document(alert, "http://w")["annotations"]["summary"]

    assert said(low, Status.FIRING, Verdict(Signal.BREACH, 1000, 18.0)) == (
        "NPS 24h for checkout is 18.0 (n=1000), below 20.0"
    )
    assert said(low, Status.FIRING, Verdict(Signal.HOLD, 1000, 22.0)) == (
        "NPS 24h for checkout is 22.0 (n=1000), paged below 20.0, clears at 25.0 or more"
    )
    assert said(low, Status.RESOLVED, Verdict(Signal.CLEAR, 1000, 26.0)) == (
        "NPS 24h for checkout is back to 26.0 (n=1000): cleared at 25.0 or more"
    )
    assert said(low, Status.RESOLVED, Verdict(Signal.NO_DATA, 0)) == (
        "NPS 24h for checkout resolved: no answers left in the window"
    )
    assert said(low, Status.FIRING, None) == "NPS 24h for checkout is firing"
    # On the older 1-5 CES scale more effort is a higher mean: a drop in ease is a rise.
    effort = Rule("CesDrop", ScoreKind.CES_MEAN, Drop("1h", "7d", 0.5))
    rise = Verdict(Signal.BREACH, 80, 3.4, baseline=2.1, baseline_n=900)
    assert said(effort, Status.FIRING, rise) == (
        "CES 1h for checkout rose to 3.40 (n=80) from 2.10 over the rest of 7d"
    )


def test_threshold_summary():
    rule = Rule("CsatLow", ScoreKind.CSAT, Threshold("24h", below=0.8))
    alert = Alert(
        rule,
        SeriesKey(Metric.CSAT, "billing"),
        Status.FIRING,
        0,
        None,
        Verdict(Signal.BREACH, 200, 0.71),
    )
    document = alert_document(alert, "http://w")
    assert (
        document["annotations"]["summary"] == "CSAT 24h for billing is 71.0% (n=200), below 80.0%"
    )
    # What the page rests on: the one-sided bound at the rule's confidence, not interval_95.
    evidence = replace(alert, verdict=Verdict(Signal.BREACH, 200, 0.71, bound=0.764))
    assert alert_document(evidence, "http://w")["annotations"]["evidence"] == (
        "upper bound 76.4% at 95% confidence"
    )
    assert "endsAt" not in document


class RecordedTopic:
    """A Faust topic as the alerts topic sink sees it: records are taken, nothing is sent."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, dict]] = []

    def send_soon(self, *, key: bytes | None = None, value: bytes | None = None) -> None:
        self.records.append((key, json.loads(value)))


def test_the_alerts_topic_gets_every_transition_keyed_by_touchpoint_but_no_resend():
    rule = Rule("NpsLow", ScoreKind.NPS, Threshold("1h", below=30))
    series = SeriesKey(Metric.NPS, "checkout")
    fired = Alert(rule, series, Status.FIRING, 0, None, None)
    resolved = Alert(rule, series, Status.RESOLVED, 0, 60_000, None)
    topic = RecordedTopic()
    dispatch = Dispatch("http://w", topic, [], None)
    dispatch.send([fired, resolved])
    dispatch.resend([(rule, series, AlertState(Status.FIRING, since_ms=0))])
    assert topic.records == [
        (b"checkout", {"status": "firing", **alert_document(fired, "http://w")}),
        (b"checkout", {"status": "resolved", **alert_document(resolved, "http://w")}),
    ]
    assert topic.records[1][1]["endsAt"] == "1970-01-01T00:01:00.000Z"


def test_an_alerts_link_opens_the_scores_of_its_series_all_windows():
    board = Board(Scoring(), Settings(windows="5m,1h").timeline(), (("channel",),), now_ms=NOW_MS)
    counted(
        board,
        [
            answer("a", touchpoint="check out & pay", channel="chat"),
            answer("b", touchpoint="check out & pay", channel="voice"),
            answer("c", touchpoint="billing", channel="chat"),
        ],
    )
    series = SeriesKey(Metric.NPS, "check out & pay", (("channel", "chat"),))
    rule = Rule("NpsLow", ScoreKind.NPS, Threshold("1h", below=0))
    alert = Alert(rule, series, Status.FIRING, 0, None, Verdict(Signal.BREACH, 1, 100.0))
    link = urlsplit(alert_document(alert, "http://w:6066")["generatorURL"])
    assert (link.netloc, link.path) == ("w:6066", "/scores")
    rows = score_rows(snapshot(board), Scoring().ces, selection(parse_qsl(link.query)))
    assert sorted((r["touchpoint"], r["channel"], r["window"]) for r in rows) == [
        ("check out & pay", "chat", "1h"),
        ("check out & pay", "chat", "5m"),
    ]


def test_an_alerts_dashboard_link_opens_the_shipped_dashboard_on_its_series():
    """The link names the dashboard by its uid and sets variables it has: a renamed variable or
    uid would leave on-call staff on an unfiltered or missing dashboard."""
    shipped = json.loads(
        (Path(__file__).parents[2] / "deploy/grafana/dashboards/streamer.json").read_text()
    )
    variables = {v["name"] for v in shipped["templating"]["list"]}
    series = SeriesKey(Metric.CSAT, "check out & pay", (("channel", "chat"), ("queue", "q1")))
    rule = Rule("CsatLow", ScoreKind.CSAT, Threshold("24h", below=0.8))
    alert = Alert(rule, series, Status.FIRING, 0, None, Verdict(Signal.BREACH, 200, 0.71))

    document = alert_document(alert, "http://w:6066", "https://grafana.example.com/")
    link = urlsplit(document["annotations"]["dashboard"])
    assert (link.netloc, link.path) == ("grafana.example.com", f"/d/{shipped['uid']}")
    query = parse_qsl(link.query)
    assert query == [
        ("var-touchpoint", "check out & pay"),
        ("var-window", "24h"),
        ("var-channel", "chat"),
    ]
    assert {name.removeprefix("var-") for name, _ in query} <= variables
    assert "dashboard" not in alert_document(alert, "http://w:6066")["annotations"]
    # The deployment, as the chart names it: kept, so that the link opens this one's series
    deployment = "https://grafana.example.com/grafana?var-namespace=prod&var-job=cx"
    link = urlsplit(alert_document(alert, "http://w:6066", deployment)["annotations"]["dashboard"])
    assert link.path == f"/grafana/d/{shipped['uid']}"
    query = parse_qsl(link.query)
    assert query[:2] == [("var-namespace", "prod"), ("var-job", "cx")]
    assert {name.removeprefix("var-") for name, _ in query} <= variables


def test_a_resent_page_still_says_why():
    """Alertmanager keeps the annotations of the last copy: a re-send without the cause would
    wipe it from the notification."""
    sent = []

    class Recorder:
        def send(self, alert, document):
            sent.append(document)

    rule = Rule("NpsDrop", ScoreKind.NPS, Drop("1h", "7d", 20))
    why = ("channel=chat: rate -30.2, mix -4.1 (n 600->40)",)
    state = AlertState(Status.FIRING, 0, 0, Verdict(Signal.BREACH, 84, -12.0), why)
    Dispatch("http://w", None, [Recorder()], None).resend(
        [(rule, SeriesKey(Metric.NPS, "checkout"), state)]
    )
    [document] = sent
    assert document["annotations"]["why"] == why[0]
