import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.core.ledger import BucketKey, BucketRecord, Entry, Outcome, apply, decode, encode
from streamer.core.scales import NPS_SCALE, Metric
from streamer.core.tally import NpsTally, Tallier, tally_of, total
from tests.core.strategies import SCORING

KEY = BucketKey(3, Metric.NPS, "check|out", 1_795_341_600_000)
TALLIER = Tallier(SCORING)
CHAT = (("channel", "chat"),)

entries = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d", "e", "f"]), st.integers(0, 10), st.booleans()),
    max_size=40,
).map(
    lambda items: [
        Entry(offset, event_id, NPS_SCALE, score, ((), CHAT) if chat else ((),))
        for offset, (event_id, score, chat) in enumerate(items)
    ]
)


def expected_tally(items):
    first = {}
    for entry in items:
        first.setdefault(entry.event_id, entry)
    return total(
        Metric.NPS, (tally_of(Metric.NPS, NPS_SCALE, e.score, SCORING) for e in first.values())
    )


@given(entries)
def test_each_event_id_counts_once(items):
    applied = apply(BucketRecord(KEY), items, TALLIER)
    assert applied.record.tallies.get((), NpsTally()) == expected_tally(items)
    unique = len({e.event_id for e in items})
    assert applied.outcomes[Outcome.ACCEPTED] == unique
    assert applied.outcomes[Outcome.DUPLICATE] == len(items) - unique


@given(entries, st.integers(0, 40), st.integers(0, 40))
def test_replaying_after_a_crash_counts_nothing_twice(items, crash_at, resume_from):
    """Whatever was persisted before a crash, re-delivery from any earlier offset is exact."""
    persisted = apply(BucketRecord(KEY), items[:crash_at], TALLIER).record
    resumed = apply(persisted, items[min(resume_from, crash_at) :], TALLIER)
    straight = apply(BucketRecord(KEY), items, TALLIER)
    assert resumed.record == straight.record
    assert resumed.outcomes[Outcome.REPLAYED] == max(
        0, min(crash_at, len(items)) - min(resume_from, crash_at)
    )


@given(entries, st.integers(0, 40))
def test_batch_boundaries_do_not_matter_and_deltas_add_up(items, cut):
    first = apply(BucketRecord(KEY), items[:cut], TALLIER)
    second = apply(first.record, items[cut:], TALLIER)
    assert second.record == apply(BucketRecord(KEY), items, TALLIER).record
    for dims, tally in second.record.tallies.items():
        assert first.delta.get(dims, NpsTally()) + second.delta.get(dims, NpsTally()) == tally


@given(entries)
def test_records_survive_encoding(items):
    record = apply(BucketRecord(KEY), items, TALLIER).record
    assert decode(encode(record)) == record


def test_an_unknown_record_version_is_refused():
    data = encode(BucketRecord(KEY))
    data["v"] = 99
    with pytest.raises(ValueError, match="version"):
        decode(data)
