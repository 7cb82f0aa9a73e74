from hashlib import blake2b

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.dedupe import MIN_CAPACITY, Dedupe


def digest(n: int) -> bytes:
    return blake2b(n.to_bytes(8), digest_size=16).digest()


# Each step: remember some ids under the next epoch, then maybe expire the epochs before one.
steps = st.lists(
    st.tuples(st.lists(st.integers(0, 3_000), max_size=400), st.integers(0, 3)), max_size=25
)


@given(steps)
@settings(max_examples=60, deadline=None)
def test_remembers_exactly_the_ids_of_live_epochs_through_expiry_and_rebuilds(steps):
    dedupe = Dedupe()
    model: dict[bytes, int] = {}  # id -> epoch, the live ones
    live_from = 1
    for epoch, (ids, expire_back) in enumerate(steps, start=1):
        for n in ids:
            key = digest(n)
            assert dedupe.add(key, epoch) == (key not in model)
            model.setdefault(key, epoch)
        if expire_back and epoch - expire_back > live_from:
            live_from = epoch - expire_back
            dedupe.expire_before(live_from)
            model = {key: e for key, e in model.items() if e >= live_from}
        assert len(dedupe) == len(model)


def test_a_table_of_churning_ids_keeps_a_size_for_its_live_ones():
    dedupe = Dedupe()
    for epoch in range(1, 201):
        for n in range(epoch * 500, epoch * 500 + 500):
            assert dedupe.add(digest(n), epoch)
        dedupe.expire_before(epoch - 3)  # about 2,000 live ids at once, 100,000 in all
    assert len(dedupe) == 2_000
    assert dedupe.nbytes() <= 20 * 4 * MIN_CAPACITY * 2  # not grown with the 100,000
    assert not dedupe.add(digest(100_000), 201)
    assert dedupe.add(digest(0), 201)  # long expired: counted again


@given(st.lists(st.sets(st.integers(0, 5_000), max_size=600), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_restored_records_are_remembered_until_their_epoch_expires(records):
    """A restart places every log record's digests at once; afterwards the table answers and
    expires exactly as if each id had been added under its record's epoch (an id in two
    records stays until the later one expires)."""
    dedupe = Dedupe()
    dedupe.restore([(epoch, b"".join(map(digest, ids))) for epoch, ids in enumerate(records, 1)])
    assert len(dedupe) == sum(map(len, records))
    last_epoch = {n: epoch for epoch, ids in enumerate(records, 1) for n in ids}
    cut = len(records) // 2 + 1
    dedupe.expire_before(cut)
    probe = 5_001  # an id never seen: added, not a duplicate
    for n in [*last_epoch, probe]:
        assert dedupe.add(digest(n), len(records) + 1) == (last_epoch.get(n, 0) < cut)


def test_digests_are_restored_before_anything_expires():
    dedupe = Dedupe()
    dedupe.add(digest(1), 1)
    dedupe.expire_before(2)
    with pytest.raises(ValueError, match="before anything expires"):
        dedupe.restore([(2, digest(2))])
