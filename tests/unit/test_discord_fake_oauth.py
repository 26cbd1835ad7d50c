"""The fake Discord's OAuth2 and bot-token guild reads behave like Discord's (real HTTP)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.discord_fake import (
    DiscordFakeState,
    FakeClock,
    FakeConfig,
    FakeDiscordServer,
)
from tests.fakes.discord_model import GUILD_ANNOUNCEMENT, MANAGE_GUILD, SEND_MESSAGES
from tests.fakes.discord_oauth import pkce_challenge

APP = "700000000000000001"
SECRET = "client-secret"
CALLBACK = "https://streammaxing.test/auth/discord/callback"
OTHER_CALLBACK = "https://streammaxing.test/other"
USER = "400000000000000001"
OTHER_USER = "400000000000000002"
GUILD = "100000000000000001"
SECOND_GUILD = "100000000000000002"
BOT_TOKEN = "fake-bot-token"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
UA = {"User-Agent": "DiscordBot (https://streammaxing.test, 0.1.0)"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(server: FakeDiscordServer, clock: FakeClock) -> DiscordFakeState:
    state = server.state
    state.reset(FakeConfig(), clock=clock)
    state.add_token(BOT_TOKEN, bot_id=APP)
    state.add_user(USER, username="alice", global_name="Alice")
    state.add_user(OTHER_USER, username="bob")
    state.add_guild(GUILD, name="Alice's", owner_id=USER, bot_member=False)
    state.add_guild(SECOND_GUILD, name="Bob's", owner_id=OTHER_USER)
    state.add_member(GUILD, USER)
    state.add_member(SECOND_GUILD, USER, permissions=SEND_MESSAGES)
    state.oauth.add_client(APP, SECRET, [CALLBACK, OTHER_CALLBACK])
    return state


@pytest.fixture
async def http(
    server: FakeDiscordServer, state: DiscordFakeState
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        yield client


def authorize_params(**overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": APP,
        "scope": "identify guilds",
        "state": "s-123",
        "redirect_uri": CALLBACK,
        "code_challenge": pkce_challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


async def authorize(http: httpx.AsyncClient, **overrides: str | None) -> httpx.Response:
    return await http.get("/oauth2/authorize", params=authorize_params(**overrides))


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def get_code(http: httpx.AsyncClient, **overrides: str | None) -> str:
    return redirect_query(await authorize(http, **overrides))["code"]


async def exchange(http: httpx.AsyncClient, code: str, **fields: str | None) -> httpx.Response:
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
    }
    form.update(fields)
    data = {key: value for key, value in form.items() if value is not None}
    return await http.post("/api/v10/oauth2/token", data=data, auth=(APP, SECRET))


async def signed_in(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await exchange(http, await get_code(http))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


class TestAuthorize:
    async def test_approval_redirects_with_code_and_state(self, http: httpx.AsyncClient) -> None:
        """By default the first seeded user approves: 302 to the redirect URI with a 30-char
        code and the state echoed."""
        query = redirect_query(await authorize(http))
        assert query["state"] == "s-123"
        assert len(query["code"]) == 30
        assert (await authorize(http)).headers["location"].startswith(CALLBACK + "?")

    async def test_unregistered_redirect_uri_is_an_error_page(
        self, http: httpx.AsyncClient
    ) -> None:
        """A redirect_uri not exactly registered gets a 400 HTML page and no redirect."""
        response = await authorize(http, redirect_uri=CALLBACK + "/")
        assert response.status_code == 400
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")

    async def test_unknown_client_is_an_error_page(self, http: httpx.AsyncClient) -> None:
        """An unknown client_id gets a 400 page."""
        assert (await authorize(http, client_id="1")).status_code == 400

    async def test_denied_consent_redirects_with_access_denied(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The deny knob sends error=access_denied with the state and no code."""
        state.oauth.set_consent(deny=True)
        query = redirect_query(await authorize(http))
        assert query["error"] == "access_denied"
        assert query["state"] == "s-123"
        assert "code" not in query

    async def test_unknown_scope_and_bad_pkce_method_are_redirected_errors(
        self, http: httpx.AsyncClient
    ) -> None:
        """Unknown scopes give invalid_scope; a PKCE method other than S256 invalid_request."""
        assert redirect_query(await authorize(http, scope="identify nope"))["error"] == (
            "invalid_scope"
        )
        query = redirect_query(await authorize(http, code_challenge_method="plain"))
        assert query["error"] == "invalid_request"
        assert query["error_description"] == 'Unsupported "code_challenge_method"'

    async def test_chosen_user_signs_in(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The consent knob picks which seeded user approves."""
        state.oauth.set_consent(user_id=OTHER_USER)
        token = (await signed_in(http))["access_token"]
        me = await http.get("/api/v10/users/@me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["id"] == OTHER_USER


class TestTokenExchange:
    async def test_code_exchange_returns_a_bearer_token(self, http: httpx.AsyncClient) -> None:
        """A fresh code with the right verifier gives Discord's token response."""
        body = await signed_in(http)
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 604800
        assert body["scope"] == "identify guilds"
        assert body["refresh_token"]

    async def test_replayed_code_is_invalid_grant_and_revokes_its_tokens(
        self, http: httpx.AsyncClient
    ) -> None:
        """A code works once; the second use fails and kills the tokens issued from it."""
        code = await get_code(http)
        first = await exchange(http, code)
        second = await exchange(http, code)
        assert second.status_code == 400
        assert second.json() == {
            "error": "invalid_grant",
            "error_description": 'Invalid "code" in request.',
        }
        token = first.json()["access_token"]
        me = await http.get("/api/v10/users/@me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401

    async def test_code_expires_after_100_seconds(
        self, http: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """A code exchanged more than 100 s after it was issued is invalid_grant."""
        code = await get_code(http)
        clock.advance(100.5)
        response = await exchange(http, code)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"

    async def test_redirect_uri_must_match_the_authorize_request(
        self, http: httpx.AsyncClient
    ) -> None:
        """Another (even registered) redirect_uri, or none, is invalid_request."""
        for uri in (OTHER_CALLBACK, None):
            response = await exchange(http, await get_code(http), redirect_uri=uri)
            assert response.status_code == 400
            assert response.json() == {
                "error": "invalid_request",
                "error_description": 'Invalid "redirect_uri" in request.',
            }

    async def test_code_bound_to_the_default_uri_needs_it_at_exchange(
        self, http: httpx.AsyncClient
    ) -> None:
        """Without redirect_uri the first registered URI is used, and must be sent later."""
        response = await authorize(http, redirect_uri=None)
        assert response.headers["location"].startswith(CALLBACK + "?")
        code = redirect_query(response)["code"]
        assert (await exchange(http, code, redirect_uri=None)).status_code == 400

    @pytest.mark.parametrize(
        ("verifier", "error", "description"),
        [
            (None, "invalid_request", 'Missing "code_verifier"'),
            ("short", "invalid_request", 'Invalid "code_verifier"'),
            ("x" * 43, "invalid_grant", 'Invalid "code_verifier"'),
        ],
    )
    async def test_pkce_verifier_is_checked(
        self, http: httpx.AsyncClient, verifier: str | None, error: str, description: str
    ) -> None:
        """A missing, malformed or wrong verifier fails the exchange."""
        response = await exchange(http, await get_code(http), code_verifier=verifier)
        assert response.status_code == 400
        assert response.json() == {"error": error, "error_description": description}

    async def test_verifier_without_challenge_is_invalid_grant(
        self, http: httpx.AsyncClient
    ) -> None:
        """Sending a verifier for a code issued without a challenge is a downgrade: refused."""
        code = await get_code(http, code_challenge=None, code_challenge_method=None)
        assert (await exchange(http, code)).json()["error"] == "invalid_grant"

    async def test_wrong_secret_is_401_invalid_client(self, http: httpx.AsyncClient) -> None:
        """Wrong Basic credentials answer 401 invalid_client with WWW-Authenticate."""
        response = await http.post(
            "/api/v10/oauth2/token",
            data={"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
            auth=(APP, "wrong"),
        )
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_client"}
        assert response.headers["www-authenticate"].startswith("Basic")

    async def test_client_credentials_in_the_body_work(self, http: httpx.AsyncClient) -> None:
        """client_id/client_secret in the form authenticate like Basic (unversioned path)."""
        code = await get_code(http)
        response = await http.post(
            "/api/oauth2/token",
            data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "code_verifier": VERIFIER, "client_id": APP, "client_secret": SECRET,
            },
        )  # fmt: skip
        assert response.status_code == 200

    async def test_conflicting_client_credentials_are_invalid_request(
        self, http: httpx.AsyncClient
    ) -> None:
        """Basic and body credentials that differ are refused with 400 invalid_request."""
        basic = base64.b64encode(f"{APP}:{SECRET}".encode()).decode()
        response = await http.post(
            "/api/v10/oauth2/token",
            data={"grant_type": "refresh_token", "client_id": APP, "client_secret": "other"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"

    async def test_json_body_and_unknown_grant_are_refused(self, http: httpx.AsyncClient) -> None:
        """A JSON body is invalid_request; an unknown grant_type unsupported_grant_type."""
        as_json = await http.post(
            "/api/v10/oauth2/token", json={"grant_type": "x"}, auth=(APP, SECRET)
        )
        assert as_json.status_code == 400
        assert as_json.json() == {"error": "invalid_request"}
        other = await http.post(
            "/api/v10/oauth2/token", data={"grant_type": "password"}, auth=(APP, SECRET)
        )
        assert other.json() == {"error": "unsupported_grant_type"}


class TestRefreshAndRevoke:
    async def refresh(self, http: httpx.AsyncClient, token: str) -> httpx.Response:
        return await http.post(
            "/api/v10/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=(APP, SECRET),
        )

    async def test_refresh_rotates_the_refresh_token(self, http: httpx.AsyncClient) -> None:
        """A refresh returns a new pair; the spent refresh token then fails invalid_grant."""
        first = await signed_in(http)
        renewed = await self.refresh(http, first["refresh_token"])
        assert renewed.status_code == 200
        assert renewed.json()["refresh_token"] != first["refresh_token"]
        again = await self.refresh(http, first["refresh_token"])
        assert again.status_code == 400
        assert again.json() == {
            "error": "invalid_grant",
            "error_description": 'Invalid "refresh_token" in request',
        }

    async def test_revoke_kills_every_token_and_queues_deauthorized(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Revoking one token revokes the whole authorization (200, empty body) and queues an
        APPLICATION_DEAUTHORIZED Webhook Event."""
        tokens = await signed_in(http)
        response = await http.post(
            "/api/v10/oauth2/token/revoke",
            data={"token": tokens["access_token"], "token_type_hint": "access_token"},
            auth=(APP, SECRET),
        )
        assert response.status_code == 200
        assert response.content == b""
        assert (await self.refresh(http, tokens["refresh_token"])).status_code == 400
        pending = state.webhook_events.pending
        assert [event.type for event in pending] == ["APPLICATION_DEAUTHORIZED"]
        assert pending[0].data["user"]["id"] == USER


class TestBearerReads:
    async def test_users_me_and_oauth2_me(self, http: httpx.AsyncClient) -> None:
        """/users/@me returns the user; /oauth2/@me the app, scopes and expiry."""
        headers = {"Authorization": f"Bearer {(await signed_in(http))['access_token']}"}
        me = (await http.get("/api/v10/users/@me", headers=headers)).json()
        assert (me["id"], me["username"], me["global_name"], me["discriminator"]) == (
            USER, "alice", "Alice", "0",
        )  # fmt: skip
        info = (await http.get("/api/v10/oauth2/@me", headers=headers)).json()
        assert info["application"]["id"] == APP
        assert info["scopes"] == ["identify", "guilds"]
        assert info["user"]["id"] == USER

    async def test_bad_or_expired_token_is_401_and_missing_scope_403(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """Unknown and expired tokens get 401 code 0; a token without `guilds` gets 50001."""
        bad = await http.get("/api/v10/users/@me", headers={"Authorization": "Bearer nope"})
        assert bad.json() == {"message": "401: Unauthorized", "code": 0}
        narrow = state.oauth.issue(APP, USER, ("identify",))
        guilds = await http.get(
            "/api/v10/users/@me/guilds",
            headers={"Authorization": f"Bearer {narrow.access_token}"},
        )
        assert guilds.status_code == 403
        assert guilds.json()["code"] == 50001
        clock.advance(604_801)
        expired = await http.get(
            "/api/v10/users/@me", headers={"Authorization": f"Bearer {narrow.access_token}"}
        )
        assert expired.status_code == 401

    async def test_my_guilds_lists_permissions_as_strings_and_pages(
        self, http: httpx.AsyncClient
    ) -> None:
        """Guilds come sorted by id with `owner` and `permissions` as a string; `after` and
        `limit` page; a limit over 200 is 50035."""
        headers = {"Authorization": f"Bearer {(await signed_in(http))['access_token']}"}
        guilds = (await http.get("/api/v10/users/@me/guilds", headers=headers)).json()
        assert [(g["id"], g["owner"]) for g in guilds] == [(GUILD, True), (SECOND_GUILD, False)]
        assert guilds[1]["permissions"] == str(SEND_MESSAGES)
        assert isinstance(guilds[0]["permissions"], str)

    async def test_my_guilds_is_limited_to_one_request_per_second(
        self, http: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """A second call within 1 s gets 429 with bucket headers and retry_after."""
        headers = {"Authorization": f"Bearer {(await signed_in(http))['access_token']}"}
        first = await http.get("/api/v10/users/@me/guilds", headers=headers)
        second = await http.get(
            "/api/v10/users/@me/guilds", headers=headers, params={"after": GUILD, "limit": "1"}
        )
        assert first.headers["x-ratelimit-limit"] == "1"
        assert second.status_code == 429
        assert second.json()["global"] is False
        assert second.headers["x-ratelimit-scope"] == "user"
        assert second.headers["retry-after"] == "1"
        clock.advance(1.0)
        paged = await http.get(
            "/api/v10/users/@me/guilds", headers=headers, params={"after": GUILD, "limit": "1"}
        )
        assert [g["id"] for g in paged.json()] == [SECOND_GUILD]
        clock.advance(1.0)
        too_many = await http.get(
            "/api/v10/users/@me/guilds", headers=headers, params={"limit": "201"}
        )
        assert too_many.json()["code"] == 50035


class TestBotInstall:
    async def install(self, http: httpx.AsyncClient, **overrides: str | None) -> httpx.Response:
        params = {
            "scope": "bot applications.commands", "permissions": "19456", "guild_id": GUILD,
            "disable_guild_select": "true", "integration_type": "0",
            "code_challenge": None, "code_challenge_method": None, **overrides,
        }  # fmt: skip
        return await authorize(http, **params)

    async def test_install_adds_the_bot_and_echoes_guild_and_permissions(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The redirect carries guild_id and the requested permissions; the code's token
        response carries the guild; the bot can now read it; APPLICATION_AUTHORIZED is queued."""
        state.oauth.set_consent(granted_permissions=SEND_MESSAGES)
        query = redirect_query(await self.install(http))
        assert (query["guild_id"], query["permissions"], query["state"]) == (
            GUILD, "19456", "s-123",
        )  # fmt: skip
        token = await exchange(http, query["code"], code_verifier=None)
        assert token.json()["guild"]["id"] == GUILD
        assert token.json()["scope"] == "bot applications.commands"
        guild = await http.get(
            f"/api/v10/guilds/{GUILD}", headers={"Authorization": f"Bot {BOT_TOKEN}", **UA}
        )
        assert guild.status_code == 200
        bot_role = next(r for r in guild.json()["roles"] if r["managed"])
        assert bot_role["permissions"] == str(SEND_MESSAGES)
        assert bot_role["tags"] == {"bot_id": APP}
        event = state.webhook_events.pending[0]
        assert (event.type, event.data["guild"]["id"], event.data["integration_type"]) == (
            "APPLICATION_AUTHORIZED", GUILD, 0,
        )  # fmt: skip

    async def test_install_needs_manage_guild(self, http: httpx.AsyncClient) -> None:
        """A guild where the user lacks MANAGE_GUILD cannot be picked."""
        assert (await self.install(http, guild_id=SECOND_GUILD)).status_code == 400


class TestGuildReads:
    @pytest.fixture
    def bot(self, server: FakeDiscordServer, state: DiscordFakeState) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bot {BOT_TOKEN}", **UA}
        return httpx.AsyncClient(base_url=server.api_url, headers=headers, timeout=5)

    async def test_bot_outside_the_guild_gets_10004(
        self, bot: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Every guild read answers 404 Unknown Guild when the bot is not a member."""
        async with bot:
            for path in ("", "/channels", "/roles"):
                response = await bot.get(f"/guilds/{GUILD}{path}")
                assert response.status_code == 404
                assert response.json() == {"message": "Unknown Guild", "code": 10004}

    async def test_guild_channels_and_roles(
        self, bot: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The guild has name and owner_id; channels the bot cannot view are omitted; roles
        carry mentionable and managed flags and permissions as strings."""
        state.add_channel("200000000000000001", guild_id=SECOND_GUILD, name="news",
                          type=GUILD_ANNOUNCEMENT)  # fmt: skip
        state.add_channel("200000000000000002", guild_id=SECOND_GUILD, name="secret",
                          permissions=0)  # fmt: skip
        state.add_role("300000000000000001", guild_id=SECOND_GUILD, mentionable=True,
                       permissions=MANAGE_GUILD)  # fmt: skip
        async with bot:
            guild = (await bot.get(f"/guilds/{SECOND_GUILD}")).json()
            channels = (await bot.get(f"/guilds/{SECOND_GUILD}/channels")).json()
            roles = (await bot.get(f"/guilds/{SECOND_GUILD}/roles")).json()
            state.configure(obfuscate_hidden_channels=False)
            all_channels = (await bot.get(f"/guilds/{SECOND_GUILD}/channels")).json()
        assert (guild["name"], guild["owner_id"]) == ("Bob's", OTHER_USER)
        assert [(c["name"], c["type"]) for c in channels] == [("news", GUILD_ANNOUNCEMENT)]
        assert len(all_channels) == 2
        by_id = {role["id"]: role for role in roles}
        assert by_id[SECOND_GUILD]["name"] == "@everyone"
        assert by_id["300000000000000001"]["mentionable"] is True
        assert by_id["300000000000000001"]["managed"] is False
        assert by_id["300000000000000001"]["permissions"] == str(MANAGE_GUILD)
