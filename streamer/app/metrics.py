"""Prometheus export: scores read from the board at scrape time, and the worker's own health.

Score series carry ``touchpoint`` and ``window``, plus the dimension labels of a breakdown.
A window without answers has no score sample at all (absent, not 0); its counts are 0.
Counts are exported next to the scores so that PromQL can re-aggregate across touchpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from streamer.app.seams import Consumer
from streamer.app.selection import Selection, selected
from streamer.core.board import Board
from streamer.core.scales import CesPolicy, Scoring
from streamer.core.scores import KINDS, Estimate, ScoreKind, estimate
from streamer.core.series import SeriesKey
from streamer.core.tally import CesTally, CsatTally, NpsTally, Tally
from streamer.export import names


def _counts(tally: Tally) -> Iterable[tuple[str, int]]:
    if isinstance(tally, NpsTally):
        yield from (
            (names.PROMOTERS, tally.promoters),
            (names.PASSIVES, tally.passives),
            (names.DETRACTORS, tally.detractors),
        )
    elif isinstance(tally, CsatTally):
        yield names.SATISFIED, tally.satisfied
    elif isinstance(tally, CesTally):
        yield from (
            (names.CES_AGREE, tally.agree),
            (names.CES_POINTS, tally.total),
            (names.CES_POINTS_SQUARED, tally.total_sq),
        )


def series_labels(series: SeriesKey, window: str) -> dict[str, str]:
    return {"touchpoint": series.touchpoint, **dict(series.dimensions), "window": window}


class Readout(NamedTuple):
    series: SeriesKey
    window: str
    tally: Tally
    estimates: dict[ScoreKind, Estimate | None]


class ScoreSnapshot(NamedTuple):
    """What a read of the scores sees, taken at once on the event loop: tallies are immutable
    values, so samples and rows can be built from it on another thread."""

    windows: tuple[str, ...]
    series: list[tuple[SeriesKey, tuple[Tally, ...]]]
    kept: int
    overflowed: int


def snapshot(board: Board) -> ScoreSnapshot:
    return ScoreSnapshot(
        tuple(w.label for w in board.timeline.windows),
        list(board.series()),
        len(board.limiter),
        board.limiter.overflowed,
    )


def readouts(
    scores: ScoreSnapshot, ces: CesPolicy, wanted: Selection | None = None
) -> Iterator[Readout]:
    """Every live series and window with its scores, or those ``wanted``: what /metrics and
    /scores show."""
    for series, totals in scores.series:
        for window, tally in zip(scores.windows, totals, strict=True):
            if wanted and not selected(wanted, series, window):
                continue
            found = {kind: estimate(kind, tally, ces) for kind in KINDS[series.metric]}
            yield Readout(series, window, tally, found)


class ScoreCollector:
    """Reads the board at scrape time (prometheus-client custom collector protocol): a
    ``snapshot`` on the event loop, then the ``families`` from it, on any thread."""

    def __init__(self, board: Board, scoring: Scoring) -> None:
        self._board = board
        self._scoring = scoring

    def describe(self) -> Iterable[Metric]:
        return []  # scores are dynamic; registering must not trigger a scrape

    def collect(self) -> Iterable[Metric]:
        return self.families(self.snapshot())

    def snapshot(self) -> ScoreSnapshot:
        return snapshot(self._board)

    def families(self, scores: ScoreSnapshot) -> list[Metric]:
        families: dict[str, Metric] = {}

        def sample(name: str, labels: dict[str, str], value: float) -> None:
            family = families.get(name)
            if family is None:
                doc = names.HELP.get(name) or names.interval_help(name)
                family = families[name] = Metric(name, doc, "gauge")
            # One labels dict for all of a readout's samples: nothing changes it once made, and
            # a copy per sample was a third of a scrape's time at 10,000 series.
            family.samples.append(Sample(name, labels, value))

        for readout in readouts(scores, self._scoring.ces):
            labels = series_labels(readout.series, readout.window)
            sample(
                names.RESPONSES,
                {**labels, names.METRIC: readout.series.metric.value},
                readout.tally.n,
            )
            for name, count in _counts(readout.tally):
                sample(name, labels, count)
            for kind, found in readout.estimates.items():
                if found is None:
                    continue
                name = names.SCORES[kind]
                sample(name, labels, found.value)
                sample(name + names.LOWER, labels, found.low)
                sample(name + names.UPPER, labels, found.high)
                if kind is ScoreKind.NPS:
                    sample(names.NPS_STANDARD_ERROR, labels, found.standard_error)
        sample(names.SERIES, {}, scores.kept)
        overflow = Metric(names.SERIES_OVERFLOW, names.HELP[names.SERIES_OVERFLOW], "counter")
        overflow.add_sample(names.total(names.SERIES_OVERFLOW), {}, scores.overflowed)
        return [*families.values(), overflow]


class LagCollector:
    """Consumer lag per input partition, from a function the worker provides."""

    def __init__(self, lag: Callable[[], Mapping[int, int]]) -> None:
        self._lag = lag

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        family = Metric(names.CONSUMER_LAG, names.HELP[names.CONSUMER_LAG], "gauge")
        for partition, lag in sorted(self._lag().items()):
            family.add_sample(names.CONSUMER_LAG, {"partition": str(partition)}, lag)
        return [family]


def consumer_lag(
    consumer: Consumer, topics: Collection[str], next_offset: Mapping[tuple[str, int], int]
) -> dict[int, int]:
    """Per partition: messages not yet processed on ``topics`` (the input and repartition
    topics, whose partitions are owned together)."""
    lags: dict[int, int] = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        highwater = consumer.highwater(tp)
        done = next_offset.get((tp.topic, tp.partition))
        if highwater is not None and done is not None:
            lags[tp.partition] = lags.get(tp.partition, 0) + max(0, highwater - done)
    return lags


class StateBytesCollector:
    """Changelog bytes of the scoring state, read from the store at scrape time (it counts them
    as it writes, in the core's flush path)."""

    def __init__(self, written: Callable[[], int]) -> None:
        self._written = written

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        name = names.STATE_WRITTEN_BYTES
        family = Metric(name, names.HELP[name], "counter")
        family.add_sample(names.total(name), {}, self._written())
        return [family]


class WorkerMetrics:
    """The worker's own instruments, on the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            names.EVENTS, names.HELP[names.EVENTS], ["outcome", "reason"], registry=registry
        )
        self.delay = Histogram(
            names.PROCESSING_DELAY,
            names.HELP[names.PROCESSING_DELAY],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.last_event = Gauge(names.LAST_EVENT, names.HELP[names.LAST_EVENT], registry=registry)
        self.last_processed = Gauge(
            names.LAST_PROCESSED, names.HELP[names.LAST_PROCESSED], registry=registry
        )
        self.dead_letters = Counter(
            names.DEAD_LETTERS, names.HELP[names.DEAD_LETTERS], registry=registry
        )
