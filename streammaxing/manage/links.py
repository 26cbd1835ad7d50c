"""Streamers' Twitch links: completing a link (through an invite or not), and unlinking.

A link stores the broadcaster's user tokens, already sealed by the caller, and refreshes the
streamer's display fields. With an invite that is still usable, the same transaction tracks the
streamer in the invite's guild with ``added_by`` = the invite's creator (when that user still
exists), defers its subscription job, counts the use and records ``streamer.track`` from the
system surface. The link is stored whatever happens to the invite: the streamer consented to it,
and it makes their subscriptions cost 0 for every guild. A streamer some guild already tracks
gets its subscription job too, which re-creates its cost-1 subscriptions at cost 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import structlog
from psycopg import AsyncConnection
from pydantic import SecretStr

from streammaxing.crypto import TokenUnreadable
from streammaxing.manage import rules
from streammaxing.manage.actor import Actor, Operator, Surface
from streammaxing.manage.audit import Action, record
from streammaxing.manage.errors import Forbidden, NotFound
from streammaxing.manage.invites import InviteOut, InviteStatus, invite_status, token_hint
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.manage.streamers import defer_subscribe
from streammaxing.schema import eventsub_budget, guild_streamers, invites, twitch_links
from streammaxing.schema.eventsub_budget import LeftOutRow
from streammaxing.schema.guilds import get_guild
from streammaxing.schema.members import lock_user
from streammaxing.schema.subscriptions import tracked_streamer
from streammaxing.twitch.errors import TwitchError

log = structlog.get_logger(__name__)

_SYSTEM = Operator(surface=Surface.SYSTEM)


@dataclass(frozen=True)
class TwitchIdentity:
    """Who linked, as Helix describes the token's user."""

    broadcaster_id: str
    login: str
    display_name: str | None
    avatar_url: str | None


@dataclass(frozen=True)
class SealedTokens:
    """The user tokens, encrypted; ``expires_in`` seconds from now."""

    access: str
    refresh: str
    expires_in: int


class LinkOutcome(StrEnum):
    LINKED = "linked"  # no invite: only the link was stored
    TRACKED = "tracked"  # the invite's guild now tracks the streamer
    ALREADY_TRACKED = "already_tracked"  # it already did; the link was stored
    INVITE_UNUSABLE = "invite_unusable"  # expired, used up, revoked or unknown; link stored


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    guild_name: str | None = None
    invite_status: InviteStatus | None = None


@dataclass(frozen=True)
class InvitePreview:
    """What an invite's page shows: the inviting guild and whether the invite can be used."""

    guild_name: str
    status: InviteStatus


async def preview_invite(services: ManageServices, token: str) -> InvitePreview | None:
    """The invite's guild and status; None for a token that names no invite."""
    async with transaction(services) as conn:
        row = await invites.invite(conn, token)
        guild = None if row is None else await get_guild(conn, row.guild_id)
    if row is None or guild is None:
        return None
    return InvitePreview(guild.name, invite_status(row, datetime.now(UTC)))


async def complete_link(
    services: ManageServices,
    identity: TwitchIdentity,
    tokens: SealedTokens,
    invite_token: str | None,
    linked_by: str | None = None,
) -> LinkResult:
    """Store the link and, through a usable invite, track the streamer in its guild.
    ``linked_by`` is the signed-in Discord user who linked from the dashboard (who may then
    unlink it); a link without an invite tracks the streamer nowhere."""
    async with transaction(services) as conn:
        streamer_id = await twitch_links.store_link(
            conn,
            broadcaster_id=identity.broadcaster_id,
            login=identity.login,
            display_name=identity.display_name,
            avatar_url=identity.avatar_url,
            sealed_access=tokens.access,
            sealed_refresh=tokens.refresh,
            expires_in_s=tokens.expires_in,
            linked_by=linked_by,
        )
        result = (
            LinkResult(LinkOutcome.LINKED)
            if invite_token is None
            else await _use_invite(services, conn, identity, streamer_id, invite_token)
        )
        if result.outcome is not LinkOutcome.TRACKED and await tracked_streamer(conn, streamer_id):
            # Its subscriptions were made at cost 1; the job re-creates them at cost 0.
            await defer_subscribe(services, conn, streamer_id)
    log.info(
        "twitch_linked",
        broadcaster_id=identity.broadcaster_id,
        outcome=result.outcome.value,
        from_dashboard=linked_by is not None,
        invite=None if invite_token is None else token_hint(invite_token),
    )
    return result


async def _use_invite(
    services: ManageServices,
    conn: AsyncConnection[Any],
    identity: TwitchIdentity,
    streamer_id: UUID,
    token: str,
) -> LinkResult:
    row = await invites.lock_invite(conn, token)
    guild = None if row is None else await get_guild(conn, row.guild_id)
    if row is None or guild is None:
        return LinkResult(LinkOutcome.INVITE_UNUSABLE, invite_status=InviteStatus.REVOKED)
    status = invite_status(row, datetime.now(UTC))
    if status is not InviteStatus.ACTIVE:
        return LinkResult(LinkOutcome.INVITE_UNUSABLE, guild.name, status)
    await rules.require_manager(conn, _SYSTEM, row.guild_id)
    added_by = row.created_by
    if added_by is not None and not await lock_user(conn, added_by):
        added_by = None
    if not await guild_streamers.link_streamer(conn, row.guild_id, streamer_id, added_by=added_by):
        return LinkResult(LinkOutcome.ALREADY_TRACKED, guild.name)
    await invites.count_use(conn, token)
    await defer_subscribe(services, conn, streamer_id)
    detail = {
        "broadcaster_id": identity.broadcaster_id,
        "login": identity.login,
        "invite": token_hint(token),
    }
    await record(conn, _SYSTEM, Action.STREAMER_TRACK, guild_id=row.guild_id, detail=detail)
    return LinkResult(LinkOutcome.TRACKED, guild.name)


@dataclass(frozen=True)
class GuildLinking:
    """A guild's linking view: its invites (newest first) and the streamers it tracks that the
    EventSub budget left without subscriptions (linking makes them cost 0)."""

    invites: list[InviteOut]
    left_out: list[LeftOutRow]


async def guild_linking(services: ManageServices, actor: Actor, guild_id: str) -> GuildLinking:
    """The guild's invites and left-out streamers, read in one transaction (managers)."""
    rules.check_manager(actor, guild_id)
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        made = await invites.guild_invites(conn, guild_id)
        left_out = await eventsub_budget.guild_left_out(conn, guild_id)
    return GuildLinking([InviteOut.of(row) for row in made], left_out)


async def user_links(
    services: ManageServices, actor: Actor, user_id: str
) -> list[twitch_links.UserLinkRow]:
    """The Twitch accounts ``user_id`` linked from the dashboard (that user or the operator)."""
    if not isinstance(actor, Operator) and actor.user_id != user_id:
        raise Forbidden("you may only see your own links")
    async with transaction(services) as conn:
        return await twitch_links.links_by_user(conn, user_id)


@dataclass(frozen=True)
class UnlinkResult:
    broadcaster_id: str
    revoked_at_twitch: bool


async def unlink_streamer(
    services: ManageServices, actor: Actor, broadcaster_id: str
) -> UnlinkResult:
    """Delete the streamer's tokens (the operator, or the Discord user who linked them from the
    dashboard), then revoke the access token at Twitch. The deletion stands even when Twitch
    cannot be reached: the service no longer holds the token either way, and Twitch expires it
    within hours. Anyone else is refused whether or not the streamer is linked."""
    async with transaction(services) as conn:
        row = await twitch_links.linked_streamer(conn, broadcaster_id)
        mine = row is not None and row.linked_by is not None and row.linked_by == actor.user_id
        if not isinstance(actor, Operator) and not mine:
            raise Forbidden(f"you did not link streamer {broadcaster_id}")
        if row is None:
            raise NotFound(f"streamer {broadcaster_id} has no Twitch link")
        await twitch_links.delete_tokens(conn, broadcaster_id)
        detail = {"broadcaster_id": broadcaster_id}
        await record(conn, actor, Action.STREAMER_UNLINK, guild_id=None, detail=detail)
    revoked = await _revoke(services, row.sealed_access, broadcaster_id)
    log.info("twitch_unlinked", broadcaster_id=broadcaster_id, reason="operation", revoked=revoked)
    return UnlinkResult(broadcaster_id, revoked)


async def _revoke(services: ManageServices, sealed_access: str, broadcaster_id: str) -> bool:
    if services.user_oauth is None or services.tokens is None:
        return False
    try:
        access = SecretStr(services.tokens.open(sealed_access))
        return await services.user_oauth.revoke(access)
    except (TokenUnreadable, TwitchError) as error:
        log.warning("twitch_revoke_failed", broadcaster_id=broadcaster_id, error=str(error))
        return False
