"""Render a guild's template into the JSON body of Discord's Create/Edit Message request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streammaxing.templating import limits
from streammaxing.templating.embed import render_embed
from streammaxing.templating.model import StreamInfo
from streammaxing.templating.variables import role_mention, scrub, substitute, variable_values

_MENTION_PLACEHOLDER = "{mention_role}"


def render_content(raw: object, values: Mapping[str, str], mention: str) -> str:
    """The message content: substituted, trimmed, at most 2000 code points.

    A configured role is always pinged: when the template does not place ``{mention_role}``
    itself, the mention goes in front; and if truncation would cut it off, it is put back in
    front of the truncated text.
    """
    template_text = raw if isinstance(raw, str) else ""
    body = substitute(template_text, values).strip()
    if mention and _MENTION_PLACEHOLDER not in template_text:
        body = f"{mention} {body}".rstrip()
    content = limits.truncate(body, limits.CONTENT_MAX)
    if mention and mention not in content:
        content = f"{mention} {limits.truncate(body, limits.CONTENT_MAX - len(mention) - 1)}"
    return content


def _fallback_content(stream: StreamInfo, mention: str) -> str:
    """Content for a template that rendered to nothing: Discord refuses an empty message."""
    name = stream.streamer_display_name.strip() or stream.streamer_login.strip() or "A streamer"
    text = f"{scrub(name)} is now live!"
    if not mention:
        return limits.truncate(text, limits.CONTENT_MAX)
    return f"{mention} {limits.truncate(text, limits.CONTENT_MAX - len(mention) - 1)}"


def allowed_mentions(mention_role_id: str | None) -> dict[str, list[str]]:
    """Ping the configured role and nobody else, whatever the stream's title or name says."""
    if mention_role_id is None:
        return {"parse": []}
    return {"parse": [], "roles": [mention_role_id]}


def render_announcement(
    template: Mapping[str, Any],
    stream: StreamInfo,
    *,
    mention_role_id: str | None,
    cache_buster: str,
    custom_content: str | None = None,
) -> dict[str, Any]:
    """The Discord create-message payload announcing ``stream`` with ``template``.

    ``custom_content`` (a guild's message for one streamer), when set, replaces the template's
    ``content`` with the same variables, mention rule and limits; the embed stays the template's.
    Returns ``{"content", "embeds", "allowed_mentions"}``: ``embeds`` holds one embed or none,
    and the payload is within every Discord limit whatever the stream's texts contain.
    ``cache_buster`` is appended to the thumbnail URL (``t=…``) so Discord fetches a fresh frame.
    Raises ValueError if ``mention_role_id`` is not a Discord snowflake.
    """
    mention = role_mention(mention_role_id)
    values = variable_values(stream, mention=mention, cache_buster=cache_buster)
    embed = render_embed(template.get("embed"), values)
    raw_content = template.get("content") if custom_content is None else custom_content
    content = render_content(raw_content, values, mention)
    if embed is None and not content.replace(mention, "", 1).strip():
        content = _fallback_content(stream, mention)
    return {
        "content": content,
        "embeds": [embed] if embed is not None else [],
        "allowed_mentions": allowed_mentions(mention_role_id),
    }
