import io
import json
import logging
import warnings
from datetime import datetime

import pytest

from streamer.app.logs import configure_logging


@pytest.fixture
def log_to():
    """configure_logging writes to a buffer; the root logger is put back after the test."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def configure(level, form):
        stream = io.StringIO()
        configure_logging(level, form, stream)
        return stream

    yield configure
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    logging.captureWarnings(False)


def test_json_lines_carry_time_level_logger_message_and_the_exception(log_to):
    stream = log_to("info", "json")
    logging.getLogger("streamer.worker").info("broker %s %s", "k1:9092", "reachable")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("faust.worker").exception("crashed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message")} == {
        "level": "info",
        "logger": "streamer.worker",
        "message": "broker k1:9092 reachable",
    }
    assert first["ts"].endswith("Z") and datetime.fromisoformat(first["ts"]).tzinfo is not None
    assert "exception" not in first
    assert second["level"] == "error" and second["message"] == "crashed"
    assert second["exception"].startswith("Traceback")
    assert "RuntimeError: boom" in second["exception"]


@pytest.mark.parametrize("form", ["text", "json"])
def test_the_level_decides_what_is_written(log_to, form):
    stream = log_to("info", form)
    logging.getLogger("aiokafka").debug("fetch details")
    logging.getLogger("streamer.worker").info("started")
    assert "fetch details" not in stream.getvalue() and "started" in stream.getvalue()

    stream = log_to("debug", form)
    logging.getLogger("aiokafka").debug("fetch details")
    assert "fetch details" in stream.getvalue()

    stream = log_to("error", form)
    logging.getLogger("streamer.worker").warning("broker unreachable")
    assert stream.getvalue() == ""


def test_warnings_go_through_the_log(log_to):
    stream = log_to("info", "json")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old option", DeprecationWarning, stacklevel=1)
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["logger"] == "py.warnings" and "old option" in entry["message"]


def test_text_lines_read_as_time_level_logger_message(log_to):
    stream = log_to("info", "text")
    logging.getLogger("streamer.worker").warning("broker %s unreachable", "k1:9092")
    ts, level, rest = stream.getvalue().split(maxsplit=2)
    assert datetime.fromisoformat(ts) and level == "WARNING"
    assert rest == "streamer.worker: broker k1:9092 unreachable\n"
