"""Crashes at random moments, with and without a second worker: nothing lost, nothing twice.

Sizes are small but real in ``make test``; ``make soak`` sets STREAMER_SOAK=1 for the issue's
100,000 answers.
"""

import os
import random
import re
import threading
import time

import pytest

from tests.integration.expected import tallies
from tests.integration.harness import produce, value, wait_until
from tests.integration.test_recovery import counted, expected_counts, stream

pytestmark = pytest.mark.integration
SOAK = os.environ.get("STREAMER_SOAK") == "1"


def trickle(bootstrap, topic, messages, seconds):
    """Publishes in chunks spread over ``seconds`` from a thread, so crashes land mid-stream."""
    chunk = max(1, len(messages) // 40)

    def run():
        for i in range(0, len(messages), chunk):
            produce(bootstrap, topic, messages[i : i + chunk])
            time.sleep(seconds / 40)

    sender = threading.Thread(target=run)
    sender.start()
    return sender


def assert_scores_equal_truth(worker_list, events):
    """Every exported count and score equals the ground truth recomputed from the input."""
    truth = expected_counts(events)
    try:
        wait_until(
            lambda: counted(worker_list) == truth, 300, "the counts to match the input", every_s=1
        )
    except AssertionError as error:  # which series are off, and what each worker did with input
        got = counted(worker_list)
        off = {key: (n, got.get(key)) for key, n in truth.items() if got.get(key) != n}
        outcomes = [
            {
                labels: v
                for (name, labels), v in w.metrics().items()
                if name == "streamer_events_total"
            }
            for w in worker_list
        ]
        moves = [
            line
            for w in worker_list
            for line in w.tail(100_000).splitlines()
            if re.search(r"state recovered|Revoking|not committed|took no commit", line)
        ]
        raise AssertionError(
            f"{error}\n(expected, counted): {off}\noutcomes: {outcomes}\n" + "\n".join(moves)
        ) from None
    samples = {}
    for worker in worker_list:
        samples.update(worker.metrics())
    checks = 0
    for (touchpoint, metric), t in tallies(events).items():
        name, expected = {
            "nps": ("cx_nps", t.get("nps")),
            "csat": ("cx_csat_ratio", t.get("csat")),
            "ces": ("cx_ces_mean", t.get("ces_mean")),
        }[metric]
        got = value(samples, name, touchpoint=touchpoint, window="1h")
        assert got == pytest.approx(expected, abs=1e-9), (touchpoint, metric)
        checks += 1
    return sum(truth.values()), checks


def test_five_sigkills_at_random_moments_lose_and_double_count_nothing(
    bootstrap, topics, new_worker
):
    count = 100_000 if SOAK else 20_000
    rng = random.Random(int(time.time()))
    events, messages = stream(count, seed=11)
    worker = new_worker().wait_ready()
    sender = trickle(bootstrap, topics.input, messages, seconds=150 if SOAK else 45)
    kills = []
    for _ in range(5):
        time.sleep(rng.uniform(0.5, 5.0))
        kills.append(sum(counted([worker]).values()))
        worker.kill()
        worker = new_worker().wait_ready()
    sender.join()
    answers, checks = assert_scores_equal_truth([worker], events)
    replayed = value(worker.metrics(), "streamer_events_total", outcome="replayed", reason="") or 0
    print(
        f"\n5 kills: sent {len(messages)} messages ({count} unique answers); counted at each "
        f"kill {kills}; final {answers} counted = {sum(expected_counts(events).values())} "
        f"expected, {checks} scores equal; the last worker skipped {replayed:.0f} replayed"
    )


def test_two_workers_one_killed_the_survivor_takes_over_exactly(bootstrap, topics, new_worker):
    count = 40_000 if SOAK else 12_000
    events, messages = stream(count, seed=12)
    first = new_worker().wait_ready()
    second = new_worker().wait_ready()
    sender = trickle(bootstrap, topics.input, messages, seconds=20)
    wait_until(lambda: sum(counted([first, second]).values()) > count // 4, 120, "a quarter")
    second.kill()
    sender.join()
    answers, checks = assert_scores_equal_truth([first], events)
    print(f"\nrebalance after a kill: {answers} counted by the survivor, {checks} scores equal")
