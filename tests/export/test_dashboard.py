"""The Grafana dashboard as a user reads it: scores on their scale, intervals as bands."""

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
