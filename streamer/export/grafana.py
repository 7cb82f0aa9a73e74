"""The parts of Grafana's dashboard JSON model (schemaVersion 39) that streamer's dashboard is
built from: queries, thresholds, time-series panels and their placement on the 24-column grid."""

from __future__ import annotations

from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""The Prometheus data source, chosen by the dashboard's ``datasource`` variable."""
WIDTH = 24


def target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}


def steps(*colours: tuple[str, float | None]) -> dict[str, Any]:
    """Absolute thresholds: each colour from its value up (the first from minus infinity)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in colours]}


def field_defaults(
    unit: str, low: float, high: float, thresholds: dict[str, Any], decimals: int
) -> dict[str, Any]:
    """fieldConfig defaults of a panel drawn on a fixed range, thresholds dashed."""
    return {
        "unit": unit,
        "min": low,
        "max": high,
        "decimals": decimals,
        "thresholds": thresholds,
        "custom": {"thresholdsStyle": {"mode": "dashed"}},
    }


class Layout:
    """Places panels left to right, wrapping at Grafana's 24 columns."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.height = 0

    def add(self, panel: dict[str, Any], width: int = 12, height: int = 8) -> None:
        if self.x + width > WIDTH:
            self.x, self.y = 0, self.y + self.height
        grid = {"x": self.x, "y": self.y, "w": width, "h": height}
        self.panels.append({"id": len(self.panels) + 1, **panel, "gridPos": grid})
        self.x, self.height = self.x + width, height

    def row(self, title: str, repeat: str) -> None:
        """A row repeated per value of a variable, holding the panels added after it."""
        row = {"type": "row", "title": title, "collapsed": False, "panels": [], "repeat": repeat}
        self.x = WIDTH
        self.add(row, WIDTH, 1)
        self.x = WIDTH


def timeseries(
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
