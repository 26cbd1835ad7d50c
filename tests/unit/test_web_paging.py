"""Long dashboard lists, a page at a time."""

from __future__ import annotations

import pytest

from streammaxing.web.paging import page_number, paginate


class TestPageNumber:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [(None, 1), ("", 1), ("3", 3), ("0", 1), ("-2", 1), ("x", 1), ("1.5", 1)],
    )
    def test_parse(self, raw: str | None, expected: int) -> None:
        """A positive whole number is the page; anything else is page 1."""
        assert page_number(raw) == expected


class TestPaginate:
    def test_pages_of_the_size(self) -> None:
        """250 items by 100: three pages, the last holding 50."""
        items = list(range(250))
        last = paginate(items, 3, size=100)
        assert (last.items, last.page, last.pages, last.total) == (items[200:], 3, 3, 250)
        assert paginate(items, 1, size=100).items == items[:100]

    def test_a_page_past_the_end_shows_the_last(self) -> None:
        """Asking for page 9 of 3 shows page 3."""
        assert paginate(list(range(250)), 9, size=100).page == 3

    def test_nothing_is_one_empty_page(self) -> None:
        """An empty list is page 1 of 1 with no items."""
        empty = paginate([], 1)
        assert (list(empty.items), empty.page, empty.pages, empty.total) == ([], 1, 1, 0)
