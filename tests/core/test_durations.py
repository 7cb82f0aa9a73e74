import pytest

from streamer.core.durations import format_duration_ms, parse_duration_ms, parse_false_alarms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("10s", 10_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("24h", 86_400_000),
        ("7d", 604_800_000),
        ("2w", 1_209_600_000),
        (" 1m ", 60_000),
    ],
)
def test_parse(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "5", "m", "0m", "-5m", "1.5h", "5 m", "5min", "1h30m"])
def test_parse_refuses(text):
    with pytest.raises(ValueError, match="expected a duration like 5m"):
        parse_duration_ms(text)


@pytest.mark.parametrize(("ms", "text"), [(300_000, "5m"), (86_400_000, "1d"), (1_500, "1500ms")])
def test_format(ms, text):
    assert format_duration_ms(ms) == text
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "every_ms"),
    [
        ("1/quarter", 91 * 24 * 3_600_000),  # 91 days
        ("2/year", 365 * 24 * 3_600_000 // 2),  # one every 182.5 days
        ("1/30d", 30 * 24 * 3_600_000),
        ("4/week", 7 * 24 * 3_600_000 // 4),
    ],
)
def test_false_alarm_budgets_read_as_one_per_period(text, every_ms):
    assert parse_false_alarms(text) == every_ms


@pytest.mark.parametrize("text", ["rarely", "0/year", "1/", "/year", "1/fortnight", "-1/day"])
def test_false_alarm_budgets_refused(text):
    with pytest.raises(ValueError, match="expected a count per period"):
        parse_false_alarms(text)
