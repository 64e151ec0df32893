"""The bounded memory of seen ids used for fill and trade deduplication."""

from __future__ import annotations

from bot.core.recent import RecentIds


def test_the_oldest_id_is_forgotten_first_and_a_re_added_one_counts_as_new() -> None:
    ids = RecentIds(3)
    for key in ("a", "b", "c"):
        ids.add(key)
    ids.add("a")          # seen again: now the latest
    ids.add("d")          # over capacity: "b" (the oldest) goes
    assert ("b" in ids, "a" in ids, "c" in ids, "d" in ids, len(ids)) == (False, True, True, True, 3)
    ids.discard("c")
    ids.discard("missing")
    assert "c" not in ids and len(ids) == 2


def test_memory_stays_bounded_over_a_long_run() -> None:
    ids = RecentIds(1000)
    for i in range(50_000):
        ids.add(f"t{i}")
    assert len(ids) == 1000 and "t49999" in ids and "t48999" not in ids and "t49000" in ids
