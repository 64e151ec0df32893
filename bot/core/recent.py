"""A bounded memory of ids already seen (trade ids, fill ids), for deduplication in a process
that runs for months."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """The latest ``capacity`` ids added; the oldest is forgotten first. Set-like: ``in``,
    :meth:`add`, :meth:`discard`, ``len``."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def discard(self, key: str) -> None:
        self._ids.pop(key, None)
