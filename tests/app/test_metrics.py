"""What a scrape shows, with numbers worked from the definitions, and the consumer lag."""

import asyncio
from collections import namedtuple

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from streamer.app.metrics import ScoreCollector, StateBytesCollector, consumer_lag, snapshot
from streamer.app.selection import selection
from streamer.app.settings import Settings
from streamer.app.store import ChangelogSeal, StateStore
from streamer.app.views import exposition, score_rows
from streamer.core.board import Board
from streamer.core.layout import Write
from streamer.core.scales import Scoring
from tests.app.fakes import NOW_MS, Table, answer, counted

TIMELINE = Settings(windows="5m,1h").timeline()


def scraped():
    """3 promoters, 1 passive, 1 detractor on chat, and nothing on the 1h window's twin."""
    board = Board(Scoring(), TIMELINE, now_ms=NOW_MS)
    scores = [10, 9, 9, 7, 2]
    counted(board, [answer(f"e{i}", score=s) for i, s in enumerate(scores)])
    registry = CollectorRegistry()
    registry.register(ScoreCollector(board, Scoring()))
    return board, registry


def test_nps_and_its_standard_error_from_the_definition():
    _, registry = scraped()
    labels = {"touchpoint": "chat", "window": "5m"}
    # NPS = 100 (3/5 - 1/5) = 40; SE = 100 sqrt(((0.6 + 0.2) - (0.6 - 0.2)^2) / 5)
    #     = 100 sqrt(0.128) = 35.777...
    assert registry.get_sample_value("cx_nps", labels) == pytest.approx(40.0)
    assert registry.get_sample_value("cx_nps_standard_error", labels) == pytest.approx(
        35.7771, 1e-4
    )
    assert registry.get_sample_value("cx_responses", {**labels, "metric": "nps"}) == 5
    assert [
        registry.get_sample_value(name, labels)
        for name in ("cx_promoters", "cx_passives", "cx_detractors")
    ] == [3, 1, 1]
    assert registry.get_sample_value("cx_csat_ratio", labels) is None, "no CSAT answers"


def test_the_scores_view_shows_the_same_numbers():
    board, _ = scraped()
    [five_minutes] = [s for s in score_rows(snapshot(board), Scoring().ces) if s["window"] == "5m"]
    assert five_minutes["n"] == 5
    assert five_minutes["scores"]["nps"]["value"] == pytest.approx(40.0)
    assert five_minutes["touchpoint"] == "chat" and five_minutes["metric"] == "nps"


def test_the_scores_view_selects_series_by_their_labels():
    """As a PromQL matcher would: each named label must have one of its values; labels not
    named are free, so a touchpoint brings its breakdowns along."""
    board = Board(Scoring(), TIMELINE, (("channel",),), now_ms=NOW_MS)
    counted(
        board,
        [
            answer("a", touchpoint="billing", channel="voice"),
            answer("b", touchpoint="billing", channel="chat", metric="csat", score=5),
            answer("c", touchpoint="checkout", channel="web"),
        ],
    )
    ces = Scoring().ces

    def rows(*pairs):
        return sorted(
            (r["metric"], r["touchpoint"], r.get("channel", ""), r["window"])
            for r in score_rows(snapshot(board), ces, selection(pairs))
        )

    assert len(rows()) == 6 * 2  # 3 touchpoint series and 3 by channel, 2 windows each
    assert rows(("metric", "nps"), ("touchpoint", "billing"), ("window", "1h")) == [
        ("nps", "billing", "", "1h"),
        ("nps", "billing", "voice", "1h"),
    ]
    assert rows(("channel", "web"), ("channel", "chat"), ("window", "5m")) == [
        ("csat", "billing", "chat", "5m"),
        ("nps", "checkout", "web", "5m"),
    ]
    assert rows(("touchpoint", "nowhere")) == []
    with pytest.raises(ValueError, match="unknown filter 'respondent_id': select by metric"):
        selection([("respondent_id", "person-1")])


TP = namedtuple("TP", "topic partition")


class Consumer:
    def __init__(self, highwater):
        self._highwater = highwater

    def assignment(self):
        return set(self._highwater)

    def highwater(self, tp):
        return self._highwater[tp]


def test_lag_sums_the_input_and_repartition_topics_of_a_partition():
    consumer = Consumer(
        {TP("in", 0): 100, TP("in-repartition", 0): 50, TP("in", 1): 10, TP("other", 0): 999}
    )
    done = {("in", 0): 90, ("in-repartition", 0): 45, ("in", 1): 10}
    assert consumer_lag(consumer, {"in", "in-repartition"}, done) == {0: 15, 1: 0}


async def _flushed() -> None:
    return None


def test_changelog_bytes_are_exported_as_written():
    table = Table()
    store = StateStore(table, ChangelogSeal(_flushed), partitions=4)
    registry = CollectorRegistry()
    registry.register(StateBytesCollector(lambda: store.written_bytes))
    assert registry.get_sample_value("streamer_state_written_bytes_total") == 0
    store.write([Write(1, b"1|L|1", b"x" * 50), Write(6, b"6|H", b"{}")])
    store.write([Write(1, b"1|L|1", None)])  # a deletion: its key only
    assert registry.get_sample_value("streamer_state_written_bytes_total") == 5 + 50 + 3 + 2 + 5
    assert [partition for partition, _, _ in table.changelog] == [1, 2, 1]


def test_the_exposition_is_the_registry_and_the_scores_and_leaves_the_loop_free():
    """/metrics builds and formats the scores' samples on a thread (seconds at 10,000 series):
    the same text as a registry holding the collector, while the event loop goes on."""
    board, _ = scraped()
    own = CollectorRegistry()
    Gauge("streamer_example", "an own metric", registry=own).set(3)
    both = CollectorRegistry()
    Gauge("streamer_example", "an own metric", registry=both).set(3)
    both.register(ScoreCollector(board, Scoring()))

    async def scrape():
        turns = 0

        async def meanwhile():
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(meanwhile())
        await asyncio.sleep(0)
        started = turns
        body = await exposition(own, ScoreCollector(board, Scoring()))
        other.cancel()
        return body, turns - started

    body, turns = asyncio.run(scrape())
    expected = generate_latest(both)
    assert body == expected
    assert turns > 0, "the loop ran other tasks while the scrape was rendered"
