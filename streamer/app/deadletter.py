"""Dead-letter records: a message that was not counted, with the reason (a decoder's rejection
reason, or ``late``), its source and its (truncated) value."""

from __future__ import annotations

import base64

import orjson


def dead_letter(
    reason: str,
    explanation: str,
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
            "reason": reason,
            "message": explanation,
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
