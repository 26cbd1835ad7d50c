"""The bodies an interaction is answered with (Discord's interaction response types).

Every message is ephemeral (flag 64: only the invoking user sees it) and mentions nobody
(``allowed_mentions`` empty), whatever the text contains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

PONG: Final = 1
CHANNEL_MESSAGE: Final = 4
DEFERRED_CHANNEL_MESSAGE: Final = 5
AUTOCOMPLETE_RESULT: Final = 8
EPHEMERAL: Final = 1 << 6
#: Discord shows at most 25 autocomplete choices; names and string values are 1–100 chars.
MAX_CHOICES: Final = 25
MAX_CHOICE_LENGTH: Final = 100
MAX_CONTENT: Final = 2000

NO_MENTIONS: Final[Mapping[str, list[str]]] = {"parse": []}

Reply = dict[str, Any]


def pong() -> Reply:
    return {"type": PONG}


def message_data(text: str, *, embeds: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The ephemeral message body (also what edits of ``@original`` send)."""
    content = text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"
    data: dict[str, Any] = {
        "content": content,
        "flags": EPHEMERAL,
        "allowed_mentions": dict(NO_MENTIONS),
    }
    if embeds:
        data["embeds"] = [dict(embed) for embed in embeds]
    return data


def message(text: str, *, embeds: Sequence[Mapping[str, Any]] = ()) -> Reply:
    """An ephemeral message answering the command inline."""
    return {"type": CHANNEL_MESSAGE, "data": message_data(text, embeds=embeds)}


def deferred() -> Reply:
    """ "Thinking…", visible only to the user; a job edits ``@original`` with the answer."""
    return {"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}


def choices(pairs: Iterable[tuple[str, str]]) -> Reply:
    """Autocomplete suggestions: (shown name, submitted value), at most 25."""
    picked = [
        {"name": name[:MAX_CHOICE_LENGTH], "value": value[:MAX_CHOICE_LENGTH]}
        for name, value in pairs
        if name and value
    ][:MAX_CHOICES]
    return {"type": AUTOCOMPLETE_RESULT, "data": {"choices": picked}}
