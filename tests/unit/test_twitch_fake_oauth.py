"""The Twitch fake's user OAuth: authorize, code and refresh grants, validate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.eventsub_delivery import Delivery
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import TwitchFakeState, create_app

ERROR_PAGE = "http://127.0.0.1:9/auth/twitch/error"
CALLBACK = "http://127.0.0.1:9/auth/twitch/callback"
STREAMER = ("1337", "cool_user", "Cool_User")


class ManualClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def served(clock: ManualClock) -> Iterator[tuple[TwitchFakeState, str]]:
    state = TwitchFakeState(redirect_uris=[ERROR_PAGE, CALLBACK], clock=clock)
    with ServerThread(create_app(state)) as server:
        yield state, server.url


@pytest.fixture
def fake(served: tuple[TwitchFakeState, str], clock: ManualClock) -> TwitchFakeState:
    state = served[0]
    clock.now = 1_700_000_000.0
    state.reset()
    user_id, login, name = STREAMER
    state.add_user(user_id, login, display_name=name)
    state.add_user("4242", "other_user")
    return state


@pytest.fixture
def http(served: tuple[TwitchFakeState, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], timeout=5.0, follow_redirects=False) as client:
        yield client


def authorize(http: httpx.Client, fake: TwitchFakeState, **overrides: str) -> httpx.Response:
    params = {
        "client_id": fake.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "user:read:email",
        "state": "st4te",
    }
    params.update(overrides)
    return http.get("/oauth2/authorize", params={k: v for k, v in params.items() if v != "-"})


def redirect(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The 302's target without its query, and the query as single values."""
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["location"])
    target = parts._replace(query="").geturl()
    return target, {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def get_code(http: httpx.Client, fake: TwitchFakeState, **overrides: str) -> str:
    _target, query = redirect(authorize(http, fake, **overrides))
    return query["code"]


def exchange(
    http: httpx.Client, fake: TwitchFakeState, code: str, /, **overrides: str
) -> httpx.Response:
    data = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": CALLBACK,
    }
    data.update(overrides)
    return http.post("/oauth2/token", data={k: v for k, v in data.items() if v != "-"})


def link(http: httpx.Client, fake: TwitchFakeState, scope: str = "user:read:email") -> Any:
    """Run the whole authorization-code flow; the token JSON."""
    response = exchange(http, fake, get_code(http, fake, scope=scope))
    assert response.status_code == 200, response.text
    return response.json()


def refresh(
    http: httpx.Client, fake: TwitchFakeState, refresh_token: str, **overrides: str
) -> httpx.Response:
    data = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    data.update(overrides)
    return http.post("/oauth2/token", data={k: v for k, v in data.items() if v != "-"})


def validate(http: httpx.Client, token: str, scheme: str = "OAuth") -> httpx.Response:
    return http.get("/oauth2/validate", headers={"Authorization": f"{scheme} {token}"})


class TestAuthorize:
    def test_approval_redirects_with_code_scopes_and_state(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """The first seeded user approves: 302 to the redirect URI with code, scope and state."""
        response = authorize(http, fake, scope="channel:read:polls user:read:email")
        target, query = redirect(response)
        assert target == CALLBACK
        assert len(query["code"]) == 30
        assert query["scope"] == "channel:read:polls user:read:email"
        assert query["state"] == "st4te"
        assert "scope=channel%3Aread%3Apolls+user%3Aread%3Aemail" in response.headers["location"]
        [authorization] = fake.oauth.authorizations()
        assert (authorization.client_id, authorization.user_id) == (fake.client_id, "1337")

    def test_a_chosen_user_approves(self, fake: TwitchFakeState, http: httpx.Client) -> None:
        """`signed_in_user` picks who is signed in at Twitch when the browser arrives."""
        fake.oauth.configure(signed_in_user="4242")
        get_code(http, fake)
        assert [r.user_id for r in fake.oauth.authorize_requests()] == ["4242"]

    def test_without_state_no_state_comes_back(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """`state` is echoed only when it was sent; an empty scope comes back empty."""
        _target, query = redirect(authorize(http, fake, state="-", scope="-"))
        assert "state" not in query
        assert query["scope"] == ""

    @pytest.mark.parametrize(
        "redirect_uri", [CALLBACK + "/", CALLBACK.upper(), "https://evil.example/cb", "-"]
    )
    def test_an_unregistered_redirect_goes_to_the_first_registered_uri(
        self, fake: TwitchFakeState, http: httpx.Client, redirect_uri: str
    ) -> None:
        """Not exactly registered → 302 to the first URI, redirect_mismatch, no state, no code."""
        target, query = redirect(authorize(http, fake, redirect_uri=redirect_uri))
        assert target == ERROR_PAGE
        assert query == {
            "error": "redirect_mismatch",
            "error_description": "Parameter redirect_uri does not match registered URI",
        }
        assert fake.oauth.authorizations() == []

    def test_denied_consent_redirects_with_access_denied(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Deny knob → access_denied with Twitch's description and the state, no authorization."""
        fake.oauth.configure(consent="deny")
        target, query = redirect(authorize(http, fake))
        assert target == CALLBACK
        assert query == {
            "error": "access_denied",
            "error_description": "The user denied you access",
            "state": "st4te",
        }
        assert fake.oauth.authorizations() == []

    def test_an_unknown_client_gets_a_400_page(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """No redirect at all for a client id Twitch does not know."""
        response = authorize(http, fake, client_id="nobody")
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert "location" not in response.headers

    def test_other_response_types_are_refused_at_the_redirect_uri(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Only the authorization-code flow is emulated."""
        _target, query = redirect(authorize(http, fake, response_type="token"))
        assert query["error"] == "unsupported_response_type"
        assert query["state"] == "st4te"

    def test_force_verify_is_recorded_and_pkce_is_ignored(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """force_verify=true shows the consent again; a code_challenge changes nothing."""
        get_code(http, fake)
        get_code(http, fake)
        get_code(http, fake, force_verify="true", code_challenge="x" * 43)
        records = fake.oauth.authorize_requests()
        assert [r.force_verify for r in records] == [False, False, True]
        assert [r.prompted for r in records] == [True, False, True]
        assert [r.outcome for r in records] == ["code"] * 3

    def test_a_query_in_the_redirect_uri_is_kept(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """The code is appended to a registered URI that already has a query."""
        with_query = CALLBACK + "?from=invite"
        fake.oauth.set_redirect_uris(fake.client_id, [ERROR_PAGE, with_query])
        _target, query = redirect(authorize(http, fake, redirect_uri=with_query))
        assert query["from"] == "invite"
        assert "code" in query


class TestCodeExchange:
    def test_a_code_buys_a_user_token_and_a_refresh_token(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """200 with Twitch's shape: scope is an array, token_type lowercase, 4 h lifetime."""
        body = link(http, fake, scope="user:read:email channel:read:polls")
        assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
        assert body["scope"] == ["user:read:email", "channel:read:polls"]
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 14_400
        assert len(body["access_token"]) == 30
        assert len(body["refresh_token"]) == 50

    def test_a_code_works_once_and_a_replay_revokes_its_tokens(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Second use → 400 Invalid authorization code, and the first answer's tokens die."""
        code = get_code(http, fake)
        first = exchange(http, fake, code).json()
        replay = exchange(http, fake, code)
        assert replay.status_code == 400
        assert replay.json() == {"status": 400, "message": "Invalid authorization code"}
        assert validate(http, first["access_token"]).status_code == 401
        assert refresh(http, fake, first["refresh_token"]).status_code == 400

    def test_a_code_expires_after_its_ttl(
        self, fake: TwitchFakeState, http: httpx.Client, clock: ManualClock
    ) -> None:
        """The code TTL (default 600 s) runs on the injected clock."""
        fake.oauth.configure(code_ttl_s=100)
        code = get_code(http, fake)
        clock.now += 100
        response = exchange(http, fake, code)
        assert response.status_code == 400
        assert response.json()["message"] == "Invalid authorization code"

    @pytest.mark.parametrize(
        ("overrides", "status", "message"),
        [
            ({"code": "nope"}, 400, "Invalid authorization code"),
            ({"client_secret": "wrong"}, 403, "invalid client secret"),
            ({"client_secret": "-"}, 400, "missing client secret"),
            ({"client_id": "nobody"}, 400, "invalid client"),
            (
                {"redirect_uri": ERROR_PAGE},
                400,
                "Parameter redirect_uri does not match registered URI",
            ),
            (
                {"redirect_uri": "-"},
                400,
                "Parameter redirect_uri does not match registered URI",
            ),
        ],
    )
    def test_bad_exchanges_get_twitch_errors_and_no_token(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        overrides: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        """Errors are {"status", "message"}, never RFC 6749 `error` codes."""
        code = get_code(http, fake)
        response = exchange(http, fake, code, **overrides)
        assert response.status_code == status
        assert response.json() == {"status": status, "message": message}
        assert exchange(http, fake, code).status_code == 200  # a refused try spends nothing

    def test_a_code_of_another_client_is_invalid(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Codes are bound to the client they were issued to."""
        fake.add_client("otherclient", "othersecret0123", redirect_uris=[CALLBACK])
        code = get_code(http, fake)
        response = exchange(
            http, fake, code, client_id="otherclient", client_secret="othersecret0123"
        )
        assert response.json() == {"status": 400, "message": "Invalid authorization code"}

    def test_client_credentials_still_work(self, fake: TwitchFakeState, http: httpx.Client) -> None:
        """The app-token grant is unchanged by the user grants."""
        response = http.post(
            "/oauth2/token",
            data={
                "client_id": fake.client_id,
                "client_secret": fake.client_secret,
                "grant_type": "client_credentials",
            },
        )
        assert response.status_code == 200
        assert "refresh_token" not in response.json()


class TestRefresh:
    def test_refresh_rotates_the_refresh_token(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """A new pair comes back; the old refresh token then fails, the old access token lives."""
        first = link(http, fake)
        response = refresh(http, fake, first["refresh_token"])
        assert response.status_code == 200
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert second["scope"] == ["user:read:email"]
        again = refresh(http, fake, first["refresh_token"])
        assert again.status_code == 400
        assert validate(http, first["access_token"]).status_code == 200
        assert refresh(http, fake, second["refresh_token"]).status_code == 200

    def test_without_rotation_the_refresh_token_stays(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Rotation knob off: the same refresh token comes back and keeps working."""
        fake.oauth.configure(rotate_refresh_tokens=False)
        first = link(http, fake)
        second = refresh(http, fake, first["refresh_token"]).json()
        assert second["refresh_token"] == first["refresh_token"]
        assert refresh(http, fake, first["refresh_token"]).status_code == 200

    @pytest.mark.parametrize("token", ["unknown-refresh-token", ""])
    def test_an_invalid_refresh_token_gets_400_with_the_error_key(
        self, fake: TwitchFakeState, http: httpx.Client, token: str
    ) -> None:
        """Twitch's refresh failure carries "error": "Bad Request" as well."""
        response = refresh(http, fake, token)
        assert response.status_code == 400
        assert response.json() == {
            "error": "Bad Request",
            "status": 400,
            "message": "Invalid refresh token",
        }

    def test_an_unencoded_refresh_token_fails(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """With `+` and `/` in refresh tokens, a raw (not form-encoded) `+` turns into a space."""
        fake.oauth.configure(refresh_token_special_chars=True)
        token = link(http, fake)["refresh_token"]
        assert "+" in token
        raw = (
            f"client_id={fake.client_id}&client_secret={fake.client_secret}"
            f"&grant_type=refresh_token&refresh_token={token}"
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response = http.post("/oauth2/token", content=raw, headers=headers)
        assert response.json()["message"] == "Invalid refresh token"
        assert refresh(http, fake, token).status_code == 200

    def test_a_public_client_may_refresh_without_its_secret(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Confidential clients must send the secret; public ones may omit it."""
        first = link(http, fake)
        missing = refresh(http, fake, first["refresh_token"], client_secret="-")
        assert missing.json() == {"status": 400, "message": "missing client secret"}
        fake.add_client(
            fake.client_id, fake.client_secret, redirect_uris=[ERROR_PAGE, CALLBACK], type="public"
        )
        assert refresh(http, fake, first["refresh_token"], client_secret="-").status_code == 200

    def test_the_51st_live_token_revokes_the_oldest(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """At most 50 live access tokens per client and user; the newest kills the oldest."""
        fake.oauth.configure(max_live_tokens=3)
        first = link(http, fake)
        tokens, refresh_token = [first["access_token"]], first["refresh_token"]
        for _ in range(3):
            answer = refresh(http, fake, refresh_token).json()
            tokens.append(answer["access_token"])
            refresh_token = answer["refresh_token"]
        assert [validate(http, t).status_code for t in tokens] == [401, 200, 200, 200]

    def test_the_limit_can_fail_the_new_token_instead(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """token_limit_policy=fail: the request beyond the limit is refused, nothing is spent."""
        fake.oauth.configure(max_live_tokens=1, token_limit_policy="fail")
        first = link(http, fake)
        response = refresh(http, fake, first["refresh_token"])
        assert response.status_code == 400
        assert validate(http, first["access_token"]).status_code == 200
        fake.expire_tokens()
        assert refresh(http, fake, first["refresh_token"]).status_code == 200


def app_token(http: httpx.Client, fake: TwitchFakeState) -> str:
    response = http.post(
        "/oauth2/token",
        data={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "grant_type": "client_credentials",
        },
    )
    token: str = response.json()["access_token"]
    return token


class TestValidate:
    @pytest.mark.parametrize("scheme", ["OAuth", "Bearer"])
    def test_a_user_token_names_its_user_and_scopes(
        self, fake: TwitchFakeState, http: httpx.Client, clock: ManualClock, scheme: str
    ) -> None:
        """200 with client_id, login, scopes, user_id and the seconds left on the clock."""
        token = link(http, fake)["access_token"]
        clock.now += 400
        response = validate(http, token, scheme)
        assert response.status_code == 200
        assert response.json() == {
            "client_id": fake.client_id,
            "login": "cool_user",
            "scopes": ["user:read:email"],
            "user_id": "1337",
            "expires_in": 14_000,
        }

    def test_a_token_without_scopes_validates_with_null_scopes(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Linking needs no scope; such a token shows `scopes: null`."""
        token = link(http, fake, scope="-")["access_token"]
        assert validate(http, token).json()["scopes"] is None

    def test_an_app_token_has_no_user(self, fake: TwitchFakeState, http: httpx.Client) -> None:
        """App tokens validate with client_id, empty scopes and expires_in only."""
        body = validate(http, app_token(http, fake)).json()
        assert set(body) == {"client_id", "scopes", "expires_in"}

    def test_an_expired_token_gets_401(
        self, fake: TwitchFakeState, http: httpx.Client, clock: ManualClock
    ) -> None:
        """After expires_in seconds the token no longer validates."""
        token = link(http, fake)["access_token"]
        clock.now += 14_400
        response = validate(http, token)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "message": "invalid access token"}

    def test_a_missing_header_gets_401(self, fake: TwitchFakeState, http: httpx.Client) -> None:
        """No Authorization header at all: Twitch's "missing authorization token"."""
        response = http.get("/oauth2/validate")
        assert response.json() == {"status": 401, "message": "missing authorization token"}


class RevokeListener:
    """A webhook endpoint that records each delivery and whether its signature holds."""

    secret = "revoke-secret-0123"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        signed = (
            request.headers["Twitch-Eventsub-Message-Id"].encode()
            + request.headers["Twitch-Eventsub-Message-Timestamp"].encode()
            + raw
        )
        expected = "sha256=" + hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        self.received.append(
            {
                "headers": dict(request.headers),
                "body": json.loads(raw),
                "signature_ok": hmac.compare_digest(
                    expected, request.headers["Twitch-Eventsub-Message-Signature"]
                ),
            }
        )
        return Response(status_code=204)


@pytest.fixture
def listener() -> Iterator[tuple[str, RevokeListener]]:
    endpoint = RevokeListener()
    app = Starlette(routes=[Route("/eventsub", endpoint.handle, methods=["POST"])])
    with ServerThread(app) as server:
        yield f"{server.url}/eventsub", endpoint


def wait_for_deliveries(fake: TwitchFakeState, count: int) -> list[Delivery]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len(fake.deliveries) >= count:
            return list(fake.deliveries)
        time.sleep(0.01)
    raise AssertionError(f"expected {count} deliveries, got {fake.deliveries}")


class TestRevoke:
    def revoke(self, http: httpx.Client, client_id: str, token: str) -> httpx.Response:
        return http.post("/oauth2/revoke", data={"client_id": client_id, "token": token})

    def test_revoking_a_user_token_answers_200_empty_and_kills_it(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """By default only that access token dies; the refresh token and authorization stay."""
        first = link(http, fake)
        response = self.revoke(http, fake.client_id, first["access_token"])
        assert (response.status_code, response.content) == (200, b"")
        assert validate(http, first["access_token"]).status_code == 401
        assert refresh(http, fake, first["refresh_token"]).status_code == 200
        assert len(fake.oauth.authorizations()) == 1

    def test_bad_token_gets_400_and_unknown_client_404(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Twitch's documented revoke errors."""
        token = link(http, fake)["access_token"]
        bad = self.revoke(http, fake.client_id, "not-a-token")
        assert (bad.status_code, bad.json()) == (400, {"status": 400, "message": "Invalid token"})
        unknown = self.revoke(http, "nobody", token)
        assert unknown.status_code == 404
        assert unknown.json() == {"status": 404, "message": "client does not exist"}
        fake.add_client("otherclient", "othersecret0123")
        assert self.revoke(http, "otherclient", token).status_code == 400

    def test_revoking_can_drop_the_authorization_and_notify_signed(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        listener: tuple[str, RevokeListener],
    ) -> None:
        """Knob on: tokens and authorization go, and a signed user.authorization.revoke arrives."""
        url, endpoint = listener
        fake.oauth.configure(revoke_drops_authorization=True)
        sub = fake.add_subscription(
            "",
            type="user.authorization.revoke",
            condition={"client_id": fake.client_id},
            callback=url,
            secret=RevokeListener.secret,
            cost=0,
        )
        fake.add_subscription("1337", callback=url, secret=RevokeListener.secret)
        first = link(http, fake)
        assert self.revoke(http, fake.client_id, first["access_token"]).status_code == 200
        [delivery] = wait_for_deliveries(fake, 1)
        assert (delivery.subscription_id, delivery.status) == (sub.id, 204)
        assert refresh(http, fake, first["refresh_token"]).status_code == 400
        assert fake.oauth.authorizations() == []
        [received] = endpoint.received
        assert received["signature_ok"]
        headers = received["headers"]
        assert headers["twitch-eventsub-message-type"] == "notification"
        assert headers["twitch-eventsub-subscription-type"] == "user.authorization.revoke"
        assert headers["twitch-eventsub-subscription-version"] == "1"
        assert received["body"]["subscription"]["id"] == sub.id
        assert received["body"]["subscription"]["cost"] == 0
        assert received["body"]["event"] == {
            "client_id": fake.client_id,
            "user_id": "1337",
            "user_login": "cool_user",
            "user_name": "Cool_User",
        }

    def test_a_user_disconnecting_is_announced_through_the_control_api(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        listener: tuple[str, RevokeListener],
    ) -> None:
        """POST /_fake/oauth/authorizations/drop is the user removing the app in Twitch."""
        url, endpoint = listener
        fake.add_subscription(
            "",
            type="user.authorization.revoke",
            condition={"client_id": fake.client_id},
            callback=url,
            secret=RevokeListener.secret,
        )
        token = link(http, fake)["access_token"]
        drop = {"client_id": fake.client_id, "user_id": "1337"}
        assert http.post("/_fake/oauth/authorizations/drop", json=drop).status_code == 200
        wait_for_deliveries(fake, 1)
        assert endpoint.received[0]["signature_ok"]
        assert validate(http, token).status_code == 401
        assert http.post("/_fake/oauth/authorizations/drop", json=drop).status_code == 404
        [shown] = http.get("/_fake/deliveries").json()
        assert json.loads(shown["body"])["event"]["user_id"] == "1337"

    def test_app_tokens_are_revoked_as_before(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """An app token of the client is revoked; no event is involved."""
        token = app_token(http, fake)
        assert self.revoke(http, fake.client_id, token).status_code == 200
        assert validate(http, token).status_code == 401
        assert fake.deliveries == []


class TestHelixWithUserTokens:
    def test_get_users_without_params_returns_the_tokens_user(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """A user token and no id/login → exactly the user the token belongs to."""
        token = link(http, fake)["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Client-Id": fake.client_id}
        response = http.get("/helix/users", headers=headers)
        assert response.status_code == 200
        [user] = response.json()["data"]
        assert (user["id"], user["login"], user["display_name"]) == STREAMER

    def test_params_still_win_over_the_tokens_user(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """With `login` given, the user token is only authentication."""
        token = link(http, fake)["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Client-Id": fake.client_id}
        response = http.get("/helix/users", params={"login": "other_user"}, headers=headers)
        assert [u["id"] for u in response.json()["data"]] == ["4242"]

    def test_a_client_id_that_is_not_the_tokens_gets_401(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """The Client-Id header must be the client the user token was issued to."""
        fake.add_client("otherclient", "othersecret0123")
        token = link(http, fake)["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Client-Id": "otherclient"}
        response = http.get("/helix/users", headers=headers)
        assert response.status_code == 401
        assert response.json()["message"] == "Client ID and OAuth token do not match"

    def test_an_expired_user_token_gets_401(
        self, fake: TwitchFakeState, http: httpx.Client, clock: ManualClock
    ) -> None:
        """Helix refuses a user token past its lifetime."""
        token = link(http, fake)["access_token"]
        clock.now += 14_400
        headers = {"Authorization": f"Bearer {token}", "Client-Id": fake.client_id}
        assert http.get("/helix/users", headers=headers).status_code == 401

    def test_eventsub_subscriptions_need_an_app_token(
        self, fake: TwitchFakeState, http: httpx.Client
    ) -> None:
        """Webhook subscriptions cannot be listed or created with a user token (401)."""
        token = link(http, fake)["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Client-Id": fake.client_id}
        assert http.get("/helix/eventsub/subscriptions", headers=headers).status_code == 401


class TestLinkingAndCost:
    def test_linking_over_http_makes_the_streamers_subscriptions_free(
        self,
        fake: TwitchFakeState,
        http: httpx.Client,
        listener: tuple[str, RevokeListener],
    ) -> None:
        """Authorize → code → token; then stream.online costs 0 and the revoke event arrives."""
        url, endpoint = listener
        fake.configure(subscription_mode="enabled")
        link(http, fake)
        headers = {"Authorization": f"Bearer {app_token(http, fake)}", "Client-Id": fake.client_id}
        transport = {"method": "webhook", "callback": url, "secret": RevokeListener.secret}
        online = {
            "type": "stream.online",
            "version": "1",
            "condition": {"broadcaster_user_id": "1337"},
            "transport": transport,
        }
        created = http.post("/helix/eventsub/subscriptions", json=online, headers=headers)
        assert created.json()["data"][0]["cost"] == 0
        revoke = {
            "type": "user.authorization.revoke",
            "version": "1",
            "condition": {"client_id": fake.client_id},
            "transport": transport,
        }
        assert (
            http.post("/helix/eventsub/subscriptions", json=revoke, headers=headers).status_code
            == 202
        )
        drop = {"client_id": fake.client_id, "user_id": "1337"}
        assert http.post("/_fake/oauth/authorizations/drop", json=drop).status_code == 200
        wait_for_deliveries(fake, 1)
        assert endpoint.received[0]["signature_ok"]
        online["type"] = "stream.offline"
        again = http.post("/helix/eventsub/subscriptions", json=online, headers=headers)
        assert again.json()["data"][0]["cost"] == 1
