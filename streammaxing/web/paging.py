"""Long lists on a page, a page at a time: a guild can track thousands of streamers, and
rendering every row of every form on each view costs more than the whole rest of the page.
The rows of a page are read in SQL (``OFFSET``/``LIMIT``) by the operations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: Rows per page (streamers on the guild page, a server's streamers on /me): rendering the rows
#: (three small forms each on the guild page) is most of the page's CPU.
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
