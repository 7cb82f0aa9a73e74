"""Why a score moved: a change split across the values of one breakdown into rate and mix.

Every score is a mean per answer (NPS of +100/0/-100, CSAT and CES agree of 1/0, CES mean of
the raw score), so a touchpoint's score is the answer-weighted mean of its breakdown values'
scores: ``S = sum_g w_g s_g`` with ``w_g = n_g / n`` the value's share of the period's answers.
Between a baseline period (b) and a current one (c), the change ``S_c - S_b`` splits exactly,
per value g, into the two parts of the symmetric two-period decomposition of Kitagawa (1955),
as generalised by Das Gupta (1993):

- rate_g = (w_gb + w_gc) / 2 * (s_gc - s_gb): the value itself got better or worse;
- mix_g = (w_gc - w_gb) * ((s_gb + s_gc) / 2 - S_avg): the value's share of the answers moved.

``S_avg = (S_b + S_c) / 2`` is the touchpoint's average score over the two periods. Kitagawa's
mix term has no ``- S_avg``; subtracting it changes no total, because the shares of each period
sum to one, so ``sum_g (w_gc - w_gb) S_avg = 0``, and it makes each value's mix readable on its
own: more answers from a worse-than-average value (or fewer from a better one) is negative.
Law (tested with hypothesis): ``sum_g (rate_g + mix_g) == S_c - S_b``, up to float rounding.

A value with no answers in one period has no score there (None in its ``Contribution``); the
decomposition uses its score from the other period in both, which the exact total allows since
its share there is zero. Its rate is then zero and its effect is pure mix: a channel that
appears (or disappears) moves the score by how far it stands from the average, not by
"getting worse".

References: Kitagawa, E. M. (1955). "Components of a difference between two rates". Journal of
the American Statistical Association 50(272), 1168-1194. Das Gupta, P. (1993). Standardization
and Decomposition of Rates: A User's Manual. U.S. Bureau of the Census, P23-186.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streamer.core.scales import CesPolicy
from streamer.core.scores import ScoreKind, estimate
from streamer.core.tally import Tally, total

SMALL_SAMPLE = 10
"""Fewer answers than this in a period where a value is present flag it as a small sample."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """One breakdown value's part of a score change, in the score's units.

    ``score_base`` / ``score_cur`` are None in a period where the value had no answers.
    ``total = rate + mix``.
    """

    value: str
    n_base: int
    n_cur: int
    share_base: float
    share_cur: float
    score_base: float | None
    score_cur: float | None
    rate: float
    mix: float

    @property
    def total(self) -> float:
        return self.rate + self.mix

    def small_sample(self, min_n: int) -> bool:
        """Fewer than ``min_n`` answers in a period where the value has a score."""
        return any(0 < n < min_n for n in (self.n_base, self.n_cur))


@dataclass(frozen=True, slots=True)
class Decomposition:
    """A touchpoint's score change from base to current, split over one breakdown's values.

    ``parts`` are ordered by value; ``sum(p.total for p in parts) == total_change`` up to float
    rounding.
    """

    kind: ScoreKind
    worse_is_higher: bool
    n_base: int
    n_cur: int
    score_base: float
    score_cur: float
    parts: tuple[Contribution, ...]

    @property
    def total_change(self) -> float:
        return self.score_cur - self.score_base

    def worsening(self, contribution: Contribution) -> float:
        """How far ``contribution`` pushed the score in the worse direction (negative: better)."""
        return contribution.total if self.worse_is_higher else -contribution.total


def worse_is_higher(kind: ScoreKind, ces: CesPolicy) -> bool:
    """Whether a higher score is worse: only a CES mean on a scale where high means high effort."""
    return kind is ScoreKind.CES_MEAN and not ces.higher_is_easier


def decompose(
    kind: ScoreKind, base: Mapping[str, Tally], current: Mapping[str, Tally], ces: CesPolicy
) -> Decomposition | None:
    """Split the change of the ``kind`` score from ``base`` to ``current`` over their keys.

    The mappings hold the tallies of one breakdown's values (``{"chat": ..., "voice": ...}``),
    which partition the touchpoint's answers in each period; the touchpoint's score is that of
    their sum. None when either period has no answers, as there is then no change to explain.
    Values with no answers in either period are left out.
    """
    base_total = total(kind.metric, base.values())
    cur_total = total(kind.metric, current.values())
    base_score = estimate(kind, base_total, ces)
    cur_score = estimate(kind, cur_total, ces)
    if base_score is None or cur_score is None:
        return None
    average = (base_score.value + cur_score.value) / 2
    parts = []
    for value in sorted(base.keys() | current.keys()):
        before = _score(kind, base.get(value), ces)
        after = _score(kind, current.get(value), ces)
        if before is None and after is None:
            continue
        n_base, n_cur = _n(base.get(value)), _n(current.get(value))
        w_base, w_cur = n_base / base_score.n, n_cur / cur_score.n
        s_base = after if before is None else before
        s_cur = before if after is None else after
        assert s_base is not None and s_cur is not None  # one of the two is present
        parts.append(
            Contribution(
                value=value,
                n_base=n_base,
                n_cur=n_cur,
                share_base=w_base,
                share_cur=w_cur,
                score_base=before,
                score_cur=after,
                rate=(w_base + w_cur) / 2 * (s_cur - s_base),
                mix=(w_cur - w_base) * ((s_base + s_cur) / 2 - average),
            )
        )
    return Decomposition(
        kind=kind,
        worse_is_higher=worse_is_higher(kind, ces),
        n_base=base_score.n,
        n_cur=cur_score.n,
        score_base=base_score.value,
        score_cur=cur_score.value,
        parts=tuple(parts),
    )


def _n(tally: Tally | None) -> int:
    return 0 if tally is None else tally.n


def _score(kind: ScoreKind, tally: Tally | None, ces: CesPolicy) -> float | None:
    found = None if tally is None else estimate(kind, tally, ces)
    return None if found is None else found.value


def top_contributors(decomposition: Decomposition, k: int = 3) -> tuple[Contribution, ...]:
    """The ``k`` values that pushed the score furthest in the worse direction, worst first.

    Values that moved it the better way (or not at all) are never listed: they do not explain a
    drop. Ties go by value, so the order is stable.
    """
    worse = [p for p in decomposition.parts if decomposition.worsening(p) > 0]
    worse.sort(key=lambda p: (-decomposition.worsening(p), p.value))
    return tuple(worse[:k])


# Units per score: NPS points, percentage points for shares, CES mean points on its raw scale.
_UNITS: Mapping[ScoreKind, tuple[float, int, str]] = {
    ScoreKind.NPS: (1.0, 1, ""),
    ScoreKind.CSAT: (100.0, 1, "pp"),
    ScoreKind.CES_AGREE: (100.0, 1, "pp"),
    ScoreKind.CES_MEAN: (1.0, 2, ""),
}


def describe(
    contributions: Iterable[Contribution],
    dimension: str,
    kind: ScoreKind,
    min_n: int = SMALL_SAMPLE,
) -> str:
    """One line for an alert annotation, e.g.
    ``channel=chat: rate -12.0, mix -3.1 (n 40->38); channel=voice: rate -0.4, mix -1.2 (n 9->50,
    n<10)``, in the order given. Empty when there is nothing to name.
    """
    scale, decimals, unit = _UNITS[kind]

    def signed(amount: float) -> str:
        # + 0.0 turns a rounded -0.0 into 0.0, so a zero effect never reads as a negative one.
        return f"{round(amount * scale, decimals) + 0.0:+.{decimals}f}{unit}"

    lines = []
    for part in contributions:
        sample = f"n {part.n_base}->{part.n_cur}"
        if part.small_sample(min_n):
            sample += f", n<{min_n}"
        lines.append(
            f"{dimension}={part.value}: rate {signed(part.rate)}, mix {signed(part.mix)} ({sample})"
        )
    return "; ".join(lines)
