"""The pickers' per-guild memory: kept for its lifetime, forgotten on request, bounded."""

from __future__ import annotations

from streammaxing.web.picker_cache import PickerCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_kept_for_its_lifetime_then_dropped() -> None:
    clock = Clock()
    cache: PickerCache[str] = PickerCache(ttl=30, clock=clock)
    cache.put("g", "pickers")
    clock.now += 29.9
    assert cache.get("g") == "pickers"
    clock.now += 0.1
    assert cache.get("g") is None


def test_forget_drops_one_guild_only() -> None:
    cache: PickerCache[str] = PickerCache(clock=Clock())
    cache.put("a", "A")
    cache.put("b", "B")
    cache.forget("a")
    cache.forget("unknown")
    assert cache.get("a") is None
    assert cache.get("b") == "B"


def test_the_oldest_entries_go_first_when_full() -> None:
    cache: PickerCache[int] = PickerCache(clock=Clock(), max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)  # renewed: now the newest
    cache.put("c", 4)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (3, 4)
