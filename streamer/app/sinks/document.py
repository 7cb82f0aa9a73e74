"""What an alert says to the people it pages: an Alertmanager API v2 document, which every sink
sends (the webhook and the alerts topic with the transition's ``status``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    annotations: dict[str, str] = {"summary": summary(alert, name, where)}
    if verdict is not None and verdict.value is not None:
        annotations |= {"value": fmt(verdict.value), "n": str(verdict.n)}
        if verdict.low is not None and verdict.high is not None:
            annotations["interval_95"] = f"{fmt(verdict.low)} .. {fmt(verdict.high)}"
        if verdict.baseline is not None:
            annotations["baseline"] = fmt(verdict.baseline)
            annotations["baseline_n"] = str(verdict.baseline_n)
        if verdict.statistic is not None and verdict.limit is not None:
            annotations["evidence"] = f"{verdict.statistic:.1f} of {verdict.limit:.1f}"
        if verdict.bound is not None and isinstance(rule.condition, Threshold):
            annotations["evidence"] = _sure(rule.condition, fmt(verdict.bound))
        if verdict.since_ms is not None and verdict.run_value is not None:
            annotations["since"] = format_timestamp_ms(verdict.since_ms)
            annotations["since_value"] = f"{fmt(verdict.run_value)} (n={verdict.run_n})"
    for index, text in enumerate(alert.why):
        annotations[f"why_{index + 1}" if index else "why"] = text
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


def _sure(condition: Threshold, bound: str) -> str:
    """What a threshold page rests on: its one-sided bound at the rule's confidence (the
    interval_95 beside it is two-sided, and may straddle the line at 95%)."""
    side = "upper" if condition.below is not None else "lower"
    return f"{side} bound {bound} at {condition.confidence:.0%} confidence"


def summary(alert: Alert, name: str, where: str) -> str:
    """One line that is true of this alert now, firing or resolved: the last copy a receiver
    gets is the one it shows (a re-send in the hysteresis band, a resolve, a quiet window)."""
    rule, verdict, condition = alert.rule, alert.verdict, alert.rule.condition
    fmt = _FORMAT[rule.score].format
    firing = alert.status is Status.FIRING
    if verdict is None or verdict.value is None:
        return (
            f"{name} for {where} is firing"
            if firing
            else (f"{name} for {where} resolved: no answers left in the window")
        )
    now = f"{fmt(verdict.value)} (n={verdict.n})"
    if isinstance(condition, Threshold):
        below = condition.below is not None
        line = condition.below if below else condition.above
        clear = condition.clear if condition.clear is not None else line
        assert line is not None and clear is not None
        side, healthy = ("below", "or more") if below else ("above", "or less")
        if not firing:
            return f"{name} for {where} is back to {now}: cleared at {fmt(clear)} {healthy}"
        if (verdict.value < line) if below else (verdict.value > line):
            return f"{name} for {where} is {now}, {side} {fmt(line)}"
        return (
            f"{name} for {where} is {now}, paged {side} {fmt(line)}, "
            f"clears at {fmt(clear)} {healthy}"
        )
    assert isinstance(condition, Drop)
    against = (
        f"the rest of {condition.baseline}"
        if isinstance(condition.baseline, str)
        else f"the same hour of the last {condition.baseline.weeks} weeks"
    )
    if verdict.baseline is None:
        baseline = f"its baseline over {against}"
    else:
        baseline = f"{fmt(verdict.baseline)} over {against}"
    if not firing:
        return f"{name} for {where} recovered: {now} against {baseline}"
    # Worse is lower for every score but a CES mean on the older 1-5 scale, where it is higher.
    rose = verdict.baseline is not None and verdict.value > verdict.baseline
    moved = "rose" if rose else "dropped"
    return f"{name} for {where} {moved} to {now} from {baseline}"


def dashboard_link(dashboard_url: str, series: SeriesKey, window: str) -> str:
    """The streamer dashboard on the alert's touchpoint, window and channel (the dashboard's
    variables; other dimensions are not among them). A query string in ``dashboard_url`` is
    kept: the chart names the deployment there (``var-namespace``, ``var-job``), which a
    Grafana showing several would otherwise pick for itself."""
    base = urlsplit(dashboard_url)
    query = [*parse_qsl(base.query), ("var-touchpoint", series.touchpoint), ("var-window", window)]
    query += [("var-channel", value) for name, value in series.dimensions if name == "channel"]
    path = f"{base.path.rstrip('/')}/d/{DASHBOARD_UID}"
    return urlunsplit((base.scheme, base.netloc, path, urlencode(query), ""))


def transition(alert: Alert, document: dict[str, Any]) -> dict[str, Any]:
    """A transition as the webhook and the alerts topic get it: the document and its status."""
    return {"status": alert.status.value, **document}
