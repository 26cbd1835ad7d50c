"""Streamer invites: a guild's managers (and the operator) create, list and revoke them.

An invite is a link ``/invite/{token}`` that lets a streamer link their Twitch account and be
tracked by the guild, with the invite's creator as the link's ``added_by``. It names one guild,
expires (1 hour to 30 days after creation, 7 days unless asked) and allows a number of uses (1
unless asked). Revoking keeps it in the list, marked revoked. Each write leaves one audit row
naming the invite by the first characters of its token only.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field

from streammaxing.manage import rules
from streammaxing.manage.actor import Actor
from streammaxing.manage.audit import Action, record
from streammaxing.manage.errors import NotFound
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.schema import invites as queries
from streammaxing.schema.invites import InviteRow

log = structlog.get_logger(__name__)

DEFAULT_LIFETIME_HOURS: Final = 7 * 24
MAX_LIFETIME_HOURS: Final = 30 * 24
MAX_USES: Final = 1000


def invite_path(token: str) -> str:
    """The invite's page, relative to the service's public URL."""
    return f"/invite/{token}"


def token_hint(token: str) -> str:
    """What logs and the audit trail show of a token: enough to tell invites apart."""
    return token[:6]


class InviteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_hours: Annotated[int, Field(ge=1, le=MAX_LIFETIME_HOURS)] = DEFAULT_LIFETIME_HOURS
    max_uses: Annotated[int, Field(ge=1, le=MAX_USES)] = 1


class InviteStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


class Usable(Protocol):
    """What an invite's status is computed from (a stored row or its operation output)."""

    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def uses(self) -> int: ...
    @property
    def max_uses(self) -> int: ...


def invite_status(row: Usable, now: datetime) -> InviteStatus:
    """Whether the invite can still be used at ``now`` and, if not, why (revoked wins)."""
    if row.revoked_at is not None:
        return InviteStatus.REVOKED
    if row.expires_at <= now:
        return InviteStatus.EXPIRED
    if row.uses >= row.max_uses:
        return InviteStatus.USED_UP
    return InviteStatus.ACTIVE


class InviteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    token: str
    guild_id: str
    path: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: InviteRow) -> InviteOut:
        return cls(
            token=row.token,
            guild_id=row.guild_id,
            path=invite_path(row.token),
            created_by=row.created_by,
            created_at=row.created_at,
            expires_at=row.expires_at,
            max_uses=row.max_uses,
            uses=row.uses,
            revoked_at=row.revoked_at,
        )


class InviteList(BaseModel):
    items: list[InviteOut]


async def create_invite(
    services: ManageServices, actor: Actor, guild_id: str, body: InviteCreate
) -> InviteOut:
    """A new invite to guild ``guild_id``, made by the acting user (None for the operator)."""
    rules.check_manager(actor, guild_id)
    token = secrets.token_urlsafe(24)
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        row = await queries.insert_invite(
            conn,
            token=token,
            guild_id=guild_id,
            created_by=actor.user_id,
            lifetime_s=body.expires_in_hours * 3600,
            max_uses=body.max_uses,
        )
        detail = {
            "invite": token_hint(token),
            "expires_in_hours": body.expires_in_hours,
            "max_uses": body.max_uses,
        }
        await record(conn, actor, Action.INVITE_CREATE, guild_id=guild_id, detail=detail)
    log.info("invite_created", guild_id=guild_id, invite=token_hint(token))
    return InviteOut.of(row)


async def list_invites(services: ManageServices, actor: Actor, guild_id: str) -> InviteList:
    """The guild's invites with their use counts, newest first."""
    rules.check_manager(actor, guild_id)
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        rows = await queries.guild_invites(conn, guild_id)
    return InviteList(items=[InviteOut.of(row) for row in rows])


async def revoke_invite(services: ManageServices, actor: Actor, guild_id: str, token: str) -> None:
    """The invite stops working at once; revoking a revoked invite is allowed and recorded."""
    rules.check_manager(actor, guild_id)
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        if not await queries.revoke_invite(conn, guild_id, token):
            raise NotFound(f"guild {guild_id} has no such invite")
        detail = {"invite": token_hint(token)}
        await record(conn, actor, Action.INVITE_REVOKE, guild_id=guild_id, detail=detail)
    log.info("invite_revoked", guild_id=guild_id, invite=token_hint(token))
