"""The web dashboard over a real database and the fake Discord (real HTTP on 127.0.0.1):
sign-in and its failures, sessions, CSRF, the pages by actor, and the local operator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest

from tests.fakes.discord_fake import FakeDiscordServer
from tests.fakes.discord_model import SEND_MESSAGES, VIEW_CHANNEL
from tests.integration.dashboard_site import (
    CHANNEL,
    GUILD,
    MANAGER,
    MEMBER,
    STRANGER,
    Site,
    csrf,
    install,
    running_site,
    sign_in,
)


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture
async def site(database_url: str, discord: FakeDiscordServer) -> AsyncIterator[Site]:
    async with running_site(database_url, discord, with_oauth=True, idle=timedelta(hours=1)) as s:
        yield s


class TestSignIn:
    async def test_sign_in_creates_the_user_and_lands_on_my_servers(self, site: Site) -> None:
        """The callback upserts the user with last_login, caches the guild list with
        permissions, rotates the session id, and `/` lists my servers."""
        async with site.browser() as browser:
            first = await browser.get("/login")
            anonymous = first.cookies["sm_session"]
            site.fake.oauth.set_consent(user_id=MANAGER)
            async with httpx.AsyncClient(timeout=10) as discord:
                back = await discord.get(first.headers["location"])
            done = await browser.get(back.headers["location"])
            assert done.status_code == 303
            assert done.headers["location"] == "/"
            assert done.cookies["sm_session"] != anonymous
            home = await browser.get("/")
        assert "Manny&#39;s" in home.text
        assert "Add the bot" in home.text
        users = await site.sql("SELECT username, last_login IS NOT NULL FROM users")
        assert users == [("manny", True)]
        cached = await site.sql("SELECT guild_id, owner FROM user_guilds ORDER BY guild_id")
        assert cached == [(GUILD, True)]
        sessions = await site.sql("SELECT user_id, access_token IS NOT NULL FROM web_sessions")
        assert sessions == [(MANAGER, True)]

    async def test_cookie_is_http_only_and_lax(self, site: Site) -> None:
        """The session cookie is HttpOnly and SameSite=Lax (not Secure on an http URL)."""
        async with site.browser() as browser:
            response = await browser.get("/login")
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie

    async def test_login_sends_state_and_pkce(self, site: Site) -> None:
        """/login redirects to Discord with response_type=code, the scopes, state and S256."""
        async with site.browser() as browser:
            response = await browser.get("/login")
        location = httpx.URL(response.headers["location"])
        assert location.params["response_type"] == "code"
        assert location.params["scope"] == "identify guilds"
        assert location.params["code_challenge_method"] == "S256"
        assert location.params["state"]

    async def test_a_wrong_state_is_400_and_stores_nothing(self, site: Site) -> None:
        """A callback whose state is not the session's is refused before any exchange."""
        async with site.browser() as browser:
            start = await browser.get("/login")
            site.fake.oauth.set_consent(user_id=MANAGER)
            async with httpx.AsyncClient(timeout=10) as discord:
                back = await discord.get(start.headers["location"])
            forged = re.sub(r"state=[^&]+", "state=forged", back.headers["location"])
            response = await browser.get(forged)
        assert response.status_code == 400
        assert await site.sql("SELECT count(*) FROM users") == [(0,)]

    async def test_a_missing_session_is_400(self, site: Site) -> None:
        """A callback from a browser that never started a sign-in is refused."""
        async with site.browser() as browser:
            response = await browser.get("/auth/discord/callback?code=x&state=y")
        assert response.status_code == 400

    async def test_denied_consent_shows_a_friendly_page(self, site: Site) -> None:
        """Declining on Discord's page leaves nothing stored and says so plainly."""
        site.fake.oauth.set_consent(deny=True)
        async with site.browser() as browser:
            start = await browser.get("/login")
            async with httpx.AsyncClient(timeout=10) as discord:
                back = await discord.get(start.headers["location"])
            response = await browser.get(back.headers["location"])
        assert response.status_code == 200
        assert "You declined" in response.text
        assert await site.sql("SELECT count(*) FROM users") == [(0,)]

    async def test_a_replayed_code_is_an_error_page(self, site: Site) -> None:
        """A code already exchanged, sent again with a valid state, fails with a 400 page."""
        async with site.browser() as browser:
            start = await browser.get("/login")
            site.fake.oauth.set_consent(user_id=MANAGER)
            async with httpx.AsyncClient(timeout=10) as discord:
                back = await discord.get(start.headers["location"])
            assert (await browser.get(back.headers["location"])).status_code == 303
            code = httpx.URL(back.headers["location"]).params["code"]
            second = await browser.get("/login")
            state = httpx.URL(second.headers["location"]).params["state"]
            again = await browser.get(f"/auth/discord/callback?code={code}&state={state}")
        assert again.status_code == 400
        assert "Sign-in failed" in again.text


class TestSessions:
    async def test_logout_deletes_the_session(self, site: Site) -> None:
        """POST /logout with the form token deletes the row; the cookie no longer works."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            home = await browser.get("/")
            response = await browser.post("/logout", data={"csrf_token": csrf(home)})
            assert response.status_code == 303
        assert await site.sql("SELECT count(*) FROM web_sessions") == [(0,)]

    async def test_logout_without_the_token_is_403(self, site: Site) -> None:
        """A state-changing form without the CSRF token is refused and changes nothing."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            response = await browser.post("/logout", data={})
        assert response.status_code == 403
        assert await site.sql("SELECT count(*) FROM web_sessions") == [(1,)]

    async def test_an_idle_session_expires(self, site: Site) -> None:
        """A session idle longer than the limit is no longer signed in."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await site.sql("UPDATE web_sessions SET last_seen_at = now() - interval '2 hours'")
            home = await browser.get("/")
        assert "Sign in with Discord" in home.text

    async def test_a_session_expires_at_its_absolute_limit_even_when_active(
        self, site: Site
    ) -> None:
        """A session older than the absolute limit (7 days) is over, however recently used."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await site.sql(
                "UPDATE web_sessions SET created_at = now() - interval '7 days 1 minute',"
                " last_seen_at = now()"
            )
            home = await browser.get("/")
            page = await browser.get(f"/guilds/{GUILD}")
        assert "Sign in with Discord" in home.text
        assert page.status_code == 303
        assert page.headers["location"] == "/login"

    async def test_a_session_within_both_limits_stays(self, site: Site) -> None:
        """Six days old and used an hour ago: still signed in."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await site.sql(
                "UPDATE web_sessions SET created_at = now() - interval '6 days',"
                " last_seen_at = now() - interval '59 minutes'"
            )
            home = await browser.get("/")
        assert "Sign in with Discord" not in home.text

    async def test_headers_are_set_on_pages_and_not_on_the_webhook(self, site: Site) -> None:
        """Dashboard responses carry CSP, nosniff, frame-ancestors and Referrer-Policy; the
        EventSub route does not pass through that middleware."""
        async with site.browser() as browser:
            page = await browser.get("/")
            hook = await browser.post("/webhooks/twitch", content=b"{}")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"]
        assert "content-security-policy" not in hook.headers


class TestGuildPages:
    async def test_manager_installs_configures_and_adds_a_streamer(self, site: Site) -> None:
        """Install lands on the guild page; the config form saves with the picked channel."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            installed = await install(site, browser, GUILD)
            assert installed.status_code == 303
            assert installed.headers["location"] == f"/guilds/{GUILD}"
            page = await browser.get(f"/guilds/{GUILD}")
            assert page.status_code == 200
            assert 'value="200000000000000001"' in page.text
            saved = await browser.post(
                f"/guilds/{GUILD}/config",
                data={"csrf_token": csrf(page), "channel_id": CHANNEL, "enabled": "on"},
            )
            assert saved.status_code == 303
            added = await browser.post(
                f"/guilds/{GUILD}/streamer-add",
                data={"csrf_token": csrf(page), "login": "twitchdev"},
            )
        assert (await site.sql("SELECT name FROM guilds")) == [("Manny's",)]
        assert (await site.sql("SELECT channel_id, enabled FROM guild_config")) == [(CHANNEL, True)]
        # Without Helix the operation asks for the broadcaster id: shown next to the field.
        assert added.status_code == 422

    async def test_the_audit_trail_names_who_acted(self, site: Site) -> None:
        """Each trail row names its actor by username, with the Discord id beside it; a row
        whose actor was erased says so."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            page = await browser.get(f"/guilds/{GUILD}")
            await browser.post(
                f"/guilds/{GUILD}/config",
                data={"csrf_token": csrf(page), "channel_id": CHANNEL, "enabled": "on"},
            )
            named = await browser.get(f"/guilds/{GUILD}")
            await site.sql(
                "UPDATE audit_log SET actor_user_id = NULL WHERE action = 'guild.install'"
            )
            erased = await browser.get(f"/guilds/{GUILD}")
        trail = named.text.split('id="trail-h"', 1)[1]
        assert f'manny <span class="muted">({MANAGER})</span>' in trail
        assert "erased user" not in trail
        assert "erased user" in erased.text.split('id="trail-h"', 1)[1]

    async def test_pickers_offer_only_postable_channels_and_pingable_roles(
        self, site: Site
    ) -> None:
        """Channels where the bot can view, send and embed; mentionable unmanaged roles."""
        fake = site.fake
        fake.add_channel("200000000000000002", guild_id=GUILD, name="read-only",
                         permissions=VIEW_CHANNEL)  # fmt: skip
        fake.add_channel("200000000000000003", guild_id=GUILD, name="no-embeds",
                         permissions=VIEW_CHANNEL | SEND_MESSAGES)  # fmt: skip
        fake.add_channel("200000000000000004", guild_id=GUILD, name="voice", type=2)
        fake.add_channel("200000000000000005", guild_id=GUILD, name="news", type=5)
        fake.add_role("300000000000000001", guild_id=GUILD, name="Live pings", mentionable=True)
        fake.add_role("300000000000000002", guild_id=GUILD, name="Quiet", mentionable=False)
        fake.add_role("300000000000000003", guild_id=GUILD, name="Other bot", mentionable=True,
                      managed=True)  # fmt: skip
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            page = await browser.get(f"/guilds/{GUILD}")
        offered = set(re.findall(r'<option value="([0-9]+)"', page.text))
        assert offered == {CHANNEL, "200000000000000005", "300000000000000001"}

    async def test_an_unknown_template_variable_is_shown_next_to_the_field(
        self, site: Site
    ) -> None:
        """A template with an unknown variable is refused with the message by the editor."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            page = await browser.get(f"/guilds/{GUILD}")
            response = await browser.post(
                f"/guilds/{GUILD}/config",
                data={
                    "csrf_token": csrf(page),
                    "channel_id": CHANNEL,
                    "message_template": '{"content": "{nope}"}',
                },
            )
        assert response.status_code == 422
        assert 'id="message_template-error"' in response.text

    async def test_a_streamers_message_is_checked_like_a_template(self, site: Site) -> None:
        """An unknown variable in a custom message is refused next to it; a valid one is saved."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            await site.sql(
                "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login)"
                " VALUES ('77', 'neo')"
                " RETURNING id) INSERT INTO guild_streamers (guild_id, streamer_id)"
                " SELECT %s, id FROM s",
                (GUILD,),
            )
            page = await browser.get(f"/guilds/{GUILD}")
            form = {"csrf_token": csrf(page), "streamer": "77"}
            refused = await browser.post(
                f"/guilds/{GUILD}/streamer-message", data=form | {"custom_content": "{nope} live"}
            )
            assert refused.status_code == 422
            assert 'id="msg-77-error"' in refused.text
            assert "unknown variable {nope}" in refused.text
            assert await site.sql("SELECT custom_content FROM guild_streamers") == [(None,)]
            saved = await browser.post(
                f"/guilds/{GUILD}/streamer-message",
                data=form | {"custom_content": "{streamer_login} is live"},
            )
            assert saved.status_code == 303
        stored = await site.sql("SELECT custom_content FROM guild_streamers")
        assert stored == [("{streamer_login} is live",)]

    async def test_member_sees_streamers_but_not_settings(self, site: Site) -> None:
        """A member gets the page without the settings; their config post is 403."""
        async with site.browser() as manager:
            await sign_in(site, manager, MANAGER)
            await install(site, manager, GUILD)
        async with site.browser() as browser:
            await sign_in(site, browser, MEMBER)
            page = await browser.get(f"/guilds/{GUILD}")
            assert page.status_code == 200
            assert "config-form" not in page.text
            response = await browser.post(
                f"/guilds/{GUILD}/config", data={"csrf_token": csrf(page), "channel_id": CHANNEL}
            )
        assert response.status_code == 403
        assert await site.sql("SELECT count(*) FROM guild_config") == [(0,)]

    async def test_stranger_gets_403_for_page_and_forms(self, site: Site) -> None:
        """Someone not in the guild gets 403 for its page and every form, never its data."""
        async with site.browser() as manager:
            await sign_in(site, manager, MANAGER)
            await install(site, manager, GUILD)
        async with site.browser() as browser:
            await sign_in(site, browser, STRANGER)
            home = await browser.get("/")
            page = await browser.get(f"/guilds/{GUILD}")
            assert page.status_code == 403
            assert "Manny" not in page.text
            for action in ("config", "streamer-add", "streamer-remove", "reenable"):
                response = await browser.post(
                    f"/guilds/{GUILD}/{action}", data={"csrf_token": csrf(home)}
                )
                assert response.status_code == 403, action

    async def test_guild_form_without_csrf_is_403(self, site: Site) -> None:
        """A manager's form post without the token is refused."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            response = await browser.post(f"/guilds/{GUILD}/config", data={"channel_id": CHANNEL})
        assert response.status_code == 403


class TestMe:
    async def test_member_opts_in_to_dms_and_erases_their_data(self, site: Site) -> None:
        """/me lists the guild; the DM opt-in is stored; delete my data removes the user."""
        async with site.browser() as manager:
            await sign_in(site, manager, MANAGER)
            await install(site, manager, GUILD)
        async with site.browser() as browser:
            await sign_in(site, browser, MEMBER)
            page = await browser.get("/me")
            assert "Manny&#39;s" in page.text
            token = csrf(page)
            opted = await browser.post(
                "/me/dm", data={"csrf_token": token, "guild_id": GUILD, "subscribed": "on"}
            )
            assert opted.status_code == 303
            assert await site.sql("SELECT user_id FROM dm_subscribers") == [(MEMBER,)]
            erased = await browser.post("/me/erase", data={"csrf_token": token})
            assert erased.status_code == 303
        assert await site.sql("SELECT user_id FROM users WHERE user_id = %s", (MEMBER,)) == []


class TestLocalOperator:
    async def test_without_oauth_the_loopback_operator_can_sign_in(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """With no Discord app configured, a loopback request may sign in as the operator."""
        async with (
            running_site(database_url, discord, with_oauth=False, idle=timedelta(hours=1)) as s,
            s.browser() as browser,
        ):
            landing = await browser.get("/")
            assert "local operator" in landing.text
            response = await browser.post("/operator-login")
            assert response.status_code == 303
            home = await browser.get("/")
        assert "Local operator" in home.text

    async def test_a_proxied_request_is_not_local(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """A request forwarded for a non-loopback client is refused the operator sign-in."""
        async with (
            running_site(database_url, discord, with_oauth=False, idle=timedelta(hours=1)) as s,
            s.browser() as browser,
        ):
            response = await browser.post(
                "/operator-login", headers={"X-Forwarded-For": "203.0.113.9"}
            )
        assert response.status_code == 403

    async def test_with_oauth_there_is_no_operator_sign_in(self, site: Site) -> None:
        """With a Discord app configured the operator sign-in does not exist."""
        async with site.browser() as browser:
            response = await browser.post("/operator-login")
        assert response.status_code == 403
