"""Webhook bodies parsed into JSON that jsonb can store."""

from __future__ import annotations

import json

import pytest

from streammaxing.ingest.json_body import REPLACEMENT, NotJsonError, parse_body


def test_a_plain_body_is_parsed_as_is() -> None:
    body = json.dumps({"event": {"title": "Héllo & <world>"}}, ensure_ascii=False).encode()
    assert parse_body(body) == {"event": {"title": "Héllo & <world>"}}


def test_ordinary_escapes_are_kept() -> None:
    assert parse_body(b'{"t": "a\\u0026b \\u00e9 \\ud83d\\ude00"}') == {"t": "a&b é \U0001f600"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"t": "a\\u0000b"}', {"t": f"a{REPLACEMENT}b"}),
        (b'{"t": "lone \\ud800 high"}', {"t": f"lone {REPLACEMENT} high"}),
        (b'{"t": "lone \\udc00 low"}', {"t": f"lone {REPLACEMENT} low"}),
        (
            b'{"k\\u0000": ["x\\u0000", {"y": "\\udfff"}]}',
            {f"k{REPLACEMENT}": [f"x{REPLACEMENT}", {"y": REPLACEMENT}]},
        ),
    ],
)
def test_characters_jsonb_refuses_become_the_replacement_character(
    body: bytes, expected: object
) -> None:
    assert parse_body(body) == expected


@pytest.mark.parametrize(
    "body",
    [b'{"n": NaN}', b'{"n": Infinity}', b'{"n": -Infinity}', b"{nope", b'{"t": "\xff"}', b""],
)
def test_what_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(NotJsonError):
        parse_body(body)
