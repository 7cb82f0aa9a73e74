"""The fast path's reading of an answer: the contract's fields as a msgspec struct (types,
lengths and the metric checked in C), and what msgspec does not check (each key once, strict
JSON throughout), answered cheaply from the raw bytes."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
import orjson

from streamer.core.events import DIMENSIONS, PERSONAL_FIELDS, Limits
from streamer.core.scales import Metric

# Key tokens written with white space before their colon defeat the cheap duplicate check.
SPACED_KEY = re.compile(rb'"[ \t\n\r]+:')


def wire_struct(limits: Limits) -> type[msgspec.Struct]:
    """The fields of a SurveyResponse as they are on the wire, in its order, with its limits."""

    def text(low: int, high: int) -> object:
        return Annotated[str, msgspec.Meta(min_length=low, max_length=high)]

    dimension = text(0, limits.max_dimension_chars) | None  # type: ignore[operator]
    personal = text(0, limits.max_personal_chars) | None  # type: ignore[operator]
    return msgspec.defstruct(
        "WireAnswer",
        [
            ("event_id", text(1, limits.max_event_id_chars)),
            ("occurred_at", str),
            ("touchpoint", text(1, limits.max_touchpoint_chars)),
            ("metric", Metric),
            ("score", int),
            ("scale", str | None, None),
            *((name, dimension, None) for name in DIMENSIONS),
            *((name, personal, None) for name in PERSONAL_FIELDS),
        ],
        gc=False,  # strings and ints only: no cycles, and cheaper to make
    )


def each_key_once(raw: bytes, present: int, stamp: str) -> bool:
    """True if no key of the object is repeated and the whole document is strict JSON.

    msgspec lets a repeated key pass (the last one wins), and skims unknown keys' values without
    checking them as strictly as the careful path (bad UTF-8, 1e999); ``present`` is the number
    of non-null contract fields it found.
    """
    # Every key is followed by exactly one colon outside strings; without escapes, the only
    # other colons in a typical answer are the timestamp's. A count of 'present' then leaves
    # no room for a repeated, unknown or null key.
    if raw.count(b":") - stamp.count(":") == present and raw.find(b"\\") < 0:
        return True
    # Colons in values, or escapes: every key token ends in '":' unless white space precedes
    # its colon, and the same reasoning holds on that count.
    if SPACED_KEY.search(raw) is not None:
        return False
    keys = raw.count(b'":')
    if keys == present:
        return True
    # Null or unknown fields: the careful path's own check, on its own parser's reading.
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return type(doc) is dict and keys == len(doc)
