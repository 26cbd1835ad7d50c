"""Streamer invites: what a manager creates, lists and revokes, and when an invite is usable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from streammaxing.manage import guilds, invites
from streammaxing.manage.actor import DiscordUser, GuildEntry, Operator, Surface
from streammaxing.manage.errors import NotFound
from streammaxing.manage.invites import InviteCreate, InviteStatus, invite_status
from streammaxing.manage.models import GuildUpsert
from streammaxing.manage.services import ManageServices
from streammaxing.schema.invites import InviteRow

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]
G = "710000000000000001"
H = "710000000000000002"
SETUP = Operator(surface=Surface.SYSTEM)
MANAGER = DiscordUser.from_guild_list(
    "740000000000000001", Surface.DASHBOARD, [GuildEntry(G, owner=True), GuildEntry(H, owner=True)]
)


@pytest.fixture
async def services(pool: Pool) -> ManageServices:
    services = ManageServices(
        pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
    )
    for guild_id in (G, H):
        await guilds.upsert_guild(services, SETUP, guild_id, GuildUpsert(name=f"g{guild_id}"))
    return services


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def row(**changes: Any) -> InviteRow:
    base: dict[str, Any] = {
        "token": "t",
        "guild_id": G,
        "created_by": None,
        "created_at": NOW - timedelta(hours=1),
        "expires_at": NOW + timedelta(hours=1),
        "max_uses": 2,
        "uses": 1,
        "revoked_at": None,
    }
    base.update(changes)
    return InviteRow(**base)


class TestInviteStatus:
    @pytest.mark.parametrize(
        ("changes", "status"),
        [
            ({}, InviteStatus.ACTIVE),
            ({"expires_at": NOW}, InviteStatus.EXPIRED),
            ({"uses": 2}, InviteStatus.USED_UP),
            ({"revoked_at": NOW}, InviteStatus.REVOKED),
            ({"revoked_at": NOW, "uses": 2, "expires_at": NOW}, InviteStatus.REVOKED),
            ({"uses": 2, "expires_at": NOW}, InviteStatus.EXPIRED),
        ],
    )
    def test_status(self, changes: dict[str, Any], status: InviteStatus) -> None:
        """Usable until it expires (at its expiry instant it no longer is), is used
        ``max_uses`` times or is revoked; revoked is reported before expired, expired before
        used up."""
        assert invite_status(row(**changes), NOW) is status


class TestInviteOperations:
    async def test_created_invite_names_its_creator_guild_and_limits(
        self, services: ManageServices
    ) -> None:
        """A manager's invite names them as creator, the guild, a 48-hour expiry and 5 uses,
        none used; its path is ``/invite/{token}`` with an unguessable token."""
        made = await invites.create_invite(
            services, MANAGER, G, InviteCreate(expires_in_hours=48, max_uses=5)
        )
        assert made.created_by == MANAGER.user_id
        assert (made.guild_id, made.max_uses, made.uses, made.revoked_at) == (G, 5, 0, None)
        assert made.expires_at - made.created_at == timedelta(hours=48)
        assert made.path == f"/invite/{made.token}"
        assert len(made.token) >= 32

    async def test_defaults_are_one_use_for_seven_days(self, services: ManageServices) -> None:
        """Without limits an invite allows one use and lasts 7 days."""
        made = await invites.create_invite(services, SETUP, G, InviteCreate())
        assert made.max_uses == 1
        assert made.expires_at - made.created_at == timedelta(days=7)
        assert made.created_by is None

    def test_limits_are_bounded(self) -> None:
        """An expiry beyond 30 days, below 1 hour, or 0 or over 1000 uses is refused."""
        for bad in (
            {"expires_in_hours": 721},
            {"expires_in_hours": 0},
            {"max_uses": 0},
            {"max_uses": 1001},
        ):
            with pytest.raises(ValidationError):
                InviteCreate.model_validate(bad)

    async def test_list_is_per_guild_newest_first(self, services: ManageServices) -> None:
        """The list holds only the guild's own invites, the newest first."""
        first = await invites.create_invite(services, MANAGER, G, InviteCreate())
        second = await invites.create_invite(services, MANAGER, G, InviteCreate())
        await invites.create_invite(services, MANAGER, H, InviteCreate())
        listed = await invites.list_invites(services, MANAGER, G)
        assert [item.token for item in listed.items] == [second.token, first.token]

    async def test_revoke_marks_it_and_keeps_it_listed(self, services: ManageServices) -> None:
        """A revoked invite stays in the list with its revocation time; revoking again is
        harmless."""
        made = await invites.create_invite(services, MANAGER, G, InviteCreate())
        await invites.revoke_invite(services, MANAGER, G, made.token)
        await invites.revoke_invite(services, MANAGER, G, made.token)
        (listed,) = (await invites.list_invites(services, MANAGER, G)).items
        assert listed.revoked_at is not None

    async def test_another_guilds_invite_cannot_be_revoked_through_this_one(
        self, services: ManageServices
    ) -> None:
        """Revoking H's invite as G's is `NotFound`, and H's invite stays active."""
        made = await invites.create_invite(services, MANAGER, H, InviteCreate())
        with pytest.raises(NotFound):
            await invites.revoke_invite(services, MANAGER, G, made.token)
        (listed,) = (await invites.list_invites(services, MANAGER, H)).items
        assert listed.revoked_at is None
