"""A known stream through the real broker and a real worker; every number checked."""

import base64
import json
import random
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.integration.expected import tallies
from tests.integration.harness import consume_all, produce, total, value, wait_until

pytestmark = pytest.mark.integration

ZONES = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-7)),
    timezone(timedelta(hours=5, minutes=30)),
]
SCALES = {"nps": [None, "0-10"], "csat": [None, "1-5", "1-7", "1-10"], "ces": [None, "1-7"]}


def make_event(rng, i, now, age_s, touchpoint, metric):
    scale = rng.choice(SCALES[metric])
    low, high = {None: None, "0-10": (0, 10), "1-5": (1, 5), "1-7": (1, 7), "1-10": (1, 10)}[
        scale
    ] or ({"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[metric])
    event = {
        "event_id": f"ev-{i}",
        "occurred_at": (now - timedelta(seconds=age_s)).astimezone(rng.choice(ZONES)).isoformat(),
        "touchpoint": touchpoint,
        "metric": metric,
        "score": rng.randint(low, high),
        "channel": rng.choice(["voice", "chat", "web"]),
        "respondent_id": f"person-{i}",
    }
    if scale:
        event["scale"] = scale
    return event


def bad_messages(now):
    base = {
        "event_id": "bad",
        "occurred_at": now.isoformat(),
        "touchpoint": "chat",
        "metric": "nps",
        "score": 5,
    }

    def with_(**changes):
        return json.dumps({**base, **changes}).encode()

    return [
        (b"\xff\xfe not utf-8", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2, 3]", "not_object"),
        (b'{"event_id": "a", "event_id": "b"}', "duplicate_key"),
        (json.dumps({k: v for k, v in base.items() if k != "score"}).encode(), "missing_field"),
        (with_(score="5"), "bad_type"),
        (with_(touchpoint="x" * 65), "bad_length"),
        (with_(metric="mood"), "unknown_metric"),
        (with_(scale="1-5"), "unsupported_scale"),
        (with_(score=11), "score_out_of_range"),
        (with_(occurred_at="2026-11-22T10:00:00"), "bad_timestamp"),
        (with_(occurred_at=(now + timedelta(hours=1)).isoformat()), "from_future"),
        (b"x" * 70_000, "too_large"),
        (b"", "not_json"),  # an empty value
    ]


def test_known_stream_is_scored_exactly(bootstrap, topics, new_worker):
    worker = new_worker(
        STREAMER_WINDOWS="5m,1h",
        STREAMER_BUCKET="1m",
        STREAMER_GRACE="1m",
        STREAMER_DIMENSIONS="channel",
    ).wait_ready()
    rng = random.Random(42)
    now = datetime.now(UTC)
    touchpoints = ["support-call", "chat", "checkout"]
    recent = [
        make_event(
            rng,
            i,
            now,
            rng.uniform(20, 80),
            rng.choice(touchpoints),
            rng.choice(["nps", "csat", "ces"]),
        )
        for i in range(240)
    ]
    older = [
        make_event(
            rng,
            1000 + i,
            now,
            rng.uniform(600, 2400),
            rng.choice(touchpoints),
            rng.choice(["nps", "csat", "ces"]),
        )
        for i in range(90)
    ]
    quiet = [make_event(rng, 2000 + i, now, 30, "quiet-csat-only", "csat") for i in range(5)]
    late = [make_event(rng, 3000 + i, now, 2 * 3600, "chat", "nps") for i in range(6)]
    duplicates = rng.sample(recent + older, 20)
    bad = bad_messages(now)

    def keyed(event):
        return event["touchpoint"].encode(), json.dumps(event).encode()

    valid_messages = [keyed(e) for e in recent + older + quiet + late + duplicates]
    metadata = produce(bootstrap, topics.input, valid_messages + [(None, raw) for raw, _ in bad])
    sent = len(metadata)

    wait_until(
        lambda: total(worker.metrics(), "streamer_events_total") == sent,
        90,
        f"{sent} events processed",
    )
    samples = worker.metrics()

    # Outcomes: every message accounted for, each under the right outcome and reason.
    assert value(samples, "streamer_events_total", outcome="accepted", reason="") == len(
        recent + older + quiet
    )
    assert value(samples, "streamer_events_total", outcome="duplicate", reason="") == len(
        duplicates
    )
    assert value(samples, "streamer_events_total", outcome="late", reason="") == len(late)
    for reason in {r for _, r in bad}:
        assert value(samples, "streamer_events_total", outcome="rejected", reason=reason) == sum(
            1 for _, r in bad if r == reason
        ), reason

    # Scores and counts per touchpoint and window, against the ground truth.
    for window, events in (("5m", recent + quiet), ("1h", recent + older + quiet)):
        for (touchpoint, metric), t in tallies(events).items():
            labels = {"touchpoint": touchpoint, "window": window}
            assert value(samples, "cx_responses", metric=metric, **labels) == t["n"], (
                labels,
                metric,
            )
            if metric == "nps":
                for count in ("promoters", "passives", "detractors"):
                    assert value(samples, f"cx_{count}", **labels) == t[count]
                assert value(samples, "cx_nps", **labels) == pytest.approx(t["nps"])
            elif metric == "csat":
                assert value(samples, "cx_satisfied", **labels) == t["satisfied"]
                assert value(samples, "cx_csat_ratio", **labels) == pytest.approx(t["csat"])
            else:
                assert value(samples, "cx_ces_mean", **labels) == pytest.approx(t["ces_mean"])
                assert value(samples, "cx_ces_agree_ratio", **labels) == pytest.approx(
                    t["ces_agree"]
                )

    # A window without answers of a metric has no score at all (absent, not zero).
    assert value(samples, "cx_nps", touchpoint="quiet-csat-only", window="1h") is None
    # Breakdown series add up to their touchpoint series.
    for (touchpoint, metric), t in tallies(recent + older + quiet).items():
        by_channel = total(
            samples, "cx_responses", metric=metric, touchpoint=touchpoint, window="1h"
        )
        assert by_channel == 2 * t["n"]  # the touchpoint series plus its channel breakdown
    # /scores tells the same numbers as /metrics.
    rows = [r for r in worker.scores() if "channel" not in r and r["window"] == "1h"]
    for row in rows:
        assert row["n"] == value(
            samples, "cx_responses", metric=row["metric"], touchpoint=row["touchpoint"], window="1h"
        )
    # /scores selects by label, as an alert's link asks it to; an unknown label is refused.
    touchpoint = rows[0]["touchpoint"]
    query = f"/scores?touchpoint={quote(touchpoint)}&window=1h"
    wait_until(  # two reads: a window edge may move between them
        lambda: (
            json.loads(worker.get(query))["series"]
            == [r for r in worker.scores() if r["touchpoint"] == touchpoint and r["window"] == "1h"]
        ),
        10,
        "the selected series to be those of the whole view",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{worker.base}/scores?respondent_id=person-1", timeout=5)
    assert refused.value.code == 400
    assert "unknown filter 'respondent_id'" in json.loads(refused.value.read())["error"]
    # Personal data never reaches /metrics, /scores or the worker's log.
    assert "person-" not in worker.get("/metrics").decode()
    assert "person-" not in worker.get("/scores").decode()
    assert "person-" not in worker.log.read_text(errors="replace")

    # Every bad and every late message is on the dead-letter topic with its reason and source
    # position.
    expected_letters = len(bad) + len(late)
    letters = [json.loads(m.value) for m in consume_all(bootstrap, topics.dlq, expected_letters)]
    assert len(letters) == expected_letters
    by_position = {(x["source"]["partition"], x["source"]["offset"]): x for x in letters}
    late_start = len(recent + older + quiet)
    for position in metadata[late_start : late_start + len(late)]:
        assert by_position[position]["reason"] == "late"
    for (raw, reason), position in zip(bad, metadata[len(valid_messages) :], strict=True):
        letter = by_position[position]
        assert letter["reason"] == reason
        assert letter["value_bytes"] == len(raw)
        assert base64.b64decode(letter["value_base64"]) == raw[:4096]
        assert letter["value_truncated"] == (len(raw) > 4096)
