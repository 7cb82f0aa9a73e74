import asyncio
import logging

from aiohttp import web

from streamer.app.sinks import HttpSink, alert_document
from streamer.core.alerting import Alert, Status
from streamer.core.rules import Drop, Rule, Signal, Threshold, Verdict
from streamer.core.scales import Metric
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey


def test_a_failing_receiver_gets_the_body_once_it_recovers(caplog):
    caplog.set_level(logging.INFO, logger="streamer.alerts")

    async def scenario():
        answers = [500, 503, 200]
        received = []

        async def hook(request):
            received.append(await request.json())
            return web.Response(status=answers.pop(0) if answers else 200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        sink = HttpSink("webhook", f"http://127.0.0.1:{port}/hook")
        task = asyncio.create_task(sink.run())
        sink.put({"status": "firing", "n": 1})
        for _ in range(100):
            if sink.delivered:
                break
            await asyncio.sleep(0.1)
        task.cancel()
        await runner.cleanup()
        return sink, received

    sink, received = asyncio.run(scenario())
    assert sink.delivered == 1 and len(received) == 3  # two failures, then accepted
    assert caplog.text.count("is failing") == 1 and caplog.text.count("accepts alerts again") == 1


def test_an_alertmanager_document_says_what_where_how_much_and_how_sure():
    rule = Rule(
        "NpsDrop", ScoreKind.NPS, Drop("1h", "7d"), annotations={"runbook_url": "https://rb"}
    )
    verdict = Verdict(Signal.BREACH, 84, -12.0, -25.1, 1.1, 38.5, 1200, 0.0003)
    series = SeriesKey(Metric.NPS, "checkout", (("channel", "chat"),))
    document = alert_document(
        Alert(rule, series, Status.RESOLVED, 0, 60_000, verdict), "http://w:6066"
    )
    assert document["labels"] == {
        "alertname": "NpsDrop",
        "severity": "warning",
        "touchpoint": "checkout",
        "score": "nps",
        "window": "1h",
        "channel": "chat",
    }
    assert document["annotations"]["summary"] == (
        "NPS 1h for checkout channel=chat dropped to -12.0 (n=84) from 38.5"
        " over the rest of 7d, p=0.0003"
    )
    assert document["annotations"]["interval_95"] == "-25.1 .. 1.1"
    assert (
        document["annotations"]["baseline_n"] == "1200"
        and document["annotations"]["runbook_url"] == "https://rb"
    )
    assert (document["startsAt"], document["endsAt"]) == (
        "1970-01-01T00:00:00.000Z",
        "1970-01-01T00:01:00.000Z",
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
    assert "endsAt" not in document
