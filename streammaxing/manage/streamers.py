"""The operations on the streamers a guild tracks (conventions: `streammaxing.manage.guilds`).

Its members may read the list; its managers track, enable, disable and untrack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from procrastinate.exceptions import AlreadyEnqueued
from psycopg import AsyncConnection

from streammaxing.manage import rules
from streammaxing.manage.actor import Actor, Operator
from streammaxing.manage.audit import Action, record
from streammaxing.manage.errors import Conflict, FieldIssue, Invalid, NotFound, UpstreamUnavailable
from streammaxing.manage.models import (
    GuildStreamerList,
    GuildStreamerOut,
    StreamerAdd,
    StreamerUpdate,
)
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.queues import Queue, Task, subscribe_lock
from streammaxing.schema import guild_streamers as queries
from streammaxing.schema.guild_streamers import GuildStreamerRow
from streammaxing.schema.members import lock_user
from streammaxing.schema.streamers import upsert_streamer
from streammaxing.templating import validate_custom_content
from streammaxing.twitch.errors import TwitchError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _TwitchIdentity:
    broadcaster_id: str
    login: str
    display_name: str | None
    avatar_url: str | None


async def _resolve(services: ManageServices, body: StreamerAdd) -> _TwitchIdentity:
    """Who ``body.login`` is on Twitch; without Helix (dry-run), the id the request gives."""
    if services.helix is None:
        if body.broadcaster_id is None:
            raise Invalid(
                [
                    FieldIssue(
                        "broadcaster_id",
                        "is required: Twitch credentials are not configured (dry-run), so the "
                        "login cannot be resolved; give the streamer's Twitch user id",
                    )
                ]
            )
        return _TwitchIdentity(body.broadcaster_id, body.login, None, None)
    try:
        users = await services.helix.get_users(logins=[body.login])
    except TwitchError as error:
        raise UpstreamUnavailable(f"Twitch could not look up {body.login!r}: {error}") from error
    user = next((u for u in users if u.login.lower() == body.login), None)
    if user is None:
        raise NotFound(f"no Twitch user has the login {body.login!r}")
    if body.broadcaster_id is not None and body.broadcaster_id != user.id:
        message = f"does not match {body.login!r}, whose Twitch user id is {user.id}"
        raise Invalid([FieldIssue("broadcaster_id", message)])
    return _TwitchIdentity(
        user.id, user.login.lower(), user.display_name or None, user.profile_image_url or None
    )


async def _require_link(
    conn: AsyncConnection[Any], guild_id: str, streamer: str
) -> GuildStreamerRow:
    link = await queries.guild_streamer(conn, guild_id, streamer)
    if link is None:
        raise NotFound(f"guild {guild_id} does not track streamer {streamer!r}")
    return link


async def defer_subscribe(
    services: ManageServices, conn: AsyncConnection[Any], streamer_id: UUID
) -> int | None:
    """Queue the streamer's `subscribe_streamer` job in the caller's transaction, under the
    same locks the jobs use (one waiting and one running per streamer); None when one is
    already waiting, which will do. The savepoint keeps that refusal from aborting the
    transaction."""
    key = subscribe_lock(str(streamer_id))
    task = services.app.configure_task(
        Task.SUBSCRIBE_STREAMER,
        connection=conn,
        queue=Queue.MAINTENANCE,
        lock=key,
        queueing_lock=key,
    )
    try:
        async with conn.transaction():
            job_id: int = await task.defer_async(streamer_id=str(streamer_id))
    except AlreadyEnqueued:
        return None
    return job_id


def _added_by(actor: Actor, body: StreamerAdd) -> str | None:
    """Who the link names as having added it: the acting user; the operator may name anyone."""
    return body.added_by if isinstance(actor, Operator) else actor.user_id


async def track_streamer(
    services: ManageServices, actor: Actor, guild_id: str, body: StreamerAdd
) -> GuildStreamerOut:
    """Resolve the login, upsert the streamer, link it and defer its subscription job, all in
    one transaction (Twitch is asked first, so no connection waits on it).

    ``added_by`` is the acting user; a body's ``added_by`` counts only from the operator.
    """
    rules.check_manager(actor, guild_id)
    identity = await _resolve(services, body)
    added_by = _added_by(actor, body)
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        if added_by is not None and not await lock_user(conn, added_by):
            raise NotFound(f"user {added_by} not found")
        streamer = await upsert_streamer(
            conn,
            broadcaster_id=identity.broadcaster_id,
            login=identity.login,
            display_name=identity.display_name,
            avatar_url=identity.avatar_url,
        )
        if not await queries.link_streamer(conn, guild_id, streamer.id, added_by=added_by):
            raise Conflict(
                f"guild {guild_id} already tracks {identity.login} ({identity.broadcaster_id})"
            )
        job_id = await defer_subscribe(services, conn, streamer.id)
        link = await queries.guild_streamer(conn, guild_id, identity.broadcaster_id)
        detail = {"broadcaster_id": identity.broadcaster_id, "login": identity.login}
        await record(conn, actor, Action.STREAMER_TRACK, guild_id=guild_id, detail=detail)
    if link is None:
        raise Conflict(f"guild {guild_id} stopped tracking {identity.login} concurrently")
    log.info(
        "streamer_tracked",
        guild_id=guild_id,
        streamer_id=str(streamer.id),
        broadcaster_id=identity.broadcaster_id,
        job_id=job_id,
    )
    return GuildStreamerOut.model_validate(link)


async def list_streamers(
    services: ManageServices, actor: Actor, guild_id: str
) -> GuildStreamerList:
    """The streamers the guild tracks, for its members."""
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        rows = await queries.guild_streamers(conn, guild_id)
    return GuildStreamerList(items=[GuildStreamerOut.model_validate(row) for row in rows])


async def get_streamer(
    services: ManageServices, actor: Actor, guild_id: str, streamer: str
) -> GuildStreamerOut:
    """One streamer the guild tracks, for its members."""
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        link = await _require_link(conn, guild_id, streamer)
    return GuildStreamerOut.model_validate(link)


async def update_streamer(
    services: ManageServices, actor: Actor, guild_id: str, streamer: str, body: StreamerUpdate
) -> GuildStreamerOut:
    """Enable or disable the guild's announcements for one streamer it tracks."""
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        link = await _require_link(conn, guild_id, streamer)
        await queries.set_link_enabled(conn, guild_id, link.streamer_id, enabled=body.enabled)
        updated = await queries.guild_streamer(conn, guild_id, link.broadcaster_id)
        detail = {"broadcaster_id": link.broadcaster_id, "enabled": body.enabled}
        await record(conn, actor, Action.STREAMER_UPDATE, guild_id=guild_id, detail=detail)
    if updated is None:
        raise Conflict(f"guild {guild_id} stopped tracking {streamer!r} concurrently")
    log.info(
        "streamer_updated",
        guild_id=guild_id,
        streamer_id=str(link.streamer_id),
        enabled=body.enabled,
    )
    return GuildStreamerOut.model_validate(updated)


async def untrack_streamer(
    services: ManageServices, actor: Actor, guild_id: str, streamer: str
) -> None:
    """Stop tracking; the cleanup job deletes streamers nobody tracks any more."""
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        link = await _require_link(conn, guild_id, streamer)
        await queries.unlink_streamer(conn, guild_id, link.streamer_id)
        detail = {"broadcaster_id": link.broadcaster_id}
        await record(conn, actor, Action.STREAMER_UNTRACK, guild_id=guild_id, detail=detail)
    log.info("streamer_untracked", guild_id=guild_id, streamer_id=str(link.streamer_id))


async def suggest_streamers(
    services: ManageServices, actor: Actor, guild_id: str, typed: str, *, limit: int = 25
) -> GuildStreamerList:
    """Up to ``limit`` streamers the guild tracks matching what a member typed (login or display
    name prefix first, then login substring), for its members: autocomplete reads only this."""
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        rows = await queries.suggest_guild_streamers(conn, guild_id, typed, limit=limit)
    return GuildStreamerList(items=[GuildStreamerOut.model_validate(row) for row in rows])


async def live_streamers(services: ManageServices, actor: Actor, guild_id: str) -> frozenset[UUID]:
    """The ids of the guild's tracked streamers that are live now, for its members."""
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        live = await queries.live_streamer_ids(conn, guild_id)
    return frozenset(live)


#: The longest per-streamer message: Discord's limit on a message's content.
CUSTOM_CONTENT_MAX = 2000


async def set_custom_content(
    services: ManageServices, actor: Actor, guild_id: str, streamer: str, content: str | None
) -> GuildStreamerOut:
    """Set (or with None clear) the message that replaces the template's content for this
    streamer's announcements in the guild; for the guild's managers.

    The message is checked like a template's content (known variables, Discord's limit).
    """
    rules.check_manager(actor, guild_id)
    if content is not None:
        issues = [FieldIssue("custom_content", i.message) for i in validate_custom_content(content)]
        if len(content) > CUSTOM_CONTENT_MAX:
            issues.append(FieldIssue("custom_content", f"is longer than {CUSTOM_CONTENT_MAX}"))
        if issues:
            raise Invalid(issues)
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        link = await _require_link(conn, guild_id, streamer)
        await queries.set_custom_content(conn, guild_id, link.streamer_id, content)
        updated = await queries.guild_streamer(conn, guild_id, link.broadcaster_id)
        detail = {"broadcaster_id": link.broadcaster_id, "set": content is not None}
        await record(conn, actor, Action.STREAMER_MESSAGE, guild_id=guild_id, detail=detail)
    if updated is None:
        raise Conflict(f"guild {guild_id} stopped tracking {streamer!r} concurrently")
    log.info("streamer_message_set", guild_id=guild_id, streamer_id=str(link.streamer_id))
    return GuildStreamerOut.model_validate(updated)
