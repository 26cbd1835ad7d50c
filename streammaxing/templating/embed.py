"""Render a template's ``embed`` object into a Discord embed that Discord will accept.

Rendering is defensive: a stored template may predate today's validation, so anything of the
wrong type or shape is skipped rather than sent. Texts are trimmed, substituted and truncated to
Discord's limits; parts that render empty (no game, no avatar) are dropped, because Discord
rejects empty field names/values and empty image URLs.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from streammaxing.templating import limits
from streammaxing.templating.variables import substitute

# Parts that make an embed visible; an embed with none of them is not sent.
_VISIBLE_KEYS = ("title", "description", "fields", "footer", "author", "image", "thumbnail")


# RFC 3986's unreserved and reserved characters plus "%": anything else (spaces, braces, quotes,
# non-ASCII) must already be percent-encoded, or Discord may answer "Not a well formed URL".
_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")


def is_web_url(text: str) -> bool:
    """True for a well-formed ``http``/``https`` URL with a host, in plain (encoded) ASCII."""
    if not text or len(text) > limits.URL_MAX or not _URL_CHARACTERS.issuperset(text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parsing the port is the check: a bad one raises ValueError
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _text(raw: object, values: Mapping[str, str], limit: int) -> str:
    if not isinstance(raw, str):
        return ""
    return limits.truncate(substitute(raw, values).strip(), limit)


def _url(raw: object, values: Mapping[str, str]) -> str | None:
    if not isinstance(raw, str):
        return None
    url = substitute(raw, values, in_url=True).strip()
    return url if is_web_url(url) else None


def _image(raw: object, values: Mapping[str, str]) -> dict[str, str] | None:
    if not isinstance(raw, Mapping):
        return None
    url = _url(raw.get("url"), values)
    return {"url": url} if url else None


def _footer(raw: object, values: Mapping[str, str]) -> dict[str, str] | None:
    if not isinstance(raw, Mapping):
        return None
    text = _text(raw.get("text"), values, limits.FOOTER_TEXT_MAX)
    if not text:
        return None
    footer = {"text": text}
    icon_url = _url(raw.get("icon_url"), values)
    if icon_url:
        footer["icon_url"] = icon_url
    return footer


def _author(raw: object, values: Mapping[str, str]) -> dict[str, str] | None:
    if not isinstance(raw, Mapping):
        return None
    name = _text(raw.get("name"), values, limits.AUTHOR_NAME_MAX)
    if not name:
        return None
    author = {"name": name}
    for key in ("url", "icon_url"):
        url = _url(raw.get(key), values)
        if url:
            author[key] = url
    return author


def _fields(raw: object, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rendered fields; a field whose name or value renders blank is dropped (never sent empty)."""
    if not isinstance(raw, list):
        return []
    fields: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        name = _text(item.get("name"), values, limits.FIELD_NAME_MAX)
        value = _text(item.get("value"), values, limits.FIELD_VALUE_MAX)
        if not name or not value:
            continue
        field: dict[str, Any] = {"name": name, "value": value}
        if isinstance(item.get("inline"), bool):
            field["inline"] = item["inline"]
        fields.append(field)
    return fields[: limits.FIELDS_MAX]


def _color(raw: object) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= limits.COLOR_MAX:
        return raw
    return None


def render_embed(raw: object, values: Mapping[str, str]) -> dict[str, Any] | None:
    """The Discord embed for the template's ``embed`` value, or None if nothing visible remains."""
    if not isinstance(raw, Mapping):
        return None
    candidates: dict[str, Any] = {
        "title": _text(raw.get("title"), values, limits.TITLE_MAX),
        "description": _text(raw.get("description"), values, limits.DESCRIPTION_MAX),
        "url": _url(raw.get("url"), values),
        "color": _color(raw.get("color")),
        "timestamp": values["started_at"] if raw.get("timestamp") is True else None,
        "author": _author(raw.get("author"), values),
        "thumbnail": _image(raw.get("thumbnail"), values),
        "image": _image(raw.get("image"), values),
        "fields": _fields(raw.get("fields"), values),
        "footer": _footer(raw.get("footer"), values),
    }
    embed = {key: value for key, value in candidates.items() if value not in (None, "", [])}
    limits.fit_embed_total(embed)
    if not any(key in embed for key in _VISIBLE_KEYS):
        return None
    return embed
