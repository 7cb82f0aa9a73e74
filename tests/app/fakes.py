"""Stand-ins for the Faust objects the shell's parts use (streamer/app/seams.py), and answers as
producers write them. Kafka itself is never faked here: the integration tests run a broker."""

import json
from collections import namedtuple

Record = namedtuple("Record", "topic partition offset timestamp key value")
"""A fetched record, with the fields of aiokafka's ConsumerRecord that the shell reads."""

OCCURRED_AT = "2027-01-15T08:00:00Z"
OCCURRED_MS = 1_800_000_000_000
"""OCCURRED_AT in milliseconds since the epoch."""
NOW_MS = OCCURRED_MS + 1_000
"""A second after the answers: windows end at now, exclusive."""


class Topic:
    def __init__(self):
        self.sent = []

    def send_soon(self, *, key=None, value=None, partition=None, timestamp=None):
        self.sent.append((key, value, partition, timestamp))

    def values(self):
        return [json.loads(value) for _, value, _, _ in self.sent]


class Table:
    """A raw-bytes table: what is held in memory, and what was sent to each changelog partition."""

    def __init__(self):
        self.data = {}
        self.changelog = []
        self.recover_callbacks = []

    def send_changelog(self, partition, key, value):
        self.changelog.append((partition, key, value))

    def on_recover(self, callback):
        self.recover_callbacks.append(callback)


def answer(event_id, touchpoint="chat", occurred_at=OCCURRED_AT, **changes):
    event = {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "touchpoint": touchpoint,
        "metric": "nps",
        "score": 9,
        "respondent_id": "person-1",
    }
    return json.dumps({**event, **changes}).encode()


class Dispatcher:
    def __init__(self):
        self.sent = []
        self.resent = []

    def send(self, alerts):
        self.sent.extend(alerts)

    def resend(self, firing):
        self.resent.extend(firing)


def counted(board, answers, partition=0, now_ms=NOW_MS):
    """``answers`` (encoded events) counted by ``board`` as records of ``partition``."""
    from streamer.core.board import Sourced
    from streamer.core.decoder import Decoder

    decoder = Decoder()
    board.ingest(
        [
            Sourced(partition, offset, decoder.decode(raw, now_ms))
            for offset, raw in enumerate(answers)
        ],
        now_ms,
    )
