"""The Twitch fake behaves like Twitch (shared/reference/twitch.md §3), over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import FakeConfig, TwitchFakeState, create_app

SUBS = "/helix/eventsub/subscriptions"


class ManualClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TwitchFakeState, str]]:
    state = TwitchFakeState()
    with ServerThread(create_app(state)) as server:
        yield state, server.url


@pytest.fixture
def fake(served: tuple[TwitchFakeState, str]) -> TwitchFakeState:
    state = served[0]
    state.reset()
    return state


@pytest.fixture
def http(served: tuple[TwitchFakeState, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], timeout=5.0) as client:
        yield client


def get_token(http: httpx.Client, state: TwitchFakeState) -> str:
    response = http.post(
        "/oauth2/token",
        data={
            "client_id": state.client_id,
            "client_secret": state.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def auth(fake: TwitchFakeState, http: httpx.Client) -> dict[str, str]:
    """Headers of a valid app-token Helix request."""
    return {"Authorization": f"Bearer {get_token(http, fake)}", "Client-Id": fake.client_id}


def sub_body(broadcaster: str = "1337", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "stream.online",
        "version": "1",
        "condition": {"broadcaster_user_id": broadcaster},
        "transport": {
            "method": "webhook",
            "callback": "https://example.com/webhooks/twitch",
            "secret": "s3cret-0123456789",
        },
    }
    body.update(overrides)
    return body


def transport(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "method": "webhook",
        "callback": "https://example.com/webhooks/twitch",
        "secret": "s3cret-0123456789",
    }
    value.update(overrides)
    return value


class TestOAuth:
    def test_client_credentials_grant_issues_a_bearer_token(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """POST /oauth2/token with the app's id and secret returns Twitch's token JSON."""
        fake.configure(token_expires_in=1234)
        response = http.post(
            "/oauth2/token",
            data={
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "grant_type": "client_credentials",
            },
        )
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 1234
        assert len(body["access_token"]) == 30
        assert fake.tokens_issued == 1

    def test_parameters_may_come_in_the_query_string(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Like Twitch, the token call accepts its parameters as a query string too."""
        response = http.post(
            "/oauth2/token",
            params={
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "grant_type": "client_credentials",
            },
        )
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("client_id", "secret", "grant", "status", "message"),
        [
            (
                "fakeclientid0123456789",
                "wrong-secret",
                "client_credentials",
                403,
                "invalid client secret",
            ),
            ("nobody", "whatever", "client_credentials", 400, "invalid client"),
            ("fakeclientid0123456789", "x", "password", 400, "unsupported grant type"),
            ("", "x", "client_credentials", 400, "missing client id"),
        ],
    )
    def test_bad_credentials_are_refused_like_id_twitch_tv(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        client_id: str,
        secret: str,
        grant: str,
        status: int,
        message: str,
    ) -> None:
        """Wrong secret → 403, unknown client or bad grant → 400, body {status, message}."""
        response = http.post(
            "/oauth2/token",
            data={"client_id": client_id, "client_secret": secret, "grant_type": grant},
        )
        assert response.status_code == status
        assert response.json() == {"status": status, "message": message}
        assert fake.tokens_issued == 0

    def test_validate_reports_client_and_remaining_lifetime(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """GET /oauth2/validate with `OAuth <token>` → client_id, scopes and expires_in."""
        token = get_token(http, fake)
        response = http.get("/oauth2/validate", headers={"Authorization": f"OAuth {token}"})
        assert response.status_code == 200
        body = response.json()
        assert body["client_id"] == fake.client_id
        assert body["scopes"] == []
        assert 0 < body["expires_in"] <= fake.config.token_expires_in

    def test_validate_refuses_revoked_tokens(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """A revoked token no longer validates (401)."""
        token = get_token(http, fake)
        assert fake.revoke_tokens() == 1
        response = http.get("/oauth2/validate", headers={"Authorization": f"OAuth {token}"})
        assert response.status_code == 401

    def test_revoke_endpoint_invalidates_a_token(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """POST /oauth2/revoke makes the token unusable on Helix."""
        token = get_token(http, fake)
        revoke = http.post("/oauth2/revoke", data={"client_id": fake.client_id, "token": token})
        assert revoke.status_code == 200
        headers = {"Authorization": f"Bearer {token}", "Client-Id": fake.client_id}
        assert http.get("/helix/streams", headers=headers).status_code == 401


class TestHelixAuthentication:
    @pytest.mark.parametrize(
        ("headers", "message"),
        [
            ({}, "OAuth token is missing"),
            (
                {"Authorization": "Bearer nope", "Client-Id": "fakeclientid0123456789"},
                "Invalid OAuth token",
            ),
            ({"Authorization": "OAuth nope"}, "OAuth token is missing"),
        ],
    )
    def test_requests_without_a_valid_token_get_401(
        self, fake: TwitchFakeState, http: httpx.Client, headers: dict[str, str], message: str
    ) -> None:
        """Missing or unknown bearer token → 401 with Twitch's error body."""
        response = http.get("/helix/streams", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized", "status": 401, "message": message}

    def test_client_id_header_is_required(self, fake: TwitchFakeState, http: httpx.Client) -> None:
        """A valid token without `Client-Id` is refused."""
        token = get_token(http, fake)
        response = http.get("/helix/streams", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401

    def test_client_id_must_match_the_token(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Another application's Client-Id with our token → 401."""
        fake.add_client("otherclient", "othersecret0123")
        token = get_token(http, fake)
        response = http.get(
            "/helix/streams",
            headers={"Authorization": f"Bearer {token}", "Client-Id": "otherclient"},
        )
        assert response.status_code == 401
        assert response.json()["message"] == "Client ID and OAuth token do not match"

    def test_expired_and_revoked_tokens_get_401(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Tokens expired or revoked through the state stop working at once."""
        assert http.get("/helix/streams", headers=auth).status_code == 200
        fake.expire_tokens()
        assert http.get("/helix/streams", headers=auth).status_code == 401
        fresh = {**auth, "Authorization": f"Bearer {get_token(http, fake)}"}
        assert http.get("/helix/streams", headers=fresh).status_code == 200
        fake.revoke_tokens()
        assert http.get("/helix/streams", headers=fresh).status_code == 401


class TestRateLimit:
    @pytest.fixture
    def clocked(self) -> Iterator[tuple[TwitchFakeState, ManualClock, httpx.Client]]:
        clock = ManualClock()
        state = TwitchFakeState(FakeConfig(ratelimit_limit=3, ratelimit_window_s=60.0), clock=clock)
        with ServerThread(create_app(state)) as server, httpx.Client(base_url=server.url) as client:
            yield state, clock, client

    def test_every_helix_response_carries_the_bucket_headers(
        self, clocked: tuple[TwitchFakeState, ManualClock, httpx.Client]
    ) -> None:
        """Ratelimit-Limit, a decreasing Ratelimit-Remaining and Ratelimit-Reset (epoch s)."""
        state, clock, http = clocked
        headers = {
            "Authorization": f"Bearer {get_token(http, state)}",
            "Client-Id": state.client_id,
        }
        first = http.get("/helix/streams", headers=headers)
        second = http.get("/helix/users", params={"id": "1"}, headers=headers)
        assert first.headers["Ratelimit-Limit"] == "3"
        assert first.headers["Ratelimit-Remaining"] == "2"
        assert second.headers["Ratelimit-Remaining"] == "1"
        # two points missing, refilled at 3 points per 60 s → full 40 s from now
        assert int(second.headers["Ratelimit-Reset"]) == int(clock.now) + 40

    def test_empty_bucket_answers_429_until_it_refills(
        self, clocked: tuple[TwitchFakeState, ManualClock, httpx.Client]
    ) -> None:
        """The 4th call within the window is refused; 20 s later one point is back."""
        state, clock, http = clocked
        headers = {
            "Authorization": f"Bearer {get_token(http, state)}",
            "Client-Id": state.client_id,
        }
        statuses = [http.get("/helix/streams", headers=headers).status_code for _ in range(3)]
        refused = http.get("/helix/streams", headers=headers)
        assert statuses == [200, 200, 200]
        assert refused.status_code == 429
        assert refused.headers["Ratelimit-Remaining"] == "0"
        assert int(refused.headers["Ratelimit-Reset"]) == int(clock.now) + 60
        assert refused.json()["error"] == "Too Many Requests"
        clock.now += 20
        assert http.get("/helix/streams", headers=headers).status_code == 200

    def test_unauthenticated_requests_do_not_spend_points(
        self, clocked: tuple[TwitchFakeState, ManualClock, httpx.Client]
    ) -> None:
        """A 401 for a known client id shows the bucket without spending from it."""
        state, _clock, http = clocked
        response = http.get(
            "/helix/streams", headers={"Authorization": "Bearer bad", "Client-Id": state.client_id}
        )
        assert response.status_code == 401
        assert response.headers["Ratelimit-Remaining"] == "3"


class TestStreams:
    def test_a_seeded_stream_is_returned_with_helix_fields(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Get Streams returns every documented field, thumbnail with its placeholder."""
        fake.add_stream(
            "1337",
            "cool_user",
            user_name="Cool_User",
            title="Hi",
            game_id="509658",
            game_name="Just Chatting",
            viewer_count=42,
            tags=None,
            id="9001",
        )
        response = http.get("/helix/streams", params={"user_id": "1337"}, headers=auth)
        assert response.status_code == 200
        [stream] = response.json()["data"]
        assert stream["id"] == "9001"
        assert stream["user_login"] == "cool_user"
        assert stream["user_name"] == "Cool_User"
        assert stream["type"] == "live"
        assert stream["tags"] is None
        assert stream["tag_ids"] == []
        assert stream["is_mature"] is False
        assert stream["started_at"].endswith("Z")
        assert "{width}x{height}" in stream["thumbnail_url"]
        assert response.json()["pagination"] == {}

    def test_offline_users_are_simply_absent(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Only live users appear; repeated user_id and user_login keys combine."""
        fake.add_stream("1", "one")
        fake.add_stream("2", "two")
        fake.add_stream("3", "three")
        assert fake.remove_stream("3")
        response = http.get(
            "/helix/streams",
            params=[("user_id", "1"), ("user_id", "3"), ("user_login", "TWO"), ("user_id", "4")],
            headers=auth,
        )
        assert sorted(s["user_id"] for s in response.json()["data"]) == ["1", "2"]

    def test_type_live_leaves_out_streams_of_other_types(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """`type=live` filters; Helix's `""` type (error state) only shows with `all`."""
        fake.add_stream("1", "one")
        fake.add_stream("2", "two", type="")
        live = http.get("/helix/streams", params={"type": "live"}, headers=auth).json()["data"]
        every = http.get("/helix/streams", params={"type": "all"}, headers=auth).json()["data"]
        assert [s["user_id"] for s in live] == ["1"]
        assert len(every) == 2

    @pytest.mark.parametrize(
        "params",
        [
            [("user_id", str(i)) for i in range(101)],
            [("user_login", f"u{i}") for i in range(101)],
            [("first", "101")],
            [("first", "0")],
            [("type", "rerun")],
            [("after", "not-a-cursor")],
        ],
        ids=["101-ids", "101-logins", "first-101", "first-0", "bad-type", "bad-cursor"],
    )
    def test_invalid_queries_get_400(
        self, http: httpx.Client, auth: dict[str, str], params: list[tuple[str, str]]
    ) -> None:
        """Over 100 values, `first` out of 1..100, an unknown type or cursor → 400."""
        response = http.get("/helix/streams", params=params, headers=auth)
        assert response.status_code == 400
        assert response.json()["error"] == "Bad Request"

    def test_pages_follow_the_cursor_in_viewer_order(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """`first` sizes pages; `after` continues; the last page has no cursor."""
        for i in range(5):
            fake.add_stream(str(i), f"user{i}", viewer_count=i * 10)
        seen: list[str] = []
        params: list[tuple[str, str]] = [("first", "2")]
        pages = 0
        while True:
            body = http.get("/helix/streams", params=params, headers=auth).json()
            pages += 1
            seen += [s["user_id"] for s in body["data"]]
            if "cursor" not in body["pagination"]:
                break
            params = [("first", "2"), ("after", body["pagination"]["cursor"])]
        assert pages == 3
        assert seen == ["4", "3", "2", "1", "0"]

    def test_stream_page_limit_caps_pages_whatever_first_asks(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Helix may return short pages with a cursor; the fake can too."""
        fake.configure(stream_page_limit=2)
        for i in range(3):
            fake.add_stream(str(i), f"user{i}")
        body = http.get("/helix/streams", params={"first": "100"}, headers=auth).json()
        assert len(body["data"]) == 2
        assert body["pagination"]["cursor"]

    def test_a_lagging_stream_appears_after_n_calls(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """`hidden_for_calls=2` hides the stream from the next two calls that ask for it."""
        fake.add_stream("1", "one", hidden_for_calls=2)
        counts = [
            len(http.get("/helix/streams", params={"user_id": "1"}, headers=auth).json()["data"])
            for _ in range(3)
        ]
        assert counts == [0, 0, 1]

    def test_a_lagging_stream_appears_at_a_given_time(self) -> None:
        """`visible_at` hides the stream until the fake's clock reaches it."""
        clock = ManualClock()
        state = TwitchFakeState(clock=clock)
        state.add_stream("1", "one", visible_at=clock.now + 5)
        assert state.query_streams(["1"], [], [], live_only=False) == []
        clock.now += 5
        assert len(state.query_streams(["1"], [], [], live_only=False)) == 1


class TestUsers:
    def test_users_by_repeated_id_and_login(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """`id` and `login` repeat and combine; unknown ones are absent."""
        fake.add_user("1", "one", display_name="One")
        fake.add_user("2", "two")
        fake.add_user("3", "three")
        response = http.get(
            "/helix/users", params=[("id", "1"), ("login", "Two"), ("id", "404")], headers=auth
        )
        assert response.status_code == 200
        users = {u["id"]: u for u in response.json()["data"]}
        assert set(users) == {"1", "2"}
        assert users["1"]["display_name"] == "One"
        assert users["1"]["profile_image_url"].startswith("https://")

    def test_more_than_100_ids_and_logins_get_400(
        self, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """The limit is on ids and logins together."""
        params = [("id", str(i)) for i in range(60)] + [("login", f"u{i}") for i in range(41)]
        assert http.get("/helix/users", params=params, headers=auth).status_code == 400

    def test_an_app_token_must_name_someone(self, http: httpx.Client, auth: dict[str, str]) -> None:
        """Without id or login an app token identifies no user → 400."""
        assert http.get("/helix/users", headers=auth).status_code == 400


class TestCreateSubscription:
    def test_create_answers_202_pending_with_costs(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """202 with data/total/total_cost/max_total_cost; status pending; secret not echoed."""
        response = http.post(SUBS, json=sub_body(), headers=auth)
        assert response.status_code == 202
        body = response.json()
        assert (body["total"], body["total_cost"], body["max_total_cost"]) == (1, 1, 10000)
        [sub] = body["data"]
        assert sub["status"] == "webhook_callback_verification_pending"
        assert sub["type"] == "stream.online"
        assert sub["version"] == "1"
        assert sub["condition"] == {"broadcaster_user_id": "1337"}
        assert sub["transport"] == {
            "method": "webhook",
            "callback": "https://example.com/webhooks/twitch",
        }
        assert sub["cost"] == 1
        stored = fake.subscription(sub["id"])
        assert stored is not None
        assert stored.secret == "s3cret-0123456789"

    def test_enabled_mode_enables_at_once(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """With `subscription_mode="enabled"` no verification step is simulated."""
        fake.configure(subscription_mode="enabled")
        response = http.post(SUBS, json=sub_body(type="channel.update", version="2"), headers=auth)
        assert response.json()["data"][0]["status"] == "enabled"

    @pytest.mark.parametrize(
        "overrides",
        [
            {"type": "channel.follow"},
            {"type": "channel.update", "version": "1"},
            {"version": "2"},
            {"condition": {}},
            {"condition": {"broadcaster_user_id": "cool_user"}},
            {"transport": transport(method="websocket")},
            {"transport": transport(callback="http://example.com/cb")},
            {"transport": transport(callback="https://example.com:8443/cb")},
            {"transport": transport(secret="123456789")},
            {"transport": transport(secret="x" * 101)},
            {"transport": transport(secret="sécret-0123456789")},
            {"transport": {"method": "webhook", "callback": "https://example.com/cb"}},
        ],
        ids=[
            "unknown-type",
            "deprecated-version",
            "wrong-version",
            "no-condition",
            "login-not-id",
            "websocket",
            "plain-http",
            "port-8443",
            "secret-9",
            "secret-101",
            "secret-non-ascii",
            "no-secret",
        ],
    )
    def test_invalid_requests_get_400(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        auth: dict[str, str],
        overrides: dict[str, Any],
    ) -> None:
        """Type+version, condition, transport, callback and secret are validated like Twitch."""
        response = http.post(SUBS, json=sub_body(**overrides), headers=auth)
        assert response.status_code == 400, response.text
        assert response.json()["status"] == 400
        assert fake.subscriptions() == []

    def test_secret_lengths_10_and_100_and_a_local_http_callback_are_accepted(
        self, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """The bounds are inclusive; http://127.0.0.1 is allowed for local tests."""
        short = sub_body("1", transport=transport(secret="x" * 10))
        long = sub_body("2", transport=transport(secret="x" * 100))
        local = sub_body("3", transport=transport(callback="http://127.0.0.1:8080/webhooks/twitch"))
        assert [
            http.post(SUBS, json=b, headers=auth).status_code for b in (short, long, local)
        ] == [
            202,
            202,
            202,
        ]

    def test_non_json_bodies_get_400(self, http: httpx.Client, auth: dict[str, str]) -> None:
        """The body must be JSON with Content-Type application/json."""
        as_form = http.post(SUBS, data={"type": "stream.online"}, headers=auth)
        broken = http.post(SUBS, content=b"{", headers={**auth, "Content-Type": "application/json"})
        assert (as_form.status_code, broken.status_code) == (400, 400)

    def test_a_duplicate_of_an_active_subscription_gets_409(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Same type+condition as a pending or enabled one → 409 Conflict, any callback."""
        assert http.post(SUBS, json=sub_body(), headers=auth).status_code == 202
        other_callback = sub_body(transport=transport(callback="https://other.example/cb"))
        response = http.post(SUBS, json=other_callback, headers=auth)
        assert response.status_code == 409
        assert response.json()["error"] == "Conflict"
        assert (
            http.post(SUBS, json=sub_body(type="stream.offline"), headers=auth).status_code == 202
        )

    def test_a_failed_subscription_does_not_block_a_new_one(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Only active subscriptions conflict; failed ones linger and cost nothing."""
        fake.add_subscription("1337", status="notification_failures_exceeded")
        response = http.post(SUBS, json=sub_body(), headers=auth)
        assert response.status_code == 202
        assert response.json()["total_cost"] == 1
        assert response.json()["total"] == 2

    def test_too_many_for_one_type_and_condition_gets_429_with_points_left(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """The per-condition limit answers 429 while Ratelimit-Remaining is still > 0."""
        for _ in range(3):
            fake.add_subscription("1337", status="webhook_callback_verification_failed")
        response = http.post(SUBS, json=sub_body(), headers=auth)
        assert response.status_code == 429
        assert int(response.headers["Ratelimit-Remaining"]) > 0
        assert "type and condition" in response.json()["message"]

    def test_the_cost_budget_is_enforced(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Creating beyond max_total_cost is refused with 429 (points left)."""
        fake.configure(max_total_cost=1)
        assert http.post(SUBS, json=sub_body("1"), headers=auth).status_code == 202
        response = http.post(SUBS, json=sub_body("2"), headers=auth)
        assert response.status_code == 429
        assert int(response.headers["Ratelimit-Remaining"]) > 0


class TestSubscriptionCost:
    def create(self, http: httpx.Client, auth: dict[str, str], broadcaster: str) -> Any:
        response = http.post(SUBS, json=sub_body(broadcaster), headers=auth)
        assert response.status_code == 202, response.text
        return response.json()

    def test_a_broadcaster_who_authorized_the_client_costs_0(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """An authorization with a scope → cost 0 and total_cost unchanged; others cost 1."""
        fake.oauth.grant(fake.client_id, "1337", ["user:read:email"])
        free = self.create(http, auth, "1337")
        assert (free["data"][0]["cost"], free["total_cost"]) == (0, 0)
        paid = self.create(http, auth, "42")
        assert (paid["data"][0]["cost"], paid["total_cost"], paid["total"]) == (1, 1, 2)
        assert paid["max_total_cost"] == 10_000

    def test_an_authorization_for_another_client_does_not_count(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Only this client's authorization makes the broadcaster free."""
        fake.add_client("otherclient", "othersecret0123")
        fake.oauth.grant("otherclient", "1337", ["user:read:email"])
        assert self.create(http, auth, "1337")["data"][0]["cost"] == 1

    @pytest.mark.parametrize(("zero_scope_counts", "cost"), [(False, 1), (True, 0)])
    def test_an_authorization_without_scopes_counts_only_when_configured(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        auth: dict[str, str],
        zero_scope_counts: bool,
        cost: int,
    ) -> None:
        """`zero_scope_counts` (default off) decides whether an empty-scope link is free."""
        fake.oauth.configure(zero_scope_counts=zero_scope_counts)
        fake.oauth.grant(fake.client_id, "1337", [])
        assert self.create(http, auth, "1337")["data"][0]["cost"] == cost

    def test_the_cost_is_fixed_at_creation(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Dropping the authorization later leaves the subscription at cost 0; a new one pays."""
        fake.oauth.grant(fake.client_id, "1337", ["user:read:email"])
        self.create(http, auth, "1337")
        assert fake.oauth.drop_authorization(fake.client_id, "1337") is not None
        offline = sub_body("1337", type="stream.offline")
        created = http.post(SUBS, json=offline, headers=auth).json()
        assert created["data"][0]["cost"] == 1
        assert created["total_cost"] == 1

    def test_the_budget_refuses_cost_1_but_not_cost_0(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """At max_total_cost, a paid create gets 429 in Helix's shape; a free one still passes."""
        fake.configure(max_total_cost=2)
        self.create(http, auth, "1")
        self.create(http, auth, "2")
        refused = http.post(SUBS, json=sub_body("3"), headers=auth)
        assert refused.status_code == 429
        assert refused.json() == {
            "error": "Too Many Requests",
            "status": 429,
            "message": "subscription cost exceeds limit",
        }
        fake.oauth.grant(fake.client_id, "3", ["user:read:email"])
        assert self.create(http, auth, "3")["total_cost"] == 2
        listed = http.get(SUBS, headers=auth).json()
        assert (listed["total"], listed["total_cost"], listed["max_total_cost"]) == (3, 2, 2)


class TestAuthorizationRevokeSubscription:
    def body(self, condition: Any) -> dict[str, Any]:
        return sub_body(type="user.authorization.revoke", condition=condition)

    def test_it_takes_the_client_id_and_costs_0(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Condition {"client_id": <ours>} → 202, cost 0, even with the budget spent."""
        fake.configure(max_total_cost=0)
        response = http.post(SUBS, json=self.body({"client_id": fake.client_id}), headers=auth)
        assert response.status_code == 202
        [sub] = response.json()["data"]
        assert (sub["type"], sub["version"], sub["cost"]) == ("user.authorization.revoke", "1", 0)
        assert sub["condition"] == {"client_id": fake.client_id}
        again = http.post(SUBS, json=self.body({"client_id": fake.client_id}), headers=auth)
        assert again.status_code == 409

    @pytest.mark.parametrize(
        "condition", [{"client_id": "someoneelse"}, {"broadcaster_user_id": "1337"}, None]
    )
    def test_another_or_no_client_id_gets_400(
        self, http: httpx.Client, auth: dict[str, str], condition: Any
    ) -> None:
        """The condition must name the client of the app token."""
        response = http.post(SUBS, json=self.body(condition), headers=auth)
        assert response.status_code == 400
        assert response.json()["message"] == "The condition field is not valid"


class TestCallbackVerification:
    @pytest.fixture
    def callback(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """A webhook endpoint that checks the signature and echoes (or garbles) the challenge."""
        received: list[dict[str, Any]] = []

        async def webhook(request: Request) -> Response:
            raw = await request.body()
            message = (
                request.headers["Twitch-Eventsub-Message-Id"].encode()
                + request.headers["Twitch-Eventsub-Message-Timestamp"].encode()
                + raw
            )
            expected = (
                "sha256=" + hmac.new(b"s3cret-0123456789", message, hashlib.sha256).hexdigest()
            )
            received.append(
                {
                    "headers": dict(request.headers),
                    "signature_ok": hmac.compare_digest(
                        expected, request.headers["Twitch-Eventsub-Message-Signature"]
                    ),
                }
            )
            body = httpx.Response(200, content=raw).json()
            answer = body["challenge"] if request.path_params["mode"] == "echo" else "nope"
            return PlainTextResponse(answer)

        app = Starlette(routes=[Route("/{mode}", webhook, methods=["POST"])])
        with ServerThread(app) as server:
            yield server.url, received

    @staticmethod
    def wait_for_status(fake: TwitchFakeState, sub_id: str, status: str) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sub = fake.subscription(sub_id)
            if sub is not None and sub.status == status:
                return
            time.sleep(0.01)
        raise AssertionError(f"subscription never became {status}: {fake.subscription(sub_id)}")

    def test_an_echoed_challenge_enables_the_subscription(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        auth: dict[str, str],
        callback: tuple[str, list[dict[str, Any]]],
    ) -> None:
        """In verify mode the fake POSTs a signed challenge like Twitch; a correct echo enables."""
        url, received = callback
        fake.configure(subscription_mode="verify")
        body = sub_body(transport=transport(callback=f"{url}/echo"))
        sub_id = http.post(SUBS, json=body, headers=auth).json()["data"][0]["id"]
        self.wait_for_status(fake, sub_id, "enabled")
        [request] = received
        assert request["signature_ok"]
        headers = request["headers"]
        assert headers["twitch-eventsub-message-type"] == "webhook_callback_verification"
        assert headers["twitch-eventsub-subscription-type"] == "stream.online"
        assert headers["twitch-eventsub-subscription-version"] == "1"
        assert headers["twitch-eventsub-message-retry"] == "0"
        assert fake.verifications == [(sub_id, True)]

    def test_a_wrong_answer_fails_verification(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        auth: dict[str, str],
        callback: tuple[str, list[dict[str, Any]]],
    ) -> None:
        """Anything but the raw challenge → webhook_callback_verification_failed."""
        url, _received = callback
        fake.configure(subscription_mode="verify")
        body = sub_body(transport=transport(callback=f"{url}/garble"))
        sub_id = http.post(SUBS, json=body, headers=auth).json()["data"][0]["id"]
        self.wait_for_status(fake, sub_id, "webhook_callback_verification_failed")


class TestListSubscriptions:
    def test_pages_oldest_first_with_totals_and_callbacks(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Pages of `subscription_page_size`, cursor `after`, total and total_cost on each."""
        fake.configure(subscription_page_size=2)
        created = [fake.add_subscription(str(i)).id for i in range(5)]
        fake.add_subscription("99", status="authorization_revoked")
        ids: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"after": cursor} if cursor else {}
            body = http.get(SUBS, params=params, headers=auth).json()
            pages += 1
            assert (body["total"], body["total_cost"], body["max_total_cost"]) == (6, 5, 10000)
            ids += [s["id"] for s in body["data"]]
            assert all("secret" not in s["transport"] for s in body["data"])
            assert body["data"][0]["transport"]["callback"] == "https://example.com/webhooks/twitch"
            cursor = body["pagination"].get("cursor")
            if cursor is None:
                break
        assert pages == 3
        assert ids[:5] == created

    def test_the_cursor_survives_deletions(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Deleting seen subscriptions between pages neither skips nor repeats any."""
        fake.configure(subscription_page_size=2)
        created = [fake.add_subscription(str(i)).id for i in range(4)]
        first = http.get(SUBS, headers=auth).json()
        for sub in first["data"]:
            assert http.delete(SUBS, params={"id": sub["id"]}, headers=auth).status_code == 204
        second = http.get(
            SUBS, params={"after": first["pagination"]["cursor"]}, headers=auth
        ).json()
        assert [s["id"] for s in second["data"]] == created[2:]

    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            ("status", "enabled", {"a", "b"}),
            ("type", "stream.offline", {"b"}),
            ("user_id", "2", {"b", "c"}),
        ],
    )
    def test_one_filter_narrows_the_list(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        auth: dict[str, str],
        name: str,
        value: str,
        expected: set[str],
    ) -> None:
        """status, type and user_id filter; total counts the matches."""
        names = {
            fake.add_subscription("1").id: "a",
            fake.add_subscription("2", type="stream.offline").id: "b",
            fake.add_subscription("2", status="user_removed").id: "c",
        }
        body = http.get(SUBS, params={name: value}, headers=auth).json()
        assert {names[s["id"]] for s in body["data"]} == expected
        assert body["total"] == len(expected)

    def test_subscription_id_filter(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """`subscription_id` returns just that subscription."""
        wanted = fake.add_subscription("1").id
        fake.add_subscription("2")
        body = http.get(SUBS, params={"subscription_id": wanted}, headers=auth).json()
        assert [s["id"] for s in body["data"]] == [wanted]

    def test_two_filters_get_400(self, http: httpx.Client, auth: dict[str, str]) -> None:
        """The filters are mutually exclusive."""
        response = http.get(
            SUBS, params={"status": "enabled", "type": "stream.online"}, headers=auth
        )
        assert response.status_code == 400

    def test_another_clients_subscriptions_are_invisible(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """An app token lists only its own client's subscriptions."""
        fake.add_subscription("1", client_id="otherclient")
        body = http.get(SUBS, headers=auth).json()
        assert (body["data"], body["total"], body["total_cost"]) == ([], 0, 0)


class TestDeleteSubscription:
    def test_delete_then_delete_again(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """204 for an existing subscription, 404 once it is gone."""
        sub_id = fake.add_subscription("1").id
        assert http.delete(SUBS, params={"id": sub_id}, headers=auth).status_code == 204
        assert fake.subscriptions() == []
        assert http.delete(SUBS, params={"id": sub_id}, headers=auth).status_code == 404

    def test_delete_without_id_gets_400(self, http: httpx.Client, auth: dict[str, str]) -> None:
        """The id parameter is required."""
        assert http.delete(SUBS, headers=auth).status_code == 400


class TestFaults:
    def test_a_fault_answers_once_then_normal_service_resumes(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """One-shot: the first matching request gets the fault, the next one is served."""
        fake.add_fault("GET", r"/helix/streams", status=503)
        first = http.get("/helix/streams", headers=auth)
        second = http.get("/helix/streams", headers=auth)
        assert first.status_code == 503
        assert first.json() == {
            "error": "Service Unavailable",
            "status": 503,
            "message": "injected fault",
        }
        assert second.status_code == 200

    def test_faults_match_method_and_path_and_are_consumed_in_order(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Rules apply first-in first-out, only to matching method and whole path."""
        fake.add_fault("POST", r"/helix/eventsub/.*", status=500, body={"custom": True})
        fake.add_fault("GET", r"/helix/.*", status=502)
        fake.add_fault("GET", r"/helix/.*", status=504, headers={"X-Fault": "yes"})
        assert http.get("/helix/streams", headers=auth).status_code == 502
        third = http.get("/helix/users", params={"id": "1"}, headers=auth)
        assert (third.status_code, third.headers["X-Fault"]) == (504, "yes")
        created = http.post(SUBS, json=sub_body(), headers=auth)
        assert (created.status_code, created.json()) == (500, {"custom": True})
        assert http.get("/helix/streams", headers=auth).status_code == 200

    def test_a_delay_only_fault_slows_a_normal_answer(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """`status=None` with `delay_s` serves normally after the delay (for timeouts)."""
        fake.add_fault("GET", r"/helix/streams", delay_s=0.3)
        started = time.monotonic()
        response = http.get("/helix/streams", headers=auth)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.3

    def test_faults_cover_the_token_endpoint(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """OAuth paths can fail too."""
        fake.add_fault("POST", r"/oauth2/token", status=500)
        response = http.post("/oauth2/token", data={"client_id": "x"})
        assert response.status_code == 500


class TestRequestLog:
    def test_requests_are_logged_with_query_and_status(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """Each request is recorded (method, path, query, status, time); control calls are not."""
        http.get("/helix/streams", params=[("user_id", "1"), ("user_id", "2")], headers=auth)
        http.get("/_fake/requests")
        [logged] = fake.requests("GET", "/helix/streams")
        assert logged.params == [("user_id", "1"), ("user_id", "2")]
        assert logged.status == 200
        assert fake.count() == 2  # the token call and the streams call
        assert fake.count("POST", "/oauth2/token") == 1


class TestControlApi:
    def test_streams_and_users_can_be_seeded_over_http(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """POST /_fake/streams and /_fake/users seed what Helix then returns."""
        created = http.post("/_fake/streams", json={"user_id": "7", "user_login": "seven"})
        assert created.status_code == 201
        assert http.post("/_fake/users", json={"id": "7", "login": "seven"}).status_code == 201
        streams = http.get("/helix/streams", params={"user_id": "7"}, headers=auth).json()["data"]
        users = http.get("/helix/users", params={"id": "7"}, headers=auth).json()["data"]
        assert [s["user_login"] for s in streams] == ["seven"]
        assert [u["login"] for u in users] == ["seven"]
        assert http.patch("/_fake/streams/7", json={"title": "new"}).json()["title"] == "new"
        assert http.delete("/_fake/streams/7").status_code == 204
        assert http.delete("/_fake/streams/7").status_code == 404

    def test_subscriptions_can_be_added_and_broken_over_http(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Add a subscription, flip its status, read it back with its secret."""
        sub = http.post("/_fake/subscriptions", json={"broadcaster_user_id": "5"}).json()
        patched = http.patch(
            f"/_fake/subscriptions/{sub['id']}", json={"status": "notification_failures_exceeded"}
        )
        assert patched.json()["status"] == "notification_failures_exceeded"
        [listed] = http.get("/_fake/subscriptions").json()
        assert listed["secret"] == "fake-eventsub-secret"
        assert http.patch("/_fake/subscriptions/nope", json={"status": "x"}).status_code == 400

    def test_config_faults_tokens_log_and_reset_over_http(
        self, fake: TwitchFakeState, http: httpx.Client, auth: dict[str, str]
    ) -> None:
        """The control API mirrors the state API for child processes."""
        config = http.post("/_fake/config", json={"ratelimit_limit": 5}).json()
        assert config["ratelimit_limit"] == 5
        assert http.post("/_fake/config", json={"bogus": 1}).status_code == 400
        http.post("/_fake/faults", json={"method": "GET", "path": "/helix/users", "status": 503})
        assert http.get("/helix/users", params={"id": "1"}, headers=auth).status_code == 503
        assert http.post("/_fake/tokens/expire").json() == {"expired": 1}
        assert http.get("/helix/users", params={"id": "1"}, headers=auth).status_code == 401
        logged = http.get("/_fake/requests").json()
        assert [r["status"] for r in logged] == [200, 503, 401]
        assert http.post("/_fake/reset").status_code == 204
        assert fake.count() == 0
        assert fake.config.ratelimit_limit == 800
