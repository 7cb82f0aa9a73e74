import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.scales import Metric
from streamer.core.tally import NpsTally, total
from streamer.core.timeline import Timeline, WindowSpec, bucket_start_ms
from streamer.core.window import SeriesWindows
from tests.core.strategies import nps_tallies

MINUTE = 60_000
TIMELINE = Timeline(
    MINUTE, (WindowSpec("5m", 5 * MINUTE), WindowSpec("1h", 60 * MINUTE)), grace_ms=2 * MINUTE
)


@pytest.mark.parametrize(
    ("ts", "start"),
    [
        (0, 0),  # the epoch starts a bucket
        (59_999, 0),  # the last millisecond of the first bucket
        (60_000, 60_000),  # half-open: the end belongs to the next bucket
        (-1, -60_000),  # before 1970: floor, not towards zero
    ],
)
def test_bucket_start(ts, start):
    assert bucket_start_ms(ts, MINUTE) == start


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (10 * MINUTE, (5 * MINUTE, 10 * MINUTE)),  # on a boundary: exactly five buckets
        (10 * MINUTE + 30_000, (6 * MINUTE, 11 * MINUTE)),  # mid-bucket: current one counts
        (10 * MINUTE + 1, (6 * MINUTE, 11 * MINUTE)),  # the oldest bucket leaves whole
    ],
)
def test_window_bucket_range_is_the_starts_in_now_minus_w_to_now(now, expected):
    assert TIMELINE.bucket_range(TIMELINE.windows[0], now) == expected


def test_timeline_refuses_bad_settings():
    with pytest.raises(ValueError, match="whole number"):
        Timeline.parse("1m", "90s")
    with pytest.raises(ValueError, match="repeat"):
        Timeline.parse("1m", "5m,5m")
    with pytest.raises(ValueError, match="duration"):
        Timeline.parse("1m", "5x")
    assert Timeline.parse("1m", "5m,1h,24h,7d").horizon_ms == 7 * 86_400_000 + 10 * MINUTE


def brute_force(answers, now):
    """Every window re-merged from the raw answers by the documented definition alone: at
    ``now``, a window of length W holds the answers whose minute (the timestamp rounded down to
    the minute) starts in [now - W, now)."""
    result = []
    for length in (5 * MINUTE, 60 * MINUTE):
        inside = [t for ts, t in answers if now - length <= ts // MINUTE * MINUTE < now]
        result.append(sum(inside, NpsTally()))
    return tuple(result)


def scripts(offsets, *ticks, max_size):
    """Scripts of steps: add an answer at one of ``offsets`` from now (negative: the past), or
    let time pass by one of ``ticks``."""
    adds = st.tuples(st.just("add"), offsets, nps_tallies)
    waits = (st.tuples(st.just("tick"), tick, st.none()) for tick in ticks)
    return st.lists(st.one_of(adds, *waits), max_size=max_size)


steps = scripts(st.integers(-90 * MINUTE, 3 * MINUTE), st.integers(0, 30 * MINUTE), max_size=60)


@given(st.integers(-(10**12), 10**12), steps)
def test_incremental_windows_equal_brute_force(start, script):
    windows = SeriesWindows(Metric.NPS, TIMELINE, start)
    now = start
    kept = []  # what the windows should still know about: not expired at the time it arrived
    for action, amount, tally in script:
        if action == "tick":
            now += amount
            expired = windows.advance(now)
            assert all(b < now - TIMELINE.horizon_ms for b in expired)
        else:
            ts = now + amount
            if bucket_start_ms(ts, MINUTE) < now - TIMELINE.horizon_ms:
                continue  # late: the caller drops it
            windows.add(bucket_start_ms(ts, MINUTE), tally)
            kept.append((ts, tally))
        assert windows.totals() == brute_force(kept, now)
    assert all(b >= now - TIMELINE.horizon_ms for b in windows.buckets())


@given(nps_tallies.filter(lambda t: t.n > 0))
def test_a_quiet_series_empties_on_schedule(tally):
    windows = SeriesWindows(Metric.NPS, TIMELINE, 0)
    windows.add(0, tally)
    windows.advance(1)
    assert windows.totals() == (tally, tally)
    windows.advance(5 * MINUTE)  # the 5m window is [0, 5m): still holds bucket 0
    assert windows.totals()[0] == tally
    windows.advance(5 * MINUTE + 1)  # bucket 0 starts before now - 5m: out of the 5m window
    assert windows.totals() == (type(tally)(), tally)
    windows.advance(60 * MINUTE + 1)
    assert windows.totals() == (type(tally)(), type(tally)())
    assert windows  # kept through the grace period ...
    assert windows.advance(62 * MINUTE + 1) == [0]  # ... then expired
    assert not windows


def test_a_clock_stepping_back_rebuilds_the_sums():
    windows = SeriesWindows(Metric.NPS, TIMELINE, 10 * MINUTE)
    tally = NpsTally(promoters=3, detractors=1)
    windows.add(9 * MINUTE, tally)
    windows.advance(20 * MINUTE)
    windows.advance(12 * MINUTE)
    assert windows.totals() == brute_force([(9 * MINUTE, tally)], 12 * MINUTE)


# Tiers: fine 10-minute buckets for the last hour or two, hours for one to two days, days beyond.
TEN_MINUTES, HOUR, DAY = 10 * MINUTE, 60 * MINUTE, 1_440 * MINUTE
TIERED = Timeline(
    TEN_MINUTES,
    tuple(
        WindowSpec(label, length)
        for label, length in [
            ("30m", 30 * MINUTE),
            ("1h", HOUR),
            ("3h", 3 * HOUR),
            ("2d", 2 * DAY),
            ("5d", 5 * DAY),
        ]
    ),
    grace_ms=HOUR,
    fine_ms=HOUR,
    hourly_ms=DAY,
)


def stored_start(ts, now):
    """Where an answer at ``ts`` sits at ``now``, from the documented rules alone: its 10-minute
    bucket while that starts at or after the fine cut (now - 1h, rounded down to an hour), else
    its hour while that starts at or after the hourly cut (now - 1d, rounded down to a day),
    else its day."""
    fine_cut = (now - HOUR) // HOUR * HOUR
    hourly_cut = (now - DAY) // DAY * DAY
    start = ts // TEN_MINUTES * TEN_MINUTES
    if start >= fine_cut:
        return start
    return start // HOUR * HOUR if start >= hourly_cut else start // DAY * DAY


def tiered_brute_force(answers, now):
    result = []
    for length in (30 * MINUTE, HOUR, 3 * HOUR, 2 * DAY, 5 * DAY):
        inside = [t for ts, t in answers if now - length <= stored_start(ts, now) < now]
        result.append(total(Metric.NPS, inside))
    return tuple(result)


tiered_steps = scripts(
    st.integers(-6 * DAY, 20 * MINUTE),
    st.integers(0, 2 * DAY),
    st.integers(0, 90 * MINUTE),
    max_size=50,
)


@given(st.integers(-(10**12), 10**12), tiered_steps)
def test_tiered_windows_equal_brute_force_across_roll_ups(start, script):
    windows = SeriesWindows(Metric.NPS, TIERED, start)
    now = start
    kept = []
    horizon = 5 * DAY + HOUR
    for action, amount, tally in script:
        if action == "tick":
            now += amount
            windows.advance(now)
        else:
            ts = now + amount
            late = stored_start(ts, now) < now - horizon
            assert (ts < TIERED.on_time_from(now)) == late
            if late:
                continue
            windows.add(TIERED.bucket_of(ts), tally)
            kept.append((ts, tally))
        assert windows.totals() == tiered_brute_force(kept, now)
        stored = windows.buckets()
        assert sum(stored.values(), NpsTally()) == total(
            Metric.NPS, [t for ts, t in kept if stored_start(ts, now) >= now - horizon]
        )
        assert all(b >= now - TIERED.horizon_ms for b in stored)
        # Any one-hour range in the hourly or fine tier is exact.
        hour = (now - DAY) // DAY * DAY + HOUR * (amount % 24)
        assert (
            windows.total_between(hour, hour + HOUR)
            == total(Metric.NPS, [t for ts, t in kept if hour <= ts < hour + HOUR])
            or hour < now - horizon
        )


@given(st.integers(0, 10**12), st.integers(-6 * DAY, 0))
def test_a_window_covers_its_length_less_at_most_its_resolution(now, age):
    """The documented bound: an answer younger than W - resolution is in the window, one older
    than W is not."""
    for window in TIERED.windows:
        resolution = TIERED.resolution_ms(window)
        inside = now - window.length_ms <= stored_start(now + age, now) < now
        if -age < window.length_ms - resolution and now + age < now // TEN_MINUTES * TEN_MINUTES:
            assert inside
        if -age > window.length_ms:
            assert not inside


def test_each_window_has_its_tier_resolution():
    assert [TIERED.resolution_ms(w) for w in TIERED.windows] == [
        TEN_MINUTES,
        TEN_MINUTES,
        HOUR,
        DAY,
        DAY,
    ]
    default = Timeline.parse("1m", "5m,1h,24h,7d,30d,90d")
    assert [default.resolution_ms(w) for w in default.windows] == [
        MINUTE,
        MINUTE,
        HOUR,
        HOUR,
        DAY,
        DAY,
    ]


def test_a_90_day_series_keeps_a_few_hundred_buckets():
    timeline = Timeline.parse("1m", "5m,1h,24h,7d,30d,90d")
    windows = SeriesWindows(Metric.NPS, timeline, 0)
    for minute in range(0, 100 * 1_440, 7):  # an answer every 7 minutes for 100 days
        now = minute * MINUTE
        windows.advance(now)
        windows.add(timeline.bucket_of(now), NpsTally(promoters=1))
    assert len(windows) <= 6 * 60 // 7 + 1 + 9 * 24 + 91
    # The 90d window at day resolution: whole days starting at or after now - 90d, up to now.
    assert windows.totals()[-1].n == sum(
        1
        for m in range(0, 100 * 1_440, 7)
        if now - 90 * DAY <= m * MINUTE // DAY * DAY and m * MINUTE < now
    )


def test_hourly_reach_covers_calendar_baselines():
    timeline = Timeline.parse("1m", "5m,90d")
    assert timeline.with_hourly_reach(7 * DAY) is timeline
    assert timeline.with_hourly_reach(4 * 7 * DAY + 2 * HOUR).hourly_ms == 30 * DAY


def test_tiers_refuse_buckets_that_do_not_divide_an_hour():
    with pytest.raises(ValueError, match="divide an hour"):
        Timeline.parse("7m", "7m")


def test_counts_past_32_bits_stay_exact():
    windows = SeriesWindows(Metric.NPS, TIMELINE, 10 * MINUTE)
    windows.add(9 * MINUTE, NpsTally(promoters=2**32 - 1, detractors=3))
    windows.add(9 * MINUTE, NpsTally(promoters=2, passives=1))
    windows.add(8 * MINUTE, NpsTally(detractors=2**40))
    assert windows.buckets() == {
        8 * MINUTE: NpsTally(detractors=2**40),
        9 * MINUTE: NpsTally(promoters=2**32 + 1, passives=1, detractors=3),
    }
    windows.advance(20 * MINUTE)  # both buckets leave the 5-minute window whole
    assert windows.totals() == (NpsTally(), NpsTally(2**32 + 1, 1, 2**40 + 3))


@given(
    st.sampled_from(["1m,5m", "5m,1h,24h,7d,30d,90d", "1h,7d"]),
    st.integers(-(10**12), 10**13),
    st.integers(-2 * DAY, 2 * DAY),
)
def test_one_edge_tells_late_answers_at_any_moment(windows, now, near_horizon):
    timeline = Timeline.parse("1m", windows)
    for age in (near_horizon, timeline.horizon_ms + near_horizon):
        rolled = timeline.cuts(now).rolled(timeline.bucket_of(now - age))
        late = rolled < now - timeline.horizon_ms  # the definition, answer by answer
        assert late == (now - age < timeline.on_time_from(now))


@given(
    st.integers(-(10**12), 10**12),
    st.lists(st.tuples(st.integers(-5 * DAY, 0), nps_tallies), max_size=40),
    st.lists(st.tuples(st.integers(-5 * DAY, 0), nps_tallies), max_size=10),
)
def test_a_restore_in_bulk_equals_the_brute_force(now, restored, before):
    """``extend`` (a restart's bulk load, onto buckets already there) leaves the windows and
    buckets the documented definition gives for all those answers."""
    horizon = 5 * DAY + HOUR
    kept = [(now + age, t) for age, t in before + restored]
    kept = [(ts, t) for ts, t in kept if stored_start(ts, now) >= now - horizon]
    windows = SeriesWindows(Metric.NPS, TIERED, now)
    for ts, tally in kept[: len(before)]:
        windows.add(TIERED.bucket_of(ts), tally)
    restored = kept[len(before) :]
    windows.extend(
        [TIERED.bucket_of(ts) for ts, _ in restored], [c for _, t in restored for c in t.counts()]
    )
    assert_tiered_as_defined(windows, kept, now)


@given(
    st.integers(-(10**12), 10**12),
    st.lists(st.tuples(st.integers(-5 * DAY, 0), nps_tallies), max_size=40),
    st.integers(0, 5 * DAY),
)
def test_a_snapshot_read_later_equals_the_brute_force(now, answers, later):
    """A snapshot's buckets (at the tiers of when it was written), loaded whole onto an empty
    series ``later``: the minutes and hours that crossed a cut since are merged into their hour
    or day, as the definition says (fails if the merge is skipped, or merges a bucket that
    stayed)."""
    written = SeriesWindows(Metric.NPS, TIERED, now)
    for ts, tally in answers:
        if now + ts >= TIERED.on_time_from(now):
            written.add(TIERED.bucket_of(now + ts), tally)
    starts, counts = written.arrays()
    on_time = TIERED.on_time_from(now + later)
    kept = [i for i, start in enumerate(starts) if start >= on_time]  # as Board.restore drops
    read = SeriesWindows(Metric.NPS, TIERED, now + later)
    read.extend([starts[i] for i in kept], [c for i in kept for c in counts[i * 3 : i * 3 + 3]])
    survivors = [
        (now + ts, t)
        for ts, t in answers
        if now + ts >= TIERED.on_time_from(now) and stored_start(now + ts, now) >= on_time
    ]
    assert_tiered_as_defined(read, survivors, now + later)


def test_a_snapshot_read_later_merges_an_hours_first_minutes_with_the_rest():
    # Written at 2h30 (fine cut 1h): 1h00 and 1h10 are fine buckets; read at 3h30 (fine cut
    # 2h): both are the hour 1h, though 1h00 already starts on the hour.
    windows = SeriesWindows(Metric.NPS, TIERED, 3 * HOUR + 30 * MINUTE)
    windows.extend([HOUR, HOUR + 10 * MINUTE, 2 * HOUR], [1, 0, 0, 0, 1, 0, 0, 0, 1])
    assert windows.buckets() == {HOUR: NpsTally(1, 1, 0), 2 * HOUR: NpsTally(0, 0, 1)}


def test_a_snapshot_count_past_32_bits_widens_and_keeps_every_count():
    windows = SeriesWindows(Metric.NPS, TIERED, 3 * HOUR)
    windows.extend([2 * HOUR + 10 * MINUTE, 2 * HOUR + 20 * MINUTE], [1, 0, 0, 2**32, 0, 0])
    assert windows.buckets() == {
        2 * HOUR + 10 * MINUTE: NpsTally(promoters=1),
        2 * HOUR + 20 * MINUTE: NpsTally(promoters=2**32),
    }
    merged = SeriesWindows(Metric.NPS, TIERED, 3 * HOUR)  # a series on two partitions
    merged.extend(*windows.arrays())
    assert merged.buckets() == windows.buckets()


def test_a_snapshot_merge_past_32_bits_widens():
    windows = SeriesWindows(Metric.NPS, TIERED, 3 * HOUR)
    windows.extend([HOUR + 10 * MINUTE, HOUR + 20 * MINUTE], [2**32 - 1, 0, 0, 2, 0, 0])
    assert windows.buckets() == {HOUR: NpsTally(promoters=2**32 + 1)}


def assert_tiered_as_defined(windows, answers, now):
    assert windows.totals() == tiered_brute_force(answers, now)
    assert windows.buckets() == {
        start: total(Metric.NPS, [t for ts, t in answers if stored_start(ts, now) == start])
        for start in {stored_start(ts, now) for ts, _ in answers}
    }


big_counts = st.integers(0, 3) | st.integers(2**32 - 3, 2**33)
big_tallies = st.builds(NpsTally, big_counts, big_counts, big_counts)


@given(
    st.integers(0, 10**12),
    st.lists(st.tuples(st.integers(-61 * MINUTE, MINUTE), big_tallies), max_size=30),
)
def test_counts_past_32_bits_on_any_path_stay_exact(now, answers):
    """Answers in every window, in the newest bucket, after it or before it, with counts past
    32 bits in any order: the buckets and windows of the brute force."""
    windows = SeriesWindows(Metric.NPS, TIMELINE, now)
    for age, tally in answers:
        windows.add(bucket_start_ms(now + age, MINUTE), tally)
    kept = [(now + age, tally) for age, tally in answers]
    assert windows.totals() == brute_force(kept, now)
    assert windows.buckets() == {
        start: total(Metric.NPS, [t for ts, t in kept if bucket_start_ms(ts, MINUTE) == start])
        for start in {bucket_start_ms(ts, MINUTE) for ts, _ in kept}
    }
