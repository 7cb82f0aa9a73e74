"""``streamer backtest FILE``: what the rules would have paged on a file of past answers.

The answers go through the worker's own core (decoder, board, rules, alert states, the monitor's
evaluation policy) with a clock driven by event time: answers are taken in event-time order, each
at the first tick (``STREAMER_TICK_S``) at or after it happened, and the clock ticks through quiet
periods too, so windows empty and alerts resolve as they would live. Ticks at which nothing can
change are skipped (``core/monitor.py``), which is what makes a month of answers take minutes.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from streamer.core.alerting import Alert, Status
from streamer.core.board import Board, Sourced
from streamer.core.decoder import Decoder
from streamer.core.events import Rejection, SurveyResponse
from streamer.core.monitor import Monitor
from streamer.core.rules import Rule
from streamer.core.scales import Scoring
from streamer.core.series import Breakdown
from streamer.core.timeline import Timeline
from streamer.core.timestamps import format_timestamp_ms
from streamer.core.watch import Watch
from streamer.traffic.files import read_events

WEEK_MS = 7 * 86_400_000
_FAR_FUTURE_MS = 2**62
"""The decoder's clock: a past answer is never "from the future" in a backtest."""


@dataclass
class Report:
    alerts: list[Alert] = field(default_factory=list)
    answers: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    start_ms: int = 0
    end_ms: int = 0
    series_ms: Counter[str] = field(default_factory=Counter)
    """Per rule, the time each watched series was watched, summed (series-milliseconds)."""

    def pages(self) -> Counter[str]:
        return Counter(a.rule.name for a in self.alerts if a.status is Status.FIRING)

    def per_100_series_weeks(self, rule: str) -> float | None:
        watched = self.series_ms[rule]
        return 100.0 * self.pages()[rule] * WEEK_MS / watched if watched else None

    def firing_ms(self, rule: str) -> int:
        """How long alerts of ``rule`` fired in all, those still firing counted to the end."""
        started: dict[object, int] = {}
        total = 0
        for alert in self.alerts:
            if alert.rule.name != rule:
                continue
            if alert.status is Status.FIRING:
                started[alert.series] = alert.starts_at_ms
            elif alert.ends_at_ms is not None:
                total += alert.ends_at_ms - started.pop(alert.series, alert.starts_at_ms)
        return total + sum(self.end_ms - start for start in started.values())


def decode_file(path: Path, scoring: Scoring, report: Report) -> list[SurveyResponse]:
    """Valid answers of the file in event-time order; rejections are counted by reason."""
    decoder = Decoder(scoring)
    answers = []
    for _, raw in read_events(path):
        decoded = decoder.decode(raw, _FAR_FUTURE_MS)
        if isinstance(decoded, Rejection):
            report.rejected[decoded.reason.value] += 1
        else:
            answers.append(decoded)
    answers.sort(key=lambda answer: answer.occurred_at_ms)
    return answers


def backtest(
    answers: list[SurveyResponse],
    rules: tuple[Rule, ...],
    timeline: Timeline,
    scoring: Scoring,
    breakdowns: tuple[Breakdown, ...] = (),
    max_series: int = 10_000,
    tick_ms: int = 1_000,
    report: Report | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Run ``answers`` (in event-time order) through the rules; returns every transition."""
    report = report or Report()
    report.answers = len(answers)
    if not answers:
        return report
    start = _tick_at_or_after(answers[0].occurred_at_ms, tick_ms)
    end = _tick_at_or_after(answers[-1].occurred_at_ms, tick_ms)
    report.start_ms, report.end_ms = start, end
    board = Board(scoring, timeline, breakdowns, max_series, start)
    monitor = Monitor(board, Watch(rules, timeline, scoring.ces))
    now, index, last_complete = start, 0, start
    while True:
        taken = index
        while index < len(answers) and answers[index].occurred_at_ms <= now:
            index += 1
        if index > taken:
            batch = (Sourced(0, offset, answers[offset]) for offset in range(taken, index))
            board.ingest(batch, now)
        board.advance(now)
        result = monitor.evaluate(now)
        report.alerts.extend(result.alerts)
        if monitor.complete:
            for rule, count in result.watched.items():
                report.series_ms[rule] += count * (now - last_complete)
            last_complete = now
        if progress is not None and index > taken:
            progress(index, len(answers))
        if now >= end:
            break
        upcoming = monitor.next_change_ms(now)
        if index < len(answers):
            upcoming = min(upcoming, answers[index].occurred_at_ms)
        now = min(end, max(now + tick_ms, _tick_at_or_after(upcoming, tick_ms)))
    return report


def _tick_at_or_after(ts_ms: int, tick_ms: int) -> int:
    return -((-ts_ms) // tick_ms) * tick_ms


def transition(alert: Alert) -> dict[str, Any]:
    """One transition as a JSON object (``--json``)."""
    verdict, condition = alert.verdict, alert.rule.condition
    at = alert.starts_at_ms if alert.status is Status.FIRING else alert.ends_at_ms
    record: dict[str, Any] = {
        "at": format_timestamp_ms(at if at is not None else alert.starts_at_ms),
        "rule": alert.rule.name,
        "severity": alert.rule.severity,
        "status": alert.status.value,
        "touchpoint": alert.series.touchpoint,
        **dict(alert.series.dimensions),
        "window": condition.window,
        "value": None if verdict is None else verdict.value,
        "n": None if verdict is None else verdict.n,
    }
    if verdict is not None and verdict.statistic is not None:
        record |= {
            "baseline": verdict.baseline,
            "baseline_n": verdict.baseline_n,
            "statistic": round(verdict.statistic, 3),
            "limit": round(verdict.limit or 0.0, 3),
        }
    if alert.why:
        record["why"] = list(alert.why)
    return record


def print_json(report: Report, out: TextIO) -> None:
    for alert in report.alerts:
        out.write(orjson.dumps(transition(alert)).decode() + "\n")


def print_table(report: Report, rules: Iterable[Rule], out: TextIO) -> None:
    out.write(f"{'at':24} {'rule':16} {'severity':9} {'status':9} {'series':32} value      n\n")
    for alert in report.alerts:
        row = transition(alert)
        series = alert.series.touchpoint + "".join(
            f" {name}={value}" for name, value in alert.series.dimensions
        )
        value = "" if row["value"] is None else f"{row['value']:.3g}"
        out.write(
            f"{row['at']:24} {row['rule']:16} {row['severity']:9} {row['status']:9} "
            f"{series:32} {value:10} {row['n'] or ''}\n"
        )
    days = (report.end_ms - report.start_ms) / 86_400_000
    out.write(
        f"\n{report.answers} answers over {days:.1f} days "
        f"({format_timestamp_ms(report.start_ms)} .. {format_timestamp_ms(report.end_ms)}); "
        f"rejected: {sum(report.rejected.values())}"
        + (f" ({dict(report.rejected)})" if report.rejected else "")
        + "\n"
    )
    pages = report.pages()
    out.write(f"{'rule':16} {'severity':9} {'pages':>6} {'per 100 series-weeks':>21} firing\n")
    severities: Counter[str] = Counter()
    for rule in rules:
        rate = report.per_100_series_weeks(rule.name)
        severities[rule.severity] += pages[rule.name]
        hours = report.firing_ms(rule.name) / 3_600_000
        shown = "-" if rate is None else f"{rate:.2f}"
        out.write(
            f"{rule.name:16} {rule.severity:9} {pages[rule.name]:>6} {shown:>21} {hours:.1f} h\n"
        )
    out.write("pages by severity: " + ", ".join(f"{k} {v}" for k, v in severities.items()) + "\n")


def stderr_progress() -> Callable[[int, int], None]:
    shown = [0]

    def show(done: int, total: int) -> None:
        if done * 20 // total > shown[0] or done == total:
            shown[0] = done * 20 // total
            print(f"backtest: {done}/{total} answers", file=sys.stderr, flush=True)

    return show
