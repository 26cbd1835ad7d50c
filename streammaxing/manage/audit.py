"""The audit trail: every write operation records one row, in its own transaction.

A row says who acted (the operator, or a Discord user), from which surface, on which guild,
what they did (`Action`) and a small detail object: ids, switches and the names of the fields
changed, never a secret or a whole template. Erasing a user clears their id from every row
(`streammaxing.schema.audit.forget_user`). Managers of a guild and the operator read its trail
with `audit_trail`, newest first, a page at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from psycopg import AsyncConnection

from streammaxing.manage import rules
from streammaxing.manage.actor import Actor, Operator
from streammaxing.manage.models import AuditEntryOut, AuditPage, AuditQuery
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.schema import audit as queries


class Action(StrEnum):
    """What a write operation did, as the trail names it."""

    GUILD_SAVE = "guild.save"
    GUILD_DELETE = "guild.delete"
    GUILD_INSTALL = "guild.install"
    CONFIG_SET = "config.set"
    STREAMER_TRACK = "streamer.track"
    STREAMER_UPDATE = "streamer.update"
    STREAMER_MESSAGE = "streamer.message"
    STREAMER_UNTRACK = "streamer.untrack"
    DM_SUBSCRIBE = "dm.subscribe"
    DM_UNSUBSCRIBE = "dm.unsubscribe"
    USER_SAVE = "user.save"
    USER_SIGN_IN = "user.sign_in"
    USER_ERASE = "user.erase"
    PREFERENCE_SET = "preference.set"
    PREFERENCE_CLEAR = "preference.clear"
    INVITE_CREATE = "invite.create"
    INVITE_REVOKE = "invite.revoke"
    STREAMER_UNLINK = "streamer.unlink"


async def record(
    conn: AsyncConnection[Any],
    actor: Actor,
    action: Action,
    *,
    guild_id: str | None,
    subject_user_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append the operation's row on its own connection (committed or rolled back with it)."""
    entry = queries.AuditEntry(
        actor_kind="operator" if isinstance(actor, Operator) else "user",
        actor_user_id=actor.user_id,
        surface=actor.surface.value,
        guild_id=guild_id,
        subject_user_id=subject_user_id,
        action=action.value,
        detail=detail or {},
    )
    await queries.insert_entry(conn, entry)


async def audit_trail(
    services: ManageServices, actor: Actor, guild_id: str, query: AuditQuery
) -> AuditPage:
    """A page of the guild's trail, newest first; ``next_cursor`` continues below the last row.

    Its managers may read it while the bot is installed; the operator may read any guild's,
    a deleted one's included.
    """
    async with transaction(services) as conn:
        await rules.require_trail_reader(conn, actor, guild_id)
        rows = await queries.guild_trail(conn, guild_id, before=query.before, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return AuditPage(
        items=[AuditEntryOut.model_validate(row) for row in rows],
        next_cursor=rows[-1].id if more else None,
    )
