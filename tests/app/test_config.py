"""The worker's configuration, resolved once: rules read against the windows, and hourly
buckets kept as far back as a calendar baseline reads."""

import pytest

from streamer.app.config import resolve
from streamer.app.settings import Settings
from streamer.core.ruleset import RulesError

DAY_MS = 86_400_000

CALENDAR = """
rules:
  - name: NpsDropVsUsualHour
    score: nps
    drop:
      window: 1h
      baseline: {same_hour_last_weeks: 4, timezone: Europe/Paris}
      min_drop: 20
      false_alarms: 1/quarter
    min_responses: 50
"""


def test_a_calendar_baseline_keeps_hourly_buckets_four_weeks_back(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(CALENDAR)
    settings = Settings(windows="1h,30d", rules=str(path))
    config = resolve(settings, partitions=3)
    assert [rule.name for rule in config.rules] == ["NpsDropVsUsualHour"]
    assert config.partitions == 3
    assert config.timeline.hourly_ms >= 28 * DAY_MS
    assert resolve(Settings(windows="1h,30d")).timeline.hourly_ms < 28 * DAY_MS


def test_a_rule_on_a_window_not_configured_is_refused(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(CALENDAR.replace("window: 1h", "window: 2h"))
    with pytest.raises(RulesError, match="2h"):
        resolve(Settings(windows="1h,30d", rules=str(path)))


def test_the_counted_topics_are_the_input_and_its_repartition_topic():
    config = resolve(Settings(app_id="scorer", input_topic="answers"))
    assert config.topics == {"answers", "scorer-repartition"}
    assert config.partitions == Settings().partitions
