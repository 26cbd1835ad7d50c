"""The Discord client, its error mapping and rate-limit parsing.

The client talks real HTTP to the fake Discord on 127.0.0.1; the pure parts (routes, header
parsing, error mapping) are tested as functions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from streammaxing.discord.client import (
    DiscordClient,
    build_http_client,
    create_message_route,
    edit_message_route,
    error_for_response,
    make_route,
    open_dm_route,
    route_key,
    user_agent,
)
from streammaxing.discord.errors import (
    CloudflareBan,
    DiscordError,
    DmTooFast,
    PermanentError,
    RateLimited,
    SlotMissed,
    TransientError,
    Unauthorized,
    is_invalid_request,
)
from streammaxing.discord.http import env_proxy_for
from streammaxing.discord.permissions import MemberContext, channel_permissions
from streammaxing.discord.ratelimit_headers import RateLimitInfo, parse_rate_limit
from tests.fakes.discord_fake import (
    BUCKET_MESSAGE_WRITE,
    GUILD_FORUM,
    VIEW_CHANNEL,
    DiscordFakeState,
    FakeClock,
    FakeConfig,
    FakeDiscordServer,
    Fault,
)
from tests.fakes.server import free_port

TOKEN = "client-test-token"
BOT_ID = "900000000000000002"
GUILD = "100000000000000001"
CHANNEL = "200000000000000001"
ROLE = "300000000000000001"
USER = "400000000000000001"
POSTS = r"/channels/\d+/messages"
ANNOUNCEMENT = {
    "content": f"<@&{ROLE}> shroud is live: @everyone <@{USER}>",
    "embeds": [{"title": "Playing VALORANT", "color": 0x6441A4}],
    "allowed_mentions": {"parse": [], "roles": [ROLE]},
}
NO_PINGS = {"parse": []}
VIA = {"Via": "1.1 google", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(server: FakeDiscordServer, clock: FakeClock) -> DiscordFakeState:
    server.state.reset(FakeConfig(), clock=clock)
    server.state.add_token(TOKEN, bot_id=BOT_ID)
    server.state.add_channel(CHANNEL, guild_id=GUILD)
    server.state.add_role(ROLE, guild_id=GUILD, mentionable=True)
    server.state.add_user(USER)
    return server.state


@pytest.fixture
async def client(
    server: FakeDiscordServer, state: DiscordFakeState
) -> AsyncIterator[DiscordClient]:
    async with build_http_client(server.api_url, TOKEN, "0.1.0", timeout=0.5) as http:
        yield DiscordClient(http)


class TestRoutes:
    def test_route_key_names_method_and_template(self) -> None:
        """A route key is `METHOD /template`, independent of ids."""
        assert route_key("post", "/channels/{channel_id}/messages") == (
            "POST /channels/{channel_id}/messages"
        )

    def test_message_routes_have_the_channel_as_major(self) -> None:
        """Message routes are keyed by channel id (a top-level resource)."""
        create = create_message_route("123")
        edit = edit_message_route("123", "456")
        assert (create.key, create.path, create.major_id) == (
            "POST /channels/{channel_id}/messages",
            "/channels/123/messages",
            "123",
        )
        assert (edit.key, edit.path, edit.major_id) == (
            "PATCH /channels/{channel_id}/messages/{message_id}",
            "/channels/123/messages/456",
            "123",
        )

    def test_dm_open_has_no_major(self) -> None:
        """POST /users/@me/channels has no top-level resource id."""
        route = open_dm_route()
        assert (route.key, route.major_id) == ("POST /users/@me/channels", None)

    @pytest.mark.parametrize("bad_id", ["", "12/../34", "abc", "1" * 21])
    def test_ids_must_be_snowflakes(self, bad_id: str) -> None:
        """An id that is not a snowflake is refused before it can change the path."""
        with pytest.raises(ValueError, match="snowflake"):
            make_route("GET", "/channels/{channel_id}", channel_id=bad_id)


class TestBuildHttpClient:
    async def test_sets_base_url_auth_user_agent_and_timeout(self) -> None:
        """The built client carries the bot token, Discord's User-Agent shape and the timeout."""
        async with build_http_client(
            "http://127.0.0.1:9/api/v10/", "secret", "1.2.3", timeout=3.0
        ) as http:
            assert http.base_url == "http://127.0.0.1:9/api/v10"
            assert http.headers["Authorization"] == "Bot secret"
            assert http.headers["User-Agent"] == (
                "DiscordBot (https://github.com/streammaxing/streammaxing, 1.2.3)"
            )
            assert (http.timeout.sock_read, http.timeout.sock_connect) == (3.0, 3.0)
        assert user_agent("1.2.3") == http.headers["User-Agent"]

    async def test_requests_carry_auth_user_agent_and_json(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """What reaches Discord: the bot token, the User-Agent, a JSON body, and no cookies
        kept from earlier answers."""
        async with build_http_client(server.api_url, TOKEN, "1.2.3") as http:
            client = DiscordClient(http)
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="h-1")
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="h-2")
        first, second = state.requests
        for request in (first, second):
            assert request.bot_id == BOT_ID  # the fake redacts the token it checked
            assert request.headers["user-agent"] == user_agent("1.2.3")
            assert request.headers["content-type"] == "application/json"
            assert "cookie" not in request.headers
        assert second.json["nonce"] == "h-2"

    async def test_a_request_past_its_slot_is_not_written(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """`on_time` is asked right before the write: False raises SlotMissed and nothing
        reaches Discord; True sends as usual."""
        asked: list[str] = []

        def late() -> bool:
            asked.append("late")
            return False

        with pytest.raises(SlotMissed):
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="s-1", on_time=late)
        with pytest.raises(SlotMissed):
            await client.edit_message(CHANNEL, "1", ANNOUNCEMENT, on_time=late)
        with pytest.raises(SlotMissed):
            await client.open_dm(USER, on_time=late)
        assert asked == ["late"] * 3
        assert list(state.requests) == []
        await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="s-2", on_time=lambda: True)
        assert [request.json["nonce"] for request in state.requests] == ["s-2"]


class TestEnvProxy:
    @pytest.fixture(autouse=True)
    def clean_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)

    def test_no_proxy_configured(self) -> None:
        """Without proxy variables Discord is reached directly."""
        assert env_proxy_for("https://discord.com/api/v10") is None

    def test_proxy_for_the_scheme(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """HTTPS_PROXY applies to an https API URL, HTTP_PROXY to an http one."""
        monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
        monkeypatch.setenv("HTTP_PROXY", "http://plain.internal:3128")
        assert env_proxy_for("https://discord.com/api/v10") == "http://egress.internal:3128"
        assert env_proxy_for("http://127.0.0.2:9/api/v10") == "http://plain.internal:3128"

    def test_no_proxy_exempts_the_host(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A host NO_PROXY names is reached directly."""
        monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
        monkeypatch.setenv("NO_PROXY", "localhost,discord.com")
        assert env_proxy_for("https://discord.com/api/v10") is None

    def test_client_reads_it_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The client takes the proxy when it is built (aiohttp's trust_env would re-read the
        environment and ~/.netrc on every request)."""
        monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
        http = build_http_client("https://discord.com/api/v10", "secret", "1.2.3")
        monkeypatch.delenv("HTTPS_PROXY")
        assert http.proxy == "http://egress.internal:3128"


class TestParseRateLimit:
    def test_reads_every_bucket_header(self) -> None:
        """Limit, remaining, reset, reset-after and bucket come from X-RateLimit-* headers."""
        info = parse_rate_limit(
            httpx.Headers(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "4",
                    "X-RateLimit-Reset": "1470173023.123",
                    "X-RateLimit-Reset-After": "4.999",
                    "X-RateLimit-Bucket": "abcd1234",
                }
            ),
            {"id": "1"},
            status=200,
        )
        assert info == RateLimitInfo(
            limit=5,
            remaining=4,
            reset_after=4.999,
            reset_at=1470173023.123,
            bucket="abcd1234",
        )
        assert info.has_bucket

    def test_missing_headers_give_nones(self) -> None:
        """A response without rate-limit headers yields an empty RateLimitInfo."""
        info = parse_rate_limit({}, None, status=200)
        assert info == RateLimitInfo()
        assert not info.has_bucket

    def test_header_names_are_case_insensitive_in_plain_dicts(self) -> None:
        """A plain dict with any letter case works as well as httpx.Headers."""
        info = parse_rate_limit({"x-ratelimit-LIMIT": "10", "X-RATELIMIT-BUCKET": "h"}, None)
        assert (info.limit, info.bucket) == (10, "h")

    @pytest.mark.parametrize("raw", ["", "five", "-1", "2.5", "nan", "inf"])
    def test_malformed_counts_are_ignored(self, raw: str) -> None:
        """Non-numeric, negative, fractional or non-finite counts become None, never an error."""
        info = parse_rate_limit(
            {"X-RateLimit-Limit": raw, "X-RateLimit-Remaining": raw}, None, status=200
        )
        assert (info.limit, info.remaining) == (None, None)

    def test_retry_delay_only_for_429(self) -> None:
        """A 200 never carries a retry delay, whatever its headers say."""
        info = parse_rate_limit(
            {"Retry-After": "3", "X-RateLimit-Reset-After": "2"}, {}, status=200
        )
        assert info.retry_after is None
        assert info.scope is None

    def test_user_429_waits_for_the_latest_of_all_hints(self) -> None:
        """For a user 429 the wait is max(body retry_after, Retry-After, Reset-After)."""
        info = parse_rate_limit(
            {
                "Retry-After": "4",
                "X-RateLimit-Reset-After": "4.5",
                "X-RateLimit-Scope": "user",
                "X-RateLimit-Remaining": "0",
            },
            {"retry_after": 3.75, "global": False},
            status=429,
        )
        assert (info.retry_after, info.scope, info.is_global, info.remaining) == (
            4.5,
            "user",
            False,
            0,
        )

    def test_body_retry_after_can_be_the_latest(self) -> None:
        """A sub-limit 429 may say more in the body than in the headers; the body then wins."""
        info = parse_rate_limit(
            {"Retry-After": "1", "X-RateLimit-Reset-After": "0.2"},
            {"retry_after": 1.7, "global": False},
            status=429,
        )
        assert info.retry_after == 1.7

    def test_shared_429_ignores_reset_after(self) -> None:
        """For a shared 429 Reset-After is wrong; Retry-After and the body decide."""
        info = parse_rate_limit(
            {"Retry-After": "1", "X-RateLimit-Reset-After": "30", "X-RateLimit-Scope": "shared"},
            {"retry_after": 0.3, "global": False, "code": 20028},
            status=429,
        )
        assert (info.retry_after, info.scope) == (1.0, "shared")

    def test_global_429(self) -> None:
        """A global 429 has no bucket headers; scope and flag say global."""
        info = parse_rate_limit(
            {"Retry-After": "1", "X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"},
            {"retry_after": 0.25, "global": True},
            status=429,
        )
        assert (info.retry_after, info.scope, info.is_global, info.bucket) == (
            1.0,
            "global",
            True,
            None,
        )

    def test_scope_defaults_from_the_body(self) -> None:
        """Without X-RateLimit-Scope a 429's scope follows the body's `global` flag."""
        global_info = parse_rate_limit({}, {"retry_after": 1.0, "global": True}, status=429)
        user_info = parse_rate_limit({}, {"retry_after": 1.0, "global": False}, status=429)
        assert (global_info.scope, global_info.is_global) == ("global", True)
        assert (user_info.scope, user_info.is_global) == ("user", False)

    def test_without_status_a_retry_hint_means_429(self) -> None:
        """When the status is unknown, a retry hint in body or headers is read as a 429."""
        info = parse_rate_limit({"Retry-After": "2"}, None)
        assert (info.retry_after, info.scope) == (2.0, "user")

    @pytest.mark.parametrize(
        "body", [None, "text", ["list"], {"retry_after": "x"}, {"retry_after": -1}]
    )
    def test_odd_bodies_are_tolerated(self, body: Any) -> None:
        """A body that is not an object, or a bad retry_after, falls back to the headers."""
        info = parse_rate_limit({"Retry-After": "3"}, body, status=429)
        assert info.retry_after == 3.0

    def test_no_hint_at_all(self) -> None:
        """A 429 with no retry hint anywhere has retry_after None (a Cloudflare ban)."""
        assert parse_rate_limit({}, {"code": 0}, status=429).retry_after is None


class TestErrorForResponse:
    def map(self, status: int, headers: dict[str, str], body: Any) -> DiscordError:
        return error_for_response(
            status, headers, body, parse_rate_limit(headers, body, status=status)
        )

    def test_429_without_via_is_a_cloudflare_ban(self) -> None:
        """dpy's rule: a 429 that did not come through Google's LB is Cloudflare's."""
        error = self.map(429, {}, {"retry_after": 1.0, "global": False})
        assert isinstance(error, CloudflareBan)

    def test_non_json_429_is_a_cloudflare_ban(self) -> None:
        """An HTML 429 (error 1015) is a ban."""
        assert isinstance(self.map(429, VIA, None), CloudflareBan)

    def test_429_without_retry_after_is_a_cloudflare_ban(self) -> None:
        """hikari's rule: a JSON 429 without retry_after is a ban."""
        assert isinstance(self.map(429, VIA, {"code": 0, "message": "blocked"}), CloudflareBan)

    def test_shared_429_keeps_its_code(self) -> None:
        """A shared 429 is RateLimited with scope shared and the body's code."""
        error = self.map(
            429,
            {**VIA, "X-RateLimit-Scope": "shared", "Retry-After": "1"},
            {"retry_after": 0.3, "global": False, "code": 20028},
        )
        assert isinstance(error, RateLimited)
        assert (error.scope, error.code, error.retry_after) == ("shared", 20028, 1.0)

    @pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 408])
    def test_server_errors_are_transient_and_ambiguous(self, status: int) -> None:
        """5xx (and 408) are transient; Discord may have acted, so maybe_sent is True."""
        error = self.map(status, {}, None)
        assert isinstance(error, TransientError)
        assert (error.status, error.maybe_sent) == (status, True)

    def test_non_json_403_is_permanent_without_code(self) -> None:
        """A Cloudflare HTML 403 (bad User-Agent) is permanent and has no Discord code."""
        error = self.map(403, {}, None)
        assert isinstance(error, PermanentError)
        assert (error.status, error.code) == (403, None)

    def test_dm_too_fast_is_its_own_class(self) -> None:
        """403 code 40003 is DmTooFast, not a permanent error."""
        error = self.map(403, VIA, {"code": 40003, "message": "too fast"})
        assert isinstance(error, DmTooFast)
        assert not isinstance(error, PermanentError)


class TestIsInvalidRequest:
    @pytest.mark.parametrize(
        ("status", "scope", "expected"),
        [
            (401, None, True),
            (403, None, True),
            (429, "user", True),
            (429, "global", True),
            (429, None, True),
            (429, "shared", False),
            (404, None, False),
            (400, None, False),
            (500, None, False),
            (200, None, False),
        ],
    )
    def test_counts_what_discord_counts(
        self, status: int, scope: str | None, expected: bool
    ) -> None:
        """401, 403 and 429 count toward the 10k/10 min ban budget, except shared 429s."""
        assert is_invalid_request(status, scope) is expected


class TestCreateMessage:
    async def test_posts_and_returns_the_message(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """A create returns id, channel and the bucket's rate-limit facts; only the role pings."""
        sent = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="job-1")
        stored = state.message(sent.id)
        assert sent.channel_id == CHANNEL
        assert sent.rate_limit.bucket == BUCKET_MESSAGE_WRITE
        assert (sent.rate_limit.limit, sent.rate_limit.remaining) == (5, 4)
        assert stored.mention_roles == (ROLE,)
        assert stored.mentions == ()
        assert stored.mention_everyone is False

    async def test_sends_nonce_enforce_nonce_and_discord_headers(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """The request carries nonce, enforce_nonce, allowed_mentions and Discord's User-Agent."""
        await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="job-2")
        (request,) = state.requests
        assert request.json["nonce"] == "job-2"
        assert request.json["enforce_nonce"] is True
        assert request.json["allowed_mentions"] == ANNOUNCEMENT["allowed_mentions"]
        assert request.headers["user-agent"].startswith("DiscordBot (")
        assert request.bot_id == BOT_ID

    async def test_a_repeated_nonce_gives_the_same_message(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Resending with the same nonce returns the first message's id; one message exists."""
        first = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="job-3")
        second = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="job-3")
        assert second.id == first.id
        assert len(state.messages) == 1

    @pytest.mark.parametrize(
        ("payload", "nonce"),
        [
            ({"content": "x"}, "n"),
            ({"content": "x", "allowed_mentions": None}, "n"),
            ({"content": "x", "allowed_mentions": NO_PINGS}, "n" * 26),
            ({"content": "x", "allowed_mentions": NO_PINGS}, ""),
            ({"content": "x", "allowed_mentions": NO_PINGS, "nonce": "other"}, "n"),
        ],
    )
    async def test_refuses_unsafe_payloads_before_sending(
        self, client: DiscordClient, state: DiscordFakeState, payload: dict[str, Any], nonce: str
    ) -> None:
        """No allowed_mentions, a nonce outside 1–25 chars or inside the payload: ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011 -- the message varies by cause
            await client.create_message(CHANNEL, payload, nonce=nonce)
        assert state.requests == ()

    async def test_retry_after_deletion_is_unknown_message(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """A nonce retry whose message was deleted raises PermanentError 10008 (= delivered)."""
        sent = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="job-4")
        state.delete_message(sent.id)
        with pytest.raises(PermanentError) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="job-4")
        assert (caught.value.status, caught.value.code) == (404, 10008)

    async def test_bucket_429_is_rate_limited(
        self, client: DiscordClient, clock: FakeClock
    ) -> None:
        """Over the channel bucket: RateLimited(user) with the delay, bucket and headers."""
        for index in range(5):
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce=f"burst-{index}")
        clock.advance(2)
        with pytest.raises(RateLimited) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="burst-5")
        error = caught.value
        assert (error.scope, error.is_global, error.bucket) == ("user", False, BUCKET_MESSAGE_WRITE)
        assert error.retry_after == 3.0
        assert error.rate_limit is not None
        assert error.rate_limit.remaining == 0

    async def test_global_429_is_rate_limited_globally(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Over the global limit: RateLimited with is_global and no bucket."""
        state.configure(global_limit=1)
        await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="g-1")
        with pytest.raises(RateLimited) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="g-2")
        assert (caught.value.scope, caught.value.is_global, caught.value.bucket) == (
            "global",
            True,
            None,
        )

    async def test_shared_429(self, client: DiscordClient, state: DiscordFakeState) -> None:
        """A channel write limit is RateLimited(shared, code 20028)."""
        state.inject(Fault.shared_429("POST", POSTS, retry_after=0.3))
        with pytest.raises(RateLimited) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="s-1")
        assert (caught.value.scope, caught.value.code, caught.value.retry_after) == (
            "shared",
            20028,
            1.0,
        )

    @pytest.mark.parametrize("html", [False, True])
    async def test_cloudflare_ban(
        self, client: DiscordClient, state: DiscordFakeState, html: bool
    ) -> None:
        """Cloudflare's 429 (JSON without Via and retry_after, or HTML) is CloudflareBan."""
        state.inject(Fault.cf_ban("POST", POSTS, html=html))
        with pytest.raises(CloudflareBan):
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="cf-1")

    async def test_bad_token_is_unauthorized(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """An unknown token raises Unauthorized."""
        async with build_http_client(server.api_url, "revoked", "0.1.0") as http:
            with pytest.raises(Unauthorized):
                await DiscordClient(http).create_message(CHANNEL, ANNOUNCEMENT, nonce="u-1")

    @pytest.mark.parametrize(
        ("setup", "status", "code"),
        [
            ("unknown", 404, 10003),
            ("no_view", 403, 50001),
            ("no_send", 403, 50013),
            ("forum", 400, 40058),
        ],
    )
    async def test_permanent_errors_carry_status_and_code(
        self, client: DiscordClient, state: DiscordFakeState, setup: str, status: int, code: int
    ) -> None:
        """Channel problems raise PermanentError with Discord's status and code."""
        if setup == "unknown":
            state.update_channel(CHANNEL, deleted=True)
        elif setup == "no_view":
            state.update_channel(CHANNEL, permissions=0)
        elif setup == "no_send":
            state.update_channel(CHANNEL, permissions=VIEW_CHANNEL)
        else:
            state.add_channel(CHANNEL, guild_id=GUILD, type=GUILD_FORUM)
        with pytest.raises(PermanentError) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="p-1")
        assert (caught.value.status, caught.value.code) == (status, code)
        assert caught.value.rate_limit is not None
        assert caught.value.rate_limit.bucket == BUCKET_MESSAGE_WRITE

    async def test_invalid_form_body_keeps_the_errors_tree(self, client: DiscordClient) -> None:
        """A 50035 keeps Discord's nested errors so the bad path can be logged."""
        payload = {"content": "x" * 2001, "allowed_mentions": NO_PINGS}
        with pytest.raises(PermanentError) as caught:
            await client.create_message(CHANNEL, payload, nonce="f-1")
        assert caught.value.code == 50035
        assert caught.value.errors is not None
        assert caught.value.errors["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"

    @pytest.mark.parametrize(
        "fault", [Fault.error("POST", POSTS, 500), Fault.html_5xx("POST", POSTS, 502)]
    )
    async def test_server_errors_are_transient(
        self, client: DiscordClient, state: DiscordFakeState, fault: Fault
    ) -> None:
        """A JSON 500 or an HTML 502 raises TransientError(maybe_sent=True)."""
        state.inject(fault)
        with pytest.raises(TransientError) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="t-1")
        assert (caught.value.status, caught.value.maybe_sent) == (fault.status, True)

    async def test_dropped_connection_may_have_sent(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """A connection dropped after Discord committed is TransientError(maybe_sent=True); the
        retry with the same nonce returns the committed message."""
        state.inject(Fault.drop_after_commit("POST", POSTS))
        with pytest.raises(TransientError) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="d-1")
        assert caught.value.maybe_sent is True
        # The status line came, the body never did.
        assert isinstance(caught.value.__cause__, aiohttp.ClientPayloadError)
        (committed,) = state.messages
        retried = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="d-1")
        assert retried.id == committed.id
        assert len(state.messages) == 1

    async def test_read_timeout_may_have_sent(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """A read timeout is TransientError(maybe_sent=True), caused by aiohttp's read timeout."""
        state.inject(Fault.slow("POST", POSTS, delay_s=30))
        with pytest.raises(TransientError) as caught:
            await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="r-1")
        assert caught.value.maybe_sent is True
        assert isinstance(caught.value.__cause__, aiohttp.SocketTimeoutError)

    async def test_unreachable_discord_was_not_sent(self) -> None:
        """Nothing listening: TransientError(maybe_sent=False), caused by a connector error."""
        url = f"http://127.0.0.1:{free_port()}/api/v10"
        async with build_http_client(url, TOKEN, "0.1.0", timeout=0.5) as http:
            with pytest.raises(TransientError) as caught:
                await DiscordClient(http).create_message(CHANNEL, ANNOUNCEMENT, nonce="c-1")
        assert caught.value.maybe_sent is False
        assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)


class TestEditMessage:
    async def test_edits_and_keeps_pings_safe(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """An edit returns the same id; resent allowed_mentions keep pings to the role only."""
        sent = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="e-1")
        edited = await client.edit_message(
            CHANNEL,
            sent.id,
            {
                "content": f"<@&{ROLE}> was live: @everyone",
                "allowed_mentions": {"parse": [], "roles": [ROLE]},
            },
        )
        stored = state.message(sent.id)
        assert edited.id == sent.id
        assert edited.rate_limit.bucket == BUCKET_MESSAGE_WRITE
        assert stored.content.endswith("was live: @everyone")
        assert (stored.mention_roles, stored.mention_everyone) == ((ROLE,), False)

    async def test_requires_allowed_mentions(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """An edit without allowed_mentions would re-parse with defaults: refused locally."""
        with pytest.raises(ValueError, match="allowed_mentions"):
            await client.edit_message(CHANNEL, "500000000000000001", {"content": "x"})
        assert state.requests == ()

    async def test_deleted_message_is_permanent(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Editing a deleted message raises PermanentError 10008."""
        sent = await client.create_message(CHANNEL, ANNOUNCEMENT, nonce="e-2")
        state.delete_message(sent.id)
        with pytest.raises(PermanentError) as caught:
            await client.edit_message(
                CHANNEL, sent.id, {"content": "x", "allowed_mentions": NO_PINGS}
            )
        assert caught.value.code == 10008

    async def test_another_authors_message_is_permanent(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Editing someone else's message raises PermanentError 50005."""
        foreign = state.seed_message(CHANNEL, "hi", author_id=USER)
        with pytest.raises(PermanentError) as caught:
            await client.edit_message(
                CHANNEL, foreign, {"content": "x", "allowed_mentions": NO_PINGS}
            )
        assert (caught.value.status, caught.value.code) == (403, 50005)


class TestOpenDm:
    async def test_returns_the_same_channel_each_time(self, client: DiscordClient) -> None:
        """Opening a DM returns a channel id, the same one on repeat."""
        first = await client.open_dm(USER)
        assert await client.open_dm(USER) == first

    async def test_dm_then_send(self, client: DiscordClient, state: DiscordFakeState) -> None:
        """A DM is a message create on the DM channel; closed DMs raise PermanentError 50007."""
        state.add_user("400000000000000002", dms_open=False)
        channel = await client.open_dm(USER)
        closed = await client.open_dm("400000000000000002")
        sent = await client.create_message(
            channel, {"content": "live!", "allowed_mentions": NO_PINGS}, nonce="dm-1"
        )
        with pytest.raises(PermanentError) as caught:
            await client.create_message(
                closed, {"content": "live!", "allowed_mentions": NO_PINGS}, nonce="dm-2"
            )
        assert sent.channel_id == channel
        assert caught.value.code == 50007

    async def test_invalid_recipient_is_permanent(self, client: DiscordClient) -> None:
        """An unknown user raises PermanentError 50033."""
        with pytest.raises(PermanentError) as caught:
            await client.open_dm("400000000000000099")
        assert (caught.value.status, caught.value.code) == (400, 50033)

    async def test_opening_too_fast_is_dm_too_fast(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Discord's DM anti-spam (40003) raises DmTooFast."""
        state.configure(dm_open_limit=0)
        with pytest.raises(DmTooFast):
            await client.open_dm(USER)

    async def test_user_id_must_be_a_snowflake(self, client: DiscordClient) -> None:
        """A malformed user id is refused locally."""
        with pytest.raises(ValueError, match="snowflake"):
            await client.open_dm("@everyone")


class TestGuildReads:
    async def test_the_guild_its_channels_and_roles(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """What an install and the config pickers read: name/icon/owner, channels with their
        type and overwrites, roles with their flags and permissions parsed from strings."""
        state.add_guild(GUILD, name="Speedrunners", icon="abc123", owner_id=USER)
        state.add_channel(
            "700",
            guild_id=GUILD,
            type=5,
            name="news",
            position=2,
            permission_overwrites=({"id": ROLE, "type": 0, "allow": "2048", "deny": "1024"},),
        )
        state.add_role("701", guild_id=GUILD, name="bots", managed=True, permissions=8)

        guild = await client.get_guild(GUILD)
        channels = {channel.id: channel for channel in await client.guild_channels(GUILD)}
        roles = {role.id: role for role in await client.guild_roles(GUILD)}

        assert (guild.id, guild.name, guild.icon, guild.owner_id) == (
            GUILD,
            "Speedrunners",
            "abc123",
            USER,
        )
        news = channels["700"]
        assert (news.name, news.type, news.position, news.can_hold_announcements) == (
            "news",
            5,
            2,
            True,
        )
        # The seeded role overwrite comes back as sent (the fake adds the bot's own after it).
        assert [(o.id, o.allow, o.deny) for o in news.overwrites if o.type == 0] == [
            (ROLE, 2048, 1024)
        ]
        assert roles[ROLE].mentionable
        assert not roles[ROLE].managed
        assert roles["701"].managed
        assert roles["701"].permissions == 8
        assert roles[GUILD].name == "@everyone"

    async def test_the_bot_member_and_its_roles(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """The bot's own user id, and its member read listing the role an install gave it."""
        state.add_guild(GUILD)
        state.add_role("701", guild_id=GUILD, permissions=2048, bot_id=BOT_ID)
        state.add_user(USER, username="someone")
        state.add_member(GUILD, USER)

        me = await client.current_user()
        bot = await client.guild_member(GUILD, me.id)
        someone = await client.guild_member(GUILD, USER)

        assert me.id == BOT_ID
        assert (bot.user_id, bot.role_ids) == (BOT_ID, frozenset({"701"}))
        assert (someone.user_id, someone.role_ids) == (USER, frozenset())

    async def test_a_user_outside_the_guild_is_unknown_member(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Reading the member of a user not in the guild answers 404 Unknown Member (10007)."""
        state.add_guild(GUILD)
        with pytest.raises(PermanentError) as caught:
            await client.guild_member(GUILD, USER)
        assert (caught.value.status, caught.value.code) == (404, 10007)

    async def test_channel_overwrites_agree_with_what_the_fake_enforces(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Computing the bot's permissions from the reads gives the bits the fake enforces."""
        state.add_guild(GUILD)
        state.add_role("701", guild_id=GUILD, permissions=0x4C00, bot_id=BOT_ID)
        state.add_channel("710", guild_id=GUILD)
        state.add_channel("711", guild_id=GUILD, permissions=0x400 | 0x4000)
        state.add_channel(
            "712",
            guild_id=GUILD,
            permissions=0x400 | 0x800,
            permission_overwrites=({"id": GUILD, "type": 0, "allow": "0", "deny": "16384"},),
        )
        bot = await client.guild_member(GUILD, BOT_ID)
        roles = {role.id: role.permissions for role in await client.guild_roles(GUILD)}
        context = MemberContext(GUILD, BOT_ID, bot.role_ids, roles)
        computed = {
            channel.id: channel_permissions(context, channel.overwrites)
            for channel in await client.guild_channels(GUILD)
            if channel.id.startswith("71")
        }
        assert computed == {"710": 0x10000 | 0x4C00, "711": 0x4400, "712": 0xC00}

    async def test_a_guild_without_the_bot_is_a_permanent_error(
        self, client: DiscordClient, state: DiscordFakeState
    ) -> None:
        """Reading a guild the bot is not in answers 404 Unknown Guild (10004)."""
        state.add_guild("999", bot_member=False)
        with pytest.raises(PermanentError) as caught:
            await client.get_guild("999")
        assert (caught.value.status, caught.value.code) == (404, 10004)

    async def test_reads_send_no_body(self, client: DiscordClient, state: DiscordFakeState) -> None:
        """A GET goes out without a body."""
        await client.guild_roles(GUILD)
        (read,) = state.requests_to("GET", rf"/guilds/{GUILD}/roles")
        assert read.json is None
        assert read.headers.get("content-length", "0") == "0"
