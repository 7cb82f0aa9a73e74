import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.decoder import Decoder
from streamer.core.events import Limits, Reason, Rejection, SurveyResponse
from streamer.core.scales import Metric, Scale

NOW_MS = 1_795_341_600_000  # 2026-11-22T10:00:00Z
DECODER = Decoder()
VALID = {
    "event_id": "e-1",
    "occurred_at": "2026-11-22T09:59:00Z",
    "touchpoint": "checkout",
    "metric": "nps",
    "score": 9,
}


def decode(doc_or_raw) -> SurveyResponse | Rejection:
    raw = doc_or_raw if isinstance(doc_or_raw, bytes) else json.dumps(doc_or_raw).encode()
    return DECODER.decode(raw, NOW_MS)


def test_a_minimal_answer_is_accepted_with_defaults():
    response = decode(VALID)
    assert isinstance(response, SurveyResponse)
    assert response.occurred_at_ms == NOW_MS - 60_000
    assert response.metric is Metric.NPS and response.scale == Scale(0, 10)
    assert response.channel is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"x" * 70_000, Reason.TOO_LARGE),  # above the 64 KiB default
        (b"\xff\xfe{}", Reason.NOT_UTF8),
        (b'{"event_id": ', Reason.NOT_JSON),  # truncated
        (b'{"score": NaN}', Reason.NOT_JSON),  # NaN is not JSON
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b'"a string"', Reason.NOT_OBJECT),
        (b"null", Reason.NOT_OBJECT),
        (b'{"event_id":"a","event_id":"b"}', Reason.DUPLICATE_KEY),
        (b'{"score":1, "score" :2}', Reason.DUPLICATE_KEY),  # white space before the colon
        (b'{"score":1,"sc\\u006fre":2}', Reason.DUPLICATE_KEY),  # the same key, escaped
    ],
)
def test_undecodable_bytes(raw, reason):
    result = decode(raw)
    assert isinstance(result, Rejection) and result.reason is reason, result


def _with(**changes):
    doc = dict(VALID)
    for key, value in changes.items():
        if value is _ABSENT:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


_ABSENT = object()


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (_with(event_id=_ABSENT), Reason.MISSING_FIELD),
        (_with(event_id=None), Reason.MISSING_FIELD),  # null is as good as missing
        (_with(event_id=""), Reason.BAD_LENGTH),
        (_with(event_id="x" * 129), Reason.BAD_LENGTH),  # 128 characters at most
        (_with(event_id=17), Reason.BAD_TYPE),
        (_with(occurred_at=_ABSENT), Reason.MISSING_FIELD),
        (_with(occurred_at=1795334400), Reason.BAD_TYPE),  # epoch numbers are not accepted
        (_with(occurred_at="2026-11-22T10:00:00"), Reason.BAD_TIMESTAMP),  # no offset
        (_with(occurred_at="20261122T100000Z"), Reason.BAD_TIMESTAMP),  # ISO basic format
        (_with(occurred_at="2026-11-22T10:00:00+0200"), Reason.BAD_TIMESTAMP),  # offset colon
        (_with(occurred_at="2026-02-30T10:00:00Z"), Reason.BAD_TIMESTAMP),  # no such day
        (_with(occurred_at="2026-11-22T10:05:01Z"), Reason.FROM_FUTURE),  # > 5 min ahead
        (_with(touchpoint="t" * 65), Reason.BAD_LENGTH),  # 64 characters at most
        (_with(touchpoint=["checkout"]), Reason.BAD_TYPE),
        (_with(metric="NPS"), Reason.UNKNOWN_METRIC),  # metric names are lower case
        (_with(metric="effort"), Reason.UNKNOWN_METRIC),
        (_with(metric=_ABSENT), Reason.MISSING_FIELD),
        (_with(score=_ABSENT), Reason.MISSING_FIELD),
        (_with(score=True), Reason.BAD_TYPE),  # a boolean is not a score
        (_with(score=9.0), Reason.BAD_TYPE),  # nor a float, even a whole one
        (_with(score="9"), Reason.BAD_TYPE),  # nor a string
        (_with(score=11), Reason.SCORE_OUT_OF_RANGE),
        (_with(score=-1), Reason.SCORE_OUT_OF_RANGE),
        (_with(score=2**64 - 1), Reason.SCORE_OUT_OF_RANGE),
        (_with(score=10**30), Reason.SCORE_OUT_OF_RANGE),  # an integer, though orjson reads a float
        (_with(score=1e30), Reason.BAD_TYPE),  # written as a float
        (_with(scale="1-5"), Reason.UNSUPPORTED_SCALE),  # NPS is 0-10 only
        (_with(metric="csat", score=3, scale="0-10"), Reason.UNSUPPORTED_SCALE),
        (_with(metric="csat", score=6, scale="1-5"), Reason.SCORE_OUT_OF_RANGE),
        (_with(metric="csat", score=0), Reason.SCORE_OUT_OF_RANGE),  # CSAT starts at 1
        (_with(metric="ces", score=4, scale="1-5"), Reason.UNSUPPORTED_SCALE),  # 1-7 configured
        (_with(scale=5), Reason.BAD_TYPE),
        (_with(channel="c" * 65), Reason.BAD_LENGTH),
        (_with(agent_id=42), Reason.BAD_TYPE),
        (_with(comment={"text": "x"}), Reason.BAD_TYPE),
    ],
)
def test_each_contract_rule(doc, reason):
    result = decode(doc)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result
    assert result.message


def test_unknown_fields_are_ignored_and_optional_ones_kept():
    result = decode(
        _with(
            metric="csat",
            score=7,
            scale="1-7",
            channel="chat",
            queue="billing",
            region="eu",
            agent_id="a-7",
            respondent_id="r-1",
            interaction_id="i-1",
            comment="fine",
            extra={"nested": [1, 2]},
        )
    )
    assert isinstance(result, SurveyResponse)
    assert (result.channel, result.queue, result.region, result.agent_id) == (
        "chat",
        "billing",
        "eu",
        "a-7",
    )
    assert (result.respondent_id, result.interaction_id, result.comment) == ("r-1", "i-1", "fine")


def test_personal_data_never_shows_in_repr():
    result = decode(
        _with(respondent_id="alice@example.com", interaction_id="call-991", comment="awful")
    )
    assert isinstance(result, SurveyResponse)
    text = repr(result) + str(result)
    for secret in ("alice@example.com", "call-991", "awful"):
        assert secret not in text


def test_limits_are_configurable():
    decoder = Decoder(limits=Limits(max_bytes=50))
    result = decoder.decode(json.dumps(VALID).encode(), NOW_MS)
    assert isinstance(result, Rejection) and result.reason is Reason.TOO_LARGE


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"event_id": "e-12"}, True),
        ({"event_id": "e-123"}, False),
        ({"touchpoint": "t" * 6}, False),
        ({"queue": "q" * 7}, True),
        ({"queue": "q" * 8}, False),
        ({"comment": "c" * 9}, True),
        ({"comment": "c" * 10}, False),
    ],
)
def test_length_limits_are_configurable(changes, accepted):
    limits = Limits(
        max_event_id_chars=4, max_touchpoint_chars=5, max_dimension_chars=7, max_personal_chars=9
    )
    doc = _with(**{"touchpoint": "till", **changes})
    result = Decoder(limits=limits).decode(json.dumps(doc).encode(), NOW_MS)
    assert isinstance(result, SurveyResponse if accepted else Rejection), result
    assert accepted or result.reason is Reason.BAD_LENGTH


# --- properties -------------------------------------------------------------------------------


@given(st.binary(max_size=512))
def test_never_raises_on_arbitrary_bytes(raw):
    assert isinstance(DECODER.decode(raw, NOW_MS), SurveyResponse | Rejection)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_never_raises_on_arbitrary_json(value):
    result = DECODER.decode(json.dumps(value).encode(), NOW_MS)
    assert isinstance(result, Rejection) or isinstance(value, dict)


# A plain, independent statement of the contract table, to compare the decoder against.
def reference(doc: dict) -> dict | None:
    def text(value, low, high, required):
        if value is None:
            return not required
        return isinstance(value, str) and low <= len(value) <= high

    def label(value, name):
        """Touchpoints and dimension values name series: no control characters, not the name
        of the series beyond the cap, and a touchpoint with something visible."""
        if value is None:
            return True
        if value == "__other__" or any(ord(c) < 32 for c in value):
            return False
        return name != "touchpoint" or not value.isspace()  # Unicode's white space

    if not text(doc.get("event_id"), 1, 128, True) or not text(doc.get("touchpoint"), 1, 64, True):
        return None
    stamp = doc.get("occurred_at")
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.strptime(
            stamp.upper().replace(" ", "T").replace("Z", "+00:00"), "%Y-%m-%dT%H:%M:%S%z"
        )
    except ValueError:
        return None
    utc_ms = int((parsed - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1000
    if utc_ms > NOW_MS + 300_000:
        return None
    scales = {"nps": {"0-10"}, "csat": {"1-5", "1-7", "1-10"}, "ces": {"1-7"}}
    default = {"nps": "0-10", "csat": "1-5", "ces": "1-7"}
    metric = doc.get("metric")
    if metric not in scales:
        return None
    scale = doc.get("scale")
    scale = default[metric] if scale is None else scale
    if scale not in scales[metric]:
        return None
    low, high = map(int, scale.split("-"))
    score = doc.get("score")
    if type(score) is not int or not low <= score <= high:
        return None
    for name in ("channel", "queue", "region", "agent_id"):
        if not text(doc.get(name), 0, 64, False):
            return None
    for name in ("touchpoint", "channel", "queue", "region", "agent_id"):
        if not label(doc.get(name), name):
            return None
    for name in ("respondent_id", "interaction_id", "comment"):
        if not text(doc.get(name), 0, 4096, False):
            return None
    return {"occurred_at_ms": utc_ms, "metric": metric, "scale": scale, "score": score}


offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)


def _rfc3339(moment: datetime, tz: timezone, sep: str) -> str:
    local = moment.replace(tzinfo=UTC).astimezone(tz)
    offset = local.strftime("%z")
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    return local.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + zone


valid_stamps = st.builds(
    _rfc3339,
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 22, 10, 5)),
    offsets,
    st.sampled_from(["T", " "]),
)
bad_stamps = st.sampled_from(["2026-11-22T10:00:00", "yesterday", "2026-11-22T10:06:00Z", ""])
metric_scale_score = st.sampled_from(
    [
        ("nps", None, 10),
        ("nps", "0-10", 0),
        ("csat", None, 5),
        ("csat", "1-7", 6),
        ("csat", "1-10", 1),
        ("ces", None, 7),
        ("ces", "1-7", 1),
    ]
)


@st.composite
def valid_documents(draw: st.DrawFn) -> dict:
    metric, scale, score = draw(metric_scale_score)
    doc = {
        "event_id": draw(st.text(min_size=1, max_size=128)),
        "occurred_at": draw(valid_stamps),
        "touchpoint": draw(st.text(min_size=1, max_size=64)),
        "metric": metric,
        "score": score,
    }
    if scale is not None:
        doc["scale"] = scale
    if draw(st.booleans()):
        doc["channel"] = draw(st.text(max_size=64))
    return doc


mutations = {
    "event_id": st.one_of(st.text(min_size=0, max_size=130), st.integers(), st.none()),
    "occurred_at": st.one_of(valid_stamps, bad_stamps, st.integers(), st.none()),
    "touchpoint": st.one_of(
        st.text(max_size=66), st.booleans(), st.sampled_from([" ", "\u3000\t", "__other__", "a\nb"])
    ),
    "metric": st.sampled_from(["nps", "csat", "ces", "NPS", "", 3]),
    "score": st.one_of(st.integers(-2, 12), st.booleans(), st.floats(0, 10), st.text(max_size=2)),
    "scale": st.sampled_from(["0-10", "1-5", "1-7", "1-10", "2-6", "", None, 5]),
    "channel": st.one_of(
        st.text(max_size=66), st.none(), st.integers(), st.sampled_from(["__other__", "x\x00"])
    ),
    "comment": st.one_of(
        st.text(max_size=30), st.none(), st.lists(st.text(max_size=2), max_size=2)
    ),
}


@st.composite
def documents(draw: st.DrawFn) -> dict:
    """A valid document with up to two fields changed, removed or added."""
    doc = draw(valid_documents())
    for name in draw(st.lists(st.sampled_from(sorted(mutations)), max_size=2, unique=True)):
        if draw(st.booleans()) and name in doc:
            del doc[name]
        else:
            doc[name] = draw(mutations[name])
    return doc


@given(documents())
def test_accepts_exactly_what_the_contract_allows(doc):
    result = DECODER.decode(json.dumps(doc).encode(), NOW_MS)
    expected = reference(doc)
    if expected is None:
        assert isinstance(result, Rejection), (doc, result)
        return
    assert isinstance(result, SurveyResponse), (doc, result)
    assert result.occurred_at_ms == expected["occurred_at_ms"]
    assert (result.metric.value, str(result.scale), result.score) == (
        expected["metric"],
        expected["scale"],
        expected["score"],
    )


# --- the fast path (msgspec) and the careful path agree on every input --------------------------

COMPACT = json.dumps(VALID, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # msgspec alone would keep the last of a repeated key; the contract rejects it.
        (COMPACT[:-1] + b',"score":3}', Reason.DUPLICATE_KEY),
        (COMPACT[:-1] + b',"score" :3}', Reason.DUPLICATE_KEY),
        (COMPACT[:-1] + b',"sc\\u006fre":3}', Reason.DUPLICATE_KEY),
        (COMPACT[:-1] + b',"comment":"a: b","score":3}', Reason.DUPLICATE_KEY),
        (COMPACT[:-1] + b',"survey":"s-1","score":3}', Reason.DUPLICATE_KEY),
        (COMPACT[:-1] + b',"queue":null,"score":3}', Reason.DUPLICATE_KEY),
        # escaped colons in the timestamp must not hide a repeated key from the colon count
        (
            COMPACT.replace(b"09:59:00", b"09\\u003a59:00")[:-1] + b',"score":3}',
            Reason.DUPLICATE_KEY,
        ),
        # msgspec only skims unknown fields; the contract checks the whole document.
        (COMPACT[:-1] + b',"extra":"\xff"}', Reason.NOT_UTF8),
        (COMPACT[:-1] + b',"extra":1e999}', Reason.NOT_JSON),
    ],
)
def test_documents_msgspec_alone_would_accept_are_rejected(raw, reason):
    result = decode(raw)
    assert isinstance(result, Rejection) and result.reason is reason, result


@pytest.mark.parametrize(
    "raw",
    [
        COMPACT,
        COMPACT[:-1] + b',"channel":null}',  # null is as good as absent
        COMPACT[:-1] + b',"comment":"call me: 10:30","extra":{"a":[1]}}',
        COMPACT.replace(b"checkout", b"check\\u006fut"),
        json.dumps(VALID, indent=2).encode(),
    ],
)
def test_well_formed_answers_in_any_spelling_are_accepted(raw):
    result = decode(raw)
    assert isinstance(result, SurveyResponse) and result.touchpoint == "checkout", result


tricky_members = st.sampled_from(
    [
        b'"score":3',
        b'"score" :3',
        b'"sc\\u006fre":3',
        b'"metric":"csat"',
        b'"channel":null',
        b'"channel":"a:b"',
        b'"comment":"x\\":"',
        b'"extra":"\xff"',
        b'"extra":1e999',
        b'"extra":{"score":1}',
        b'"survey":"s-1"',
        b'"a\\":":1',
    ]
)


@st.composite
def spellings(draw: st.DrawFn) -> bytes:
    """A document as some producer may write it: spacing, escapes, extra members, stray bytes."""
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    raw = json.dumps(
        draw(documents()), separators=separators, ensure_ascii=draw(st.booleans())
    ).encode()
    for member in draw(st.lists(tricky_members, max_size=2)):
        raw = raw[:-1] + (b"," if len(raw) > 2 else b"") + member + b"}"
    if draw(st.booleans()):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=3)) + raw[at + draw(st.integers(0, 3)) :]
    return raw


@given(spellings())
def test_the_fast_path_agrees_with_the_careful_one(raw):
    fast, careful = DECODER.decode(raw, NOW_MS), DECODER._careful(raw, NOW_MS)
    assert type(fast) is type(careful) and fast == careful, (raw, fast, careful)


def test_deep_nesting_is_rejected_never_raised():
    # msgspec recurses into unknown members; 3,000 levels exceed Python's recursion limit.
    deep = b'{"event_id": "e1", "extra": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}"
    decoded = Decoder().decode(deep, 0)
    assert isinstance(decoded, Rejection) and decoded.reason is Reason.NOT_JSON


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_with(touchpoint=" \u3000"), "touchpoint is only white space"),
        (_with(touchpoint="support\ncall"), "touchpoint holds a control character (U+000A)"),
        (
            _with(touchpoint="__other__"),
            "touchpoint '__other__' is reserved: it names the series beyond STREAMER_MAX_SERIES",
        ),
        (_with(queue="billing\x00"), "queue holds a control character (U+0000)"),
        (_with(agent_id="__other__"), "agent_id '__other__' is reserved"),
        # escaped in the bytes, which the fast path reads apart from the rest
        (COMPACT.replace(b"checkout", b"\\u005f_other__"), "touchpoint '__other__' is reserved"),
        (COMPACT.replace(b"checkout", b"check\\tout"), "control character (U+0009)"),
    ],
)
def test_a_touchpoint_or_dimension_that_cannot_name_a_series_is_rejected(raw, message):
    """They become metric labels, legends and alert text: a producer's `__other__` was merged
    with the series beyond the cap, a blank touchpoint made a blank legend."""
    result = decode(raw)
    assert isinstance(result, Rejection) and result.reason is Reason.BAD_LABEL, result
    assert message in result.message
