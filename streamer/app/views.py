"""The worker's web endpoints on Faust's web server."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamer.app.metrics import readouts, series_labels

if TYPE_CHECKING:
    from streamer.app.worker import Worker


def scores_snapshot(worker: Worker) -> list[dict[str, Any]]:
    """Every series and window: n, the counts, and each score with its interval."""
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
        for r in readouts(worker.board, worker.scoring.ces)
    ]


def register_views(app: Any, worker: Worker) -> None:
    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # As a header: aiohttp refuses a charset inside its content_type argument.
        return web.bytes(
            generate_latest(worker.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    @app.page("/scores")
    async def scores(web: Any, request: Any) -> Any:
        return web.json({"now_ms": worker.board.now_ms, "series": scores_snapshot(worker)})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        body = {
            "ready": worker.ready(),
            "recovered": worker.recovered,
            "broker_reachable": worker.broker_reachable,
        }
        return web.json(body, status=200 if body["ready"] else 503)
