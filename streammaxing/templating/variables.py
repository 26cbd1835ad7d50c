"""Template variables: their names, their values for a stream, and substitution.

Substitution is a single pass over one string value: a value that itself contains ``{name}``
(a stream title such as ``"{stream_title}"``) is inserted literally, never expanded again, and an
unknown ``{name}`` is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from streammaxing.templating.model import StreamInfo

TEMPLATE_VARIABLES: Final[tuple[str, ...]] = (
    "streamer_login",
    "streamer_display_name",
    "streamer_avatar_url",
    "stream_title",
    "game_name",
    "viewer_count",
    "stream_thumbnail_url",
    "started_at",
    "mention_role",
)

# Variables whose value is itself a URL: inserted into URL fields as-is, not percent-encoded.
URL_VARIABLES: Final = frozenset({"streamer_avatar_url", "stream_thumbnail_url"})

THUMBNAIL_WIDTH: Final = 1280
THUMBNAIL_HEIGHT: Final = 720

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SNOWFLAKE: Final = re.compile(r"[0-9]{1,20}")


def find_variables(text: str) -> Iterator[str]:
    """Yield the name of every ``{name}`` placeholder in ``text``, in order."""
    for match in _PLACEHOLDER.finditer(text):
        yield match.group(1)


def scrub(text: str) -> str:
    """Replace lone surrogates (which cannot be encoded as UTF-8) with U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def substitute(text: str, values: Mapping[str, str], *, in_url: bool = False) -> str:
    """Fill the known ``{name}`` placeholders of ``text`` from ``values`` in one pass.

    With ``in_url``, values other than the URL variables are percent-encoded so that, say, a game
    name with spaces still makes a well-formed URL.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = scrub(values[name])
        return quote(value, safe="") if in_url and name not in URL_VARIABLES else value

    return scrub(_PLACEHOLDER.sub(replace, text))


def role_mention(role_id: str | None) -> str:
    """``<@&id>`` for a configured role, ``""`` for none; a non-snowflake id is a ValueError."""
    if role_id is None:
        return ""
    if not _SNOWFLAKE.fullmatch(role_id):
        raise ValueError(f"mention_role_id must be a Discord snowflake, got {role_id!r}")
    return f"<@&{role_id}>"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with an explicit ``+00:00`` offset, as Discord's embed timestamp expects."""
    return moment.astimezone(UTC).isoformat()


def sized_thumbnail(url: str, cache_buster: str) -> str:
    """Fill Twitch's ``{width}``/``{height}`` with 1280x720 and add ``t=<cache_buster>``.

    Discord caches images by URL, so each announcement needs a fresh query to show a fresh frame.
    """
    sized = url.replace("{width}", str(THUMBNAIL_WIDTH)).replace("{height}", str(THUMBNAIL_HEIGHT))
    if not sized or not cache_buster:
        return sized
    base, hash_mark, fragment = sized.partition("#")
    separator = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        separator = ""
    return f"{base}{separator}t={quote(scrub(cache_buster), safe='')}{hash_mark}{fragment}"


def variable_values(stream: StreamInfo, *, mention: str, cache_buster: str) -> dict[str, str]:
    """The string each template variable renders to for ``stream``; missing data renders ``""``."""
    return {
        "streamer_login": stream.streamer_login,
        "streamer_display_name": stream.streamer_display_name,
        "streamer_avatar_url": stream.streamer_avatar_url or "",
        "stream_title": stream.stream_title,
        "game_name": stream.game_name,
        "viewer_count": "" if stream.viewer_count is None else str(stream.viewer_count),
        "stream_thumbnail_url": sized_thumbnail(stream.stream_thumbnail_url or "", cache_buster),
        "started_at": iso_utc(stream.started_at),
        "mention_role": mention,
    }
