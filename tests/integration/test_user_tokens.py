"""`maintain_twitch_tokens`: hourly validation, refresh before expiry, unlink when Twitch
refuses a refresh, retry when Twitch cannot answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import procrastinate
import pytest
from pydantic import SecretStr

from streammaxing.crypto import TokenBox
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.jobs.authorization_revoked import authorization_revoked
from streammaxing.jobs.user_tokens import maintain_twitch_tokens
from streammaxing.metrics import Metrics
from streammaxing.runtime import Runtime
from streammaxing.settings import load_settings
from streammaxing.twitch.user_oauth import TwitchUserOAuth
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.linking_harness import (  # noqa: F401 - fixtures
    STREAMER,
    Browser,
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

STREAMER_ID = STREAMER[0]


def runtime_with(pool: Pool, oauth: TwitchUserOAuth, box: TokenBox) -> Runtime:
    return Runtime(
        settings=load_settings(),
        pool=pool,
        metrics=Metrics(),
        app=procrastinate.App(connector=procrastinate.PsycopgConnector()),
        port=DryRunPort(),
        user_oauth=oauth,
        tokens=box,
    )


@pytest.fixture
async def linked(browser: Browser) -> None:
    """The streamer has linked (no invite)."""
    assert (await browser.link()).status_code == 200


async def sealed(pool: Pool) -> tuple[str | None, str | None]:
    rows = await fetch(
        pool,
        "SELECT twitch_access_token, twitch_refresh_token FROM streamers"
        " WHERE twitch_broadcaster_id = %s",
        (STREAMER_ID,),
    )
    return rows[0][0], rows[0][1]


async def age(pool: Pool, *, validated_ago: str = "0 s", expires_in: str = "4 hours") -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE streamers SET twitch_token_validated_at = now() - %s::interval,"
            " twitch_token_expires_at = now() + %s::interval",
            (validated_ago, expires_in),
        )


@pytest.fixture
async def unreachable_oauth() -> AsyncIterator[TwitchUserOAuth]:
    """A client whose Twitch refuses connections (port 9 on loopback: nothing listens)."""
    client = TwitchUserOAuth(
        httpx.AsyncClient(timeout=2.0),
        auth_url="http://127.0.0.1:9/oauth2",
        api_url="http://127.0.0.1:9/helix",
        client_id="x",
        client_secret=SecretStr("y"),
    )
    yield client
    await client.aclose()


@pytest.mark.usefixtures("linked")
class TestMaintainTwitchTokens:
    async def test_a_fresh_token_is_left_alone(
        self, pool: Pool, oauth: TwitchUserOAuth, box: TokenBox
    ) -> None:
        """A token validated less than an hour ago and far from expiry is not touched."""
        result = await maintain_twitch_tokens(runtime_with(pool, oauth, box))
        assert (result.validated, result.refreshed, result.unlinked) == (0, 0, 0)

    async def test_validated_hourly(
        self, pool: Pool, oauth: TwitchUserOAuth, box: TokenBox
    ) -> None:
        """A token last validated over an hour ago is validated at Twitch and marked so; the
        tokens stay the same."""
        before = await sealed(pool)
        await age(pool, validated_ago="61 minutes")
        result = await maintain_twitch_tokens(runtime_with(pool, oauth, box))
        assert (result.validated, result.refreshed) == (1, 0)
        rows = await fetch(
            pool, "SELECT twitch_token_validated_at > now() - interval '1 minute' FROM streamers"
        )
        assert rows == [(True,)]
        assert await sealed(pool) == before

    async def test_refreshed_before_expiry(
        self, pool: Pool, oauth: TwitchUserOAuth, box: TokenBox, twitch: TwitchFakeState
    ) -> None:
        """A token expiring within 15 minutes is refreshed: the new pair is stored sealed and
        opens to the tokens Twitch now holds; the old refresh token is gone at Twitch."""
        old_access, old_refresh = await sealed(pool)
        assert old_refresh is not None
        await age(pool, expires_in="5 minutes")
        result = await maintain_twitch_tokens(runtime_with(pool, oauth, box))
        assert result.refreshed == 1
        access, refresh = await sealed(pool)
        assert access is not None
        assert refresh is not None
        live = set(twitch.oauth.secrets())
        assert box.open(access) in live
        assert box.open(refresh) in live
        assert box.open(old_refresh) not in live
        assert access != old_access

    async def test_a_refused_refresh_unlinks(
        self, pool: Pool, oauth: TwitchUserOAuth, box: TokenBox, twitch: TwitchFakeState
    ) -> None:
        """When the streamer disconnected the app, validation fails and Twitch refuses the
        refresh: the tokens are deleted and the streamer is no longer linked."""
        twitch.oauth.drop_authorization(twitch.client_id, STREAMER_ID)
        await age(pool, validated_ago="2 hours")
        result = await maintain_twitch_tokens(runtime_with(pool, oauth, box))
        assert (result.unlinked, result.retry_later) == (1, False)
        assert await sealed(pool) == (None, None)
        rows = await fetch(pool, "SELECT twitch_token_expires_at, twitch_linked_at FROM streamers")
        assert rows == [(None, None)]

    async def test_a_transient_failure_is_retried(
        self, pool: Pool, unreachable_oauth: TwitchUserOAuth, box: TokenBox
    ) -> None:
        """When Twitch cannot be reached the tokens stay as they were and the run asks to be
        retried."""
        before = await sealed(pool)
        await age(pool, expires_in="1 minute")
        result = await maintain_twitch_tokens(runtime_with(pool, unreachable_oauth, box))
        assert (result.transient, result.retry_later, result.unlinked) == (1, True, 0)
        assert await sealed(pool) == before

    async def test_skipped_without_keys(self, pool: Pool, oauth: TwitchUserOAuth) -> None:
        """Without TOKEN_ENCRYPTION_KEYS the job says why it did nothing."""
        runtime = runtime_with(pool, oauth, TokenBox([SecretStr("x" * 43 + "=")]))
        runtime.tokens = None
        result = await maintain_twitch_tokens(runtime)
        assert result.skipped is not None


@pytest.mark.usefixtures("linked")
class TestAuthorizationRevoked:
    async def test_the_named_streamers_tokens_are_deleted(
        self, pool: Pool, oauth: TwitchUserOAuth, box: TokenBox, twitch: TwitchFakeState
    ) -> None:
        """A `user.authorization.revoke` for our client id unlinks that streamer at once."""
        runtime = runtime_with(pool, oauth, box)
        runtime.settings = load_settings(twitch_client_id=twitch.client_id)
        event = {"client_id": twitch.client_id, "user_id": STREAMER_ID, "user_login": "cool_user"}
        result = await authorization_revoked(runtime, event)
        assert result.unlinked
        assert await sealed(pool) == (None, None)

    async def test_another_client_ids_event_is_ignored(
        self, pool: Pool, oauth: TwitchUserOAuth, box: TokenBox
    ) -> None:
        """An event naming another client id changes nothing."""
        runtime = runtime_with(pool, oauth, box)
        runtime.settings = load_settings(twitch_client_id="ours")
        before = await sealed(pool)
        result = await authorization_revoked(
            runtime, {"client_id": "someone-else", "user_id": STREAMER_ID}
        )
        assert not result.unlinked
        assert await sealed(pool) == before
