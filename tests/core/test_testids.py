"""The block id store: the same ids, order and cap as a plain sorted list, across merges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.testids import BLOCK, IdStore, SortedIds

# Ids as tools write them: shared prefixes, brackets, spaces, newlines and non-ASCII, never NUL.
IDS = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
              max_size=12).map(lambda s: "tests/test_x.py::T::" + s)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(IDS, max_size=3 * BLOCK), max_size=12), st.integers(1, 400))
def test_store_keeps_the_first_cap_distinct_ids_sorted(batches: list[list[str]], cap: int) -> None:
    store, model, complete = IdStore(cap), [], True
    for batch in batches:
        for test_id in batch:
            if not complete:
                break
            if test_id not in model:
                if len(model) < cap:
                    model.append(test_id)
                else:
                    complete = False
            assert store.add(test_id) or not complete
    view = store.view()
    expected = sorted(model)
    assert view == expected and list(view) == expected and len(view) == len(expected)
    for test_id in expected:
        assert test_id in view
    assert all(x not in view for x in ("", "tests/test_x.py::T::\0", "zzz", 5))
    if expected:
        assert [view[i] for i in range(len(view))] == expected
        assert view[-1] == expected[-1] and view[-len(expected)] == expected[0]
        assert view[1:3] == expected[1:3]


def test_blocks_stay_small_and_the_view_is_a_snapshot() -> None:
    ids = [f"pkg.mod::t{i:05}" for i in range(1000)]
    store = IdStore(5000)
    for test_id in reversed(ids):
        store.add(test_id)
    view = store.view()
    assert view == ids and view == SortedIds.of(ids)
    assert all(len(b.split("\0")) <= BLOCK for b in view._blocks)
    store.add("pkg.mod::a-new-one")
    assert len(view) == 1000 and len(store.view()) == 1001  # the earlier view did not change
    assert "pkg.mod::t00999" in view and "pkg.mod::t01000" not in view
