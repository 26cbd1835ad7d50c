"""The operations on members: users, DM subscriptions and preferences.

Conventions: `streammaxing.manage.guilds`. A user's own data (their user row, DM opt-ins,
preferences, erasure) is theirs and the operator's alone; a guild's DM subscriber list is its
managers'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from psycopg import AsyncConnection

from streammaxing.manage import rules
from streammaxing.manage.actor import Actor, DiscordUser
from streammaxing.manage.audit import Action, record
from streammaxing.manage.errors import Conflict, NotFound
from streammaxing.manage.models import (
    DmSubscriberOut,
    DmSubscriberPage,
    PageQuery,
    PreferenceList,
    PreferenceOut,
    PreferenceSet,
    UserOut,
    UserUpsert,
)
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.schema import members as queries
from streammaxing.schema.audit import forget_user
from streammaxing.schema.guild_streamers import GuildStreamerRow, guild_streamer
from streammaxing.schema.guilds import get_guild

log = structlog.get_logger(__name__)


async def _require_user(conn: AsyncConnection[Any], user_id: str) -> None:
    if not await queries.lock_user(conn, user_id):
        raise NotFound(f"user {user_id} not found")


# -- users -----------------------------------------------------------------------------------


async def upsert_user(
    services: ManageServices, actor: Actor, user_id: str, body: UserUpsert
) -> tuple[UserOut, bool]:
    """Create the user or refresh its name and avatar; the flag says it was created."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        saved = await queries.upsert_user(conn, user_id, username=body.username, avatar=body.avatar)
        await record(
            conn,
            actor,
            Action.USER_SAVE,
            guild_id=None,
            subject_user_id=user_id,
            detail={"created": saved.created},
        )
    log.info("user_saved", user_id=user_id, created=saved.created)
    return UserOut.model_validate(saved.user), saved.created


async def record_sign_in(
    services: ManageServices, actor: Actor, user_id: str, body: UserUpsert
) -> UserOut:
    """The user signed in: create or refresh their row and set ``last_login`` to now."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        saved = await queries.upsert_user(conn, user_id, username=body.username, avatar=body.avatar)
        await queries.record_login(conn, user_id)
        row = await queries.get_user(conn, user_id)
        await record(
            conn,
            actor,
            Action.USER_SIGN_IN,
            guild_id=None,
            subject_user_id=user_id,
            detail={"created": saved.created},
        )
    if row is None:
        raise Conflict(f"user {user_id} was erased concurrently")
    log.info("user_signed_in", user_id=user_id, created=saved.created)
    return UserOut.model_validate(row)


@dataclass(frozen=True)
class MemberGuildView:
    """One guild on `/me`: its streamers' page ``page`` of ``pages`` (``total`` streamers)."""

    guild_id: str
    name: str
    icon: str | None
    dm_subscribed: bool
    streamers: list[queries.MemberStreamerRow]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class MemberView:
    """Page ``page`` of ``pages`` of the user's guilds that use the bot (``total`` of them)."""

    guilds: list[MemberGuildView]
    page: int
    pages: int
    total: int


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


async def member_overview(
    services: ManageServices,
    actor: Actor,
    user_id: str,
    *,
    page: int = 1,
    only: str | None = None,
    streamer_page: int = 1,
    guilds_per_page: int = 10,
    streamers_per_page: int = 50,
) -> MemberView:
    """The user's guilds that use the bot (from the actor's guild list; for the operator, the
    guilds the user opted in to DMs from), a page at a time by name, each with one page of its
    streamers and the user's choices: page ``streamer_page`` for the guild ``only`` (then the
    only one shown), the first for the others. Pages past the end show the last one."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        if isinstance(actor, DiscordUser):
            guild_ids = sorted(actor.guilds)
        else:
            guild_ids = await queries.subscribed_guild_ids(conn, user_id)
        if only is not None:
            guild_ids = [only] if only in guild_ids else []
        page = max(1, page)
        guilds, total = await queries.member_guilds(
            conn, user_id, guild_ids, offset=(page - 1) * guilds_per_page, limit=guilds_per_page
        )
        if total is None:  # past the end: the last page
            _, total = await queries.member_guilds(conn, user_id, guild_ids, offset=0, limit=1)
            page = _pages(total or 0, guilds_per_page)
            guilds, _ = await queries.member_guilds(
                conn,
                user_id,
                guild_ids,
                offset=(page - 1) * guilds_per_page,
                limit=guilds_per_page,
            )
        total = total or 0
        pages = _pages(total, guilds_per_page)
        wanted = {
            g.guild_id: min(
                max(1, streamer_page if g.guild_id == only else 1),
                _pages(g.streamer_count, streamers_per_page),
            )
            for g in guilds
        }
        rows = await queries.member_streamers(
            conn,
            user_id,
            {guild_id: (n - 1) * streamers_per_page for guild_id, n in wanted.items()},
            limit=streamers_per_page,
        )
    by_guild: dict[str, list[queries.MemberStreamerRow]] = {}
    for row in rows:
        by_guild.setdefault(row.guild_id, []).append(row)
    return MemberView(
        guilds=[
            MemberGuildView(
                guild_id=g.guild_id,
                name=g.name,
                icon=g.icon,
                dm_subscribed=g.dm_subscribed,
                streamers=by_guild.get(g.guild_id, []),
                page=wanted[g.guild_id],
                pages=_pages(g.streamer_count, streamers_per_page),
                total=g.streamer_count,
            )
            for g in guilds
        ],
        page=page,
        pages=pages,
        total=total,
    )


async def get_user(services: ManageServices, actor: Actor, user_id: str) -> UserOut:
    rules.require_self(actor, user_id)
    async with services.pool.connection() as conn:
        row = await queries.get_user(conn, user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return UserOut.model_validate(row)


async def erase_user(services: ManageServices, actor: Actor, user_id: str) -> None:
    """Erase everything stored about the user (the seed's GDPR deletion).

    The audit trail keeps its rows but forgets the user: their id is cleared wherever it names
    them as actor or subject, the erasure's own row included.
    """
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        await record(conn, actor, Action.USER_ERASE, guild_id=None, subject_user_id=user_id)
        if not await queries.erase_user(conn, user_id):
            raise NotFound(f"user {user_id} not found")
        await forget_user(conn, user_id)
    log.info("user_erased", user_id=user_id)


# -- DM subscribers --------------------------------------------------------------------------


async def subscribe(
    services: ManageServices, actor: Actor, guild_id: str, user_id: str
) -> tuple[DmSubscriberOut, bool]:
    """Opt the user in to the guild's personal alerts (a member, for themselves); the flag says
    it is a new subscription."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        await _require_user(conn, user_id)
        created = await queries.subscribe(conn, guild_id, user_id)
        row = await queries.get_subscriber(conn, guild_id, user_id)
        await record(
            conn,
            actor,
            Action.DM_SUBSCRIBE,
            guild_id=guild_id,
            subject_user_id=user_id,
            detail={"created": created},
        )
    if row is None:
        raise Conflict(f"user {user_id} was unsubscribed concurrently")
    log.info("dm_subscribed", guild_id=guild_id, user_id=user_id, created=created)
    return DmSubscriberOut.model_validate(row), created


async def unsubscribe(services: ManageServices, actor: Actor, guild_id: str, user_id: str) -> None:
    """Opt the user out of the guild's personal alerts (a member, for themselves)."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        if not await queries.unsubscribe(conn, guild_id, user_id):
            raise NotFound(f"user {user_id} is not subscribed to guild {guild_id}")
        await record(conn, actor, Action.DM_UNSUBSCRIBE, guild_id=guild_id, subject_user_id=user_id)
    log.info("dm_unsubscribed", guild_id=guild_id, user_id=user_id)


async def get_subscription(
    services: ManageServices, actor: Actor, guild_id: str, user_id: str
) -> DmSubscriberOut | None:
    """The user's opt-in to the guild's personal alerts, or None (a member, for themselves)."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        row = await queries.get_subscriber(conn, guild_id, user_id)
    return None if row is None else DmSubscriberOut.model_validate(row)


async def list_subscribers(
    services: ManageServices, actor: Actor, guild_id: str, query: PageQuery
) -> DmSubscriberPage:
    """A page of the guild's subscribers in user id order, for its managers."""
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
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


async def list_preferences(services: ManageServices, actor: Actor, user_id: str) -> PreferenceList:
    """Every streamer of every guild the user subscribed to, with the effective on/off."""
    rules.require_self(actor, user_id)
    async with transaction(services) as conn:
        await _require_user(conn, user_id)
        rows = await queries.user_preferences(conn, user_id)
    return PreferenceList(items=[PreferenceOut.model_validate(row) for row in rows])


async def _preference_target(
    conn: AsyncConnection[Any], actor: Actor, user_id: str, guild_id: str, streamer: str
) -> tuple[str, GuildStreamerRow]:
    """(guild name, link) for a preference: the actor is the user (or the operator) and a
    member of the guild, every part exists and the guild tracks the streamer."""
    rules.require_self(actor, user_id)
    await rules.require_member(conn, actor, guild_id)
    await _require_user(conn, user_id)
    guild = await get_guild(conn, guild_id)
    link = await guild_streamer(conn, guild_id, streamer)
    if guild is None or link is None:
        raise NotFound(f"guild {guild_id} does not track streamer {streamer!r}")
    return guild.name, link


async def set_preference(
    services: ManageServices,
    actor: Actor,
    user_id: str,
    guild_id: str,
    streamer: str,
    body: PreferenceSet,
) -> PreferenceOut:
    """Turn one streamer's DMs from one guild off (mute) or explicitly on for the user."""
    async with transaction(services) as conn:
        guild_name, link = await _preference_target(conn, actor, user_id, guild_id, streamer)
        await queries.set_preference(
            conn, user_id, guild_id, link.streamer_id, enabled=body.enabled
        )
        await record(
            conn,
            actor,
            Action.PREFERENCE_SET,
            guild_id=guild_id,
            subject_user_id=user_id,
            detail={"broadcaster_id": link.broadcaster_id, "enabled": body.enabled},
        )
    log.info(
        "preference_set",
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
    services: ManageServices, actor: Actor, user_id: str, guild_id: str, streamer: str
) -> None:
    """Forget the user's choice: back to the default (on). Clearing twice is not an error."""
    async with transaction(services) as conn:
        _, link = await _preference_target(conn, actor, user_id, guild_id, streamer)
        cleared = await queries.clear_preference(conn, user_id, guild_id, link.streamer_id)
        await record(
            conn,
            actor,
            Action.PREFERENCE_CLEAR,
            guild_id=guild_id,
            subject_user_id=user_id,
            detail={"broadcaster_id": link.broadcaster_id, "existed": cleared},
        )
    log.info(
        "preference_cleared",
        user_id=user_id,
        guild_id=guild_id,
        streamer_id=str(link.streamer_id),
        existed=cleared,
    )
