from streamer.core.alerting import AlertState, Status
from streamer.core.rules import Rule, Selector, Threshold
from streamer.core.scales import CesPolicy, Metric
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from streamer.core.tally import CsatTally, NpsTally
from streamer.core.watch import Watch, decode_state, encode_state
from streamer.core.window import Timeline

LOW = Rule(
    "nps-low",
    ScoreKind.NPS,
    Threshold("1h", below=0, confidence=0),
    Selector(frozenset({"checkout", "chat"})),
    min_responses=10,
    for_ms=60_000,
)
CHECKOUT, CHAT, BILLING = (SeriesKey(Metric.NPS, tp) for tp in ("checkout", "chat", "billing"))
BAD = (NpsTally(detractors=20), NpsTally(detractors=20))  # one tally per window: 5m, 1h
GOOD = (NpsTally(promoters=20), NpsTally(promoters=20))


class Fixed:
    """A series whose window tallies are given (the rules here read nothing else)."""

    def __init__(self, totals):
        self._totals = totals

    def totals(self):
        return self._totals

    def between(self, low_ms, high_ms):
        return []

    def total_between(self, low_ms, high_ms):
        raise AssertionError("threshold rules read window sums only")


def watch():
    return Watch([LOW], Timeline.parse("1m", "5m,1h"), CesPolicy())


def test_only_selected_breaching_series_page_once_after_for():
    w = watch()
    for now in (0, 30_000, 60_000, 90_000):
        result = w.evaluate(
            [(CHECKOUT, Fixed(BAD)), (CHAT, Fixed(GOOD)), (BILLING, Fixed(BAD))], now
        )
        fired = [a for a in result.alerts if a.status is Status.FIRING]
        assert [a.series for a in fired] == ([CHECKOUT] if now == 60_000 else [])
    assert [(r.name, s) for r, s, _ in w.firing()] == [("nps-low", CHECKOUT)]


def test_a_vanished_series_resolves_and_is_forgotten():
    w = watch()
    w.evaluate([(CHECKOUT, Fixed(BAD))], 0)
    w.evaluate([(CHECKOUT, Fixed(BAD))], 60_000)
    result = w.evaluate([], 61_000)
    assert [(a.status, a.starts_at_ms, a.ends_at_ms) for a in result.alerts] == [
        (Status.RESOLVED, 60_000, 61_000)
    ]
    assert w.states == {}
    assert result.changed[("nps-low", CHECKOUT)].status is Status.RESOLVED


def test_restored_state_neither_pages_again_nor_loses_the_resolve():
    before = watch()
    before.evaluate([(CHECKOUT, Fixed(BAD))], 0)
    before.evaluate([(CHECKOUT, Fixed(BAD))], 60_000)
    persisted = [(key, decode_state(encode_state(state))) for key, state in before.states.items()]
    after = watch()
    after.restore(persisted)
    assert after.evaluate([(CHECKOUT, Fixed(BAD))], 70_000).alerts == []
    resolved = after.evaluate([(CHECKOUT, Fixed(GOOD))], 80_000).alerts
    assert [(a.status, a.starts_at_ms) for a in resolved] == [(Status.RESOLVED, 60_000)]


def test_rules_see_only_their_metric():
    w = watch()
    csat = SeriesKey(Metric.CSAT, "checkout")
    assert w.evaluate([(csat, Fixed((CsatTally(20, 0), CsatTally(20, 0))))], 0).changed == {}


def test_states_of_rules_no_longer_configured_are_dropped():
    w = watch()
    w.restore([(("gone", CHECKOUT), AlertState(Status.FIRING, 5))])
    assert w.states == {}
