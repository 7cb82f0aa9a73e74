"""Survey-answer events: bytes in, a valid ``SurveyResponse`` or a ``Rejection`` out. Never raises.

The contract is documented for producers in docs/events.md; this module is its only
implementation. Validation happens once, here; everything downstream trusts a SurveyResponse.
"""

from __future__ import annotations

import enum
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, NamedTuple

import msgspec
import orjson

from streamer.core.scales import Metric, Scale, Scoring


class Reason(enum.StrEnum):
    """Machine-readable rejection reasons (the ``reason`` label and dead-letter field)."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    DUPLICATE_KEY = "duplicate_key"
    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    BAD_LENGTH = "bad_length"
    UNKNOWN_METRIC = "unknown_metric"
    UNSUPPORTED_SCALE = "unsupported_scale"
    SCORE_OUT_OF_RANGE = "score_out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FROM_FUTURE = "from_future"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    message: str


DIMENSIONS = ("channel", "queue", "region", "agent_id")
"""Optional breakdown dimensions an event may carry (metric label candidates)."""

PERSONAL_FIELDS = ("respondent_id", "interaction_id", "comment")
"""Personal data: carried for follow-up, never a metric label, never logged (``repr=False``)."""


class SurveyResponse(NamedTuple):
    """One valid answer. A NamedTuple rather than a frozen dataclass: it is built once per
    event, and on these machines a 13-field frozen dataclass costs 1.9 us to build against
    0.4 us for this (see bench/core_throughput.py)."""

    event_id: str
    occurred_at_ms: int
    touchpoint: str
    metric: Metric
    score: int
    scale: Scale
    channel: str | None = None
    queue: str | None = None
    region: str | None = None
    agent_id: str | None = None
    respondent_id: str | None = None
    interaction_id: str | None = None
    comment: str | None = None

    def __repr__(self) -> str:
        # Personal fields are left out so that logging a response can never leak them.
        return (
            f"SurveyResponse(event_id={self.event_id!r}, occurred_at_ms={self.occurred_at_ms}, "
            f"touchpoint={self.touchpoint!r}, metric={self.metric.value!r}, score={self.score}, "
            f"scale='{self.scale}', channel={self.channel!r}, queue={self.queue!r}, "
            f"region={self.region!r}, agent_id={self.agent_id!r})"
        )


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 65_536
    max_future_ms: int = 300_000
    max_event_id_chars: int = 128
    max_touchpoint_chars: int = 64
    max_dimension_chars: int = 64
    max_personal_chars: int = 4_096


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"  # date and time
    r"(?:\.[0-9]{1,9})?"  # optional fraction
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"  # required offset
)
_UNIX_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000
_offset_ms_cache: dict[tzinfo | None, int] = {}
# Key tokens written with white space before their colon defeat the cheap duplicate check.
_SPACED_KEY = re.compile(rb'"[ \t\n\r]+:')
_METRICS = {m.value: m for m in Metric}


class _Invalid(Exception):
    """Internal: carries a rejection out of the field readers."""

    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection


def _fail(reason: Reason, message: str) -> _Invalid:
    return _Invalid(Rejection(reason, message))


def format_timestamp_ms(ts_ms: int) -> str:
    """UTC epoch milliseconds -> RFC 3339 with milliseconds and ``Z`` (what streamer writes:
    alert times, backtest transitions, JSON logs)."""
    return (
        datetime.fromtimestamp(ts_ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_timestamp_ms(text: str) -> int:
    """RFC 3339 with a required offset -> UTC epoch milliseconds (sub-millisecond truncated)."""
    # Answers arrive in bursts sharing a second: a small cache skips most of the parsing.
    cached = _stamp_cache.get(text)
    if cached is not None:
        return cached
    stamp_ms = _parse_timestamp_ms(text)
    if len(_stamp_cache) >= _STAMP_CACHE_SIZE:
        _stamp_cache.clear()
    _stamp_cache[text] = stamp_ms
    return stamp_ms


_STAMP_CACHE_SIZE = 4096
_stamp_cache: dict[str, int] = {}


def _parse_timestamp_ms(text: str) -> int:
    if _RFC3339.fullmatch(text) is None:
        raise ValueError("expected an RFC 3339 timestamp with an offset, like 2026-11-22T10:00:00Z")
    stamp = datetime.fromisoformat(text.upper())
    # Field arithmetic instead of (stamp - epoch) // 1 ms: the same integer, twice as fast.
    offset_ms = _offset_ms_cache.get(stamp.tzinfo)
    if offset_ms is None:
        offset = stamp.utcoffset() or timedelta(0)
        offset_ms = _offset_ms_cache[stamp.tzinfo] = offset // timedelta(milliseconds=1)
    return (
        (stamp.toordinal() - _UNIX_EPOCH_ORDINAL) * _DAY_MS
        + ((stamp.hour * 60 + stamp.minute) * 60 + stamp.second) * 1000
        + stamp.microsecond // 1000
        - offset_ms
    )


class Decoder:
    """Decodes raw message values against one deployment's scales and limits.

    Two paths, one contract: msgspec decodes a well-formed answer straight into a typed struct
    (types, lengths and the metric checked in C, see bench/core_throughput.py), and whatever it
    refuses or cannot vouch for goes to the careful path, which alone writes rejections: reasons
    and messages do not depend on which path looked first.
    """

    __slots__ = ("_defaults", "_limits", "_optional", "_scales", "_wire")

    def __init__(self, scoring: Scoring | None = None, limits: Limits | None = None) -> None:
        scoring = scoring or Scoring()
        self._limits = limits or Limits()
        self._defaults = {m: scoring.default_scale(m) for m in Metric}
        self._optional = {name: self._limits.max_dimension_chars for name in DIMENSIONS} | {
            name: self._limits.max_personal_chars for name in PERSONAL_FIELDS
        }
        candidates = [s for m in Metric for s in _candidate_scales(scoring, m)]
        self._scales = {(m, str(s)): s for m in Metric for s in candidates if scoring.accepts(m, s)}
        self._wire = msgspec.json.Decoder(_wire_struct(self._limits))

    def decode(self, raw: bytes, now_ms: int) -> SurveyResponse | Rejection:
        if len(raw) <= self._limits.max_bytes:
            response = self._accept(raw, now_ms)
            if response is not None:
                return response
        return self._careful(raw, now_ms)

    def _accept(self, raw: bytes, now_ms: int) -> SurveyResponse | None:
        """The fast path: the answer if msgspec and the contract accept it, else None."""
        try:
            fields: tuple[Any, ...] = msgspec.structs.astuple(self._wire.decode(raw))
        except (ValueError, RecursionError):  # decode and validation errors, bad UTF-8; and
            # msgspec recurses into deeply nested unknown members: the careful path rejects them
            return None
        present = _WIRE_FIELDS - fields.count(None)
        stamp = fields[1]
        if not _each_key_once(raw, present, stamp):
            return None
        try:
            occurred_at_ms = parse_timestamp_ms(stamp)
        except (ValueError, OverflowError):
            return None
        if occurred_at_ms > now_ms + self._limits.max_future_ms:
            return None
        metric = fields[3]
        spelled = fields[5]
        scale = self._defaults[metric] if spelled is None else self._scales.get((metric, spelled))
        score = fields[4]
        if scale is None or not scale.low <= score <= scale.high:
            return None
        # tuple.__new__ skips the NamedTuple's Python-level __new__: half the cost, same value.
        return _new_tuple(
            SurveyResponse,
            (fields[0], occurred_at_ms, fields[2], metric, score, scale, *fields[6:]),
        )

    def _careful(self, raw: bytes, now_ms: int) -> SurveyResponse | Rejection:
        """The careful path: decides any document on its own, with the documented reasons."""
        try:
            return self._decode(raw, now_ms)
        except _Invalid as invalid:
            return invalid.rejection

    def _decode(self, raw: bytes, now_ms: int) -> SurveyResponse:
        limits = self._limits
        if len(raw) > limits.max_bytes:
            raise _fail(Reason.TOO_LARGE, f"{len(raw)} bytes, above the {limits.max_bytes} limit")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise _not_json(raw, error) from None
        if type(doc) is not dict:
            raise _fail(Reason.NOT_OBJECT, f"expected a JSON object, got {_json_kind(doc)}")
        # Every compact key token ends in '":', so fewer objects keys than tokens means a
        # repeated key (or a nested object, or '\\":' inside a string): check those exactly.
        if raw.count(b'":') != len(doc) or _SPACED_KEY.search(raw) is not None:
            _reject_repeated_keys(raw)

        event_id = _text(doc, "event_id", limits.max_event_id_chars, required=True)
        stamp = doc.get("occurred_at")
        if stamp is None:
            raise _fail(Reason.MISSING_FIELD, "occurred_at is required")
        if type(stamp) is not str:
            raise _fail(Reason.BAD_TYPE, f"occurred_at must be a string, got {_json_kind(stamp)}")
        try:
            occurred_at_ms = parse_timestamp_ms(stamp)
        except (ValueError, OverflowError) as error:
            raise _fail(Reason.BAD_TIMESTAMP, f"occurred_at: {error}") from None
        if occurred_at_ms > now_ms + limits.max_future_ms:
            ahead_s = (occurred_at_ms - now_ms) // 1000
            raise _fail(Reason.FROM_FUTURE, f"occurred_at is {ahead_s}s ahead of the worker clock")
        touchpoint = _text(doc, "touchpoint", limits.max_touchpoint_chars, required=True)

        name = doc.get("metric")
        if name is None:
            raise _fail(Reason.MISSING_FIELD, "metric is required")
        if type(name) is not str:
            raise _fail(Reason.BAD_TYPE, f"metric must be a string, got {_json_kind(name)}")
        metric = _METRICS.get(name)
        if metric is None:
            raise _fail(Reason.UNKNOWN_METRIC, f"metric must be nps, csat or ces, got {name!r:.80}")

        spelled = doc.get("scale")
        if spelled is None:
            scale = self._defaults[metric]
        elif type(spelled) is not str:
            raise _fail(Reason.BAD_TYPE, f"scale must be a string, got {_json_kind(spelled)}")
        else:
            found = self._scales.get((metric, spelled))
            if found is None:
                raise _fail(
                    Reason.UNSUPPORTED_SCALE, f"{metric} does not accept scale {spelled!r:.40}"
                )
            scale = found

        score = doc.get("score")
        if score is None:
            raise _fail(Reason.MISSING_FIELD, "score is required")
        if type(score) is not int:
            raise _fail(Reason.BAD_TYPE, f"score must be an integer, got {_json_kind(score)}")
        if not scale.low <= score <= scale.high:
            raise _fail(
                Reason.SCORE_OUT_OF_RANGE, f"score {score} is outside {metric} scale {scale}"
            )

        get = doc.get
        for name in doc.keys() & self._optional:
            value = get(name)
            if value is not None and (type(value) is not str or len(value) > self._optional[name]):
                _text(doc, name, self._optional[name])  # raises with the precise reason
        return SurveyResponse(
            event_id,
            occurred_at_ms,
            touchpoint,
            metric,
            score,
            scale,
            get("channel"),
            get("queue"),
            get("region"),
            get("agent_id"),
            get("respondent_id"),
            get("interaction_id"),
            get("comment"),
        )


def _wire_struct(limits: Limits) -> type[msgspec.Struct]:
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


_WIRE_FIELDS = len(SurveyResponse._fields)
_new_tuple = tuple.__new__


def _each_key_once(raw: bytes, present: int, stamp: str) -> bool:
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
    if _SPACED_KEY.search(raw) is not None:
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


def _text(doc: dict[str, object], name: str, max_chars: int, required: bool = False) -> str:
    value = doc.get(name)
    if value is None:
        if required:
            raise _fail(Reason.MISSING_FIELD, f"{name} is required")
        return value  # type: ignore[return-value]  # optional fields stay None
    if type(value) is not str:
        raise _fail(Reason.BAD_TYPE, f"{name} must be a string, got {_json_kind(value)}")
    if len(value) > max_chars or (required and not value):
        low = 1 if required else 0
        raise _fail(
            Reason.BAD_LENGTH, f"{name} must be {low} to {max_chars} characters, got {len(value)}"
        )
    return value


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r:.40})"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _not_json(raw: bytes, error: orjson.JSONDecodeError) -> _Invalid:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return _fail(Reason.NOT_UTF8, f"not valid UTF-8 at byte {bad.start}")
    return _fail(Reason.NOT_JSON, f"not valid JSON: {error}")


def _reject_repeated_keys(raw: bytes) -> None:
    """Rare path: a contract key may occur twice, so parse again keeping every pair.

    JSON parsers disagree on which duplicate wins; a score must not depend on that.
    """
    repeated: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        counts = Counter(key for key, _ in items)
        repeated[:] = sorted(key for key, times in counts.items() if times > 1)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)  # the last call is the outermost object
    except (ValueError, RecursionError):
        # orjson accepted the document; the stdlib parser's own limits (nesting depth, digits
        # in an integer) are stricter, and such a document is no survey answer anyway.
        raise _fail(Reason.NOT_JSON, "nesting or numbers beyond the parser's limits") from None
    if repeated:
        raise _fail(Reason.DUPLICATE_KEY, f"keys given more than once: {', '.join(repeated):.200}")


def _candidate_scales(scoring: Scoring, metric: Metric) -> list[Scale]:
    if metric is Metric.CSAT:
        return [scale for scale, _ in scoring.csat.satisfied_from]
    return [scoring.default_scale(metric)]
