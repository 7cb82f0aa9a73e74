"""The alerts topic (``STREAMER_ALERTS_TOPIC``): every transition as JSON, keyed by touchpoint."""

from __future__ import annotations

from typing import Any

import orjson

from streamer.app.seams import Topic
from streamer.app.sinks.document import transition
from streamer.core.alerting import Alert


class AlertTopic:
    def __init__(self, topic: Topic) -> None:
        self._topic = topic

    def send(self, alert: Alert, document: dict[str, Any]) -> None:
        value = orjson.dumps(transition(alert, document))
        self._topic.send_soon(key=alert.series.touchpoint.encode(), value=value)
