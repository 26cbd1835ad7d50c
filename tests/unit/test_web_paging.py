"""Long dashboard lists, a page at a time: the requested page number."""

from __future__ import annotations

import pytest

from streammaxing.web.paging import page_number


class TestPageNumber:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [(None, 1), ("", 1), ("3", 3), ("0", 1), ("-2", 1), ("x", 1), ("1.5", 1)],
    )
    def test_parse(self, raw: str | None, expected: int) -> None:
        """A positive whole number is the page; anything else is page 1."""
        assert page_number(raw) == expected
