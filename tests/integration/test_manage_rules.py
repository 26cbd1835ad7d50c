"""Who may do what: every operation against every kind of actor, over a real database.

Guild G has the bot installed, tracks one streamer and has a config. The actors: the operator;
a manager of G (G in their Discord guild list with MANAGE_GUILD); a member of G (G in their
list, no manage permission); a stranger (G not in their list). Each has a users row and a DM
subscription to G. An allowed write leaves exactly one audit row naming the actor, surface, guild
and action; an allowed read leaves no trace; a refusal is `Forbidden` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from streammaxing.manage import audit, guilds, invites, members, streamers
from streammaxing.manage.actor import Actor, DiscordUser, GuildEntry, Operator, Surface
from streammaxing.manage.errors import Forbidden, Invalid, NotFound
from streammaxing.manage.models import (
    AuditQuery,
    GuildConfigUpdate,
    GuildUpsert,
    HistoryQuery,
    PageQuery,
    PreferenceSet,
    PreviewRequest,
    StreamerAdd,
    StreamerUpdate,
    UserUpsert,
)
from streammaxing.manage.services import ManageServices

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]

G = "710000000000000001"  # the guild under test
H = "710000000000000002"  # another guild with the bot installed
N = "710000000000000003"  # a guild without the bot (no guilds row)
CHANNEL = "720000000000000001"
BROADCASTER = "141981764"
NEW_BROADCASTER = "555000111"

OPERATOR_TARGET = "740000000000000000"  # the user the operator acts on where a user is needed
MANAGER_ID = "740000000000000001"
MEMBER_ID = "740000000000000002"
STRANGER_ID = "740000000000000003"

SETUP = Operator(surface=Surface.SYSTEM)
OPERATOR = Operator(surface=Surface.API)
MANAGER = DiscordUser.from_guild_list(
    MANAGER_ID,
    Surface.DASHBOARD,
    [
        GuildEntry(G, permissions=str(0x20)),
        GuildEntry(H, permissions=str(0x400)),  # VIEW_CHANNEL only: a plain member of H
        GuildEntry(N, owner=True),
    ],
)
MEMBER = DiscordUser.from_guild_list(
    MEMBER_ID, Surface.DISCORD, [GuildEntry(G, permissions=str(0x400 | 0x800))]
)
STRANGER = DiscordUser.from_guild_list(
    STRANGER_ID, Surface.DASHBOARD, [GuildEntry(H, permissions=str(0x8))]
)

ACTORS: dict[str, tuple[Actor, str]] = {
    "operator": (OPERATOR, OPERATOR_TARGET),
    "manager": (MANAGER, MANAGER_ID),
    "member": (MEMBER, MEMBER_ID),
    "stranger": (STRANGER, STRANGER_ID),
}
EVERYONE = frozenset(ACTORS)
OPERATOR_ONLY = frozenset({"operator"})
MANAGERS = frozenset({"operator", "manager"})
MEMBERS = frozenset({"operator", "manager", "member"})

TABLES = (
    "guilds",
    "guild_config",
    "streamers",
    "guild_streamers",
    "users",
    "dm_subscribers",
    "user_preferences",
    "audit_log",
    "procrastinate_jobs",
    "streamer_invites",
)

Run = Callable[[ManageServices, Actor, str], Awaitable[object]]


async def revoke_seeded_invite(services: ManageServices, actor: Actor) -> None:
    """Revoke the invite `seed` made for G."""
    seeded = await invites.list_invites(services, SETUP, G)
    await invites.revoke_invite(services, actor, G, seeded.items[0].token)


@dataclass(frozen=True)
class Case:
    """One operation: who may run it, and for a write the audit row it leaves."""

    name: str
    run: Run
    allowed: frozenset[str]
    action: str | None = None  # None: a read
    on_guild: bool = True  # whether the audit row names G (else: no guild)


CASES = (
    Case(
        "guild.save",
        lambda s, a, me: guilds.upsert_guild(s, a, G, GuildUpsert(name="Renamed")),
        OPERATOR_ONLY,
        "guild.save",
    ),
    Case(
        "guild.install",
        lambda s, a, me: guilds.register_install(s, a, G, GuildUpsert(name="Reinstalled")),
        MANAGERS,
        "guild.install",
    ),
    Case("guild.list", lambda s, a, me: guilds.list_guilds(s, a, PageQuery()), OPERATOR_ONLY),
    Case(
        "guild.delete", lambda s, a, me: guilds.delete_guild(s, a, G), OPERATOR_ONLY, "guild.delete"
    ),
    Case("guild.get", lambda s, a, me: guilds.get_guild(s, a, G), MEMBERS),
    Case("config.get", lambda s, a, me: guilds.get_config(s, a, G), MANAGERS),
    Case(
        "config.set",
        lambda s, a, me: guilds.set_config(s, a, G, GuildConfigUpdate(enabled=False)),
        MANAGERS,
        "config.set",
    ),
    Case("config.preview", lambda s, a, me: guilds.preview(s, a, G, PreviewRequest()), MANAGERS),
    Case("history", lambda s, a, me: guilds.history(s, a, G, HistoryQuery()), MANAGERS),
    Case("audit", lambda s, a, me: audit.audit_trail(s, a, G, AuditQuery()), MANAGERS),
    Case("streamer.list", lambda s, a, me: streamers.list_streamers(s, a, G), MEMBERS),
    Case("streamer.get", lambda s, a, me: streamers.get_streamer(s, a, G, "twitchdev"), MEMBERS),
    Case(
        "streamer.track",
        lambda s, a, me: streamers.track_streamer(
            s, a, G, StreamerAdd(login="newbie", broadcaster_id=NEW_BROADCASTER)
        ),
        MANAGERS,
        "streamer.track",
    ),
    Case(
        "streamer.update",
        lambda s, a, me: streamers.update_streamer(
            s, a, G, "twitchdev", StreamerUpdate(enabled=False)
        ),
        MANAGERS,
        "streamer.update",
    ),
    Case(
        "streamer.message",
        lambda s, a, me: streamers.set_custom_content(
            s, a, G, "twitchdev", "{streamer_display_name} is live!"
        ),
        MANAGERS,
        "streamer.message",
    ),
    Case(
        "streamer.untrack",
        lambda s, a, me: streamers.untrack_streamer(s, a, G, "twitchdev"),
        MANAGERS,
        "streamer.untrack",
    ),
    Case(
        "invite.create",
        lambda s, a, me: invites.create_invite(s, a, G, invites.InviteCreate(max_uses=3)),
        MANAGERS,
        "invite.create",
    ),
    Case("invite.list", lambda s, a, me: invites.list_invites(s, a, G), MANAGERS),
    Case(
        "invite.revoke",
        lambda s, a, me: revoke_seeded_invite(s, a),
        MANAGERS,
        "invite.revoke",
    ),
    Case("dm.list", lambda s, a, me: members.list_subscribers(s, a, G, PageQuery()), MANAGERS),
    Case("dm.subscribe", lambda s, a, me: members.subscribe(s, a, G, me), MEMBERS, "dm.subscribe"),
    Case(
        "dm.unsubscribe",
        lambda s, a, me: members.unsubscribe(s, a, G, me),
        MEMBERS,
        "dm.unsubscribe",
    ),
    Case(
        "user.save",
        lambda s, a, me: members.upsert_user(s, a, me, UserUpsert(username="renamed")),
        EVERYONE,
        "user.save",
        on_guild=False,
    ),
    Case("user.get", lambda s, a, me: members.get_user(s, a, me), EVERYONE),
    Case(
        "user.sign_in",
        lambda s, a, me: members.record_sign_in(s, a, me, UserUpsert(username="signed-in")),
        EVERYONE,
        "user.sign_in",
        on_guild=False,
    ),
    Case("member.overview", lambda s, a, me: members.member_overview(s, a, me), EVERYONE),
    Case(
        "user.erase",
        lambda s, a, me: members.erase_user(s, a, me),
        EVERYONE,
        "user.erase",
        on_guild=False,
    ),
    Case("preference.list", lambda s, a, me: members.list_preferences(s, a, me), EVERYONE),
    Case(
        "preference.set",
        lambda s, a, me: members.set_preference(
            s, a, me, G, "twitchdev", PreferenceSet(enabled=False)
        ),
        MEMBERS,
        "preference.set",
    ),
    Case(
        "preference.clear",
        lambda s, a, me: members.clear_preference(s, a, me, G, "twitchdev"),
        MEMBERS,
        "preference.clear",
    ),
)


@pytest.fixture
def services(pool: Pool) -> ManageServices:
    """Dry-run services (no Twitch credentials): streamers are added by broadcaster id."""
    return ManageServices(
        pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
    )


async def seed(services: ManageServices) -> None:
    """G and H with the bot installed, G configured and tracking `twitchdev` and with one
    invite; every actor's user row, each subscribed to G's personal alerts."""
    for guild_id, name in ((G, "Speedrunners"), (H, "Elsewhere")):
        await guilds.upsert_guild(services, SETUP, guild_id, GuildUpsert(name=name))
    await guilds.set_config(services, SETUP, G, GuildConfigUpdate(channel_id=CHANNEL))
    await streamers.track_streamer(
        services, SETUP, G, StreamerAdd(login="twitchdev", broadcaster_id=BROADCASTER)
    )
    await invites.create_invite(services, SETUP, G, invites.InviteCreate())
    for user_id in (OPERATOR_TARGET, MANAGER_ID, MEMBER_ID, STRANGER_ID):
        await members.upsert_user(services, SETUP, user_id, UserUpsert(username=f"u{user_id}"))
        await members.subscribe(services, SETUP, G, user_id)


async def fetch(pool: Pool, query: str | sql.Composed, params: Any = None) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query.encode() if isinstance(query, str) else query, params)
        return await cur.fetchall()


_DIGEST = sql.SQL("SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {} t")


async def snapshot(pool: Pool) -> dict[str, str]:
    """Every row of every table an operation can touch, as one digest per table."""
    digests: dict[str, str] = {}
    for table in TABLES:
        rows = await fetch(pool, _DIGEST.format(sql.Identifier(table)))
        digests[table] = rows[0][0]
    return digests


async def last_audit_id(pool: Pool) -> int:
    rows = await fetch(pool, "SELECT coalesce(max(id), 0) FROM audit_log")
    return int(rows[0][0])


def _table() -> list[Any]:
    return [
        pytest.param(case, actor, id=f"{case.name}-{actor}") for case in CASES for actor in ACTORS
    ]


class TestPermissionTable:
    @pytest.mark.parametrize(("case", "actor_name"), _table())
    async def test_operation_by_actor(
        self, services: ManageServices, pool: Pool, case: Case, actor_name: str
    ) -> None:
        """Allowed: the operation runs; a write leaves exactly one audit row naming the actor,
        its surface, the guild and the action, a read leaves none. Refused: `Forbidden`, and
        no table changed (no row, no audit row, no job)."""
        await seed(services)
        actor, me = ACTORS[actor_name]
        before = await snapshot(pool)
        since = await last_audit_id(pool)
        if actor_name not in case.allowed:
            with pytest.raises(Forbidden):
                await case.run(services, actor, me)
            assert await snapshot(pool) == before
            return
        await case.run(services, actor, me)
        trail = await fetch(
            pool,
            "SELECT actor_kind, actor_user_id, surface, guild_id, action FROM audit_log"
            " WHERE id > %s",
            (since,),
        )
        if case.action is None:
            assert trail == []
            assert await snapshot(pool) == before
            return
        kind = "operator" if isinstance(actor, Operator) else "user"
        # Erasing a user forgets them in the trail, their own erasure included.
        erased_self = case.action == "user.erase" and actor.user_id == me
        assert trail == [
            (
                kind,
                None if erased_self else actor.user_id,
                actor.surface.value,
                G if case.on_guild else None,
                case.action,
            )
        ]


class TestGuildBoundaries:
    async def test_manager_of_one_guild_cannot_manage_another(
        self, services: ManageServices, pool: Pool
    ) -> None:
        """A manager of G who is a plain member of H may read H but not manage it, and
        nothing of H changes."""
        await seed(services)
        before = await snapshot(pool)
        assert (await guilds.get_guild(services, MANAGER, H)).name == "Elsewhere"
        with pytest.raises(Forbidden):
            await guilds.set_config(services, MANAGER, H, GuildConfigUpdate(channel_id=CHANNEL))
        with pytest.raises(Forbidden):
            await guilds.get_config(services, MANAGER, H)
        with pytest.raises(Forbidden):
            await streamers.track_streamer(
                services, MANAGER, H, StreamerAdd(login="newbie", broadcaster_id=NEW_BROADCASTER)
            )
        assert await snapshot(pool) == before

    async def test_manage_permission_without_the_bot_is_refused(
        self, services: ManageServices, pool: Pool
    ) -> None:
        """The owner of a guild the bot is not installed in (no guilds row) is refused; the
        operator is told it does not exist."""
        await seed(services)
        before = await snapshot(pool)
        with pytest.raises(Forbidden, match="not installed"):
            await guilds.set_config(services, MANAGER, N, GuildConfigUpdate(channel_id=CHANNEL))
        with pytest.raises(Forbidden):
            await guilds.get_guild(services, MANAGER, N)
        with pytest.raises(NotFound):
            await guilds.set_config(services, OPERATOR, N, GuildConfigUpdate(channel_id=CHANNEL))
        assert await snapshot(pool) == before

    async def test_installing_creates_the_guild_a_manager_may_then_manage(
        self, services: ManageServices, pool: Pool
    ) -> None:
        """A user who can manage N in Discord records the bot's install there (one audit row
        naming them); afterwards they manage N. A member of H cannot install into H."""
        await seed(services)
        guild, created = await guilds.register_install(
            services, MANAGER, N, GuildUpsert(name="New place", owner_id=MANAGER_ID)
        )
        assert (guild.guild_id, guild.name, created) == (N, "New place", True)
        await guilds.set_config(services, MANAGER, N, GuildConfigUpdate(channel_id=CHANNEL))
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT actor_user_id, surface FROM audit_log WHERE action = 'guild.install'"
            )
            assert await cur.fetchall() == [(MANAGER_ID, MANAGER.surface.value)]
        before = await snapshot(pool)
        with pytest.raises(Forbidden):
            await guilds.register_install(services, MANAGER, H, GuildUpsert(name="Not mine"))
        assert await snapshot(pool) == before

    async def test_a_refusal_does_not_tell_whether_the_guild_exists(
        self, services: ManageServices
    ) -> None:
        """A stranger asking about an installed guild and about an id no guild has gets the
        same refusal, with the same message but for the id."""
        await seed(services)
        missing = "719999999999999999"
        for run in (
            lambda guild_id: guilds.get_guild(services, STRANGER, guild_id),
            lambda guild_id: guilds.get_config(services, STRANGER, guild_id),
            lambda guild_id: audit.audit_trail(services, STRANGER, guild_id, AuditQuery()),
        ):
            with pytest.raises(Forbidden) as existing:
                await run(G)
            with pytest.raises(Forbidden) as absent:
                await run(missing)
            assert str(existing.value).replace(G, "ID") == str(absent.value).replace(missing, "ID")

    async def test_refused_before_validating_input(self, services: ManageServices) -> None:
        """A member who may not manage G is refused before the input is looked at: an
        incomplete streamer (no broadcaster id in dry-run) or an invalid template still
        answers `Forbidden`, not `Invalid`."""
        await seed(services)
        with pytest.raises(Forbidden):
            await streamers.track_streamer(services, MEMBER, G, StreamerAdd(login="newbie"))
        with pytest.raises(Forbidden):
            await guilds.set_config(
                services,
                MEMBER,
                G,
                GuildConfigUpdate(message_template={"content": "{no_such_variable}"}),
            )
        with pytest.raises(Invalid):
            await streamers.track_streamer(services, MANAGER, G, StreamerAdd(login="newbie"))


class TestOwnData:
    async def test_a_user_can_erase_only_themselves(
        self, services: ManageServices, pool: Pool
    ) -> None:
        """Erasing another user is refused and changes nothing; erasing oneself works."""
        await seed(services)
        before = await snapshot(pool)
        with pytest.raises(Forbidden):
            await members.erase_user(services, MEMBER, MANAGER_ID)
        with pytest.raises(Forbidden):
            await members.erase_user(services, MANAGER, MEMBER_ID)
        assert await snapshot(pool) == before
        await members.erase_user(services, MEMBER, MEMBER_ID)
        assert await fetch(pool, "SELECT 1 FROM users WHERE user_id = %s", (MEMBER_ID,)) == []

    async def test_another_users_data_is_refused_even_to_a_manager(
        self, services: ManageServices, pool: Pool
    ) -> None:
        """A manager of G may not read another user, subscribe them, or set their
        preferences in G."""
        await seed(services)
        before = await snapshot(pool)
        with pytest.raises(Forbidden):
            await members.get_user(services, MANAGER, MEMBER_ID)
        with pytest.raises(Forbidden):
            await members.list_preferences(services, MANAGER, MEMBER_ID)
        with pytest.raises(Forbidden):
            await members.unsubscribe(services, MANAGER, G, MEMBER_ID)
        with pytest.raises(Forbidden):
            await members.set_preference(
                services, MANAGER, MEMBER_ID, G, "twitchdev", PreferenceSet(enabled=False)
            )
        assert await snapshot(pool) == before

    async def test_a_user_adding_a_streamer_is_its_added_by(self, services: ManageServices) -> None:
        """A user's `added_by` in the body is ignored: the link names the acting user. The
        operator's `added_by` is honoured."""
        await seed(services)
        by_user = await streamers.track_streamer(
            services,
            MANAGER,
            G,
            StreamerAdd(login="newbie", broadcaster_id=NEW_BROADCASTER, added_by=MEMBER_ID),
        )
        assert by_user.added_by == MANAGER_ID
        by_operator = await streamers.track_streamer(
            services,
            OPERATOR,
            G,
            StreamerAdd(login="another", broadcaster_id="777", added_by=MEMBER_ID),
        )
        assert by_operator.added_by == MEMBER_ID


class TestAuditTrail:
    async def test_newest_first_a_page_at_a_time(self, services: ManageServices) -> None:
        """The trail lists the guild's changes newest first; `next_cursor` continues with the
        older ones until there are none; other guilds' and users' rows are not in it."""
        await seed(services)
        await streamers.update_streamer(
            services, MANAGER, G, "twitchdev", StreamerUpdate(enabled=False)
        )
        first = await audit.audit_trail(services, MANAGER, G, AuditQuery(limit=2))
        assert [(e.action, e.actor_user_id, e.surface) for e in first.items] == [
            ("streamer.update", MANAGER_ID, "dashboard"),
            ("dm.subscribe", None, "system"),
        ]
        assert first.items[0].detail == {"broadcaster_id": BROADCASTER, "enabled": False}
        assert first.next_cursor == first.items[-1].id
        actions: list[str] = [e.action for e in first.items]
        cursor = first.next_cursor
        while cursor is not None:
            page = await audit.audit_trail(
                services, MANAGER, G, AuditQuery.model_validate({"limit": 2, "before": cursor})
            )
            actions += [e.action for e in page.items]
            cursor = page.next_cursor
        assert actions == [
            "streamer.update",
            *["dm.subscribe"] * 4,
            "invite.create",
            "streamer.track",
            "config.set",
            "guild.save",
        ]

    async def test_a_deleted_guilds_trail_stays_for_the_operator(
        self, services: ManageServices
    ) -> None:
        """Deleting G keeps its trail, readable by the operator (its deletion last); G's former
        managers are refused, since the bot is no longer installed."""
        await seed(services)
        await guilds.delete_guild(services, OPERATOR, G)
        trail = await audit.audit_trail(services, OPERATOR, G, AuditQuery(limit=1))
        assert [(e.action, e.actor_kind, e.surface) for e in trail.items] == [
            ("guild.delete", "operator", "api")
        ]
        with pytest.raises(Forbidden):
            await audit.audit_trail(services, MANAGER, G, AuditQuery())

    async def test_erasing_a_user_forgets_them_in_the_trail(
        self, services: ManageServices, pool: Pool
    ) -> None:
        """After a user's erasure no audit row names them, as actor or as subject; the rows
        themselves stay."""
        await seed(services)
        await streamers.update_streamer(
            services, MANAGER, G, "twitchdev", StreamerUpdate(enabled=False)
        )
        count = await fetch(pool, "SELECT count(*) FROM audit_log")
        await members.erase_user(services, OPERATOR, MANAGER_ID)
        named = await fetch(
            pool,
            "SELECT count(*) FROM audit_log WHERE %s IN (actor_user_id, subject_user_id)"
            " OR detail::text LIKE %s",
            (MANAGER_ID, f"%{MANAGER_ID}%"),
        )
        assert named == [(0,)]
        assert await fetch(pool, "SELECT count(*) FROM audit_log") == [(count[0][0] + 1,)]
