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
    [
        b'{"n": NaN}',
        b'{"n": Infinity}',
        b'{"n": -Infinity}',
        b'{"n": 1e400}',
        b'{"n": -2.5E+999}',
        b"{nope",
        b'{"t": "\xff"}',
        b"",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_what_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(NotJsonError):
        parse_body(body)


def test_integers_beyond_64_bits_are_kept() -> None:
    # orjson refuses them; the standard library's parse, which decides, keeps them exactly.
    assert parse_body(b'{"n": 123456789012345678901234567890, "m": -9223372036854775809}') == {
        "n": 123456789012345678901234567890,
        "m": -9223372036854775809,
    }


def test_a_lone_surrogate_next_to_other_escapes_is_cleaned_and_the_rest_kept() -> None:
    body = b'{"t": "\\u00e9\\ud800\\u0041", "u": "\\ud83d\\ude00"}'
    assert parse_body(body) == {"t": f"é{REPLACEMENT}A", "u": "\U0001f600"}


def test_long_digit_runs_in_strings_parse_the_same() -> None:
    body = b'{"id": "12345678901234567890123", "n": 18446744073709551615, "f": 0.5}'
    assert parse_body(body) == {"id": "12345678901234567890123", "n": 2**64 - 1, "f": 0.5}
