"""The admin operations on members: users, DM subscriptions and preferences.

See `streammaxing.admin.service` for the conventions (one transaction each, typed models in
and out, `streammaxing.admin.errors` for refusals).
"""

from __future__ import annotations

from typing import Any

import structlog
from psycopg import AsyncConnection

from streammaxing.admin.errors import Conflict, NotFound
from streammaxing.admin.models import (
    DmSubscriberOut,
    DmSubscriberPage,
    PageQuery,
    PreferenceList,
    PreferenceOut,
    PreferenceSet,
    UserOut,
    UserUpsert,
)
from streammaxing.admin.service import AdminServices, require_guild, transaction
from streammaxing.schema import members as queries
from streammaxing.schema.guild_streamers import GuildStreamerRow, guild_streamer
from streammaxing.schema.guilds import get_guild

log = structlog.get_logger(__name__)


async def _require_user(conn: AsyncConnection[Any], user_id: str) -> None:
    if not await queries.lock_user(conn, user_id):
        raise NotFound(f"user {user_id} not found")


# -- users -----------------------------------------------------------------------------------


async def upsert_user(
    services: AdminServices, user_id: str, body: UserUpsert
) -> tuple[UserOut, bool]:
    """Create the user or refresh its name and avatar; the flag says it was created."""
    async with transaction(services) as conn:
        saved = await queries.upsert_user(conn, user_id, username=body.username, avatar=body.avatar)
    log.info("admin_user_saved", user_id=user_id, created=saved.created)
    return UserOut.model_validate(saved.user), saved.created


async def get_user(services: AdminServices, user_id: str) -> UserOut:
    async with services.pool.connection() as conn:
        row = await queries.get_user(conn, user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return UserOut.model_validate(row)


async def erase_user(services: AdminServices, user_id: str) -> None:
    """Erase everything stored about the user (the seed's GDPR deletion)."""
    async with transaction(services) as conn:
        if not await queries.erase_user(conn, user_id):
            raise NotFound(f"user {user_id} not found")
    log.info("admin_user_erased", user_id=user_id)


# -- DM subscribers --------------------------------------------------------------------------


async def subscribe(
    services: AdminServices, guild_id: str, user_id: str
) -> tuple[DmSubscriberOut, bool]:
    """Opt the user in to the guild's personal alerts; the flag says it is a new subscription."""
    async with transaction(services) as conn:
        await require_guild(conn, guild_id)
        await _require_user(conn, user_id)
        created = await queries.subscribe(conn, guild_id, user_id)
        row = await queries.get_subscriber(conn, guild_id, user_id)
    if row is None:
        raise Conflict(f"user {user_id} was unsubscribed concurrently")
    log.info("admin_dm_subscribed", guild_id=guild_id, user_id=user_id, created=created)
    return DmSubscriberOut.model_validate(row), created


async def unsubscribe(services: AdminServices, guild_id: str, user_id: str) -> None:
    async with transaction(services) as conn:
        await require_guild(conn, guild_id)
        if not await queries.unsubscribe(conn, guild_id, user_id):
            raise NotFound(f"user {user_id} is not subscribed to guild {guild_id}")
    log.info("admin_dm_unsubscribed", guild_id=guild_id, user_id=user_id)


async def list_subscribers(
    services: AdminServices, guild_id: str, query: PageQuery
) -> DmSubscriberPage:
    """A page of the guild's subscribers in user id order."""
    async with transaction(services) as conn:
        await require_guild(conn, guild_id)
        rows = await queries.list_subscribers(
            conn, guild_id, after=query.after, limit=query.limit + 1
        )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return DmSubscriberPage(
        items=[DmSubscriberOut.model_validate(row) for row in rows],
        next_cursor=rows[-1].user_id if more else None,
    )


# -- preferences -----------------------------------------------------------------------------


async def list_preferences(services: AdminServices, user_id: str) -> PreferenceList:
    """Every streamer of every guild the user subscribed to, with the effective on/off."""
    async with transaction(services) as conn:
        await _require_user(conn, user_id)
        rows = await queries.user_preferences(conn, user_id)
    return PreferenceList(items=[PreferenceOut.model_validate(row) for row in rows])


async def _preference_target(
    conn: AsyncConnection[Any], user_id: str, guild_id: str, streamer: str
) -> tuple[str, GuildStreamerRow]:
    """(guild name, link) for a preference; every part must exist and the guild track it."""
    await _require_user(conn, user_id)
    await require_guild(conn, guild_id)
    guild = await get_guild(conn, guild_id)
    link = await guild_streamer(conn, guild_id, streamer)
    if guild is None or link is None:
        raise NotFound(f"guild {guild_id} does not track streamer {streamer!r}")
    return guild.name, link


async def set_preference(
    services: AdminServices, user_id: str, guild_id: str, streamer: str, body: PreferenceSet
) -> PreferenceOut:
    """Turn one streamer's DMs from one guild off (mute) or explicitly on for the user."""
    async with transaction(services) as conn:
        guild_name, link = await _preference_target(conn, user_id, guild_id, streamer)
        await queries.set_preference(
            conn, user_id, guild_id, link.streamer_id, enabled=body.enabled
        )
    log.info(
        "admin_preference_set",
        user_id=user_id,
        guild_id=guild_id,
        streamer_id=str(link.streamer_id),
        enabled=body.enabled,
    )
    return PreferenceOut(
        guild_id=guild_id,
        guild_name=guild_name,
        broadcaster_id=link.broadcaster_id,
        streamer_login=link.login,
        streamer_display_name=link.display_name,
        enabled=body.enabled,
        explicit=True,
    )


async def clear_preference(
    services: AdminServices, user_id: str, guild_id: str, streamer: str
) -> None:
    """Forget the user's choice: back to the default (on). Clearing twice is not an error."""
    async with transaction(services) as conn:
        _, link = await _preference_target(conn, user_id, guild_id, streamer)
        cleared = await queries.clear_preference(conn, user_id, guild_id, link.streamer_id)
    log.info(
        "admin_preference_cleared",
        user_id=user_id,
        guild_id=guild_id,
        streamer_id=str(link.streamer_id),
        existed=cleared,
    )
