import pytest

from streamer.core.events import SurveyResponse
from streamer.core.scales import NPS_SCALE, Metric
from streamer.core.series import (
    OTHER,
    UNKNOWN,
    SeriesKey,
    SeriesLimiter,
    parse_breakdowns,
    series_keys,
)


def response(**dims) -> SurveyResponse:
    return SurveyResponse("e", 0, "checkout", Metric.NPS, 9, NPS_SCALE, **dims)


def test_an_answer_counts_in_its_touchpoint_and_in_each_breakdown():
    keys = series_keys(
        response(channel="chat", queue="billing"), parse_breakdowns("channel,channel+queue")
    )
    assert keys == [
        SeriesKey(Metric.NPS, "checkout"),
        SeriesKey(Metric.NPS, "checkout", (("channel", "chat"),)),
        SeriesKey(Metric.NPS, "checkout", (("channel", "chat"), ("queue", "billing"))),
    ]


def test_a_missing_dimension_is_unknown():
    keys = series_keys(response(), parse_breakdowns("region"))
    assert keys[1].dimensions == (("region", UNKNOWN),)


@pytest.mark.parametrize("text", ["respondent_id", "channel+channel", "color"])
def test_breakdowns_refuse_unknown_repeated_or_personal_dimensions(text):
    with pytest.raises(ValueError):
        parse_breakdowns(text)


def test_the_cap_folds_the_excess_into_other_and_counts_it():
    limiter = SeriesLimiter(max_series=2)
    a, b, c = (SeriesKey(Metric.NPS, name) for name in "abc")
    agent = SeriesKey(Metric.NPS, "a", (("agent_id", "x-1"),))
    assert [limiter.admit(k) for k in (a, b, a)] == [a, b, a]
    assert limiter.admit(c) == SeriesKey(Metric.NPS, OTHER)
    assert limiter.admit(agent) == SeriesKey(Metric.NPS, "a", (("agent_id", OTHER),))
    assert limiter.overflowed == 2 and len(limiter) == 2
    limiter.release(b)
    assert limiter.admit(c) == c


@pytest.mark.parametrize(
    "key",
    [
        SeriesKey(Metric.NPS, "checkout"),
        SeriesKey(Metric.CES, 'odd "|" touchpoint', (("channel", "chat"), ("queue", "a|b"))),
    ],
)
def test_series_keys_survive_encoding(key):
    assert SeriesKey.decode(key.encode()) == key
