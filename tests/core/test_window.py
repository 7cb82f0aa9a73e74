import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.scales import Metric
from streamer.core.tally import NpsTally, total
from streamer.core.window import SeriesWindows, Timeline, WindowSpec, bucket_start_ms
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


def brute_force(events, now, timeline=TIMELINE):
    """Every window re-merged from the raw events, at bucket resolution."""
    result = []
    for window in timeline.windows:
        low, high = timeline.bucket_range(window, now)
        inside = [t for ts, t in events if low <= bucket_start_ms(ts, timeline.bucket_ms) < high]
        result.append(total(Metric.NPS, inside))
    return tuple(result)


# A script of steps: add an answer at an offset from now (negative: the past), or let time pass.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(-90 * MINUTE, 3 * MINUTE), nps_tallies),
        st.tuples(st.just("tick"), st.integers(0, 30 * MINUTE), st.none()),
    ),
    max_size=60,
)


@given(st.integers(-(10**12), 10**12), steps)
def test_incremental_windows_equal_brute_force(start, script):
    windows = SeriesWindows(Metric.NPS, TIMELINE, start)
    now = start
    kept = []  # what the windows should still know about: not expired at the time it arrived
    for action, amount, tally in script:
        if action == "tick":
            now += amount
            expired = windows.advance(now)
            assert all(TIMELINE.is_expired(b, now) for b in expired)
        else:
            ts = now + amount
            if TIMELINE.is_expired(bucket_start_ms(ts, MINUTE), now):
                continue  # late: the caller drops it
            windows.add(bucket_start_ms(ts, MINUTE), tally)
            kept.append((ts, tally))
        assert windows.totals() == brute_force(kept, now)
    assert all(not TIMELINE.is_expired(b, now) for b in windows.buckets())


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
