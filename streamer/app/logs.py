"""The worker's log: a level and a format (text for people, JSON lines for log pipelines).

Set up before Faust starts, and Faust is told to leave it alone (``override_logging=False``),
so its own worker setup neither resets the level nor adds its colour handler.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

import orjson

from streamer.app.settings import LogFormat, LogLevel
from streamer.core.timestamps import format_timestamp_ms


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (RFC 3339, UTC), level, logger, message, and exception
    (the formatted traceback) when the record carries one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": format_timestamp_ms(int(record.created * 1000)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return format_timestamp_ms(int(record.created * 1000))


def configure_logging(level: LogLevel, form: LogFormat, stream: IO[str] | None = None) -> None:
    """Every logger (the worker's, Faust's, aiokafka's, warnings) to one handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if form == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
