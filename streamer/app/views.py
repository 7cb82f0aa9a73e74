"""The worker's web endpoints on Faust's web server."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from streamer.app.metrics import ScoreCollector, ScoreSnapshot, readouts, series_labels, snapshot
from streamer.app.readiness import Readiness
from streamer.app.selection import Selection, selection
from streamer.core.board import Board
from streamer.core.scales import CesPolicy


def score_rows(
    scores: ScoreSnapshot, ces: CesPolicy, wanted: Selection | None = None
) -> list[dict[str, Any]]:
    """/scores: every series and window, or those ``wanted``: n, the counts, and each score
    with its interval."""
    return [
        {
            "metric": r.series.metric.value,
            **series_labels(r.series, r.window),
            "n": r.tally.n,
            "counts": asdict(r.tally),
            "scores": {
                kind.value: None
                if found is None
                else {
                    "value": found.value,
                    "low": found.low,
                    "high": found.high,
                    "standard_error": found.standard_error,
                }
                for kind, found in r.estimates.items()
            },
        }
        for r in readouts(scores, ces, wanted)
    ]


async def exposition(registry: CollectorRegistry, scores: ScoreCollector) -> bytes:
    """/metrics. The worker's own metrics are collected on the event loop and the scores'
    tallies taken there (``ScoreCollector.snapshot``, references to immutable values); their
    samples are built and formatted on a thread: that takes seconds at 10,000 series
    (bench/README.md), during which answers, probes and timers go on."""
    own = list(registry.collect())
    snapshot = scores.snapshot()
    return await asyncio.to_thread(_render, own, scores, snapshot)


def _render(own: list[Metric], scores: ScoreCollector, snapshot: ScoreSnapshot) -> bytes:
    collected = CollectorRegistry(auto_describe=False)
    collected.register(_Collected([*own, *scores.families(snapshot)]))
    return generate_latest(collected)


class _Collected:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        return self._families


def register_views(
    app: faust.App,
    registry: CollectorRegistry,
    collector: ScoreCollector,
    board: Board,
    ces: CesPolicy,
    readiness: Readiness,
) -> None:
    @app.page("/metrics")
    async def metrics(view: View, request: Request) -> Response:
        body = await exposition(registry, collector)
        # As a header: aiohttp refuses a charset inside its content_type argument.
        return view.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/scores")
    async def scores(view: View, request: Request) -> Response:
        try:
            wanted = selection(request.query.items())
        except ValueError as error:
            return view.json({"error": str(error)}, status=400)
        # As /metrics: taken on the loop, the rows built and encoded on a thread (seconds for
        # every series at 10,000).
        now_ms, scores = board.now_ms, snapshot(board)
        body = await asyncio.to_thread(
            lambda: orjson.dumps({"now_ms": now_ms, "series": score_rows(scores, ces, wanted)})
        )
        return view.bytes(body, content_type="application/json")

    @app.page("/healthz")
    async def healthz(view: View, request: Request) -> Response:
        return view.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(view: View, request: Request) -> Response:
        body = readiness.report()
        return view.json(body, status=200 if body["ready"] else 503)
