"""The worker's configuration, resolved once at start: the settings (already checked), the rules
file read against the configured windows, and the timeline those rules need.

Everything a part of the worker needs is read from here, so no part parses a setting again and
the rules are read exactly once (a rules file edited while the worker runs is not half-applied).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streamer.app.settings import Settings, SettingsError
from streamer.core.rules import Calendar, Drop, Rule
from streamer.core.scales import Scoring
from streamer.core.timeline import Timeline
from streamer.kafka.topics import repartition_topic
from streamer.rules_file import read_rules


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    partitions: int
    """Partitions of the input topic: the tables and the repartition topic follow it."""
    rules: tuple[Rule, ...]
    timeline: Timeline
    """The configured windows, with hourly buckets as far back as the rules' calendar
    baselines read one-hour ranges."""
    scoring: Scoring
    repartition_topic: str

    @property
    def topics(self) -> frozenset[str]:
        """The topics whose answers are counted: the input and the repartition topic."""
        return frozenset({self.settings.input_topic, self.repartition_topic})


def resolve(
    settings: Settings, partitions: int | None = None, rules: tuple[Rule, ...] | None = None
) -> Config:
    """``partitions`` as found on the broker (default: the setting); ``rules`` already read
    (default: read the rules file; raises RulesError listing every problem)."""
    rules = rules_of(settings) if rules is None else rules
    return Config(
        settings=settings,
        partitions=partitions or settings.partitions,
        rules=rules,
        timeline=settings.timeline().with_hourly_reach(calendar_reach_ms(rules)),
        scoring=settings.scoring(),
        repartition_topic=repartition_topic(settings),
    )


def windows_of(settings: Settings) -> Mapping[str, int]:
    return {w.label: w.length_ms for w in settings.timeline().windows}


def rules_of(settings: Settings) -> tuple[Rule, ...]:
    """The configured rules; raises RulesError listing every problem."""
    if not settings.rules:
        return ()
    return read_rules(settings.rules, windows_of(settings), settings.breakdowns())


def calendar_reach_ms(rules: tuple[Rule, ...]) -> int:
    """How far back the rules' calendar baselines read hourly ranges (0: none do)."""
    return max(
        (
            rule.condition.baseline.history_ms
            for rule in rules
            if isinstance(rule.condition, Drop) and isinstance(rule.condition.baseline, Calendar)
        ),
        default=0,
    )


def data_dir(settings: Settings) -> Path:
    """STREAMER_DATA_DIR, created with its parents; raises SettingsError when it cannot be
    written (in a container with a read-only root filesystem: mount a volume there)."""
    path = settings.data_path()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SettingsError(
            [f"STREAMER_DATA_DIR: cannot create {path}: {error.strerror}"]
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SettingsError([f"STREAMER_DATA_DIR: {path} is not writable"])
    return path
