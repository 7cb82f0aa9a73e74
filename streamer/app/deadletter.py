"""Dead-letter records: a rejected message with its reason, source and (truncated) value."""

from __future__ import annotations

import base64

import orjson

from streamer.core.events import Rejection


def dead_letter(
    rejection: Rejection,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    value: bytes | None,
    max_value_bytes: int,
) -> bytes:
    raw = value or b""
    return orjson.dumps(
        {
            "reason": rejection.reason.value,
            "message": rejection.message,
            "source": {
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "timestamp_ms": timestamp_ms,
            },
            "value_base64": base64.b64encode(raw[:max_value_bytes]).decode("ascii"),
            "value_bytes": len(raw),
            "value_truncated": len(raw) > max_value_bytes,
        }
    )
