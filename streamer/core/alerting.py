"""Alert state per (rule, series): everything that affects it lives in this file, its
transitions, which states are kept and how they are persisted.

    inactive --breach--> pending --breach held for `for`--> firing --clear/no data--> resolved

The whole behaviour is the table ``TRANSITIONS`` plus one guard: a pending alert whose breach
has lasted ``for_ms`` is promoted to firing (at once when ``for_ms`` is 0). Only a BREACH
verdict, which no rule gives below ``min_responses``, can lead to firing.
A firing alert holds through the hysteresis band and through a quiet spell with too few answers
to conclude anything; it resolves when the score is clearly back, or when no answers are left.
``step`` returns the new state and, on firing or resolving, an ``Alert`` value for the sinks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from streamer.core.rules import Rule, Signal, Verdict
from streamer.core.series import SeriesKey


class Status(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


_S, _V = Status, Signal
TRANSITIONS: dict[tuple[Status, Signal], Status] = {
    (_S.INACTIVE, _V.BREACH): _S.PENDING,
    (_S.INACTIVE, _V.HOLD): _S.INACTIVE,
    (_S.INACTIVE, _V.CLEAR): _S.INACTIVE,
    (_S.INACTIVE, _V.INSUFFICIENT): _S.INACTIVE,
    (_S.INACTIVE, _V.NO_DATA): _S.INACTIVE,
    # `for` means a breach at every evaluation: anything else while pending starts over.
    (_S.PENDING, _V.BREACH): _S.PENDING,
    (_S.PENDING, _V.HOLD): _S.INACTIVE,
    (_S.PENDING, _V.CLEAR): _S.INACTIVE,
    (_S.PENDING, _V.INSUFFICIENT): _S.INACTIVE,
    (_S.PENDING, _V.NO_DATA): _S.INACTIVE,
    (_S.FIRING, _V.BREACH): _S.FIRING,
    (_S.FIRING, _V.HOLD): _S.FIRING,
    (_S.FIRING, _V.CLEAR): _S.RESOLVED,
    (_S.FIRING, _V.INSUFFICIENT): _S.FIRING,
    (_S.FIRING, _V.NO_DATA): _S.RESOLVED,
    (_S.RESOLVED, _V.BREACH): _S.PENDING,
    (_S.RESOLVED, _V.HOLD): _S.RESOLVED,
    (_S.RESOLVED, _V.CLEAR): _S.RESOLVED,
    (_S.RESOLVED, _V.INSUFFICIENT): _S.RESOLVED,
    (_S.RESOLVED, _V.NO_DATA): _S.RESOLVED,
}


@dataclass(frozen=True, slots=True)
class AlertState:
    status: Status = Status.INACTIVE
    since_ms: int | None = None
    """When the current episode began: the first breach (pending) or the firing time."""
    evaluated_ms: int | None = None
    verdict: Verdict | None = None
    why: tuple[str, ...] = ()
    """What the page said caused it (a drop's breakdown), for re-sending it: a receiver keeps
    the annotations of the last copy it got."""


@dataclass(frozen=True, slots=True)
class Alert:
    """A transition worth telling a sink about: an alert fired or resolved."""

    rule: Rule
    series: SeriesKey
    status: Status
    starts_at_ms: int
    ends_at_ms: int | None
    verdict: Verdict | None
    """None only when re-sending a state restored after a restart, before its next evaluation."""
    why: tuple[str, ...] = ()
    """For a drop that fires: per breakdown, the values that pushed the score down most."""


def step(
    rule: Rule, series: SeriesKey, state: AlertState, verdict: Verdict, now_ms: int
) -> tuple[AlertState, Alert | None]:
    status = TRANSITIONS[(state.status, verdict.signal)]
    if status is Status.PENDING:
        since = (
            state.since_ms
            if state.status is Status.PENDING and state.since_ms is not None
            else now_ms
        )
        if now_ms - since < rule.for_ms:
            return AlertState(Status.PENDING, since, now_ms, verdict), None
        status = Status.FIRING
    if status is Status.FIRING:
        if state.status is Status.FIRING:
            return AlertState(Status.FIRING, state.since_ms, now_ms, verdict, state.why), None
        fired = Alert(rule, series, Status.FIRING, now_ms, None, verdict)
        return AlertState(Status.FIRING, now_ms, now_ms, verdict), fired
    if status is Status.RESOLVED and state.status is Status.FIRING:
        started = state.since_ms if state.since_ms is not None else now_ms
        resolved = Alert(rule, series, Status.RESOLVED, started, now_ms, verdict)
        return AlertState(Status.RESOLVED, None, now_ms, verdict), resolved
    return AlertState(status, None, now_ms, verdict), None


def is_kept(state: AlertState) -> bool:
    """Whether a state is worth keeping (and persisting): INACTIVE and RESOLVED both start over
    at the next breach, so only PENDING and FIRING are remembered."""
    return state.status in (Status.PENDING, Status.FIRING)


def encode_state(state: AlertState) -> dict[str, object]:
    """What is persisted of a state, versioned: the verdict is recomputed at the next
    evaluation."""
    encoded: dict[str, object] = {"v": 1, "status": state.status.value, "since_ms": state.since_ms}
    if state.why:
        encoded["why"] = list(state.why)
    return encoded


def decode_state(data: dict[str, object]) -> AlertState:
    if data.get("v") != 1:
        raise ValueError(f"alert state version {data.get('v')!r}, expected 1")
    since = data["since_ms"]
    why = data.get("why")
    return AlertState(
        Status(str(data["status"])),
        since if isinstance(since, int) else None,
        why=tuple(str(line) for line in why) if isinstance(why, list) else (),
    )
