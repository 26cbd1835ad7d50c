"""Everything the dashboard's guild page reads, in one transaction.

The same rules as the single reads (`guilds.get_guild`, `streamers.list_streamers`,
`guilds.get_config`, `guilds.preview`, `guilds.history`, `audit.audit_trail`): a member sees
the guild and its streamers; only a manager (the operator, or a user whose guild list marks
the guild as managed) gets the config, the preview, the recent announcements and the trail.
One connection and one round trip per query instead of a transaction per part; the streamer
list is read one page at a time in SQL. Rows are the schema's dataclasses, not re-validated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streammaxing.manage import rules
from streammaxing.manage.actor import Actor
from streammaxing.manage.errors import NotFound
from streammaxing.manage.guilds import PREVIEW_CACHE_BUSTER
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.schema.audit import AuditRow, guild_trail
from streammaxing.schema.guild_streamers import (
    GuildHeading,
    GuildStreamerRow,
    guild_heading,
    guild_streamer_page,
    guild_streamer_position,
)
from streammaxing.schema.guilds import GuildConfigRow, get_config
from streammaxing.schema.history import DeliveryRow, guild_history
from streammaxing.templating import SAMPLE_STREAM, render_announcement

#: Recent announcements and audit rows shown on the page.
RECENT = 20


@dataclass(frozen=True)
class GuildPageData:
    """``streamers`` is page ``page`` (1-based, within 1..``pages``) of ``size`` rows; the
    manager's parts are None / empty for a member."""

    guild: GuildHeading
    streamers: list[GuildStreamerRow]
    page: int
    pages: int
    manage: bool
    config: GuildConfigRow | None = None
    preview: dict[str, Any] | None = None
    history: tuple[DeliveryRow, ...] = ()
    trail: tuple[AuditRow, ...] = ()


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


async def guild_page(
    services: ManageServices,
    actor: Actor,
    guild_id: str,
    *,
    page: int,
    size: int,
    holding: str | None = None,
) -> GuildPageData:
    """The guild page's reads for the actor. ``page`` is clamped to the pages there are;
    ``holding`` (a broadcaster id or login) picks instead the page that lists that streamer,
    when the guild tracks it. Raises `Forbidden` / `NotFound` as the single reads do."""
    manage = rules.may_manage(actor, guild_id)
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        guild = await guild_heading(conn, guild_id)
        if guild is None:
            raise NotFound(f"guild {guild_id} not found")
        pages = _pages(guild.streamer_count, size)
        if holding is not None:
            position = await guild_streamer_position(conn, guild_id, holding)
            if position is not None:
                page = position // size + 1
        page = min(max(1, page), pages)
        listed = await guild_streamer_page(conn, guild_id, offset=(page - 1) * size, limit=size)
        if not manage:
            return GuildPageData(guild, listed, page, pages, manage=False)
        config = await get_config(conn, guild_id)
        history = await guild_history(conn, guild_id, limit=RECENT)
        trail = await guild_trail(conn, guild_id, before=None, limit=RECENT)
    preview = None
    if config is not None:
        preview = render_announcement(
            config.message_template,
            SAMPLE_STREAM,
            mention_role_id=config.mention_role_id,
            cache_buster=PREVIEW_CACHE_BUSTER,
        )
    return GuildPageData(
        guild,
        listed,
        page,
        pages,
        manage=True,
        config=config,
        preview=preview,
        history=tuple(history),
        trail=tuple(trail),
    )
