"""Linking and unlinking a Twitch account from /me, without an invite: the dashboard over a
real database, the fake Discord (sign-in) and the fake Twitch (consent, tokens, revoke)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from streammaxing.crypto import TokenBox
from streammaxing.twitch.user_oauth import TwitchUserOAuth
from tests.fakes.discord_fake import FakeDiscordServer
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import TwitchFakeState, create_app
from tests.integration.dashboard_site import (
    GUILD,
    KEY,
    MANAGER,
    MEMBER,
    Site,
    csrf,
    running_site,
    sign_in,
)

STREAMER_ID, STREAMER_LOGIN, STREAMER_NAME = "1337", "cool_user", "Cool_User"


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture(scope="module")
def served_twitch() -> Iterator[tuple[TwitchFakeState, str]]:
    state = TwitchFakeState()
    with ServerThread(create_app(state)) as server:
        yield state, server.url


@pytest.fixture
async def twitch(
    served_twitch: tuple[TwitchFakeState, str],
) -> AsyncIterator[tuple[TwitchFakeState, TwitchUserOAuth]]:
    state, url = served_twitch
    state.reset()
    state.add_user(STREAMER_ID, STREAMER_LOGIN, display_name=STREAMER_NAME)
    client = TwitchUserOAuth(
        httpx.AsyncClient(timeout=5.0),
        auth_url=f"{url}/oauth2",
        api_url=f"{url}/helix",
        client_id=state.client_id,
        client_secret=SecretStr(state.client_secret),
    )
    yield state, client
    await client.aclose()


@asynccontextmanager
async def site_with_twitch(
    database_url: str, discord: FakeDiscordServer, twitch: tuple[TwitchFakeState, TwitchUserOAuth]
) -> AsyncIterator[Site]:
    state, oauth = twitch
    async with running_site(
        database_url, discord, with_oauth=True, idle=timedelta(hours=1), twitch_oauth=oauth
    ) as site:
        state.oauth.set_redirect_uris(state.client_id, [f"{site.url}/auth/twitch/callback"])
        await site.sql("INSERT INTO guilds (guild_id, name) VALUES (%s, 'Manny''s')", (GUILD,))
        yield site


async def link_from_me(browser: httpx.AsyncClient) -> httpx.Response:
    """/me's "Link with Twitch" form → the fake's consent (approving) → the callback."""
    me = await browser.get("/me")
    assert "Link with Twitch" in me.text
    started = await browser.post("/me/twitch/link", data={"csrf_token": csrf(me)})
    assert started.status_code == 303, started.text[:2000]
    async with httpx.AsyncClient(timeout=10) as at_twitch:
        consent = await at_twitch.get(started.headers["location"])
    assert consent.status_code == 302, consent.text
    return await browser.get(consent.headers["location"])


async def stored(site: Site) -> tuple[object, ...]:
    rows = await site.sql(
        "SELECT twitch_access_token, twitch_refresh_token, linked_by, twitch_display_name"
        " FROM streamers WHERE twitch_broadcaster_id = %s",
        (STREAMER_ID,),
    )
    assert len(rows) == 1
    return rows[0]


class TestLinkFromMe:
    async def test_link_show_and_unlink(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        twitch: tuple[TwitchFakeState, TwitchUserOAuth],
    ) -> None:
        """A signed-in user links from /me: the tokens are stored sealed with the user as
        ``linked_by``, no guild tracks the streamer, /me shows the account with Unlink;
        unlinking deletes the tokens, revokes the access token at Twitch, records
        `streamer.unlink` by that user, and /me offers linking again."""
        fake = twitch[0]
        async with site_with_twitch(database_url, discord, twitch) as site, site.browser() as b:
            await sign_in(site, b, MANAGER)
            done = await link_from_me(b)
            assert done.status_code == 200, done.text
            assert "is linked" in done.text
            assert 'href="/me"' in done.text
            sealed_access, sealed_refresh, linked_by, name = await stored(site)
            assert linked_by == MANAGER
            assert name == STREAMER_NAME
            access = TokenBox([KEY]).open(str(sealed_access))
            assert fake.oauth.access_token(access) is not None
            assert access not in str(sealed_access)
            assert TokenBox([KEY]).open(str(sealed_refresh)) not in str(sealed_refresh)
            assert await site.sql("SELECT * FROM guild_streamers") == []
            assert await site.sql("SELECT task_name FROM procrastinate_jobs") == []
            me = await b.get("/me")
            assert f"<strong>{STREAMER_NAME}</strong>" in me.text
            assert 'action="/me/twitch/unlink"' in me.text
            gone = await b.post(
                "/me/twitch/unlink", data={"csrf_token": csrf(me), "streamer": STREAMER_ID}
            )
            assert gone.status_code == 303
            assert gone.headers["location"] == "/me"
            assert (await stored(site))[:3] == (None, None, None)
            assert fake.oauth.access_token(access) is None
            trail = await site.sql(
                "SELECT actor_user_id, surface FROM audit_log WHERE action = 'streamer.unlink'"
            )
            assert trail == [(MANAGER, "dashboard")]
            me = await b.get("/me")
            assert 'action="/me/twitch/unlink"' not in me.text
            assert "Link with Twitch" in me.text

    async def test_another_user_may_not_unlink(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        twitch: tuple[TwitchFakeState, TwitchUserOAuth],
    ) -> None:
        """Another signed-in user posting Unlink for that streamer gets 403 and the link, its
        tokens and its access at Twitch stay; their /me does not show it; the operator may
        still unlink it (through the operation, as in the admin surfaces)."""
        fake = twitch[0]
        async with site_with_twitch(database_url, discord, twitch) as site:
            async with site.browser() as linker:
                await sign_in(site, linker, MANAGER)
                assert (await link_from_me(linker)).status_code == 200
            before = await stored(site)
            access = TokenBox([KEY]).open(str(before[0]))
            async with site.browser() as other:
                await sign_in(site, other, MEMBER)
                me = await other.get("/me")
                assert STREAMER_NAME not in me.text
                refused = await other.post(
                    "/me/twitch/unlink", data={"csrf_token": csrf(me), "streamer": STREAMER_ID}
                )
            assert refused.status_code == 403
            assert await stored(site) == before
            assert fake.oauth.access_token(access) is not None
            audited = await site.sql("SELECT count(*) FROM audit_log WHERE action LIKE '%unlink'")
            assert audited == [(0,)]

    async def test_forms_need_the_form_token(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        twitch: tuple[TwitchFakeState, TwitchUserOAuth],
    ) -> None:
        """Without the CSRF token neither linking starts (no state stored) nor unlinking
        happens; signed out, both go to the sign-in."""
        async with site_with_twitch(database_url, discord, twitch) as site:
            async with site.browser() as anonymous:
                start = await anonymous.post("/me/twitch/link", data={})
                assert start.status_code == 303
                assert start.headers["location"] == "/login"
            async with site.browser() as b:
                await sign_in(site, b, MANAGER)
                assert (await link_from_me(b)).status_code == 200
                before = await stored(site)
                start = await b.post("/me/twitch/link", data={})
                unlink = await b.post("/me/twitch/unlink", data={"streamer": STREAMER_ID})
            assert (start.status_code, unlink.status_code) == (403, 403)
            assert await site.sql("SELECT count(*) FROM twitch_oauth_states") == [(0,)]
            assert await stored(site) == before

    async def test_erasing_the_user_forgets_who_linked(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        twitch: tuple[TwitchFakeState, TwitchUserOAuth],
    ) -> None:
        """ "Delete my data" clears ``linked_by``; the link itself (the streamer's consent)
        stays."""
        async with site_with_twitch(database_url, discord, twitch) as site, site.browser() as b:
            await sign_in(site, b, MANAGER)
            assert (await link_from_me(b)).status_code == 200
            me = await b.get("/me")
            erased = await b.post("/me/erase", data={"csrf_token": csrf(me)})
            assert erased.status_code == 303
            access, _refresh, linked_by, _name = await stored(site)
            assert linked_by is None
            assert access is not None


class TestLinkOfATrackedStreamer:
    async def test_linking_queues_the_subscription_job(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        twitch: tuple[TwitchFakeState, TwitchUserOAuth],
    ) -> None:
        """A streamer a guild already tracks (subscribed at cost 1) links from /me: its
        `subscribe_streamer` job is queued, which re-creates the subscriptions at cost 0; the
        guild's tracking is unchanged."""
        async with site_with_twitch(database_url, discord, twitch) as site, site.browser() as b:
            await site.sql(
                "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login)"
                " VALUES (%s, %s) RETURNING id)"
                " INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %s, id FROM s",
                (STREAMER_ID, STREAMER_LOGIN, GUILD),
            )
            await sign_in(site, b, MANAGER)
            assert (await link_from_me(b)).status_code == 200
            jobs = await site.sql("SELECT task_name, queue_name FROM procrastinate_jobs")
            assert jobs == [("subscribe_streamer", "maintenance")]
            assert len(await site.sql("SELECT * FROM guild_streamers")) == 1
            assert (await stored(site))[2] == MANAGER
