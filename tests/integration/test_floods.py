"""Floods of hostile input and of new series through the real broker, and a burst of traffic."""

import json
import os
import random
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.harness import consume_all, produce, total, value, wait_until
from tests.integration.test_crashes import SOAK, assert_scores_equal_truth
from tests.integration.test_recovery import stream

pytestmark = pytest.mark.integration
DLQ_VALUE_MAX = 512


def malformed(i, now):
    """One hostile message of kind i % 10, and the dead-letter reason it must get."""
    event = {
        "event_id": f"bad-{i}",
        "occurred_at": now.isoformat(),
        "touchpoint": "flood",
        "metric": "nps",
        "score": 9,
    }
    kind = i % 10
    if kind == 0:
        return b"\xff\xfe" + json.dumps(event).encode(), "not_utf8"
    if kind == 1:
        return b'{"a":' * 3000 + b"1" + b"}" * 3000, "not_json"  # nesting beyond the parser
    if kind == 2:
        return json.dumps(event).replace('"score": 9', '"score": NaN').encode(), "not_json"
    if kind == 3:
        return json.dumps(event).replace('"score": 9', '"score": -Infinity').encode(), "not_json"
    if kind == 4:
        # An integer beyond 64 bits (orjson reads it as a float): out of range, not a float.
        return json.dumps({**event, "score": 10**30}).encode(), "score_out_of_range"
    if kind == 5:
        return json.dumps({**event, "score": 2**63 - 1}).encode(), "score_out_of_range"
    if kind == 6:
        text = json.dumps(event)
        return (text[:-1] + ', "score": 0}').encode(), "duplicate_key"
    if kind == 7:
        return json.dumps({**event, "score": "9"}).encode(), "bad_type"
    if kind == 8:
        ahead = (now + timedelta(hours=1)).isoformat()
        return json.dumps({**event, "occurred_at": ahead}).encode(), "from_future"
    ancient = "2001-09-09T01:46:40Z"
    return json.dumps({**event, "occurred_at": ancient}).encode(), "late"


def test_ten_thousand_malformed_messages_go_to_dead_letters_and_valid_ones_count_once(
    bootstrap, topics, new_worker
):
    worker = new_worker(STREAMER_DLQ_VALUE_MAX_BYTES=str(DLQ_VALUE_MAX)).wait_ready()
    now = datetime.now(UTC)
    bad = [malformed(i, now) for i in range(10_000)]
    huge = [(b'{"event_id": "huge", "pad": "' + b"x" * 10_000_000 + b'"}', "too_large")] * 3
    events, valid = stream(5_000, seed=21)
    rng = random.Random(21)
    tagged = [(m, None) for m in valid] + [((None, raw), reason) for raw, reason in bad]
    rng.shuffle(tagged)
    positions = produce(bootstrap, topics.input, [m for m, _ in tagged])
    positions += produce(
        bootstrap, topics.input, [(None, raw) for raw, _ in huge], max_request_size=16_000_000
    )
    reasons = [reason for _, reason in tagged] + [reason for _, reason in huge]
    expected = {pos: reason for pos, reason in zip(positions, reasons, strict=True) if reason}

    assert_scores_equal_truth([worker], events)
    letters = [json.loads(m.value) for m in consume_all(bootstrap, topics.dlq, len(expected), 120)]
    by_position = {(x["source"]["partition"], x["source"]["offset"]): x for x in letters}
    assert len(letters) == len(by_position) == len(expected)
    for position, reason in expected.items():
        letter = by_position[position]
        assert letter["reason"] == reason, (position, letter["message"])
        assert len(letter["value_base64"]) <= 4 * (DLQ_VALUE_MAX + 2) // 3 + 4
        assert letter["value_truncated"] == (letter["value_bytes"] > DLQ_VALUE_MAX)
    assert worker.process.poll() is None, "the worker must not crash"
    samples = worker.metrics()
    assert value(samples, "streamer_dead_letters_total") == len(expected)
    print(
        f"\nmalformed flood: {len(valid)} valid messages counted once "
        f"({len(events)} answers), {len(expected)} dead letters of "
        f"{len(set(expected.values()))} reasons, 3 of 10 MB"
    )


def test_a_flood_of_new_touchpoints_and_agents_is_capped(bootstrap, topics, new_worker):
    cap = 500
    worker = new_worker(
        STREAMER_MAX_SERIES=str(cap), STREAMER_DIMENSIONS="channel,agent_id"
    ).wait_ready()
    count = 100_000 if SOAK else 20_000
    now = datetime.now(UTC).isoformat()
    messages = [
        (
            f"tp-{i}".encode(),
            json.dumps(
                {
                    "event_id": f"f{i}",
                    "occurred_at": now,
                    "touchpoint": f"tp-{i}",
                    "metric": "nps",
                    "score": i % 11,
                    "channel": "web",
                    "agent_id": f"agent-{i}",
                }
            ).encode(),
        )
        for i in range(count)
    ]
    produce(bootstrap, topics.input, messages)
    wait_until(
        lambda: total(worker.metrics(), "streamer_events_total", outcome="accepted") == count,
        300,
        "every answer counted",
        every_s=2,
    )
    samples = worker.metrics()
    series = value(samples, "streamer_series")
    assert series is not None and series <= cap
    assert (value(samples, "streamer_series_overflow_total") or 0) > 0
    # Every answer is still counted: the excess folds into __other__.
    everyone = total(samples, "cx_responses", metric="nps", window="5m")
    by_touchpoint = sum(
        v
        for (name, labels), v in samples.items()
        if name == "cx_responses"
        and dict(labels).get("window") == "5m"
        and set(dict(labels)) == {"metric", "touchpoint", "window"}
    )
    assert by_touchpoint == count
    assert value(samples, "cx_responses", metric="nps", touchpoint="__other__", window="5m") > 0
    body = worker.get("/metrics")
    assert body is not None and len(body) < 2_000_000
    rss = worker.rss_mb()
    print(
        f"\ncardinality flood: {count} touchpoints and agents, {series:.0f} series kept "
        f"(cap {cap}), /metrics {len(body) / 1024:.0f} KiB, worker RSS {rss:.0f} MB, "
        f"{everyone:.0f} answers in all series"
    )


def test_a_burst_builds_lag_that_is_exported_and_drains(bootstrap, topics, new_worker):
    worker = new_worker(STREAMER_BATCH_MAX="1000").wait_ready()
    count = 200_000 if SOAK else 40_000
    events, messages = stream(count, seed=31)
    peak = {"lag": 0.0, "rss_mb": 0.0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            lag = total(worker.metrics(), "streamer_consumer_lag")
            peak["lag"] = max(peak["lag"], lag)
            peak["rss_mb"] = max(peak["rss_mb"], worker.rss_mb())
            time.sleep(0.5)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # A burst faster than the worker, whatever else the machine runs: the worker is paused
        # while it is published (on a loaded machine a plain burst was sometimes read as it
        # came, and no lag ever showed).
        os.kill(worker.process.pid, signal.SIGSTOP)
        try:
            produce(bootstrap, topics.input, messages)
        finally:
            os.kill(worker.process.pid, signal.SIGCONT)
        assert_scores_equal_truth([worker], events)
        wait_until(
            lambda: total(worker.metrics(), "streamer_consumer_lag") == 0, 60, "lag to drain"
        )
    finally:
        done.set()
        watcher.join()
    assert peak["lag"] > 0, "a burst faster than the worker must show as lag"
    assert peak["rss_mb"] < 500
    print(
        f"\nburst: {len(messages)} messages at once; peak exported lag {peak['lag']:.0f}, "
        f"drained to 0; peak worker RSS {peak['rss_mb']:.0f} MB"
    )
