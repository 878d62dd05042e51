"""Distinct test ids in sorted blocks: the Measurer's bounded id store and its read-only view.

A test id kept as its own ``str`` costs ~50 bytes of object header plus a list slot; up to
``max_test_ids`` (50,000) of them were two thirds of what ``ci-truth check`` holds on a 1 GB
report. Here ids live in blocks of up to ``BLOCK`` sorted ids joined by NUL (which no XML
text can hold, so no id contains it): ~55 bytes an id less, found by bisecting the blocks'
first ids, and merged block by block so that no whole copy of them ever exists.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from typing import overload

BLOCK = 32
SEP = "\0"
_GROUP = 32  # blocks merged at once: C does the splitting and sorting, ~1,000 ids at a time


class SortedIds(Sequence[str]):
    """Sorted distinct ids held in blocks; a read-only sequence (equal to a list of them)."""

    __slots__ = ("_blocks", "_heads", "_len")

    def __init__(self, blocks: list[str] | None = None, heads: list[str] | None = None,
                 length: int = 0) -> None:
        self._blocks = blocks or []
        self._heads = heads or []
        self._len = length

    @classmethod
    def of(cls, ids: Sequence[str]) -> SortedIds:
        """The view of already sorted distinct ids (tests and adapters)."""
        blocks = [SEP.join(ids[i:i + BLOCK]) for i in range(0, len(ids), BLOCK)]
        return cls(blocks, [ids[i] for i in range(0, len(ids), BLOCK)], len(ids))

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        for block in self._blocks:
            yield from block.split(SEP)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("test id index out of range")
        for block in self._blocks:  # blocks hold BLOCK ids except where merges left fewer
            n = block.count(SEP) + 1  # counted in C: only the block holding it is split
            if index < n:
                return block.split(SEP)[index]
            index -= n
        raise IndexError("test id index out of range")  # pragma: no cover - lengths agree

    def __contains__(self, test_id: object) -> bool:
        if not isinstance(test_id, str) or not self._blocks:
            return False
        i = bisect_right(self._heads, test_id) - 1
        if i < 0:
            return False
        block, n = self._blocks[i], len(test_id)
        at = block.find(test_id)
        while at >= 0:  # a match must be a whole id: NUL (or the block's edge) on both sides
            end = at + n
            if (at == 0 or block[at - 1] == SEP) and (end == len(block) or block[end] == SEP):
                return True
            at = block.find(test_id, end)
        return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SortedIds):
            if self._len != other._len:
                return False
            return self._blocks == other._blocks or list(self) == list(other)
        if isinstance(other, list | tuple):
            return len(other) == self._len and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking sequence semantics

    def __repr__(self) -> str:
        return f"SortedIds({len(self)} ids)"


class IdStore:
    """Distinct test ids up to a cap: new ids wait in a small set, then join the blocks.

    Every ``cap // 8`` new ids are merged into the sorted blocks, dropping ids already held;
    once the blocks are nearly full an id is first looked up in them, so the count is exact at
    the cap. The work per id stays constant (a merge follows at least ``cap // 8`` additions or
    fills the store). docs/performance.md ("Memory") has what this saves.
    """

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._chunk = max(1, cap // 8)
        self._ids = SortedIds()
        self._pending: set[str] = set()
        self._exact = False        # pending ids are known to be absent from the blocks

    def add(self, test_id: str) -> bool:
        """Keep `test_id`; False when it is new but `cap` distinct ids are already kept."""
        pending = self._pending
        if test_id in pending:
            return True
        if self._exact and test_id in self._ids:
            return True
        if len(self._ids) + len(pending) >= self._cap:
            if self._exact:
                return False
            self._merge()
            return self.add(test_id)
        pending.add(test_id)
        if len(pending) >= self._chunk and not self._exact:
            self._merge()
        return True

    def add_many(self, test_ids: list[str]) -> bool:
        """`add` for each id in turn; False when one of them was dropped at the cap.

        Far from the cap (and before the store is nearly full) the ids go to the pending set
        at once: the same ids are kept as one by one, since none can be dropped.
        """
        pending = self._pending
        if not self._exact and len(self._ids) + len(pending) + len(test_ids) < self._cap:
            pending.update(test_ids)
            if len(pending) >= self._chunk:
                self._merge()
            return True
        # all() stops at the first id dropped: Measurer stops adding once one was
        return all(self.add(test_id) for test_id in test_ids)

    def view(self) -> SortedIds:
        """The distinct ids kept, sorted (shares the blocks; later additions do not show)."""
        self._merge()
        ids = self._ids
        return SortedIds(list(ids._blocks), list(ids._heads), len(ids))

    def _merge(self) -> None:
        """Fold the pending ids into the blocks; blocks no new id falls into stay as they are.

        Old blocks are popped as they are re-blocked, so no second copy of them builds up.
        """
        if not self._pending:
            return
        incoming = sorted(self._pending)
        self._pending.clear()
        old, old_heads = self._ids._blocks, self._ids._heads
        old.reverse()
        old_heads.reverse()
        blocks: list[str] = []
        heads: list[str] = []
        count = len(self._ids)
        taken = 0               # incoming ids already placed
        while old:
            group = [old.pop() for _ in range(min(_GROUP, len(old)))]
            group_heads = [old_heads.pop() for _ in range(len(group))]
            # the incoming ids below the next group's first head belong with this group
            limit = bisect_left(incoming, old_heads[-1], taken) if old_heads else len(incoming)
            if limit == taken:   # untouched: kept as they are (ids in order usually land last)
                blocks += group
                heads += group_heads
                continue
            ids = SEP.join(group).split(SEP)
            del group
            held = len(ids)
            ids = sorted(dict.fromkeys(ids + incoming[taken:limit]))
            taken = limit
            count += len(ids) - held
            _chunk(ids, blocks, heads)
        if taken < len(incoming):
            count += len(incoming) - taken
            _chunk(incoming[taken:], blocks, heads)
        self._ids = SortedIds(blocks, heads, count)
        self._exact = self._cap - count < self._chunk


def _chunk(ids: list[str], blocks: list[str], heads: list[str]) -> None:
    """Append sorted ``ids`` as blocks of nearly equal size, none over BLOCK."""
    n = len(ids)
    parts = -(-n // BLOCK)
    for k in range(parts):
        part = ids[k * n // parts:(k + 1) * n // parts]
        blocks.append(SEP.join(part))
        heads.append(part[0])
