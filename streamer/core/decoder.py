"""Bytes in, a valid ``SurveyResponse`` or a ``Rejection`` out (docs/events.md). Never raises."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import msgspec
import orjson

from streamer.core.events import (
    DIMENSIONS,
    PERSONAL_FIELDS,
    Limits,
    Reason,
    Rejection,
    SurveyResponse,
)
from streamer.core.scales import Metric, Scale, Scoring
from streamer.core.series import OTHER
from streamer.core.timestamps import parse_timestamp_ms
from streamer.core.wire import SPACED_KEY, each_key_once, wire_struct

_METRICS = {m.value: m for m in Metric}


class _Invalid(Exception):
    """Internal: carries a rejection out of the field readers."""

    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection


def _fail(reason: Reason, message: str) -> _Invalid:
    return _Invalid(Rejection(reason, message))


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
        self._wire = msgspec.json.Decoder(wire_struct(self._limits))

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
        if not each_key_once(raw, present, stamp):
            return None
        # Label values: without an escape in the document, a string holds no control character
        # and is spelled as in the bytes, so one search of them finds the reserved name.
        if fields[2].isspace() or raw.find(b"__other__") >= 0:
            return None
        if raw.find(b"\\") >= 0 and any(
            value is not None and _label_problem(name, value) for name, value in _labels(fields)
        ):
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
        if raw.count(b'":') != len(doc) or SPACED_KEY.search(raw) is not None:
            _reject_repeated_keys(raw)

        event_id = _text(doc, "event_id", limits.max_event_id_chars, required=True)
        stamp = _required(doc, "occurred_at")
        try:
            occurred_at_ms = parse_timestamp_ms(stamp)
        except (ValueError, OverflowError) as error:
            raise _fail(Reason.BAD_TIMESTAMP, f"occurred_at: {error}") from None
        if occurred_at_ms > now_ms + limits.max_future_ms:
            ahead_s = (occurred_at_ms - now_ms) // 1000
            raise _fail(Reason.FROM_FUTURE, f"occurred_at is {ahead_s}s ahead of the worker clock")
        touchpoint = _text(doc, "touchpoint", limits.max_touchpoint_chars, required=True)
        _check_label("touchpoint", touchpoint)

        name = _required(doc, "metric")
        metric = _METRICS.get(name)
        if metric is None:
            raise _fail(Reason.UNKNOWN_METRIC, f"metric must be nps, csat or ces, got {name!r:.80}")

        spelled = _string(doc, "scale")
        if spelled is None:
            scale = self._defaults[metric]
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
        if type(score) is float and _written_as_integer(raw):
            # orjson reads an integer beyond 64 bits as a float: it was written as an integer.
            raise _fail(
                Reason.SCORE_OUT_OF_RANGE,
                f"score {score:.0e} (an integer beyond 64 bits) is outside {metric} scale {scale}",
            )
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
        for name in DIMENSIONS:
            value = get(name)
            if value is not None:
                _check_label(name, value)
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


_WIRE_FIELDS = len(SurveyResponse._fields)
_new_tuple = tuple.__new__


def _string(doc: dict[str, object], name: str) -> str | None:
    """The field's text, or None when it is absent or null; any other JSON type is refused."""
    value = doc.get(name)
    if value is None or type(value) is str:
        return value
    raise _fail(Reason.BAD_TYPE, f"{name} must be a string, got {_json_kind(value)}")


def _required(doc: dict[str, object], name: str) -> str:
    value = _string(doc, name)
    if value is None:
        raise _fail(Reason.MISSING_FIELD, f"{name} is required")
    return value


def _text(doc: dict[str, object], name: str, max_chars: int, required: bool = False) -> str:
    value = _required(doc, name) if required else _string(doc, name)
    if value is None:
        return value  # type: ignore[return-value]  # optional fields stay None
    if len(value) > max_chars or (required and not value):
        low = 1 if required else 0
        raise _fail(
            Reason.BAD_LENGTH, f"{name} must be {low} to {max_chars} characters, got {len(value)}"
        )
    return value


_CONTROL = re.compile(r"[\x00-\x1f]")


def _label_problem(name: str, value: str) -> str | None:
    """Why a touchpoint or dimension value cannot name a series (they become metric labels,
    legends and alert text), if it cannot."""
    if value == OTHER:
        return f"{name} {OTHER!r} is reserved: it names the series beyond STREAMER_MAX_SERIES"
    control = _CONTROL.search(value)
    if control is not None:
        return f"{name} holds a control character (U+{ord(control.group()):04X})"
    if name == "touchpoint" and value.isspace():
        return "touchpoint is only white space"
    return None


def _check_label(name: str, value: str) -> None:
    problem = _label_problem(name, value)
    if problem is not None:
        raise _fail(Reason.BAD_LABEL, problem)


def _labels(fields: tuple[Any, ...]) -> zip[tuple[str, Any]]:
    """The label fields of a wire struct's tuple, by name."""
    return zip(_LABEL_NAMES, (fields[2], *fields[6 : 6 + len(DIMENSIONS)]), strict=True)


_LABEL_NAMES = ("touchpoint", *DIMENSIONS)


def _written_as_integer(raw: bytes) -> bool:
    """Whether the document's score is an integer literal (the standard library keeps one of
    any size an int)."""
    try:
        return type(json.loads(raw).get("score")) is int
    except (ValueError, AttributeError):
        return False


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
