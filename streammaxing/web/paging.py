"""Long lists on a page, a page at a time: a guild can track thousands of streamers, and
rendering every row of every form on each view costs more than the whole rest of the page.
The rows of a page are read in SQL (``OFFSET``/``LIMIT``); `paginate` slices a list in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: Rows per page: 50 streamer rows (three small forms each) render in about a millisecond.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of ``total`` items; ``page`` is 1-based and within 1..``pages``."""

    items: Sequence[T]
    page: int
    pages: int
    total: int


def page_number(raw: str | None) -> int:
    """The requested page: a positive whole number, else 1."""
    return int(raw) if raw is not None and raw.isdigit() and int(raw) > 0 else 1


def paginate(items: Sequence[T], page: int, size: int = PAGE_SIZE) -> Paged[T]:
    """The ``page``-th slice of ``items``; a page past the end shows the last one."""
    pages = max(1, -(-len(items) // size))
    page = min(max(1, page), pages)
    start = (page - 1) * size
    return Paged(items[start : start + size], page, pages, len(items))
