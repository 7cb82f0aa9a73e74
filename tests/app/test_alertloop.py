"""The alert loop's tick: windows moved to now, rules evaluated once the state is recovered,
changed states persisted on their series' partition, transitions handed to the sinks."""

import orjson
from prometheus_client import CollectorRegistry

from streamer.app.alertloop import AlertLoop
from streamer.app.readiness import Readiness
from streamer.app.rulemetrics import RuleMetrics
from streamer.app.settings import Settings
from streamer.app.store import AlertStore, ChangelogSeal
from streamer.core.alerting import Status
from streamer.core.board import Board
from streamer.core.monitor import Monitor
from streamer.core.ruleset import load_rules
from streamer.core.scales import Scoring
from streamer.core.watch import Watch
from tests.app.fakes import OCCURRED_MS, Dispatcher, Table, answer, counted

RULES = {
    "rules": [
        {
            "name": "NpsLow",
            "score": "nps",
            "threshold": {"window": "5m", "below": 0, "confidence": 0},
            "min_responses": 3,
            "severity": "page",
        }
    ]
}
PARTITIONS = 4


def loop(recovered=True):
    timeline = Settings(windows="5m,1h").timeline()
    board = Board(Scoring(), timeline, now_ms=OCCURRED_MS)
    rules = load_rules(RULES)
    table, dispatch, readiness = Table(), Dispatcher(), Readiness(lambda: False)
    readiness.recovered = recovered

    async def flush():
        pass

    alerts = AlertLoop(
        Monitor(board, Watch(rules, timeline, Scoring().ces)),
        AlertStore(table, ChangelogSeal(flush)),
        dispatch,
        RuleMetrics(CollectorRegistry(), rules),
        readiness,
        PARTITIONS,
    )
    return board, alerts, table, dispatch, readiness


def detractors(count):
    return [answer(f"d{i}", score=2, touchpoint="checkout") for i in range(count)]


def test_a_breach_fires_once_and_its_state_is_kept_on_the_series_partition():
    board, alerts, table, dispatch, _ = loop()
    counted(board, detractors(4), partition=6)  # a repartition-topic source: 4 + 2
    alerts.tick(OCCURRED_MS + 1_000)
    alerts.tick(OCCURRED_MS + 2_000)

    assert [(a.rule.name, a.series.touchpoint, a.status) for a in dispatch.sent] == [
        ("NpsLow", "checkout", Status.FIRING)
    ]
    assert dispatch.sent[0].verdict.value == -100.0
    [(partition, key, value)] = table.changelog
    assert partition == 6 % PARTITIONS
    assert orjson.loads(key)[0] == "NpsLow"
    assert orjson.loads(value)["status"] == "firing"


def test_an_alert_whose_answers_left_the_window_resolves_and_its_state_is_deleted():
    board, alerts, table, dispatch, _ = loop()
    counted(board, detractors(4), partition=1)
    alerts.tick(OCCURRED_MS + 1_000)
    alerts.tick(OCCURRED_MS + 20 * 60_000)  # 20 minutes later: the 5-minute window is empty

    assert [a.status for a in dispatch.sent] == [Status.FIRING, Status.RESOLVED]
    assert table.changelog[-1][0] == 1 and table.changelog[-1][2] is None
    assert table.data == {}


def test_nothing_is_evaluated_before_the_state_is_recovered():
    board, alerts, table, dispatch, readiness = loop(recovered=False)
    counted(board, detractors(4))
    alerts.tick(OCCURRED_MS + 1_000)
    assert dispatch.sent == [] and table.changelog == []
    assert board.now_ms == OCCURRED_MS + 1_000, "the windows still move"

    readiness.recovered = True
    alerts.tick(OCCURRED_MS + 2_000)
    assert [a.status for a in dispatch.sent] == [Status.FIRING]


def test_resend_repeats_what_is_firing():
    board, alerts, _, dispatch, _ = loop()
    counted(board, detractors(4))
    alerts.resend()
    assert dispatch.resent == []
    alerts.tick(OCCURRED_MS + 1_000)
    alerts.resend()
    assert [(rule.name, key.touchpoint, state.status) for rule, key, state in dispatch.resent] == [
        ("NpsLow", "checkout", Status.FIRING)
    ]
