"""Mergeable score tallies: integer counts only, so adding and removing buckets is exact.

Laws (tested with hypothesis): ``+`` is associative and commutative, ``type()`` (all zeros) is
its identity, ``(a + b) - b == a``, and the tally of a concatenation of answers is the sum of
their tallies. A tally never goes negative: subtracting more than was added raises.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar, Self, TypeVar

from streamer.core.scales import DETRACTOR_TO, PROMOTER_FROM, Metric, Scale, Scoring


class _Counts:
    """Field-wise integer arithmetic shared by every tally type.

    ``_get`` is an ``attrgetter`` over the dataclass fields, bound once per class by
    ``_counted``: reading fields through ``dataclasses.fields()`` at each operation made tally
    arithmetic the largest cost of the core (see bench/core_throughput.py).
    """

    __slots__ = ()
    _get: ClassVar[operator.attrgetter[tuple[int, ...]]]

    if TYPE_CHECKING:  # each dataclass subclass generates the real one

        def __init__(self, *counts: int) -> None: ...

    def counts(self) -> tuple[int, ...]:
        return self._get(self)

    def __add__(self, other: Self) -> Self:
        return type(self)(*map(operator.add, self._get(self), other._get(other)))

    def __sub__(self, other: Self) -> Self:
        return type(self)(*map(operator.sub, self._get(self), other._get(other)))

    def __mul__(self, times: int) -> Self:
        return type(self)(*(count * times for count in self._get(self)))

    def _check(self) -> None:
        if min(self._get(self)) < 0:
            raise ValueError(f"a tally cannot go negative: {self!r}")


_T = TypeVar("_T", bound=type[_Counts])


def _counted(cls: _T) -> _T:
    cls._get = operator.attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]
    return cls


@_counted
@dataclass(frozen=True, slots=True)
class NpsTally(_Counts):
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    def __post_init__(self) -> None:
        self._check()

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors


@_counted
@dataclass(frozen=True, slots=True)
class CsatTally(_Counts):
    n: int = 0
    satisfied: int = 0

    def __post_init__(self) -> None:
        self._check()
        if self.satisfied > self.n:
            raise ValueError(f"more satisfied answers than answers: {self!r}")


@_counted
@dataclass(frozen=True, slots=True)
class CesTally(_Counts):
    """n, the sum and sum of squares of raw scores (for mean and deviation), and agree count."""

    n: int = 0
    total: int = 0
    total_sq: int = 0
    agree: int = 0

    def __post_init__(self) -> None:
        self._check()
        if self.agree > self.n:
            raise ValueError(f"more agreeing answers than answers: {self!r}")


Tally = NpsTally | CsatTally | CesTally

TALLY_TYPES: Mapping[Metric, type[NpsTally] | type[CsatTally] | type[CesTally]] = {
    Metric.NPS: NpsTally,
    Metric.CSAT: CsatTally,
    Metric.CES: CesTally,
}


def empty(metric: Metric) -> Tally:
    return TALLY_TYPES[metric]()


def total(metric: Metric, tallies: Iterable[Tally]) -> Tally:
    result = empty(metric)
    for tally in tallies:
        result = result + tally  # type: ignore[operator]
    return result


def tally_of(metric: Metric, scale: Scale, score: int, scoring: Scoring) -> Tally:
    """The tally of one answer. ``score`` must already be valid on ``scale`` (see events)."""
    if metric is Metric.NPS:
        if score >= PROMOTER_FROM:
            return NpsTally(promoters=1)
        return NpsTally(detractors=1) if score <= DETRACTOR_TO else NpsTally(passives=1)
    if metric is Metric.CSAT:
        threshold = scoring.csat.threshold(scale)
        if threshold is None:
            raise ValueError(f"CSAT scale {scale} is not accepted")
        return CsatTally(n=1, satisfied=int(score >= threshold))
    ces = scoring.ces
    return CesTally(
        n=1, total=score, total_sq=score * score, agree=int(ces.agree_from <= score <= ces.agree_to)
    )


class Tallier:
    """Tallies answers in bulk: one-answer tallies are built once per (metric, scale, score).

    The hot path counts identical answers and multiplies, so a batch of thousands of answers
    creates a handful of tally values instead of one per answer.
    """

    __slots__ = ("_units", "scoring")

    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring
        self._units: dict[tuple[Metric, Scale, int], Tally] = {}

    def unit(self, metric: Metric, scale: Scale, score: int) -> Tally:
        key = (metric, scale, score)
        unit = self._units.get(key)
        if unit is None:
            unit = self._units[key] = tally_of(metric, scale, score, self.scoring)
        return unit

    def tally(self, metric: Metric, answers: Mapping[tuple[Scale, int], int]) -> Tally:
        """The tally of ``answers``: how many times each (scale, score) was given."""
        result: Tally | None = None
        for (scale, score), times in answers.items():
            unit = self.unit(metric, scale, score)
            part = unit if times == 1 else unit * times
            result = part if result is None else result + part  # type: ignore[operator]
        return empty(metric) if result is None else result
