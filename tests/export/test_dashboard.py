"""The Grafana dashboard as a user reads it: scores on their scale, intervals as bands."""

import json

from streamer.cli import main
from streamer.core.timeline import DEFAULT_WINDOWS
from streamer.export.dashboard import dashboard


def test_score_panels_have_their_scale_and_thresholds():
    panels = {p["title"]: p for p in dashboard()["panels"]}
    nps = panels["NPS by touchpoint"]["fieldConfig"]["defaults"]
    assert (nps["min"], nps["max"]) == (-100, 100) and nps["thresholds"]["steps"]
    ces = panels["CES mean by touchpoint"]["fieldConfig"]["defaults"]
    assert (ces["min"], ces["max"]) == (1, 7) and ces["thresholds"]["steps"]
    assert panels["CSAT (top-2-box) by touchpoint"]["fieldConfig"]["defaults"]["unit"] == (
        "percentunit"
    )


def test_intervals_are_drawn_as_a_band_per_touchpoint():
    shipped = dashboard()
    assert {v["name"] for v in shipped["templating"]["list"]} == {
        "datasource",
        "namespace",
        "job",
        "window",
        "touchpoint",
        "channel",
    }
    row = next(p for p in shipped["panels"] if p["type"] == "row")
    assert row["repeat"] == "touchpoint"
    band = next(p for p in shipped["panels"] if p["title"] == "NPS, 95% interval")
    legends = [t["legendFormat"] for t in band["targets"]]
    assert legends == ["NPS", "lower", "upper"]
    upper = next(o for o in band["fieldConfig"]["overrides"] if o["matcher"]["options"] == "upper")
    assert {"id": "custom.fillBelowTo", "value": "lower"} in upper["properties"]


def test_the_shipped_dashboard_offers_every_default_window_the_30_and_90_day_nps_too():
    [window] = [v for v in dashboard()["templating"]["list"] if v["name"] == "window"]
    assert [o["value"] for o in window["options"]] == DEFAULT_WINDOWS.split(",")
    assert window["current"]["value"] == "1h"


def test_a_deployment_on_the_older_ces_scale_gets_its_own_dashboard(monkeypatch, capsys):
    """On 1-5, low effort is good: the CES mean is drawn on 1..5, green at the bottom."""
    monkeypatch.setenv("STREAMER_CES_SCALE", "1-5")
    monkeypatch.setenv("STREAMER_WINDOWS", "1h,30d")
    assert main(["dashboard"]) == 0
    exported = json.loads(capsys.readouterr().out)
    panels = {p["title"]: p for p in exported["panels"]}
    ces = panels["CES mean by touchpoint"]["fieldConfig"]["defaults"]
    assert (ces["min"], ces["max"]) == (1, 5)
    assert [s["color"] for s in ces["thresholds"]["steps"]] == ["green", "red"]
    [window] = [v for v in exported["templating"]["list"] if v["name"] == "window"]
    assert [o["value"] for o in window["options"]] == ["1h", "30d"]


def test_every_panel_shows_one_deployment():
    """One Prometheus may scrape two deployments (staging and production): their series, and
    the recorded aggregates (kept per job), are never drawn or summed together."""
    shipped = dashboard()
    expressions = [t["expr"] for p in shipped["panels"] for t in p.get("targets", [])]
    assert expressions and all('job="$job"' in expr for expr in expressions)
