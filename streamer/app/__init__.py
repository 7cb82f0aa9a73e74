"""The Faust shell around the core. ``faust -A streamer.app worker`` finds ``app`` here."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Built on first use, so that importing streamer.app.settings does not start building a worker.
    if name == "app":
        from streamer.app.settings import load_settings
        from streamer.app.worker import Worker

        app = Worker(load_settings()).app
        globals()["app"] = app
        return app
    raise AttributeError(name)
