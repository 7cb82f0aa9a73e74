import pytest

from streamer.core.timestamps import format_timestamp_ms, parse_timestamp_ms

NOW_MS = 1_795_341_600_000  # 2026-11-22T10:00:00Z


@pytest.mark.parametrize(
    ("stamp", "utc_ms"),
    [
        ("2026-11-22T10:00:00Z", NOW_MS),  # Z
        ("2026-11-22T12:00:00+02:00", NOW_MS),  # positive offset normalised to UTC
        ("2026-11-22T04:30:00-05:30", NOW_MS),  # negative half-hour offset
        ("2026-11-22t10:00:00z", NOW_MS),  # RFC 3339 allows lower case
        ("2026-11-22 10:00:00Z", NOW_MS),  # and a space separator
        ("2026-11-22T09:59:59.999999999Z", NOW_MS - 1),  # nanoseconds truncate to the millisecond
        ("1969-12-31T23:59:59.999Z", -1),  # before the epoch: floor, not towards zero
    ],
)
def test_timestamps_normalise_to_utc_milliseconds(stamp, utc_ms):
    assert parse_timestamp_ms(stamp) == utc_ms


def test_written_timestamps_read_back_to_the_millisecond():
    assert format_timestamp_ms(1_795_341_600_123) == "2026-11-22T10:00:00.123Z"
    assert parse_timestamp_ms(format_timestamp_ms(-1)) == -1  # before 1970 too


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("2026-11-22T10:00:00+24:00", "the offset +24:00 is not one: at most 23:59 either way"),
        ("2026-11-22T10:00:00-05:60", "the offset -05:60 is not one: at most 23:59 either way"),
        ("2026-11-22T10:00:00", "expected an RFC 3339 timestamp with an offset"),
        ("2026-13-22T10:00:00Z", "month must be in 1..12"),
    ],
)
def test_a_timestamp_that_is_not_one_says_what_is_wrong(stamp, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        parse_timestamp_ms(stamp)
