"""Answer scales and what a score on them means: promoter, satisfied, agree.

Everything that turns a raw score into a category lives here, so a changed definition is a
change to this one file.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple, Self


class Metric(enum.StrEnum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


class _ScaleBounds(NamedTuple):
    low: int
    high: int


class Scale(_ScaleBounds):
    """An inclusive integer answer scale, spelled ``"low-high"`` on the wire.

    A tuple underneath because scales key the hot counters: a tuple hashes in C, a dataclass
    in Python, which cost a third of the tally path (see bench/core_throughput.py).
    """

    __slots__ = ()

    def __new__(cls, low: int, high: int) -> Self:
        if low >= high:
            raise ValueError(f"a scale needs low < high, got {low}-{high}")
        return super().__new__(cls, low, high)

    def __contains__(self, score: object) -> bool:
        return type(score) is int and self.low <= score <= self.high

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"

    @classmethod
    def parse(cls, text: str) -> Scale:
        low, sep, high = text.partition("-")
        if not sep or not low.isdigit() or not high.isdigit():
            raise ValueError(f"expected a scale like 1-5, got {text!r}")
        return cls(int(low), int(high))


NPS_SCALE = Scale(0, 10)
PROMOTER_FROM = 9
DETRACTOR_TO = 6

CSAT_5 = Scale(1, 5)
CSAT_7 = Scale(1, 7)
CSAT_10 = Scale(1, 10)
CES_7 = Scale(1, 7)
CES_5 = Scale(1, 5)


@dataclass(frozen=True, slots=True)
class CsatPolicy:
    """Top-2-box by default: satisfied from 4 on 1-5, 6 on 1-7, 9 on 1-10.

    ``satisfied_from`` maps each accepted scale to its lowest satisfied score; a scale that is
    not listed is not accepted. Dissatisfied is the bottom two boxes of the same scale.
    """

    satisfied_from: tuple[tuple[Scale, int], ...] = ((CSAT_5, 4), (CSAT_7, 6), (CSAT_10, 9))
    default_scale: Scale = CSAT_5

    def __post_init__(self) -> None:
        scales = [scale for scale, _ in self.satisfied_from]
        for scale in scales:
            if scales.count(scale) > 1:
                # The later pair would be silently ignored, and recorded in the state that way.
                raise ValueError(f"CSAT scale {scale} is listed twice: give it one satisfied-from")
        if self.default_scale not in scales:
            raise ValueError(f"the default CSAT scale {self.default_scale} is not an accepted one")
        for scale, threshold in self.satisfied_from:
            if threshold not in scale:
                raise ValueError(f"CSAT satisfied-from {threshold} is outside the scale {scale}")
            if threshold <= scale.low + 1:
                # An answer would be both satisfied and in the bottom-2 box of the follow-ups.
                raise ValueError(
                    f"CSAT satisfied-from {threshold} is in the dissatisfied bottom-2 box "
                    f"({scale.low}-{scale.low + 1}) of the scale {scale}"
                )

    def threshold(self, scale: Scale) -> int | None:
        for accepted, threshold in self.satisfied_from:
            if accepted == scale:
                return threshold
        return None

    @classmethod
    def parse(cls, text: str) -> CsatPolicy:
        """``"1-5:4,1-7:6"``: each accepted scale with its lowest satisfied score; the default
        scale is 1-5 when accepted, else the first."""
        pairs = []
        for part in text.split(","):
            scale, sep, threshold = part.partition(":")
            if not sep or not threshold.strip().isdigit():
                raise ValueError(
                    f"expected scale:lowest-satisfied pairs like 1-5:4,1-7:6, got {text!r}"
                )
            pairs.append((Scale.parse(scale.strip()), int(threshold)))
        default = CSAT_5 if any(s == CSAT_5 for s, _ in pairs) else pairs[0][0]
        return cls(tuple(pairs), default)

    def text(self) -> str:
        """The policy as STREAMER_CSAT_SATISFIED_FROM spells it, canonically: the default
        scale's pair first (the one ``parse`` takes as the default: 1-5 when accepted, else the
        first), then the other accepted scales in order. Equal policies have one text, different
        ones two."""
        effective = dict(self.satisfied_from)
        rest = sorted(scale for scale in effective if scale != self.default_scale)
        return ",".join(f"{scale}:{effective[scale]}" for scale in (self.default_scale, *rest))


@dataclass(frozen=True, slots=True)
class CesPolicy:
    """One CES scale per deployment, since means on different scales do not mix.

    The default is the 1-7 agree scale ("the company made it easy"), where agree is 5-7.
    The older 1-5 effort scale has low effort as good: ``CesPolicy(CES_5, agree_to=2,
    higher_is_easier=False)`` counts 1-2 as agree (easy).
    """

    scale: Scale = CES_7
    agree_from: int = 5
    agree_to: int = 7
    higher_is_easier: bool = True

    def __post_init__(self) -> None:
        if not (self.scale.low <= self.agree_from <= self.agree_to <= self.scale.high):
            raise ValueError(
                f"CES agree range {self.agree_from}-{self.agree_to} must lie inside {self.scale}"
            )

    @classmethod
    def low_effort_is_good(cls) -> CesPolicy:
        return cls(scale=CES_5, agree_from=1, agree_to=2, higher_is_easier=False)

    @classmethod
    def parse(cls, text: str) -> CesPolicy:
        """``"1-7"`` (agree 5-7) or ``"1-5"`` (low effort is good, 1-2)."""
        if text == "1-7":
            return cls()
        if text == "1-5":
            return cls.low_effort_is_good()
        raise ValueError(f"expected 1-7 or 1-5, got {text!r}")

    def text(self) -> str:
        """What decides the CES counts, the scale and the agree range, as STREAMER_CES_SCALE
        spells it (``"1-7"``, ``"1-5"``), or ``"1-7 agree 4-7"`` for a range no setting gives.
        ``higher_is_easier`` is left out: it says how counts read, not how they are made."""
        spelled = str(self.scale)
        agree = f"{self.agree_from}-{self.agree_to}"
        try:
            usual = CesPolicy.parse(spelled)
        except ValueError:
            return f"{spelled} agree {agree}"
        same = (usual.agree_from, usual.agree_to) == (self.agree_from, self.agree_to)
        return spelled if same else f"{spelled} agree {agree}"


@dataclass(frozen=True, slots=True)
class Scoring:
    """The deployment's scale definitions, shared by the decoder and the tallies."""

    csat: CsatPolicy = field(default_factory=CsatPolicy)
    ces: CesPolicy = field(default_factory=CesPolicy)

    def policy(self) -> dict[str, str]:
        """Everything configurable that decides how an answer is counted into the persisted
        tallies, as canonical texts: ``ces`` (``CesPolicy.text``, STREAMER_CES_SCALE) and
        ``csat`` (``CsatPolicy.text``, STREAMER_CSAT_SATISFIED_FROM). The persisted header
        records it, and state counted with another one is refused (``layout.check_layout``).
        The NPS bands (``PROMOTER_FROM``, ``DETRACTOR_TO``) are not in it: they are fixed by the
        code, and changing them would be a change of ``layout.LAYOUT_VERSION``."""
        return {"ces": self.ces.text(), "csat": self.csat.text()}

    def default_scale(self, metric: Metric) -> Scale:
        if metric is Metric.NPS:
            return NPS_SCALE
        if metric is Metric.CSAT:
            return self.csat.default_scale
        return self.ces.scale

    def accepts(self, metric: Metric, scale: Scale) -> bool:
        if metric is Metric.NPS:
            return scale == NPS_SCALE
        if metric is Metric.CSAT:
            return self.csat.threshold(scale) is not None
        return scale == self.ces.scale

    def is_unhappy(self, metric: Metric, scale: Scale, score: int) -> bool:
        """A detractor (NPS 0-6) or a dissatisfied answer (CSAT bottom-2-box): worth a follow-up."""
        if metric is Metric.NPS:
            return score <= DETRACTOR_TO
        if metric is Metric.CSAT:
            return score <= scale.low + 1
        return False
