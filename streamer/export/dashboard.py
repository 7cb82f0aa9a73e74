"""The Grafana dashboard (JSON model, schemaVersion 39), from the metric names and the scales.

Scores are drawn on their scale (NPS -100..100, CSAT and CES agree 0..100%, the CES mean on the
deployment's CES scale) with thresholds; each touchpoint's scores are repeated in a row with
their 95% interval drawn as a band (Grafana fills from the upper series down to the lower one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamer.core.scales import CesPolicy
from streamer.core.timeline import DEFAULT_WINDOWS
from streamer.export import names
from streamer.export.grafana import DATASOURCE, Layout, field_defaults, steps, target, timeseries
from streamer.export.recording import DEPLOYMENT, record, series

UID = "streamer-cx"
_DEPLOYMENT = 'namespace=~"$namespace",job="$job"'
"""One deployment: a Prometheus may scrape several (staging and production), a release being a
job in a namespace (``recording.DEPLOYMENT``)."""
_LEVEL = "_".join((*DEPLOYMENT, names.WINDOW))
"""The recorded aggregates' level (recording.py): per deployment and window."""
_PER_TOUCHPOINT = (_DEPLOYMENT, f'{names.TOUCHPOINT}=~"$touchpoint"', f'{names.WINDOW}="$window"')


def _scales(ces: CesPolicy) -> dict[str, dict[str, Any]]:
    share = steps(("red", None), ("yellow", 0.7), ("green", 0.8))
    if ces.higher_is_easier:
        effort = steps(("red", None), ("green", ces.agree_from))
    else:
        effort = steps(("green", None), ("red", ces.agree_to + 1))
    return {
        names.NPS: field_defaults(
            "none", -100, 100, steps(("red", None), ("yellow", 0), ("green", 30)), 0
        ),
        names.CSAT: field_defaults("percentunit", 0, 1, share, 1),
        names.CES_MEAN: field_defaults("none", ces.scale.low, ces.scale.high, effort, 2),
        names.CES_AGREE_RATIO: field_defaults("percentunit", 0, 1, share, 1),
    }


_TITLES = {
    names.NPS: "NPS",
    names.CSAT: "CSAT (top-2-box)",
    names.CES_MEAN: "CES mean",
    names.CES_AGREE_RATIO: "CES agree (easy)",
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

    return timeseries(
        f"{_TITLES[name]}, 95% interval",
        [
            target("A", series(name, *_PER_TOUCHPOINT), _TITLES[name]),
            target("B", series(name + names.LOWER, *_PER_TOUCHPOINT), "lower"),
            target("C", series(name + names.UPPER, *_PER_TOUCHPOINT), "upper"),
        ],
        fieldConfig={
            "defaults": scale,
            "overrides": [
                bound("lower", {}),
                bound("upper", {"custom.fillBelowTo": "lower", "custom.fillOpacity": 20}),
            ],
        },
    )


def _variables(windows: Sequence[str]) -> list[dict[str, Any]]:
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

    shown = "1h" if "1h" in windows else windows[0]
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
            "query": ",".join(windows),
            "current": {"text": shown, "value": shown},
            "options": [{"text": w, "value": w, "selected": w == shown} for w in windows],
        },
        {
            # All by default: compose has no namespace label, and ".*" matches its absence
            "name": "namespace",
            "label": "Namespace",
            "type": "query",
            "datasource": DATASOURCE,
            "query": f"label_values({names.RESPONSES}, namespace)",
            "includeAll": True,
            "allValue": ".*",
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
        },
        {
            "name": "job",
            "label": "Deployment",
            "type": "query",
            "datasource": DATASOURCE,
            "query": f'label_values({names.RESPONSES}{{namespace=~"$namespace"}}, job)',
            "refresh": 2,
        },
        label_values(
            "touchpoint",
            f"label_values({names.RESPONSES}{{{_DEPLOYMENT}}}, {names.TOUCHPOINT})",
            ".*",
        ),
        label_values(
            "channel",
            f'label_values({names.RESPONSES}{{{_DEPLOYMENT},channel!=""}}, channel)',
            ".+",
        ),
    ]


def dashboard(
    ces: CesPolicy | None = None, windows: Sequence[str] = tuple(DEFAULT_WINDOWS.split(","))
) -> dict[str, Any]:
    """The dashboard for a deployment's CES scale and windows (``streamer dashboard``); the
    shipped one is for the defaults."""
    scales = _scales(ces or CesPolicy())
    layout = Layout()
    for name in names.SCORES.values():
        layout.add(
            timeseries(
                f"{_TITLES[name]} by touchpoint",
                [target("A", series(name, *_PER_TOUCHPOINT), "{{touchpoint}}")],
                names.HELP[name] + ". Absent while the window has no answers.",
                fieldConfig={"defaults": scales[name], "overrides": []},
            )
        )
    window = f'{_DEPLOYMENT},{names.WINDOW}="$window"'
    layout.add(
        timeseries(
            "Responses in the window",
            [
                target(
                    "A",
                    f"sum by (touchpoint, metric) ({series(names.RESPONSES, *_PER_TOUCHPOINT)})",
                    "{{touchpoint}} {{metric}}",
                )
            ],
        )
    )
    layout.add(
        timeseries(
            "All touchpoints (re-aggregated from counts)",
            [
                target("A", f"{record(_LEVEL, names.NPS)}{{{window}}}", "NPS"),
                target("B", f"100 * {record(_LEVEL, names.CSAT)}{{{window}}}", "CSAT %"),
                target(
                    "C",
                    f"100 * {record(_LEVEL, names.CES_AGREE_RATIO)}{{{window}}}",
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
            timeseries(
                f"{_TITLES[name]} by channel (drill-down)",
                [
                    target(
                        "A",
                        series(name, *_PER_TOUCHPOINT, 'channel=~"$channel"', breakdown="channel"),
                        "{{touchpoint}} {{channel}}",
                    ),
                    target(
                        "B",
                        f"{record(f'{_LEVEL}_channel', name)}{{{by_channel}}}",
                        "all touchpoints, {{channel}}",
                    ),
                ],
                "Needs the channel breakdown (STREAMER_DIMENSIONS=channel).",
                fieldConfig={"defaults": scales[name], "overrides": []},
            )
        )
    events = names.total(names.EVENTS)
    layout.add(
        timeseries(
            "Event outcomes (per second)",
            [
                target(
                    "A", f"sum by (outcome) (rate({events}{{{_DEPLOYMENT}}}[5m]))", "{{outcome}}"
                ),
                target(
                    "B",
                    f'sum by (reason) (rate({events}{{{_DEPLOYMENT},outcome="rejected"}}[5m]))',
                    "rejected: {{reason}}",
                ),
            ],
            fieldConfig={"defaults": {"unit": "ops", "min": 0}, "overrides": []},
        )
    )
    layout.add(
        timeseries(
            "Consumer lag by partition",
            [
                target(
                    "A",
                    f"sum by (partition) ({names.CONSUMER_LAG}{{{_DEPLOYMENT}}})",
                    "partition {{partition}}",
                )
            ],
            names.HELP[names.CONSUMER_LAG],
            fieldConfig={"defaults": {"unit": "short", "min": 0}, "overrides": []},
        )
    )
    layout.add(
        timeseries(
            "Freshness",
            [
                target(
                    "A",
                    "histogram_quantile(0.99, sum by (le)"
                    f" (rate({names.PROCESSING_DELAY}_bucket{{{_DEPLOYMENT}}}[5m])))",
                    "p99 processing delay",
                ),
                target(
                    "B",
                    f"time() - max({names.LAST_EVENT}{{{_DEPLOYMENT}}})",
                    "age of the newest answer",
                ),
            ],
            fieldConfig={"defaults": {"unit": "s", "min": 0}, "overrides": []},
        )
    )
    layout.add(
        timeseries(
            "Series kept",
            [
                target("A", f"sum({names.SERIES}{{{_DEPLOYMENT}}})", "series"),
                target(
                    "B",
                    f"sum(rate({names.total(names.SERIES_OVERFLOW)}{{{_DEPLOYMENT}}}[5m]))",
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
        "templating": {"list": _variables(windows)},
        "annotations": {
            "list": [
                {
                    "name": "Alerts",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "red",
                    "expr": f'ALERTS{{alertstate="firing",{_DEPLOYMENT}}}',
                    "titleFormat": "{{alertname}}",
                    "textFormat": "{{touchpoint}}",
                    "step": "60s",
                }
            ]
        },
        "panels": layout.panels,
    }
