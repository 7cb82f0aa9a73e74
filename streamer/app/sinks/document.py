"""What an alert says to the people it pages: an Alertmanager API v2 document, which every sink
sends (the webhook and the alerts topic with the transition's ``status``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from streamer.app.selection import selecting
from streamer.core.alerting import Alert, Status
from streamer.core.rules import Drop, Threshold
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from streamer.core.timestamps import format_timestamp_ms
from streamer.export.dashboard import UID as DASHBOARD_UID

_FORMAT = {
    ScoreKind.NPS: "{:.1f}",
    ScoreKind.CSAT: "{:.1%}",
    ScoreKind.CES_MEAN: "{:.2f}",
    ScoreKind.CES_AGREE: "{:.1%}",
}
_NAMES = {
    ScoreKind.NPS: "NPS",
    ScoreKind.CSAT: "CSAT",
    ScoreKind.CES_MEAN: "CES",
    ScoreKind.CES_AGREE: "CES agree",
}


def alert_document(
    alert: Alert, public_url: str, dashboard_url: str | None = None
) -> dict[str, Any]:
    """An Alertmanager v2 alert (labels, annotations, startsAt, endsAt, generatorURL): links to
    its series' scores on the worker and, given Grafana's ``dashboard_url``, to the dashboard
    showing that series over time (every worker's, through Prometheus)."""
    rule, series, verdict = alert.rule, alert.series, alert.verdict
    fmt = _FORMAT[rule.score].format
    condition = rule.condition
    where = series.touchpoint + "".join(f" {name}={value}" for name, value in series.dimensions)
    name = f"{_NAMES[rule.score]} {condition.window}"
    annotations: dict[str, str] = {}
    if verdict is not None and verdict.value is not None:
        annotations |= {"value": fmt(verdict.value), "n": str(verdict.n)}
        if verdict.low is not None and verdict.high is not None:
            annotations["interval_95"] = f"{fmt(verdict.low)} .. {fmt(verdict.high)}"
        if isinstance(condition, Threshold):
            line = condition.below if condition.below is not None else condition.above
            side = "below" if condition.below is not None else "above"
            summary = (
                f"{name} for {where} is {fmt(verdict.value)} (n={verdict.n}), {side} {fmt(line)}"
            )
        else:
            assert isinstance(condition, Drop)
            if verdict.baseline is not None:
                annotations |= {
                    "baseline": fmt(verdict.baseline),
                    "baseline_n": str(verdict.baseline_n),
                }
            if verdict.statistic is not None and verdict.limit is not None:
                annotations["evidence"] = f"{verdict.statistic:.1f} of {verdict.limit:.1f}"
            if verdict.since_ms is not None and verdict.run_value is not None:
                annotations["since"] = format_timestamp_ms(verdict.since_ms)
                annotations["since_value"] = f"{fmt(verdict.run_value)} (n={verdict.run_n})"
            baseline = fmt(verdict.baseline) if verdict.baseline is not None else "?"
            against = (
                f"the rest of {condition.baseline}"
                if isinstance(condition.baseline, str)
                else f"the same hour of the last {condition.baseline.weeks} weeks"
            )
            summary = (
                f"{name} for {where} dropped to {fmt(verdict.value)} (n={verdict.n}) "
                f"from {baseline} over {against}"
            )
            for index, text in enumerate(alert.why):
                annotations[f"why_{index + 1}" if index else "why"] = text
        annotations["summary"] = summary
    if dashboard_url:
        annotations["dashboard"] = dashboard_link(dashboard_url, series, condition.window)
    annotations |= dict(rule.annotations)
    labels = {
        "alertname": rule.name,
        "severity": rule.severity,
        "touchpoint": series.touchpoint,
        "score": rule.score.value,
        "window": condition.window,
        **dict(series.dimensions),
        **dict(rule.labels),
    }
    document: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": format_timestamp_ms(alert.starts_at_ms),
        "generatorURL": f"{public_url}/scores?{urlencode(selecting(series))}",
    }
    if alert.status is Status.RESOLVED and alert.ends_at_ms is not None:
        document["endsAt"] = format_timestamp_ms(alert.ends_at_ms)
    return document


def dashboard_link(dashboard_url: str, series: SeriesKey, window: str) -> str:
    """The streamer dashboard on the alert's touchpoint, window and channel (the dashboard's
    variables; other dimensions are not among them)."""
    query = [("var-touchpoint", series.touchpoint), ("var-window", window)]
    query += [("var-channel", value) for name, value in series.dimensions if name == "channel"]
    return f"{dashboard_url.rstrip('/')}/d/{DASHBOARD_UID}?{urlencode(query)}"


def transition(alert: Alert, document: dict[str, Any]) -> dict[str, Any]:
    """A transition as the webhook and the alerts topic get it: the document and its status."""
    return {"status": alert.status.value, **document}
