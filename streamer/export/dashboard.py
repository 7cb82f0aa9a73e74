"""The Grafana dashboard (JSON model, schemaVersion 39), from the metric names and the scales.

Scores are drawn on their scale (NPS -100..100, CSAT and CES agree 0..100%, the CES mean on the
deployment's CES scale) with thresholds; each touchpoint's scores are repeated in a row with
their 95% interval drawn as a band (Grafana fills from the upper series down to the lower one).
"""

from __future__ import annotations

from typing import Any

from streamer.core.scales import CesPolicy
from streamer.export import names
from streamer.export.recording import record, series

UID = "streamer-cx"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WINDOWS = ("5m", "1h", "24h", "7d")
_PER_TOUCHPOINT = (f'{names.TOUCHPOINT}=~"$touchpoint"', f'{names.WINDOW}="$window"')
_WIDTH = 24


def _target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def _steps(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def _scale(
    unit: str, low: float, high: float, thresholds: dict[str, Any], decimals: int
) -> dict[str, Any]:
    """fieldConfig defaults of a score panel."""
    return {
        "unit": unit,
        "min": low,
        "max": high,
        "decimals": decimals,
        "thresholds": thresholds,
        "custom": {"thresholdsStyle": {"mode": "dashed"}},
    }


def _scales(ces: CesPolicy) -> dict[str, dict[str, Any]]:
    share = _steps(("red", None), ("yellow", 0.7), ("green", 0.8))
    if ces.higher_is_easier:
        effort = _steps(("red", None), ("green", ces.agree_from))
    else:
        effort = _steps(("green", None), ("red", ces.agree_to + 1))
    return {
        names.NPS: _scale(
            "none", -100, 100, _steps(("red", None), ("yellow", 0), ("green", 30)), 0
        ),
        names.CSAT: _scale("percentunit", 0, 1, share, 1),
        names.CES_MEAN: _scale("none", ces.scale.low, ces.scale.high, effort, 2),
        names.CES_AGREE_RATIO: _scale("percentunit", 0, 1, share, 1),
    }


_TITLES = {
    names.NPS: "NPS",
    names.CSAT: "CSAT (top-2-box)",
    names.CES_MEAN: "CES mean",
    names.CES_AGREE_RATIO: "CES agree (easy)",
}


class _Layout:
    """Places panels left to right, wrapping at Grafana's 24 columns."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.height = 0

    def add(self, panel: dict[str, Any], width: int = 12, height: int = 8) -> None:
        if self.x + width > _WIDTH:
            self.x, self.y = 0, self.y + self.height
        grid = {"x": self.x, "y": self.y, "w": width, "h": height}
        self.panels.append({"id": len(self.panels) + 1, **panel, "gridPos": grid})
        self.x, self.height = self.x + width, height

    def row(self, title: str, repeat: str) -> None:
        """A row repeated per value of a variable, holding the panels added after it."""
        row = {"type": "row", "title": title, "collapsed": False, "panels": [], "repeat": repeat}
        self.x = _WIDTH
        self.add(row, _WIDTH, 1)
        self.x = _WIDTH


def _timeseries(
    title: str, targets: list[dict[str, Any]], description: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        **extra,
    }


def _band(name: str, scale: dict[str, Any]) -> dict[str, Any]:
    """One touchpoint's score with its interval filled between the bounds."""

    def bound(legend: str, extra: dict[str, Any]) -> dict[str, Any]:
        hidden = {
            "id": "custom.hideFrom",
            "value": {"legend": True, "tooltip": False, "viz": False},
        }
        properties = [{"id": "custom.lineWidth", "value": 0}, hidden]
        properties += [{"id": k, "value": v} for k, v in extra.items()]
        return {"matcher": {"id": "byName", "options": legend}, "properties": properties}

    return _timeseries(
        f"{_TITLES[name]}, 95% interval",
        [
            _target("A", series(name, *_PER_TOUCHPOINT), _TITLES[name]),
            _target("B", series(name + names.LOWER, *_PER_TOUCHPOINT), "lower"),
            _target("C", series(name + names.UPPER, *_PER_TOUCHPOINT), "upper"),
        ],
        fieldConfig={
            "defaults": scale,
            "overrides": [
                bound("lower", {}),
                bound("upper", {"custom.fillBelowTo": "lower", "custom.fillOpacity": 20}),
            ],
        },
    )


def _variables() -> list[dict[str, Any]]:
    def label_values(name: str, query: str, all_value: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "query",
            "datasource": DATASOURCE,
            "query": query,
            "includeAll": True,
            "multi": True,
            "allValue": all_value,
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
        }

    return [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"},
        },
        {
            "name": "window",
            "type": "custom",
            "query": ",".join(WINDOWS),
            "current": {"text": "1h", "value": "1h"},
            "options": [{"text": w, "value": w, "selected": w == "1h"} for w in WINDOWS],
        },
        label_values("touchpoint", f"label_values({names.RESPONSES}, {names.TOUCHPOINT})", ".*"),
        label_values("channel", f'label_values({names.RESPONSES}{{channel!=""}}, channel)', ".+"),
    ]


def dashboard(ces: CesPolicy | None = None) -> dict[str, Any]:
    scales = _scales(ces or CesPolicy())
    layout = _Layout()
    for name in names.SCORES.values():
        layout.add(
            _timeseries(
                f"{_TITLES[name]} by touchpoint",
                [_target("A", series(name, *_PER_TOUCHPOINT), "{{touchpoint}}")],
                names.HELP[name] + ". Absent while the window has no answers.",
                fieldConfig={"defaults": scales[name], "overrides": []},
            )
        )
    window = f'{names.WINDOW}="$window"'
    layout.add(
        _timeseries(
            "Responses in the window",
            [
                _target(
                    "A",
                    f"sum by (touchpoint, metric) ({series(names.RESPONSES, *_PER_TOUCHPOINT)})",
                    "{{touchpoint}} {{metric}}",
                )
            ],
        )
    )
    layout.add(
        _timeseries(
            "All touchpoints (re-aggregated from counts)",
            [
                _target("A", f"{record(names.WINDOW, names.NPS)}{{{window}}}", "NPS"),
                _target("B", f"100 * {record(names.WINDOW, names.CSAT)}{{{window}}}", "CSAT %"),
                _target(
                    "C",
                    f"100 * {record(names.WINDOW, names.CES_AGREE_RATIO)}{{{window}}}",
                    "CES agree %",
                ),
            ],
            "Ratios of summed counts over every touchpoint (recording rules), not means of "
            "touchpoint scores.",
            fieldConfig={"defaults": {"min": -100, "max": 100}, "overrides": []},
        )
    )
    by_channel = f'channel=~"$channel",{window}'
    for name in (names.NPS, names.CSAT):
        layout.add(
            _timeseries(
                f"{_TITLES[name]} by channel (drill-down)",
                [
                    _target(
                        "A",
                        series(name, *_PER_TOUCHPOINT, 'channel=~"$channel"', breakdown="channel"),
                        "{{touchpoint}} {{channel}}",
                    ),
                    _target(
                        "B",
                        f"{record(f'{names.WINDOW}_channel', name)}{{{by_channel}}}",
                        "all touchpoints, {{channel}}",
                    ),
                ],
                "Needs the channel breakdown (STREAMER_DIMENSIONS=channel).",
                fieldConfig={"defaults": scales[name], "overrides": []},
            )
        )
    events = names.total(names.EVENTS)
    layout.add(
        _timeseries(
            "Event outcomes (per second)",
            [
                _target("A", f"sum by (outcome) (rate({events}[5m]))", "{{outcome}}"),
                _target(
                    "B",
                    f'sum by (reason) (rate({events}{{outcome="rejected"}}[5m]))',
                    "rejected: {{reason}}",
                ),
            ],
            fieldConfig={"defaults": {"unit": "ops", "min": 0}, "overrides": []},
        )
    )
    layout.add(
        _timeseries(
            "Consumer lag by partition",
            [_target("A", f"sum by (partition) ({names.CONSUMER_LAG})", "partition {{partition}}")],
            names.HELP[names.CONSUMER_LAG],
            fieldConfig={"defaults": {"unit": "short", "min": 0}, "overrides": []},
        )
    )
    layout.add(
        _timeseries(
            "Freshness",
            [
                _target(
                    "A",
                    "histogram_quantile(0.99, sum by (le)"
                    f" (rate({names.PROCESSING_DELAY}_bucket[5m])))",
                    "p99 processing delay",
                ),
                _target("B", f"time() - max({names.LAST_EVENT})", "age of the newest answer"),
            ],
            fieldConfig={"defaults": {"unit": "s", "min": 0}, "overrides": []},
        )
    )
    layout.add(
        _timeseries(
            "Series kept",
            [
                _target("A", f"sum({names.SERIES})", "series"),
                _target(
                    "B",
                    f"sum(rate({names.total(names.SERIES_OVERFLOW)}[5m]))",
                    "answers folded into __other__ per second",
                ),
            ],
            names.HELP[names.SERIES],
            fieldConfig={"defaults": {"min": 0}, "overrides": []},
        )
    )
    layout.row("$touchpoint: scores with their 95% interval", repeat="touchpoint")
    for name in names.SCORES.values():
        layout.add(_band(name, scales[name]), width=6)
    return {
        "uid": UID,
        "title": "Customer experience scores (streamer)",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["cx", "streamer"],
        "templating": {"list": _variables()},
        "annotations": {
            "list": [
                {
                    "name": "Alerts",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "red",
                    "expr": 'ALERTS{alertstate="firing"}',
                    "titleFormat": "{{alertname}}",
                    "textFormat": "{{touchpoint}}",
                    "step": "60s",
                }
            ]
        },
        "panels": layout.panels,
    }
