"""Discord's message and embed limits, and truncation that respects them.

Discord counts lengths in Unicode code points (Python ``len``) after trimming leading and
trailing whitespace from embed texts; every value this module returns is already trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

ELLIPSIS: Final = "…"

CONTENT_MAX: Final = 2000
TITLE_MAX: Final = 256
DESCRIPTION_MAX: Final = 4096
FIELDS_MAX: Final = 25
FIELD_NAME_MAX: Final = 256
FIELD_VALUE_MAX: Final = 1024
FOOTER_TEXT_MAX: Final = 2048
AUTHOR_NAME_MAX: Final = 256
EMBED_TOTAL_MAX: Final = 6000
COLOR_MAX: Final = 0xFFFFFF
# Not in our Discord notes: a conservative cap; a longer URL is dropped rather than risk a 400.
URL_MAX: Final = 2048


def truncate(text: str, limit: int) -> str:
    """Return ``text`` if it fits in ``limit`` code points, else a prefix ending in ``…``.

    The result never exceeds ``limit``; a limit below 1 gives the empty string.
    """
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    return text[: limit - 1].rstrip() + ELLIPSIS


def embed_text_length(embed: dict[str, Any]) -> int:
    """The length Discord counts towards the 6000 total for one embed."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    total += len(embed.get("footer", {}).get("text", ""))
    total += len(embed.get("author", {}).get("name", ""))
    return total


@dataclass(frozen=True)
class _Slot:
    """One shrinkable text in an embed: ``owner[key]``, never shorter than ``minimum``."""

    owner: dict[str, Any]
    key: str
    minimum: int


def _shrink_order(embed: dict[str, Any]) -> list[_Slot]:
    fields: list[dict[str, Any]] = list(reversed(embed.get("fields", [])))
    slots = [_Slot(embed, "description", 0)] if "description" in embed else []
    slots += [_Slot(field, "value", 1) for field in fields]
    slots += [_Slot(field, "name", 1) for field in fields]
    if "footer" in embed:
        slots.append(_Slot(embed["footer"], "text", 0))
    if "author" in embed:
        slots.append(_Slot(embed["author"], "name", 0))
    if "title" in embed:
        slots.append(_Slot(embed, "title", 0))
    return slots


def fit_embed_total(embed: dict[str, Any]) -> None:
    """Shrink ``embed`` in place until its texts total at most 6000 code points.

    Deterministic order: the description first, then field values from the last field to the
    first, then field names likewise (a field keeps at least ``…``), then footer text, author
    name and title. A description, footer, author or title shrunk to nothing is removed.
    """
    excess = embed_text_length(embed) - EMBED_TOTAL_MAX
    for slot in _shrink_order(embed):
        if excess <= 0:
            break
        current: str = slot.owner[slot.key]
        shrunk = truncate(current, max(slot.minimum, len(current) - excess))
        slot.owner[slot.key] = shrunk
        excess -= len(current) - len(shrunk)
    for key, inner in (("footer", "text"), ("author", "name")):
        if key in embed and not embed[key][inner]:
            del embed[key]
    for key in ("description", "title"):
        if key in embed and not embed[key]:
            del embed[key]
