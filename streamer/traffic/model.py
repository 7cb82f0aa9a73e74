"""A simulated contact center: touchpoints, channels, queues, agents, and answer mixes.

Pure (seeded ``random.Random``, time passed in), so tests and benchmarks get the same traffic.
A scripted drop (``checkout:nps:-40@120s``) worsens one touchpoint's metric from a moment on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from streamer.core.durations import parse_duration_ms

TOUCHPOINTS = (
    "support-call",
    "chat",
    "checkout",
    "billing",
    "onboarding",
    "returns",
    "ivr-menu",
    "email",
)
CHANNELS = ("voice", "chat", "email", "web", "ivr")
QUEUES = ("general", "billing", "technical", "retention")
REGIONS = ("emea", "amer", "apac")
# Producers in several time zones: the worker normalises them all to UTC.
ZONES = (
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)


@dataclass(frozen=True, slots=True)
class Drop:
    """From ``at_s`` seconds into the run, ``touchpoint``'s ``metric`` is ``delta`` worse:
    NPS points, or percentage points of satisfied (CSAT) and agree (CES) answers."""

    touchpoint: str
    metric: str
    delta: float
    at_s: float

    @classmethod
    def parse(cls, text: str) -> Drop:
        """``checkout:nps:-40@120s``"""
        try:
            target, _, at = text.partition("@")
            touchpoint, metric, delta = target.split(":")
            if metric not in ("nps", "csat", "ces"):
                raise ValueError(metric)
            return cls(touchpoint, metric, float(delta), parse_duration_ms(at or "0s") / 1000)
        except ValueError:
            raise ValueError(f"expected a drop like checkout:nps:-40@120s, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class Mix:
    promoter: float = 0.55
    detractor: float = 0.15
    satisfied: float = 0.82
    agree: float = 0.75


class Simulator:
    def __init__(
        self,
        seed: int = 1,
        touchpoints: tuple[str, ...] = TOUCHPOINTS,
        agents: int = 200,
        drops: tuple[Drop, ...] = (),
        duplicate_share: float = 0.01,
        bad_share: float = 0.005,
    ) -> None:
        self._rng = random.Random(seed)
        self.touchpoints = touchpoints
        self.agents = [f"agent-{i:04d}" for i in range(agents)]
        self.drops = drops
        self.duplicate_share = duplicate_share
        self.bad_share = bad_share
        self._seed = seed
        self._count = 0
        self._recent: list[dict[str, object]] = []
        base = random.Random(seed)
        self._mixes = {
            tp: Mix(
                base.uniform(0.4, 0.65),
                base.uniform(0.08, 0.2),
                base.uniform(0.7, 0.92),
                base.uniform(0.6, 0.85),
            )
            for tp in touchpoints
        }

    def mix(self, touchpoint: str, elapsed_s: float) -> Mix:
        mix = self._mixes[touchpoint]
        for drop in self.drops:
            if drop.touchpoint == touchpoint and elapsed_s >= drop.at_s:
                shift = drop.delta / 200 if drop.metric == "nps" else drop.delta / 100
                if drop.metric == "nps":
                    mix = Mix(
                        _clip(mix.promoter + shift),
                        _clip(mix.detractor - shift),
                        mix.satisfied,
                        mix.agree,
                    )
                elif drop.metric == "csat":
                    mix = Mix(mix.promoter, mix.detractor, _clip(mix.satisfied + shift), mix.agree)
                else:
                    mix = Mix(mix.promoter, mix.detractor, mix.satisfied, _clip(mix.agree + shift))
        return mix

    def next(
        self, now: datetime, elapsed_s: float
    ) -> tuple[bytes | None, dict[str, object] | bytes]:
        """(key, event): a JSON-ready dict, or raw bytes for a deliberately bad message."""
        rng = self._rng
        if self._recent and rng.random() < self.duplicate_share:
            retried = rng.choice(self._recent)  # a producer's retry: the very same answer
            return str(retried["touchpoint"]).encode(), retried
        if rng.random() < self.bad_share:
            return None, rng.choice(_BAD)
        self._count += 1
        touchpoint = rng.choice(self.touchpoints)
        metric = rng.choice(("nps", "nps", "csat", "ces"))
        mix = self.mix(touchpoint, elapsed_s)
        event: dict[str, object] = {
            "event_id": f"sim-{self._seed}-{self._count:09d}",
            "occurred_at": _stamp(
                now - timedelta(milliseconds=rng.randrange(2_000)), rng.choice(ZONES)
            ),
            "touchpoint": touchpoint,
            "metric": metric,
            "score": _score(rng, metric, mix),
            "channel": rng.choice(CHANNELS),
            "queue": rng.choice(QUEUES),
            "region": rng.choice(REGIONS),
            "agent_id": rng.choice(self.agents),
            "respondent_id": f"cust-{rng.randrange(10**7):07d}",
            "interaction_id": f"int-{self._count:09d}",
        }
        if metric == "csat" and rng.random() < 0.2:  # some systems ask CSAT on 1-10
            satisfied = rng.random() < mix.satisfied
            event["scale"], event["score"] = (
                "1-10",
                rng.randint(9, 10) if satisfied else rng.randint(1, 8),
            )
        self._recent = [*self._recent[-99:], event]
        return touchpoint.encode(), event


def _score(rng: random.Random, metric: str, mix: Mix) -> int:
    draw = rng.random()
    if metric == "nps":
        if draw < mix.promoter:
            return rng.randint(9, 10)
        return rng.randint(0, 6) if draw < mix.promoter + mix.detractor else rng.randint(7, 8)
    if metric == "csat":
        return rng.randint(4, 5) if draw < mix.satisfied else rng.randint(1, 3)
    return rng.randint(5, 7) if draw < mix.agree else rng.randint(1, 4)


def _stamp(moment: datetime, zone: timezone) -> str:
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def _clip(p: float) -> float:
    return min(1.0, max(0.0, p))


_BAD = (
    b"not json at all",
    b'{"event_id": "x", "metric": "nps"}',
    b'{"event_id": "bad-score", "occurred_at": "2026-01-01T00:00:00Z", "touchpoint": "chat",'
    b' "metric": "nps", "score": 11}',
    b'{"event_id": "bad-time", "occurred_at": "yesterday", "touchpoint": "chat",'
    b' "metric": "nps", "score": 5}',
    b"\xff\xfe\x00",
)


def utc_now() -> datetime:
    return datetime.now(UTC)
