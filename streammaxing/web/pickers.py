"""The channel and role pickers, read from Discord with the bot token.

Channels: text and announcement channels in the list Discord returns to the bot (since the
2026-10-12 channel obfuscation that list holds only channels the bot can view). Roles:
mentionable roles that no integration manages, @everyone excluded. Without a bot token, or
when Discord fails, the pickers are None and the page asks for ids instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from streammaxing.discord.errors import DiscordError
from streammaxing.discord.models import GuildChannel, GuildRole
from streammaxing.web.deps import WebDeps

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pickers:
    channels: list[GuildChannel]
    roles: list[GuildRole]


def announcement_channels(channels: list[GuildChannel]) -> list[GuildChannel]:
    return sorted(
        (c for c in channels if c.can_hold_announcements), key=lambda c: (c.position, c.name)
    )


def mentionable_roles(guild_id: str, roles: list[GuildRole]) -> list[GuildRole]:
    return sorted(
        (r for r in roles if r.mentionable and not r.managed and r.id != guild_id),
        key=lambda r: (-r.position, r.name),
    )


async def guild_pickers(deps: WebDeps, guild_id: str) -> Pickers | None:
    if deps.bot is None:
        return None
    try:
        channels = await deps.bot.guild_channels(guild_id)
        roles = await deps.bot.guild_roles(guild_id)
    except DiscordError as error:
        log.warning("dashboard_pickers_unavailable", guild_id=guild_id, error=str(error))
        return None
    return Pickers(announcement_channels(channels), mentionable_roles(guild_id, roles))
