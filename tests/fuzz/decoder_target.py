"""atheris (libFuzzer) target for the decoder: ``python -m tests.fuzz.decoder_target -runs=N``.

Coverage-guided mutation of raw bytes, seeded with valid answers. It checks that decoding
never raises, that the fast path (msgspec) decides exactly as the careful one, reason and
message included, and that whatever is accepted satisfies the contract (docs/events.md) when
read back independently with the standard library.
"""

import json
import sys
from collections import Counter

import atheris

with atheris.instrument_imports():
    from streamer.core.decoder import Decoder
    from streamer.core.events import Rejection, SurveyResponse

NOW_MS = 1_795_341_600_000  # 2026-11-22T10:00:00Z
DECODER = Decoder()
LIMITS = {"event_id": 128, "touchpoint": 64}
SCALES = {"nps": {(0, 10)}, "csat": {(1, 5), (1, 7), (1, 10)}, "ces": {(1, 7)}}


def check(raw: bytes) -> bool:
    """True if accepted (and then within the contract); False if rejected."""
    result = DECODER.decode(raw, NOW_MS)
    assert isinstance(result, SurveyResponse | Rejection), result
    careful = DECODER._careful(raw, NOW_MS)
    assert type(result) is type(careful) and result == careful, (result, careful)
    if isinstance(result, Rejection):
        return False
    pairs: list[list[tuple[str, object]]] = []
    doc = json.loads(raw.decode("utf-8"), object_pairs_hook=lambda p: pairs.append(p) or dict(p))
    assert isinstance(doc, dict)
    top = Counter(key for key, _ in pairs[-1])
    assert all(
        times == 1
        for key, times in top.items()
        if key in LIMITS or key in ("occurred_at", "metric", "score", "scale")
    ), top
    for name, limit in LIMITS.items():
        assert isinstance(doc[name], str) and 1 <= len(doc[name]) <= limit, name
    assert isinstance(doc["occurred_at"], str)
    assert result.occurred_at_ms <= NOW_MS + 300_000
    assert doc["metric"] == result.metric.value
    assert type(doc["score"]) is int and doc["score"] == result.score
    assert (result.scale.low, result.scale.high) in SCALES[doc["metric"]]
    assert result.scale.low <= result.score <= result.scale.high
    return True


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
