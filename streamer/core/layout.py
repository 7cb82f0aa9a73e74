"""The persisted layout's names: keys, the version, and the refusal of state it must not read.

Keys are ``{source partition}|H`` (the header), ``{p}|L|{seq}`` (log records) and
``{p}|S|{generation}|{index}`` (snapshot chunks); ``streamer.core.ledger`` writes and reads them.

The header names what the state can only be read with: the layout version (the records' form),
the bucket size (what the counts' bucket starts mean) and the scoring policy (what the counts
mean: ``scales.Scoring.policy``). ``check_layout`` refuses a header that disagrees with the
configured ones in a way that would misread the state, saying which setting and what to do.
State whose header predates a field (the scoring policy) is read as written with the field's
default, and only when the configured value is that default: a deployment that kept the
defaults upgrades in place, any other is refused with a message. So adding the field needs no
new ``LAYOUT_VERSION``, which would refuse every deployment's state; the version changes when
the records' form does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from streamer.core.durations import format_duration_ms
from streamer.core.scales import Scoring

LAYOUT_VERSION = 2
CHUNK_BYTES = 262_144
"""A snapshot chunk's size, well under Kafka's default 1 MB message limit."""

AFRESH = (
    "start afresh with a new STREAMER_APP_ID (the input is then read again from the start of its "
    "retention; the old changelog topics can be deleted)"
)
WHAT_TO_DO = f"Run the version that wrote it, or {AFRESH}."

POLICY_SETTINGS: Mapping[str, str] = {
    "ces": "STREAMER_CES_SCALE",
    "csat": "STREAMER_CSAT_SATISFIED_FROM",
}
"""The setting behind each part of the scoring policy (``Scoring.policy``) the header records."""
DEFAULT_POLICY: Mapping[str, str] = Scoring().policy()
"""The scoring policy of the default settings: what state whose header does not record one (or
a part of one) was counted with, if it can be read at all (``check_layout``)."""


class LayoutError(ValueError):
    """Persisted state this version cannot read as configured; the message says what to do."""


class Write(NamedTuple):
    """A changelog record to write (``value`` None: delete the key)."""

    partition: int
    key: bytes
    value: bytes | None


def header_key(partition: int) -> bytes:
    return f"{partition}|H".encode()


def log_key(partition: int, seq: int) -> bytes:
    return f"{partition}|L|{seq}".encode()


def chunk_key(partition: int, generation: int, index: int) -> bytes:
    return f"{partition}|S|{generation}|{index}".encode()


def partition_of_key(key: bytes) -> int | None:
    """The source partition a persisted key belongs to (None: not a key of this layout)."""
    head, sep, _ = key.partition(b"|")
    return int(head) if sep and head.isdigit() else None


def check_layout(
    partition: int, header: Mapping[str, object], bucket_ms: int, policy: Mapping[str, str]
) -> None:
    """Refuses (``LayoutError``) a header this version must not read with ``bucket_ms`` and the
    scoring ``policy`` (``Scoring.policy()``)."""
    version = header.get("v")
    if version != LAYOUT_VERSION:
        raise LayoutError(
            f"partition {partition}: state of layout version {version!r}, this version "
            f"reads version {LAYOUT_VERSION}. " + WHAT_TO_DO
        )
    stored = int(header["bucket_ms"])  # type: ignore[call-overload]
    if bucket_ms % stored:
        raise LayoutError(
            f"partition {partition}: the state holds {format_duration_ms(stored)} "
            f"buckets, which {format_duration_ms(bucket_ms)} buckets "
            f"(STREAMER_BUCKET) cannot hold exactly. Set STREAMER_BUCKET back to "
            f"{format_duration_ms(stored)} (or a multiple of it that divides an hour), or "
            "start afresh with a new STREAMER_APP_ID."
        )
    _check_policy(partition, header, policy)


def _check_policy(partition: int, header: Mapping[str, object], policy: Mapping[str, str]) -> None:
    """Refuses state counted with another scoring policy than ``policy``: its counts would be
    mixed with ones of another meaning (a CES mean above the scale's top, a CSAT share of two
    thresholds) in every window for as long as the longest one.

    A header written before the policy was recorded (layout version 2's first releases) has no
    ``scoring``. Its state was counted with whatever the settings were then, which nothing
    records: it is read as counted with the defaults (``DEFAULT_POLICY``), the only policy it
    can be read with without a guess, so a deployment that kept the default settings upgrades
    in place (the next snapshot's header records the policy), and one configured otherwise is
    refused. The message says so, since such a deployment's state may well have been counted
    with the configured settings all along, which this version cannot tell. A part of the
    policy a header lacks is taken at its default likewise, and a part this version does not
    know is not read (it has no setting here).
    """
    recorded = header.get("scoring")
    if recorded is not None and not isinstance(recorded, dict):
        raise LayoutError(
            f"partition {partition}: the state's scoring settings {recorded!r} cannot be read. "
            + WHAT_TO_DO
        )
    stored = {key: (recorded or {}).get(key, DEFAULT_POLICY.get(key)) for key in policy}
    changed = [key for key, value in policy.items() if stored[key] != value]
    if not changed:
        return

    def spelled(values: Mapping[str, object], sep: str = "=") -> str:
        return " and ".join(f"{POLICY_SETTINGS.get(key, key)}{sep}{values[key]}" for key in changed)

    if recorded is None:
        raise LayoutError(
            f"partition {partition}: the state was written by a version that did not record the "
            f"scoring settings it counted with, so it can only be read as counted with their "
            f"defaults ({spelled(stored)}), and this worker is configured with "
            f"{spelled(policy)}. If the state was counted with the defaults, set "
            f"{spelled(stored, ' back to ')}; if not, or to keep the new settings, {AFRESH}."
        )
    raise LayoutError(
        f"partition {partition}: the state was counted with {spelled(stored)}, and this worker "
        f"is configured with {spelled(policy)}: answers counted both ways would be mixed in the "
        f"same windows. Set {spelled(stored, ' back to ')}, or {AFRESH}."
    )


def records_of(items: Iterable[tuple[bytes, bytes]], partition: int) -> dict[bytes, bytes]:
    """The records of one partition, from everything persisted."""
    return {key: value for key, value in items if partition_of_key(key) == partition}
