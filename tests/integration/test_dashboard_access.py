"""Who may open which dashboard page and send which form: the local operator, a manager of the
guild, a plain member and a stranger, against a real database and the fake Discord.

Allowed: the page answers 200, the form 303 and changes something (the JSON preview: 200).
Refused: 403, and no row of any table a form can touch changed (sessions aside: reading one
restarts its idle clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from tests.fakes.discord_fake import FakeDiscordServer
from tests.integration.dashboard_site import (
    CHANNEL,
    GUILD,
    MANAGER,
    MEMBER,
    STRANGER,
    Site,
    csrf,
    running_site,
    sign_in,
)

BROADCASTER = "141981764"
TABLES = (
    "guilds",
    "guild_config",
    "streamers",
    "guild_streamers",
    "users",
    "dm_subscribers",
    "user_preferences",
    "audit_log",
    "streamer_invites",
)
ACTORS = ("operator", "manager", "member", "stranger")
EVERYONE = frozenset(ACTORS)
MANAGERS = frozenset({"operator", "manager"})
MEMBERS = frozenset({"operator", "manager", "member"})
PEOPLE = frozenset({"manager", "member", "stranger"})
IN_GUILD = frozenset({"manager", "member"})


@dataclass(frozen=True)
class Door:
    """A page (GET) or a form (POST with the form token and ``data``), and who gets through."""

    name: str
    path: str
    allowed: frozenset[str]
    data: tuple[tuple[str, str], ...] | None = None  # None: a GET


G = f"/guilds/{GUILD}"
DOORS = (
    Door("home", "/", EVERYONE),
    Door("guild page", G, MEMBERS),
    Door("me page", "/me", EVERYONE),
    Door("config", f"{G}/config", MANAGERS, (("channel_id", CHANNEL), ("enabled", "on"))),
    Door("reenable", f"{G}/reenable", MANAGERS, ()),
    Door("preview", f"{G}/preview", MANAGERS, (("message_template", '{"content": "hi"}'),)),
    Door(
        "streamer add",
        f"{G}/streamer-add",
        MANAGERS,
        (("login", "newbie"), ("broadcaster_id", "555000111")),
    ),
    Door("streamer toggle", f"{G}/streamer-toggle", MANAGERS, (("streamer", BROADCASTER),)),
    Door(
        "streamer message",
        f"{G}/streamer-message",
        MANAGERS,
        (("streamer", BROADCASTER), ("custom_content", "{streamer_login} is live")),
    ),
    Door("streamer remove", f"{G}/streamer-remove", MANAGERS, (("streamer", BROADCASTER),)),
    Door(
        "invite create",
        f"{G}/invite-create",
        MANAGERS,
        (("expires_in_hours", "24"), ("max_uses", "1")),
    ),
    Door(
        "mute",
        "/me/mute",
        IN_GUILD,
        (("guild_id", GUILD), ("streamer", BROADCASTER), ("muted", "on")),
    ),
    Door("dm opt-in", "/me/dm", IN_GUILD, (("guild_id", GUILD), ("subscribed", "on"))),
    Door("erase my data", "/me/erase", PEOPLE, ()),
)


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@asynccontextmanager
async def signed_in(
    database_url: str, discord: FakeDiscordServer, actor: str
) -> AsyncIterator[tuple[Site, httpx.AsyncClient]]:
    """A site with G installed, configured and tracking one streamer, and ``actor``'s browser."""
    operator = actor == "operator"
    async with (
        running_site(database_url, discord, with_oauth=not operator, idle=timedelta(hours=1)) as s,
        s.browser() as browser,
    ):
        await seed(s)
        if operator:
            assert (await browser.post("/operator-login")).status_code == 303
        else:
            user = {"manager": MANAGER, "member": MEMBER, "stranger": STRANGER}[actor]
            assert (await sign_in(s, browser, user)).status_code == 303
        yield s, browser


async def seed(site: Site) -> None:
    await site.sql("INSERT INTO guilds (guild_id, name) VALUES (%s, 'Manny''s')", (GUILD,))
    await site.sql(
        "INSERT INTO guild_config (guild_id, channel_id, message_template, enabled)"
        ' VALUES (%s, %s, \'{"content": "{streamer_login} is live"}\', false)',
        (GUILD, CHANNEL),
    )
    await site.sql(
        "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login)"
        " VALUES (%s, 'twitchdev') RETURNING id)"
        " INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %s, id FROM s",
        (BROADCASTER, GUILD),
    )


async def snapshot(site: Site) -> dict[str, str]:
    digests: dict[str, str] = {}
    for table in TABLES:
        rows = await site.sql(
            f"SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t"  # noqa: S608 - table names are the constants above
        )
        digests[table] = rows[0][0]
    return digests


class TestAccessTable:
    @pytest.mark.parametrize(
        ("door", "actor"),
        [pytest.param(d, a, id=f"{d.name}-{a}") for d in DOORS for a in ACTORS],
    )
    async def test_door_by_actor(
        self, database_url: str, discord: FakeDiscordServer, door: Door, actor: str
    ) -> None:
        """The allowed get the page or their change; everyone else a 403 and no change."""
        async with signed_in(database_url, discord, actor) as (site, browser):
            token = csrf(await browser.get("/me"))
            before = await snapshot(site)
            if door.data is None:
                response = await browser.get(door.path)
            else:
                form = {"csrf_token": token, **dict(door.data)}
                response = await browser.post(door.path, data=form)
            if actor in door.allowed:
                expected = 200 if door.data is None or door.name == "preview" else 303
                assert response.status_code == expected, response.text[:2000]
                if expected == 303:
                    assert await snapshot(site) != before, "an allowed form changed nothing"
                return
            assert response.status_code == 403
            assert await snapshot(site) == before
            if door.data is None:
                assert "Manny" not in response.text
