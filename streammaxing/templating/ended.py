"""The "ended" form of an announcement, edited in after a stream goes offline.

With a guild-defined offline template, that template is rendered for the stream. Otherwise the
guild's own template is kept and marked as ended: the content says the stream ended and how
long it lasted, the embed title says so too, and the (now stale) preview image is dropped. The
role is never pinged by an edit, but `allowed_mentions` is sent all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from streammaxing.templating.limits import truncate
from streammaxing.templating.model import StreamInfo
from streammaxing.templating.render import allowed_mentions, render_announcement


def format_duration(duration: timedelta) -> str:
    """`2h 05m`, `12m`, or `<1m` for very short streams."""
    minutes = max(0, int(duration.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else "<1m"


def render_ended(
    template: Mapping[str, Any],
    stream: StreamInfo,
    *,
    duration: timedelta,
    mention_role_id: str | None,
    offline_template: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Discord edit payload for a stream that ended after `duration`."""
    if offline_template is not None:
        payload = render_announcement(
            offline_template, stream, mention_role_id=None, cache_buster="ended"
        )
        payload["allowed_mentions"] = allowed_mentions(mention_role_id)
        return payload
    payload = render_announcement(template, stream, mention_role_id=None, cache_buster="ended")
    lasted = format_duration(duration)
    name = stream.streamer_display_name or stream.streamer_login
    payload["content"] = truncate(f"{name} was live — the stream ended after {lasted}.", 2000)
    for embed in payload["embeds"]:
        embed.pop("image", None)
        if "title" in embed:
            embed["title"] = truncate(f"Ended: {embed['title']}", 256)
        embed["footer"] = {"text": f"Stream ended · lasted {lasted}"}
    payload["allowed_mentions"] = allowed_mentions(mention_role_id)
    return payload
