"""Linking a Twitch account through the browser routes, against the fake Twitch and a real
database: the invite page, the happy path, and every way it can fail."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from streammaxing.crypto import TokenBox
from streammaxing.manage import invites, links, streamers
from streammaxing.manage.actor import Operator, Surface
from streammaxing.manage.errors import Forbidden, NotFound
from streammaxing.manage.invites import InviteCreate
from streammaxing.manage.models import StreamerAdd
from streammaxing.manage.services import ManageServices
from streammaxing.twitch.user_oauth import TwitchUserOAuth
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.linking_harness import (  # noqa: F401 - fixtures
    CALLBACK,
    GUILD_NAME,
    MANAGER,
    MANAGER_ID,
    OTHER,
    SETUP,
    STREAMER,
    Browser,
    G,
    Pool,
    box_fixture,
    browser_fixture,
    fetch,
    linking_fixture,
    oauth_fixture,
    served_twitch_fixture,
    services_fixture,
    twitch_fixture,
)

STREAMER_ID, STREAMER_LOGIN, STREAMER_NAME = STREAMER
OPERATOR = Operator(surface=Surface.CLI)


async def make_invite(services: ManageServices, **limits: int) -> str:
    made = await invites.create_invite(services, MANAGER, G, InviteCreate(**limits))
    return made.token


async def link_row(pool: Pool, broadcaster_id: str = STREAMER_ID) -> tuple[object, ...] | None:
    rows = await fetch(
        pool,
        "SELECT twitch_login, twitch_display_name, twitch_access_token, twitch_refresh_token,"
        " twitch_token_expires_at IS NOT NULL, twitch_linked_at IS NOT NULL"
        " FROM streamers WHERE twitch_broadcaster_id = %s",
        (broadcaster_id,),
    )
    return rows[0] if rows else None


async def tracked(pool: Pool) -> list[tuple[object, ...]]:
    return await fetch(
        pool,
        "SELECT s.twitch_broadcaster_id, gs.added_by FROM guild_streamers gs"
        " JOIN streamers s ON s.id = gs.streamer_id WHERE gs.guild_id = %s",
        (G,),
    )


async def uses(pool: Pool, token: str) -> int:
    rows = await fetch(pool, "SELECT uses FROM streamer_invites WHERE token = %s", (token,))
    return int(rows[0][0])  # type: ignore[call-overload]


class TestInvitePage:
    async def test_names_the_server_and_offers_the_link(
        self, services: ManageServices, browser: Browser
    ) -> None:
        """An active invite's page names the inviting server and links to the Twitch login
        with the invite."""
        token = await make_invite(services)
        page = await browser.site.get(f"/invite/{token}")
        assert page.status_code == 200
        assert f"{GUILD_NAME} invites you" in page.text
        assert f'href="/auth/twitch/login?invite={token}"' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"

    async def test_unknown_invite_is_not_found(self, browser: Browser) -> None:
        """A token that names no invite gets a 404 page without a link button."""
        page = await browser.site.get("/invite/nope")
        assert page.status_code == 404
        assert "Link with Twitch" not in page.text

    async def test_revoked_invite_says_so(self, services: ManageServices, browser: Browser) -> None:
        """A revoked invite's page is 410 and says the admins withdrew it."""
        token = await make_invite(services)
        await invites.revoke_invite(services, MANAGER, G, token)
        page = await browser.site.get(f"/invite/{token}")
        assert page.status_code == 410
        assert "withdrawn" in page.text
        assert "Link with Twitch" not in page.text


class TestLinkHappyPath:
    async def test_invite_link_stores_sealed_tokens_and_tracks_the_streamer(
        self,
        services: ManageServices,
        pool: Pool,
        browser: Browser,
        twitch: TwitchFakeState,
        box: TokenBox,
    ) -> None:
        """Through an invite: Twitch is asked for `user:read:email` only; the tokens are stored
        encrypted (they open to Twitch's tokens), the display fields come from Helix, the guild
        tracks the streamer with the invite's creator as ``added_by``, the invite counts one
        use, the subscription job is queued and the trail records the tracking."""
        token = await make_invite(services, max_uses=2)
        page = await browser.link(f"/auth/twitch/login?invite={token}")
        assert page.status_code == 200, page.text
        assert f"{GUILD_NAME} will announce your streams" in page.text
        (visit,) = twitch.oauth.authorize_requests()
        assert visit.scopes == ("user:read:email",)
        row = await link_row(pool)
        assert row is not None
        login, name, access, refresh, has_expiry, has_linked_at = row
        assert (login, name, has_expiry, has_linked_at) == (
            STREAMER_LOGIN,
            STREAMER_NAME,
            True,
            True,
        )
        assert isinstance(access, str)
        assert isinstance(refresh, str)
        live = set(twitch.oauth.secrets())
        assert box.open(access) in live
        assert box.open(refresh) in live
        assert access not in live
        assert refresh not in live
        assert await tracked(pool) == [(STREAMER_ID, MANAGER_ID)]
        assert await uses(pool, token) == 1
        jobs = await fetch(pool, "SELECT task_name FROM procrastinate_jobs")
        assert jobs == [("subscribe_streamer",)]
        trail = await fetch(
            pool, "SELECT action, surface FROM audit_log WHERE action = 'streamer.track'"
        )
        assert trail == [("streamer.track", "system")]
        assert twitch.oauth.authorized(twitch.client_id, STREAMER_ID)

    async def test_without_an_invite_only_the_link_is_stored(
        self, pool: Pool, browser: Browser
    ) -> None:
        """Linking without an invite stores the link and tracks nothing."""
        page = await browser.link()
        assert page.status_code == 200
        assert "is linked" in page.text
        assert await link_row(pool) is not None
        assert await tracked(pool) == []

    async def test_no_plaintext_token_in_logs_pages_or_database(
        self,
        services: ManageServices,
        pool: Pool,
        browser: Browser,
        twitch: TwitchFakeState,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        """Over a whole linking run, no access or refresh token Twitch issued appears in any
        log event (captured as events, and as the lines written out when logging was already
        configured), in the page, or in any column of the streamer's row."""
        token = await make_invite(services)
        capfd.readouterr()
        with capture_logs() as logs:
            page = await browser.link(f"/auth/twitch/login?invite={token}")
        written = capfd.readouterr()
        issued = twitch.oauth.secrets()
        assert len(issued) == 2
        rows = await fetch(pool, "SELECT s::text FROM streamers s")
        log_text = repr(logs) + written.out + written.err
        assert "twitch_linked" in log_text, "the run's logs were not captured: nothing to scan"
        for secret in issued:
            for haystack in (log_text, page.text, *(str(r[0]) for r in rows)):
                assert secret not in haystack


class TestLinkFailures:
    async def test_a_forged_state_links_nothing(self, pool: Pool, browser: Browser) -> None:
        """A callback whose state this service never issued is a 400 page; nothing stored."""
        await browser.site.get("/auth/twitch/login")
        page = await browser.site.get(f"{CALLBACK}?code=abc&state=forged")
        assert page.status_code == 400
        assert "Nothing was linked" in page.text
        assert await link_row(pool) is None

    async def test_a_state_is_single_use(self, pool: Pool, browser: Browser) -> None:
        """Replaying a completed callback is refused: the state was consumed."""
        assert (await browser.link()).status_code == 200
        assert browser.last_callback is not None
        replay = await browser.site.get(browser.last_callback)
        assert replay.status_code == 400

    async def test_a_state_is_bound_to_the_browser_that_started(
        self,
        pool: Pool,
        browser: Browser,
        linking: object,
        served_twitch: tuple[TwitchFakeState, str],
    ) -> None:
        """A callback opened in another browser (without the starting cookie) is refused."""
        started = await browser.site.get("/auth/twitch/login")
        consent = await browser.twitch.get(started.headers["location"])
        browser.site.cookies.clear()
        page = await browser.site.get(consent.headers["location"])
        assert page.status_code == 400
        assert await link_row(pool) is None

    async def test_denied_consent_links_nothing(
        self, pool: Pool, browser: Browser, twitch: TwitchFakeState
    ) -> None:
        """When the streamer declines at Twitch, the page says nothing changed and offers to
        try again; nothing is stored."""
        twitch.oauth.configure(consent="deny")
        page = await browser.link()
        assert page.status_code == 200
        assert "did not allow" in page.text
        assert "Try again" in page.text
        assert await link_row(pool) is None

    async def test_redirect_mismatch_without_state_gets_a_clear_page(
        self, browser: Browser
    ) -> None:
        """Twitch's redirect_mismatch arrives without a state: a 400 page quoting Twitch."""
        page = await browser.site.get(
            f"{CALLBACK}?error=redirect_mismatch&error_description="
            "Parameter+redirect_uri+does+not+match+registered+URI"
        )
        assert page.status_code == 400
        assert "does not match registered URI" in page.text

    @pytest.mark.parametrize("how", ["expired", "used_up", "revoked"])
    async def test_an_unusable_invite_still_links_but_does_not_track(
        self,
        services: ManageServices,
        pool: Pool,
        browser: Browser,
        twitch: TwitchFakeState,
        how: str,
    ) -> None:
        """An invite that expired, was used up (by another streamer) or was revoked between
        its page and the callback: the link is stored, the guild does not track the streamer,
        no further use is counted, and the page says why."""
        token = await make_invite(services, max_uses=1)
        if how == "used_up":
            twitch.oauth.configure(signed_in_user=OTHER[0])
            await browser.link(f"/auth/twitch/login?invite={token}")
            twitch.oauth.configure(signed_in_user=STREAMER_ID)
        elif how == "expired":
            async with pool.connection() as conn:
                await conn.execute(
                    "UPDATE streamer_invites SET created_at = now() - %s,"
                    " expires_at = now() - interval '1 second'",
                    (timedelta(days=8),),
                )
        else:
            await invites.revoke_invite(services, MANAGER, G, token)
        before = await uses(pool, token)
        page = await browser.link(f"/auth/twitch/login?invite={token}")
        assert page.status_code == 200
        assert "the invite could not be used" in page.text
        assert await link_row(pool) is not None
        assert STREAMER_ID not in [row[0] for row in await tracked(pool)]
        assert await uses(pool, token) == before

    async def test_already_tracked_streamer_keeps_its_link(
        self, services: ManageServices, pool: Pool, browser: Browser
    ) -> None:
        """A streamer the guild already tracks gets a friendly page; the link is stored, the
        invite's use is not counted, and ``added_by`` is unchanged."""
        await streamers.track_streamer(
            services, SETUP, G, StreamerAdd(login=STREAMER_LOGIN, broadcaster_id=STREAMER_ID)
        )
        token = await make_invite(services)
        page = await browser.link(f"/auth/twitch/login?invite={token}")
        assert page.status_code == 200
        assert "already announces your streams" in page.text
        assert (await link_row(pool) or ())[2] is not None
        assert await tracked(pool) == [(STREAMER_ID, None)]
        assert await uses(pool, token) == 0


class TestUnlink:
    async def test_the_operator_unlinks_and_the_token_is_revoked_at_twitch(
        self,
        services: ManageServices,
        pool: Pool,
        browser: Browser,
        twitch: TwitchFakeState,
        oauth: TwitchUserOAuth,
        box: TokenBox,
    ) -> None:
        """Unlinking deletes the stored tokens, revokes the access token at Twitch (it no
        longer validates) and records `streamer.unlink`."""
        assert (await browser.link()).status_code == 200
        access = box.open(str((await link_row(pool) or ())[2]))
        with_twitch = dataclasses.replace(services, user_oauth=oauth, tokens=box)
        result = await links.unlink_streamer(with_twitch, OPERATOR, STREAMER_ID)
        assert result.revoked_at_twitch
        assert (await link_row(pool) or ())[2:4] == (None, None)
        assert twitch.oauth.access_token(access) is None
        trail = await fetch(pool, "SELECT action FROM audit_log WHERE action = 'streamer.unlink'")
        assert trail == [("streamer.unlink",)]

    async def test_only_the_operator_may_unlink(
        self, services: ManageServices, pool: Pool, browser: Browser
    ) -> None:
        """A Discord user, even a guild manager, is refused and the link stays."""
        assert (await browser.link()).status_code == 200
        with pytest.raises(Forbidden):
            await links.unlink_streamer(services, MANAGER, STREAMER_ID)
        assert (await link_row(pool) or ())[2] is not None

    async def test_a_streamer_without_a_link_is_not_found(self, services: ManageServices) -> None:
        """Unlinking someone who never linked is `NotFound`."""
        with pytest.raises(NotFound):
            await links.unlink_streamer(services, OPERATOR, STREAMER_ID)
