"""Prometheus export: scores read from the board at scrape time, and the worker's own health.

Score series carry ``touchpoint`` and ``window``, plus the dimension labels of a breakdown.
A window without answers has no score sample at all (absent, not 0); its counts are 0.
Counts are exported next to the scores so that PromQL can re-aggregate across touchpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from streamer.core.board import Board
from streamer.core.scales import CesPolicy, Scoring
from streamer.core.scores import KINDS, Estimate, ScoreKind, estimate
from streamer.core.series import SeriesKey
from streamer.core.tally import CesTally, CsatTally, NpsTally, Tally

# name of the score gauge per kind; "_lower"/"_upper" add its 95% interval
SCORE_NAMES = {
    ScoreKind.NPS: "cx_nps",
    ScoreKind.CSAT: "cx_csat_ratio",
    ScoreKind.CES_MEAN: "cx_ces_mean",
    ScoreKind.CES_AGREE: "cx_ces_agree_ratio",
}
HELP = {
    "cx_nps": "Net Promoter Score (-100..100) in the window",
    "cx_nps_standard_error": "Standard error of the NPS in the window",
    "cx_csat_ratio": "CSAT: satisfied (top-2-box) / all answers (0..1) in the window",
    "cx_ces_mean": "Mean CES score in the window",
    "cx_ces_agree_ratio": "Share of CES answers agreeing it was easy (0..1) in the window",
    "cx_responses": "Answers in the window",
    "cx_promoters": "NPS promoters (9-10) in the window",
    "cx_passives": "NPS passives (7-8) in the window",
    "cx_detractors": "NPS detractors (0-6) in the window",
    "cx_satisfied": "CSAT satisfied answers (top-2-box) in the window",
    "cx_ces_agree": "CES answers agreeing it was easy in the window",
    "cx_ces_score_sum": "Sum of CES scores in the window (mean = sum / responses)",
    "cx_ces_score_squares_sum": "Sum of squared CES scores in the window (for the variance)",
    "cx_series": "Series kept (touchpoint and breakdown series), at most STREAMER_MAX_SERIES",
}


def _counts(tally: Tally) -> Iterable[tuple[str, int]]:
    if isinstance(tally, NpsTally):
        yield from (
            ("cx_promoters", tally.promoters),
            ("cx_passives", tally.passives),
            ("cx_detractors", tally.detractors),
        )
    elif isinstance(tally, CsatTally):
        yield "cx_satisfied", tally.satisfied
    elif isinstance(tally, CesTally):
        yield from (
            ("cx_ces_agree", tally.agree),
            ("cx_ces_score_sum", tally.total),
            ("cx_ces_score_squares_sum", tally.total_sq),
        )


def series_labels(series: SeriesKey, window: str) -> dict[str, str]:
    return {"touchpoint": series.touchpoint, **dict(series.dimensions), "window": window}


class Readout(NamedTuple):
    series: SeriesKey
    window: str
    tally: Tally
    estimates: dict[ScoreKind, Estimate | None]


def readouts(board: Board, ces: CesPolicy) -> Iterator[Readout]:
    """Every live series and window with its scores: what /metrics and /scores both show."""
    labels = [w.label for w in board.timeline.windows]
    for series, totals in board.series():
        for window, tally in zip(labels, totals, strict=True):
            found = {kind: estimate(kind, tally, ces) for kind in KINDS[series.metric]}
            yield Readout(series, window, tally, found)


class ScoreCollector:
    """Reads the board at scrape time (prometheus-client custom collector protocol)."""

    def __init__(self, board: Board, scoring: Scoring) -> None:
        self._board = board
        self._scoring = scoring

    def describe(self) -> Iterable[Metric]:
        return []  # scores are dynamic; registering must not trigger a scrape

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}

        def sample(name: str, labels: Mapping[str, str], value: float, kind: str = "gauge") -> None:
            family = families.get(name)
            if family is None:
                base = name.removesuffix("_lower").removesuffix("_upper")
                doc = (
                    HELP.get(name)
                    or f"{HELP.get(base, base)}: {name.rsplit('_', 1)[1]} bound of the 95% interval"
                )
                family = families[name] = Metric(name, doc, kind)
            family.add_sample(name, dict(labels), value)

        for readout in readouts(self._board, self._scoring.ces):
            labels = series_labels(readout.series, readout.window)
            sample(
                "cx_responses", {**labels, "metric": readout.series.metric.value}, readout.tally.n
            )
            for name, count in _counts(readout.tally):
                sample(name, labels, count)
            for kind, found in readout.estimates.items():
                if found is None:
                    continue
                name = SCORE_NAMES[kind]
                sample(name, labels, found.value)
                sample(f"{name}_lower", labels, found.low)
                sample(f"{name}_upper", labels, found.high)
                if kind is ScoreKind.NPS:
                    sample("cx_nps_standard_error", labels, found.standard_error)
        limiter = self._board.limiter
        sample("cx_series", {}, len(limiter))
        overflow = Metric(
            "cx_series_overflow", "Answers folded into __other__ by the series cap", "counter"
        )
        overflow.add_sample("cx_series_overflow_total", {}, limiter.overflowed)
        return [*families.values(), overflow]


class LagCollector:
    """Consumer lag per input partition, from a function the worker provides."""

    def __init__(self, lag: Callable[[], Mapping[int, int]]) -> None:
        self._lag = lag

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        family = Metric("cx_consumer_lag", "Messages on the input topic not yet processed", "gauge")
        for partition, lag in sorted(self._lag().items()):
            family.add_sample("cx_consumer_lag", {"partition": str(partition)}, lag)
        return [family]


class WorkerMetrics:
    """The worker's own instruments, on the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "cx_events",
            "Events by outcome (accepted, rejected, duplicate, late, replayed)",
            ["outcome", "reason"],
            registry=registry,
        )
        self.delay = Histogram(
            "cx_processing_delay_seconds",
            "From the Kafka timestamp of the oldest event of a batch to the end of its processing",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.last_event = Gauge(
            "cx_last_event_timestamp_seconds",
            "Event time of the newest accepted answer",
            registry=registry,
        )
        self.last_processed = Gauge(
            "cx_last_processed_timestamp_seconds",
            "Wall-clock time the last batch finished",
            registry=registry,
        )
        self.dead_letters = Counter(
            "cx_dead_letters", "Records written to the dead-letter topic", registry=registry
        )
