"""Series: what a score is kept for. (metric, touchpoint), plus configured breakdowns.

A breakdown is a tuple of dimension names (``("channel",)`` or ``("channel", "queue")``); each
answer counts in its touchpoint's series and in one series per configured breakdown. A cap on
the number of series folds the excess into ``__other__`` so that a flood of distinct touchpoints
or agent ids cannot grow memory or the /metrics page without bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from streamer.core.events import DIMENSIONS, SurveyResponse
from streamer.core.scales import Metric

OTHER = "__other__"
"""The touchpoint or dimension value that stands for every series beyond the cap."""

UNKNOWN = "unknown"
"""The dimension value of an answer that does not carry that dimension."""

Breakdown = tuple[str, ...]


class SeriesKey(NamedTuple):
    metric: Metric
    touchpoint: str
    dimensions: tuple[tuple[str, str], ...] = ()
    """(name, value) pairs of a breakdown series; empty for the touchpoint's own series."""

    def encode(self) -> str:
        """Stable text for persisted keys (any character may appear in a touchpoint)."""
        return json.dumps(
            [self.metric.value, self.touchpoint, [list(pair) for pair in self.dimensions]]
        )

    @classmethod
    def decode(cls, text: str) -> SeriesKey:
        metric, touchpoint, dimensions = json.loads(text)
        return cls(Metric(metric), touchpoint, tuple((str(n), str(v)) for n, v in dimensions))


def parse_breakdowns(text: str) -> tuple[Breakdown, ...]:
    """``"channel,channel+queue"`` -> ``(("channel",), ("channel", "queue"))``."""
    breakdowns: list[Breakdown] = []
    for part in text.split(","):
        if not part.strip():
            continue
        names = tuple(name.strip() for name in part.split("+"))
        unknown = [name for name in names if name not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimension {unknown[0]!r}; known: {', '.join(DIMENSIONS)}")
        if len(set(names)) != len(names):
            raise ValueError(f"dimension repeated in breakdown {part.strip()!r}")
        breakdowns.append(names)
    return tuple(breakdowns)


def series_keys(response: SurveyResponse, breakdowns: Iterable[Breakdown]) -> list[SeriesKey]:
    """The touchpoint's series first, then one per breakdown."""
    keys = [SeriesKey(response.metric, response.touchpoint)]
    for names in breakdowns:
        values = tuple((name, getattr(response, name) or UNKNOWN) for name in names)
        keys.append(SeriesKey(response.metric, response.touchpoint, values))
    return keys


class SeriesLimiter:
    """Admits series up to ``max_series``; later ones are folded into ``__other__``.

    A touchpoint series beyond the cap becomes touchpoint ``__other__``; a breakdown series beyond
    it keeps its touchpoint and takes ``__other__`` as every dimension value. Folded series are
    always admitted, so at most ``max_series`` plus the folded ones exist. ``release`` frees the
    slot of a series whose buckets all expired.
    """

    __slots__ = ("_admitted", "max_series", "overflowed")

    def __init__(self, max_series: int) -> None:
        if max_series < 1:
            raise ValueError("max_series must be at least 1")
        self.max_series = max_series
        self._admitted: set[SeriesKey] = set()
        self.overflowed = 0
        """How many answers were folded into an ``__other__`` series."""

    def __len__(self) -> int:
        return len(self._admitted)

    def admit(self, key: SeriesKey) -> SeriesKey:
        if key in self._admitted or _is_folded(key):
            return key
        if len(self._admitted) < self.max_series:
            self._admitted.add(key)
            return key
        self.overflowed += 1
        return fold(key)

    def release(self, key: SeriesKey) -> None:
        self._admitted.discard(key)


def fold(key: SeriesKey) -> SeriesKey:
    if not key.dimensions:
        return SeriesKey(key.metric, OTHER)
    return SeriesKey(key.metric, key.touchpoint, tuple((name, OTHER) for name, _ in key.dimensions))


def _is_folded(key: SeriesKey) -> bool:
    if not key.dimensions:
        return key.touchpoint == OTHER
    return all(value == OTHER for _, value in key.dimensions)
