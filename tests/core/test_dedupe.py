from hashlib import blake2b

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
