"""The channel and role pickers, read from Discord with the bot token.

Channels: text and announcement channels where the bot's permissions, computed from its member
roles and the channel's overwrites, include viewing, sending and embedding links. Roles:
mentionable roles that no integration manages, @everyone excluded. Without a bot token, or
when Discord fails, the pickers are None and the page asks for ids instead. An answer is
reused for a few seconds (`streammaxing.web.picker_cache`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from streammaxing.discord.errors import DiscordError
from streammaxing.discord.models import GuildChannel, GuildRole
from streammaxing.discord.permissions import MemberContext, can_announce
from streammaxing.web.deps import WebDeps

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pickers:
    channels: list[GuildChannel]
    roles: list[GuildRole]


def announcement_channels(bot: MemberContext, channels: list[GuildChannel]) -> list[GuildChannel]:
    """The channels the bot can post an announcement in, in Discord's order."""
    return sorted((c for c in channels if can_announce(bot, c)), key=lambda c: (c.position, c.name))


def mentionable_roles(guild_id: str, roles: list[GuildRole]) -> list[GuildRole]:
    return sorted(
        (r for r in roles if r.mentionable and not r.managed and r.id != guild_id),
        key=lambda r: (-r.position, r.name),
    )


async def guild_pickers(deps: WebDeps, guild_id: str, *, refresh: bool = False) -> Pickers | None:
    """The guild's pickers: remembered for a few seconds (`deps.pickers`), else read from
    Discord (three calls, concurrent); ``refresh`` reads them anew."""
    if deps.bot is None:
        return None
    if refresh:
        deps.pickers.forget(guild_id)
    elif (remembered := deps.pickers.get(guild_id)) is not None:
        return remembered
    try:
        bot_id = await deps.bot_user.user_id(deps.bot)
        member, channels, roles = await asyncio.gather(
            deps.bot.guild_member(guild_id, bot_id),
            deps.bot.guild_channels(guild_id),
            deps.bot.guild_roles(guild_id),
        )
    except DiscordError as error:
        log.warning("dashboard_pickers_unavailable", guild_id=guild_id, error=str(error))
        return None
    bot = MemberContext(
        guild_id=guild_id,
        user_id=bot_id,
        role_ids=member.role_ids,
        role_permissions={role.id: role.permissions for role in roles},
    )
    pickers = Pickers(announcement_channels(bot, channels), mentionable_roles(guild_id, roles))
    deps.pickers.put(guild_id, pickers)
    return pickers
