import pytest

from streamer.core.alerting import AlertState, Status, decode_state, encode_state
from streamer.core.rules import Rule, Selector, Signal, Threshold, Verdict
from streamer.core.scales import CesPolicy, Metric
from streamer.core.scores import ScoreKind
from streamer.core.series import SeriesKey
from streamer.core.tally import CsatTally, NpsTally
from streamer.core.timeline import Timeline
from streamer.core.watch import Watch

LOW = Rule(
    "nps-low",
    ScoreKind.NPS,
    Threshold("1h", below=0, confidence=0),
    Selector(frozenset({"checkout", "chat"})),
    min_responses=10,
    for_ms=60_000,
)
HOUR, WEEK = 3_600_000, 7 * 86_400_000
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

    def first_start(self):
        return None


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


def _board_with(answers, timeline, dimensions=()):
    from streamer.core.board import Board, Sourced
    from streamer.core.scales import Scoring
    from streamer.core.series import parse_breakdowns

    board = Board(Scoring(), timeline, parse_breakdowns(",".join(dimensions)), 100, 0)
    board.ingest([Sourced(0, i, a) for i, a in enumerate(answers)], answers[-1].occurred_at_ms)
    return board


def _nps(i, at_ms, score, channel=None, touchpoint="checkout"):
    from streamer.core.events import SurveyResponse
    from streamer.core.scales import NPS_SCALE

    return SurveyResponse(f"e{i}", at_ms, touchpoint, Metric.NPS, score, NPS_SCALE, channel=channel)


def test_a_drop_pages_with_the_channel_that_caused_it():
    from streamer.core.rules import Drop

    timeline = Timeline.parse("1m", "1h,1d")
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "1d", 20, 86_400_000 * 91), min_responses=30)
    now = 24 * 60 * 60_000
    board = _board_with(_collapsing_chat(), timeline, ["channel"])
    board.advance(now)
    w = Watch([rule], timeline, CesPolicy())
    result = w.evaluate(board.histories(), now)
    [alert] = result.alerts
    assert alert.series == CHECKOUT and alert.status is Status.FIRING
    assert alert.verdict.signal is Signal.BREACH  # the limit was reached on the way
    assert alert.why and alert.why[0].startswith("channel=chat: rate -")
    # The cause stays with the state: re-sent pages and a restart carry it.
    state_key = (rule.name, CHECKOUT)
    assert w.states[state_key].why == result.changed[state_key].why == alert.why
    assert decode_state(encode_state(w.states[state_key])).why == alert.why


def _collapsing_chat():
    """23 h of a steady NPS +33 on chat and voice, then an hour in which chat collapses (-33)."""
    answers = []
    for minute in range(24 * 60):
        channel = "chat" if minute % 2 else "voice"
        collapsed = minute >= 23 * 60 and channel == "chat"
        for k in range(6):
            score = (0, 3, 5)[k % 3] if collapsed else (10, 9, 7)[k % 3] if minute % 5 else 2
            answers.append(_nps(len(answers), minute * 60_000 + k, score, channel))
    return answers


def test_a_drop_whose_for_runs_out_between_epochs_still_says_why():
    """Between bucket boundaries only the series with news are evaluated; the breakdowns that
    explain the drop are read from every series all the same."""
    from streamer.core.rules import Drop

    timeline = Timeline.parse("1m", "1h,1d")
    drop = Drop("1h", "1d", 20, 86_400_000 * 91)
    rule = Rule("drop", ScoreKind.NPS, drop, min_responses=30, for_ms=30_000)
    now = 24 * 60 * 60_000
    board = _board_with(_collapsing_chat(), timeline, ["channel"])
    board.advance(now)
    w = Watch([rule], timeline, CesPolicy())
    assert w.evaluate(board.histories(), now).alerts == []  # pending for 30 s
    later = now + 30_000
    board.advance(later)
    only_it = [(CHECKOUT, board.history(CHECKOUT))]
    [alert] = w.evaluate(only_it, later, complete=False, every=board.histories).alerts
    assert alert.status is Status.FIRING
    assert alert.why and alert.why[0].startswith("channel=chat: rate -")


def test_workers_sharing_the_partitions_share_one_false_alarm_budget():
    """Two workers with half the partitions and half the series each must page no more often
    by chance than one worker with everything: each divides the budget as if it watched every
    series, so their pages add up to one budget, not one per worker."""
    from streamer.core.rules import Drop

    timeline = Timeline.parse("1m", "1h,1d")
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "1d", 20, 86_400_000 * 91), min_responses=30)
    steady = Fixed((NpsTally(promoters=50),) * 2)
    series = [(SeriesKey(Metric.NPS, f"tp-{i}"), steady) for i in range(4)]

    def divisors(watched, share):
        w = Watch([rule], timeline, CesPolicy())
        w.restore([], share)
        seen = []
        w.drops.verdict = lambda rule, key, history, totals, divisor, now, **_: (
            seen.append(divisor) or Verdict(Signal.CLEAR, 50)
        )
        w.evaluate(watched, 0)
        return seen

    assert divisors(series, 1.0) == [4, 4, 4, 4]
    assert divisors(series[:2], 0.5) == divisors(series[2:], 0.5) == [4, 4]


def test_a_calendar_baseline_compares_with_the_same_local_hour_of_past_weeks():
    from streamer.core.rules import Calendar, Drop

    # Every night at 02:00-03:00 local time (Paris) the score is low: not a drop.
    timeline = Timeline.parse("1m", "1h,29d")
    rule = Rule(
        "night",
        ScoreKind.NPS,
        Drop("1h", Calendar(4, "Europe/Paris"), 20, 86_400_000 * 91),
        min_responses=30,
    )
    start = 1_767_222_000_000  # 2025-12-31T23:00:00Z = 2026-01-01 00:00 in Paris
    answers = []
    for minute in range(29 * 24 * 60):
        local_hour = (minute // 60) % 24
        score = 3 if local_hour == 2 and minute % 3 else 10 if minute % 4 else 8
        answers.append(_nps(minute, start + minute * 60_000, score))
    board = _board_with(answers, timeline)
    w = Watch([rule], timeline, CesPolicy())
    trailing = Rule(
        "trail", ScoreKind.NPS, Drop("1h", "29d", 20, 86_400_000 * 91), min_responses=30
    )
    compare = Watch([trailing], timeline, CesPolicy())
    fired = {"night": 0, "trail": 0}
    for minute in range(28 * 24 * 60, 29 * 24 * 60, 5):
        now = start + minute * 60_000
        board.advance(now)
        histories = list(board.histories())
        fired["night"] += len(w.evaluate(histories, now).alerts)
        fired["trail"] += len(compare.evaluate(histories, now).alerts)
    # Against the rest of the month the 2 a.m. hour is a 60-point drop; against past 2 a.m.s
    # it is ordinary.
    assert fired == {"night": 0, "trail": 2}


def test_a_calendar_hour_in_a_half_hour_time_zone_is_read_exactly():
    """Past the fine tier buckets are UTC hours: in India (UTC+5:30) the slot is 10:30-11:30
    local time every week, never a range cutting an hourly bucket in two."""
    from streamer.core.baseline import hour_slots
    from streamer.core.rules import Calendar

    kolkata = Calendar(4, "Asia/Kolkata")
    monday = 1_700_438_400_000  # 2023-11-20 00:00 UTC, a Monday
    now = monday + 5 * HOUR + 17 * 60_000  # 10:47 in India
    start, ranges = hour_slots(now, kolkata)
    assert start == monday + 5 * HOUR
    assert ranges == tuple(
        (start - k * WEEK, start - k * WEEK + HOUR) for k in range(1, 5)
    )  # no DST in India: plain weeks, whole UTC hours
    paris = Calendar(4, "Europe/Paris")
    _, [(low, high), *_] = hour_slots(monday + 9 * HOUR + 5 * 60_000, paris)
    assert (low % HOUR, high - low) == (0, HOUR)


def test_a_young_series_is_judged_at_its_own_answer_rate():
    """A touchpoint one day old under a 7-day baseline has one day of answers, not a sixth of
    the rate: its limit (how much evidence a page takes) is that of an old touchpoint answered
    as often, not a laxer one that would page by chance six times as often."""
    from streamer.core.rules import Drop

    timeline = Timeline.parse("1m", "1h,7d")
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "7d", 20, 86_400_000 * 91), min_responses=30)
    now = 7 * 24 * 60 * 60_000
    answers = []
    for touchpoint, first_minute in (("old", 0), ("young", 6 * 24 * 60)):
        for minute in range(first_minute, 7 * 24 * 60, 5):  # 2 answers every 5 minutes
            for k in range(2):
                score = (10, 9, 7, 2)[(minute // 5 + k) % 4]
                at = minute * 60_000 + k
                answers.append(_nps(len(answers), at, score, touchpoint=touchpoint))
    board = _board_with(answers, timeline)
    board.advance(now)
    w = Watch([rule], timeline, CesPolicy())
    limits = {}
    for key, history in board.histories():
        totals = dict(zip(["1h", "7d"], history.totals(), strict=True))
        limits[key.touchpoint] = w.drops.verdict(rule, key, history, totals, 2, now).limit
    assert limits["young"] == pytest.approx(limits["old"], abs=0.05)


class Minutes:
    """A series of NPS answers given minute by minute, ``counts(minute)`` (promoters, passives,
    detractors) over 40 days, seen at ``now_ms``; prefix sums read days of buckets fast."""

    def __init__(self, timeline, counts, now_ms=0, sums=None):
        self.timeline, self.counts, self.now_ms = timeline, counts, now_ms
        if sums is None:
            sums, total = [(0, 0, 0)], (0, 0, 0)
            for minute in range(40 * 24 * 60):
                total = tuple(a + b for a, b in zip(total, counts(minute), strict=True))
                sums.append(total)
        self.sums = sums

    def at(self, now_ms):
        return Minutes(self.timeline, self.counts, now_ms, self.sums)

    def total_between(self, low_ms, high_ms):
        low, high = -(-max(0, low_ms) // 60_000), -(-min(high_ms, self.now_ms) // 60_000)
        if high <= low:
            return NpsTally()
        return NpsTally(*(b - a for a, b in zip(self.sums[low], self.sums[high], strict=True)))

    def between(self, low_ms, high_ms):
        low = -(-max(0, low_ms) // 60_000)
        minutes = range(low, -(-min(high_ms, self.now_ms) // 60_000))
        return [(m * 60_000, NpsTally(*self.counts(m))) for m in minutes if any(self.counts(m))]

    def totals(self):
        return tuple(
            self.total_between(self.now_ms - w.length_ms, self.now_ms)
            for w in self.timeline.windows
        )

    def first_start(self):
        return 0


def one_a_minute(drop_at_ms, back_at_ms):
    """One answer a minute: NPS +40, then +20 (a 20-point drop) from ``drop_at_ms``, back to
    +40 from ``back_at_ms``."""
    healthy = [(1, 0, 0)] * 3 + [(0, 1, 0), (0, 0, 1)]
    down = [(1, 0, 0)] * 2 + [(0, 1, 0)] * 2 + [(0, 0, 1)]
    return lambda m: (down if drop_at_ms <= m * 60_000 < back_at_ms else healthy)[m % 5]


def _run_drop(w, timeline, hours, drop_at_ms, back_at_ms=10**15):
    """Evaluate ``w`` every 10 minutes over ``hours`` (from, to) after ``drop_at_ms``: the
    transitions as (hours after the drop, status)."""
    transitions = []
    first, last = (drop_at_ms + int(h * HOUR) for h in hours)
    series = Minutes(timeline, one_a_minute(drop_at_ms, back_at_ms))
    for now in range(first, last, 600_000):
        for alert in w.evaluate([(CHECKOUT, series.at(now))], now + 61_000).alerts:
            transitions.append((round((now - drop_at_ms) / HOUR, 1), alert.status))
    return transitions


@pytest.mark.parametrize("restart", [True, False])
def test_a_firing_drop_neither_resolves_at_a_restart_nor_at_a_rebalance(restart):
    """A drop detector is rebuilt from the rule's recent window after a restart (and was after
    any rebalance): with a 1h window that held too little evidence, a drop still going on
    resolved at once, then paged again 19 hours later."""
    from streamer.core.rules import Drop

    timeline = Timeline.parse("1m", "1h,7d")
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "7d", 30), min_responses=30)
    start = WEEK
    before = Watch([rule], timeline, CesPolicy())
    [(hours, fired)] = _run_drop(before, timeline, (-1, 12), start)
    assert fired is Status.FIRING and hours < 12
    persisted = [(key, decode_state(encode_state(state))) for key, state in before.states.items()]
    after = Watch([rule], timeline, CesPolicy()) if restart else before
    after.restore(persisted, 1.0 if restart else 0.5)
    assert _run_drop(after, timeline, (12, 40), start) == []


def test_a_drop_restored_firing_resolves_once_the_score_is_back():
    from streamer.core.rules import Drop

    timeline = Timeline.parse("1m", "1h,7d")
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", "7d", 30), min_responses=30)
    before = Watch([rule], timeline, CesPolicy())
    _run_drop(before, timeline, (-1, 12), WEEK, back_at_ms=WEEK + 12 * HOUR)
    persisted = [(key, decode_state(encode_state(state))) for key, state in before.states.items()]
    after = Watch([rule], timeline, CesPolicy())
    after.restore(persisted)
    [(hours, resolved)] = _run_drop(after, timeline, (12, 30), WEEK, back_at_ms=WEEK + 12 * HOUR)
    assert resolved is Status.RESOLVED and 12 < hours < 30


def busy_days_quiet_nights(drop_at_ms):
    """Ten NPS answers a minute from 09:00 to 17:00 UTC (+40, then +20 from ``drop_at_ms`` on),
    one every ten minutes at night."""

    def counts(m):
        if 9 <= m // 60 % 24 < 17:
            return (4, 4, 2) if m * 60_000 >= drop_at_ms else (5, 4, 1)
        return (0, 1, 0) if m % 10 == 0 else (0, 0, 0)

    return counts


def test_a_firing_calendar_drop_holds_through_a_restart_in_the_quiet_hours():
    """Restarted at 03:00, the rebuilt detector's first hours have too thin a baseline to judge
    by: it was not seeded, resolved the page at 09:08 and paged again at 10:00."""
    from streamer.core.rules import Calendar, Drop

    day = 86_400_000
    timeline = Timeline.parse("1m", "1h,29d")
    rule = Rule("drop", ScoreKind.NPS, Drop("1h", Calendar(4), 30), min_responses=30)
    series = Minutes(timeline, busy_days_quiet_nights(35 * day + 15 * HOUR))

    def run(w, first, last):
        return [
            (now, alert.status)
            for now in range(first, last, 300_000)
            for alert in w.evaluate([(CHECKOUT, series.at(now))], now + 61_000).alerts
        ]

    before = Watch([rule], timeline, CesPolicy())
    [(_, fired)] = run(before, 35 * day + 14 * HOUR, 36 * day + 3 * HOUR)
    assert fired is Status.FIRING
    persisted = [(key, decode_state(encode_state(state))) for key, state in before.states.items()]
    after = Watch([rule], timeline, CesPolicy())
    after.restore(persisted)
    assert run(after, 36 * day + 3 * HOUR, 36 * day + 13 * HOUR) == []


def test_a_drop_restored_firing_resolves_even_when_its_settle_leaves_no_bucket_in_the_window():
    """A settle as long as the window leaves no settled bucket in it: the rebuilt detector
    found none to be seeded at, held the alert, and never resolved it after a recovery."""
    from streamer.core.rules import Drop

    drop_at, back_at = WEEK, WEEK + 6 * HOUR
    series = Minutes(
        Timeline.parse("1m", "10m,7d"),
        lambda m: (4, 4, 2) if drop_at <= m * 60_000 < back_at else (5, 4, 1),
    )
    rule = Rule("drop", ScoreKind.NPS, Drop("10m", "7d", 30, settle_ms=540_000), min_responses=30)

    def run(w, first, last):
        return [
            (round((now - drop_at) / HOUR, 2), alert.status)
            for now in range(first, last, 300_000)
            for alert in w.evaluate([(CHECKOUT, series.at(now))], now + 61_000).alerts
        ]

    before = Watch([rule], series.timeline, CesPolicy())
    [(_, fired)] = run(before, drop_at - HOUR, drop_at + 3 * HOUR)
    assert fired is Status.FIRING
    persisted = [(key, decode_state(encode_state(state))) for key, state in before.states.items()]
    after = Watch([rule], series.timeline, CesPolicy())
    after.restore(persisted)
    [(hours, resolved)] = run(after, drop_at + 3 * HOUR, drop_at + 12 * HOUR)
    assert resolved is Status.RESOLVED and 6 < hours < 7
