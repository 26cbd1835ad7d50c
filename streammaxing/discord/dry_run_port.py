"""A `DiscordPort` for dry-run mode: every message is logged and accepted, nothing is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from streammaxing.discord.port import (
    Accepted,
    Announcement,
    Answer,
    ChannelOpened,
    DirectMessage,
    MessageEdit,
)

log = structlog.get_logger(__name__)

_NOTHING_SENT = Accepted(message=None)


class DryRunPort:
    """Logs `announcement_dry_run`, `dm_dry_run` and `announcement_edit_dry_run` instead of sending.

    Every answer is `Accepted` with no message, so delivery records the rows as dry-run.
    """

    async def announce(
        self, announcements: Sequence[Announcement], *, max_wait: float
    ) -> list[Answer]:
        for announcement in announcements:
            payload = announcement.payload
            embeds: list[dict[str, Any]] = payload.get("embeds") or []
            log.warning(
                "announcement_dry_run",
                guild_id=announcement.guild_id,
                channel_id=announcement.channel_id,
                content=payload.get("content"),
                embed_title=embeds[0].get("title") if embeds else None,
                allowed_mentions=payload.get("allowed_mentions"),
            )
        return [_NOTHING_SENT] * len(announcements)

    async def send_dm(
        self, dm: DirectMessage, *, max_wait: float, channel_opened: ChannelOpened
    ) -> Answer:
        log.warning("dm_dry_run", user_id=dm.user_id, event_id=dm.event_id)
        return _NOTHING_SENT

    async def edit(self, edit: MessageEdit, *, max_wait: float) -> Answer:
        log.warning(
            "announcement_edit_dry_run",
            guild_id=edit.guild_id,
            message_id=edit.message_id,
            content=edit.payload.get("content"),
        )
        return _NOTHING_SENT

    async def aclose(self) -> None:
        return None
