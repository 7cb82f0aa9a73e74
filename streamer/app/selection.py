"""Selecting series by their labels: what a reader of /scores asks for, and what an alert's link
asks it for."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from streamer.core.events import DIMENSIONS
from streamer.core.series import SeriesKey

FILTERS = ("metric", "touchpoint", "window", *DIMENSIONS)
"""The labels series are selected by: those of /metrics, and ``metric``."""

Selection = Mapping[str, Collection[str]]
"""Label name -> the values it may take: a series is selected if each named label has one."""


def selection(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """A selection from query parameters (a name given twice: either value); ValueError names
    an unknown label."""
    wanted: dict[str, set[str]] = {}
    for name, value in pairs:
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r:.40}: select by {', '.join(FILTERS)}")
        wanted.setdefault(name, set()).add(value)
    return {name: frozenset(values) for name, values in wanted.items()}


def selecting(series: SeriesKey) -> dict[str, str]:
    """The selection of one series, with all its windows and the breakdowns below it: what an
    alert's link asks /scores for."""
    return {"metric": series.metric.value, "touchpoint": series.touchpoint} | dict(
        series.dimensions
    )


def selected(wanted: Selection, series: SeriesKey, window: str) -> bool:
    labels = selecting(series) | {"window": window}
    return all(labels.get(name) in values for name, values in wanted.items())
