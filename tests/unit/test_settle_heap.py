"""`settle_heap`: what a long-running process built before serving leaves the collector's view."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streammaxing.commands import GC_THRESHOLD, settle_heap


@pytest.fixture(autouse=True)
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_what_was_built_is_frozen_and_young_objects_are_collected_less_often() -> None:
    built = [{"template": index} for index in range(100)]

    settle_heap()

    assert gc.get_freeze_count() > len(built)
    assert not any(obj is built for obj in gc.get_objects())
    assert gc.get_threshold()[0] == GC_THRESHOLD
    assert GC_THRESHOLD > 700  # CPython's default


def test_garbage_cycles_are_collected_not_frozen() -> None:
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second

    settle_heap()

    assert gone() is None
