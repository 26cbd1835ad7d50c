"""A stateful fake of Twitch: OAuth, Helix streams/users, EventSub subscriptions.

Built to the facts in ``shared/reference/twitch.md`` (§3) and as strict as the real API where
our code could get it wrong: every Helix call needs a valid app token *and* the matching
`Client-Id`; multi-valued parameters repeat the key and are capped at 100; the subscription
list takes at most one filter; create validates type+version, condition, transport, callback
and secret; duplicates answer 409 and too many subscriptions for one type+condition 429 while
the rate-limit bucket still has points. Every Helix response carries `Ratelimit-Limit`,
`Ratelimit-Remaining` and `Ratelimit-Reset` from a token bucket per client id.

The user side of OAuth (authorize, code and refresh grants, user tokens, authorizations) lives
in `tests.fakes.twitch_oauth` (state, reachable as ``state.oauth``) and
`tests.fakes.twitch_oauth_routes` (handlers); signed webhook messages are built in
`tests.fakes.eventsub_delivery`. A subscription for a user who authorized the client costs 0.

Paths: OAuth under ``/oauth2`` and Helix under ``/helix``, so point the service at it with
``TWITCH_AUTH_URL=<url>/oauth2`` and ``TWITCH_API_URL=<url>/helix``.

Drive it from a test in the same process through `TwitchFakeState` (thread-safe: the server
runs in another thread), or from another process through the control API under ``/_fake``
(JSON; see `_control_routes`). Serve it with ``tests.fakes.server.ServerThread(create_app(state))``
or standalone: ``python -m tests.fakes.twitch_fake --port 8081``.

Choices where Twitch is silent or where a fake must differ:
- callbacks must be ``https`` on port 443, or ``http`` on 127.0.0.1/localhost (local testing);
- a create over `max_total_cost` answers 429 like the per-condition limit (Remaining > 0): the
  answer Twitch gives there is not documented; 429 in Helix's error shape is what Twitch uses
  for its other subscription limits (per type+condition, websocket transports: twurple#616);
- `total` in a list answer counts the subscriptions matching the filter;
- new subscriptions start `webhook_callback_verification_pending` (mode ``pending``), or
  `enabled` (mode ``enabled``), or (mode ``verify``) the fake POSTs a signed challenge to the
  callback like Twitch and turns them `enabled` or `webhook_callback_verification_failed`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import dataclasses
import functools
import itertools
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from tests.fakes import twitch_oauth_routes
from tests.fakes.control import control, json_body
from tests.fakes.eventsub_delivery import Delivery, post_message
from tests.fakes.eventsub_delivery import rfc3339 as _rfc3339
from tests.fakes.twitch_oauth import (
    ClientType,
    Identity,
    OAuthClient,
    OAuthConfig,
    TwitchOAuthState,
)
from tests.fakes.twitch_problem import TwitchProblemError as _ProblemError
from tests.fakes.twitch_problem import helix_error_body as _error_body

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "SUPPORTED_SUBSCRIPTIONS",
    "FakeConfig",
    "FakeStream",
    "FakeSubscription",
    "FakeUser",
    "FaultRule",
    "LoggedRequest",
    "RateStatus",
    "TwitchFakeState",
    "create_app",
]

DEFAULT_CLIENT_ID = "fakeclientid0123456789"
DEFAULT_CLIENT_SECRET = "fakeclientsecret0123456789"

#: (type, version) pairs the fake accepts on create.
SUPPORTED_SUBSCRIPTIONS = frozenset(
    {
        ("stream.online", "1"),
        ("stream.offline", "1"),
        ("channel.update", "2"),
        ("user.authorization.revoke", "1"),
    }
)
#: Types whose condition is ``{"client_id"}`` (the requesting client) and that cost 0.
CLIENT_CONDITION_TYPES = frozenset({"user.authorization.revoke"})
#: Statuses that count as "exists" (409 on duplicate) and against `total_cost`.
ACTIVE_STATUSES = frozenset({"enabled", "webhook_callback_verification_pending"})
PENDING = "webhook_callback_verification_pending"

SubscriptionMode = Literal["pending", "enabled", "verify"]
Clock = Callable[[], float]

_MAX_MULTI = 100  # ids / logins per request and items per page


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class FakeConfig:
    """Knobs of the fake; change them at run time with `TwitchFakeState.configure`."""

    token_expires_in: int = 5_011_271
    ratelimit_limit: int = 800
    ratelimit_window_s: float = 60.0
    max_total_cost: int = 10_000
    per_condition_limit: int = 3
    subscription_page_size: int = 100
    #: Streams per page never exceed this, whatever `first` asks (Twitch may return short pages).
    stream_page_limit: int = 100
    subscription_mode: SubscriptionMode = "pending"


@dataclass
class FakeStream:
    """A live stream; `hidden_for_calls` / `visible_at` make Helix lag behind EventSub."""

    user_id: str
    user_login: str
    user_name: str
    id: str
    game_id: str = ""
    game_name: str = ""
    type: str = "live"
    title: str = ""
    viewer_count: int = 0
    started_at: str = ""
    language: str = "en"
    thumbnail_url: str = ""
    tags: list[str] | None = field(default_factory=list)
    is_mature: bool = False
    hidden_for_calls: int = 0
    visible_at: float | None = None

    def to_helix(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "user_login": self.user_login,
            "user_name": self.user_name,
            "game_id": self.game_id,
            "game_name": self.game_name,
            "type": self.type,
            "title": self.title,
            "viewer_count": self.viewer_count,
            "started_at": self.started_at,
            "language": self.language,
            "thumbnail_url": self.thumbnail_url,
            "tag_ids": [],
            "tags": self.tags,
            "is_mature": self.is_mature,
        }


@dataclass
class FakeUser:
    id: str
    login: str
    display_name: str
    type: str = ""
    broadcaster_type: str = ""
    description: str = ""
    profile_image_url: str = ""
    offline_image_url: str = ""
    view_count: int = 0
    created_at: str = "2016-12-14T20:32:28Z"

    def to_helix(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FakeSubscription:
    """A subscription as the fake stores it (`secret` is never returned by Helix)."""

    id: str
    type: str
    version: str
    status: str
    condition: dict[str, str]
    callback: str
    secret: str
    created_at: str
    cost: int
    client_id: str
    seq: int

    def to_helix(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "version": self.version,
            "condition": dict(self.condition),
            "created_at": self.created_at,
            "transport": {"method": "webhook", "callback": self.callback},
            "cost": self.cost,
        }

    def to_control(self) -> dict[str, Any]:
        """Helix's view plus what only the fake knows (secret, owner, order)."""
        return {**self.to_helix(), "secret": self.secret, "client_id": self.client_id}


@dataclass(frozen=True)
class FaultRule:
    """A one-shot fault for the first request matching `method` and the `path` regex."""

    method: str
    path: re.Pattern[str]
    status: int | None
    body: Any
    delay_s: float
    headers: Mapping[str, str]

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.path.fullmatch(path) is not None

    def response(self) -> Response:
        status = self.status or HTTPStatus.INTERNAL_SERVER_ERROR
        headers = dict(self.headers)
        if isinstance(self.body, str):
            return PlainTextResponse(self.body, status_code=status, headers=headers)
        body = self.body if self.body is not None else _error_body(status, "injected fault")
        return JSONResponse(body, status_code=status, headers=headers)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    at: float

    @property
    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)


@dataclass(frozen=True)
class RateStatus:
    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "Ratelimit-Limit": str(self.limit),
            "Ratelimit-Remaining": str(self.remaining),
            "Ratelimit-Reset": str(self.reset),
        }


@dataclass
class _Token:
    client_id: str
    expires_at: float


@dataclass
class _Bucket:
    points: float
    updated: float


# --------------------------------------------------------------------------- state


class TwitchFakeState:
    """Everything the fake knows; every method is safe to call from any thread.

    Methods return copies: change stored objects only through the methods.
    """

    def __init__(
        self,
        config: FakeConfig | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: Iterable[str] = (),
        oauth_config: OAuthConfig | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = tuple(redirect_uris)
        self._initial_config = config or FakeConfig()
        self._clock = clock
        self._lock = threading.RLock()
        self.oauth = TwitchOAuthState(
            lock=self._lock, clock=clock, directory=self, config=oauth_config
        )
        self.reset()

    def reset(self) -> None:
        """Forget all data, tokens, faults and logs; restore the initial config and client."""
        with self._lock:
            self.config = self._initial_config
            self.oauth.reset([OAuthClient(self.client_id, self.client_secret, self.redirect_uris)])
            self._tokens: dict[str, _Token] = {}
            self._buckets: dict[str, _Bucket] = {}
            self._streams: dict[str, FakeStream] = {}
            self._users: dict[str, FakeUser] = {}
            self._subscriptions: dict[str, FakeSubscription] = {}
            self._faults: list[FaultRule] = []
            self._log: list[LoggedRequest] = []
            self._seq = itertools.count(1)
            self._stream_ids = itertools.count(40_000_000_001)
            self.tokens_issued = 0
            self.verifications: list[tuple[str, bool]] = []
            self.deliveries: list[Delivery] = []

    def now(self) -> float:
        return self._clock()

    def configure(self, **changes: Any) -> FakeConfig:
        """Change config fields (see `FakeConfig`); a new rate limit refills every bucket."""
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            if {"ratelimit_limit", "ratelimit_window_s"} & changes.keys():
                self._buckets.clear()
            return self.config

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uris: Iterable[str] = (),
        type: ClientType = "confidential",  # Twitch's field name
    ) -> None:
        """Register another application (its own tokens, bucket and subscriptions)."""
        self.oauth.add_client(client_id, client_secret, redirect_uris=redirect_uris, type=type)

    def knows_client(self, client_id: str) -> bool:
        return self.oauth.client(client_id) is not None

    # -- OAuth ----------------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str | None) -> tuple[str, int]:
        """Client-credentials grant → (token, expires_in); errors like id.twitch.tv."""
        self.oauth.check_client(client_id, client_secret)
        with self._lock:
            token = secrets.token_hex(15)
            expires_in = self.config.token_expires_in
            self._tokens[token] = _Token(client_id, self.now() + expires_in)
            self.tokens_issued += 1
            return token, expires_in

    def token_owner(self, token: str) -> tuple[str, int] | None:
        """(client id, seconds left) of a valid app or user access token, else None."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                user_token = self.oauth.access_token(token)
                if user_token is None:
                    return None
                return user_token.client_id, int(user_token.expires_at - self.now())
            left = record.expires_at - self.now()
            return (record.client_id, int(left)) if left > 0 else None

    def is_app_token(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def issued_tokens(self) -> list[str]:
        """Every token issued and not revoked, refresh tokens included (for leak checks)."""
        with self._lock:
            return [*self._tokens, *self.oauth.secrets()]

    def revoke_token(self, token: str) -> bool:
        with self._lock:
            return self._tokens.pop(token, None) is not None

    def revoke_app_token(self, client_id: str, token: str) -> bool:
        """Revoke `token` if it is an app token of `client_id`."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record.client_id != client_id:
                return False
            del self._tokens[token]
            return True

    def revoke_tokens(self) -> int:
        """Revoke every app and user access token (Helix then answers 401); returns how many."""
        with self._lock:
            count = len(self._tokens) + self.oauth.revoke_all_access_tokens()
            self._tokens.clear()
            return count

    def expire_tokens(self) -> int:
        """Make every app and user access token expired now; returns how many."""
        with self._lock:
            now = self.now()
            for record in self._tokens.values():
                record.expires_at = min(record.expires_at, now)
            return len(self._tokens) + self.oauth.expire_all_access_tokens()

    def authenticate(self, authorization: str | None, client_id: str | None) -> str:
        """The client id a Helix request acts for; `_ProblemError(401)` like Helix otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _ProblemError(HTTPStatus.UNAUTHORIZED, "OAuth token is missing")
        owner = self.token_owner(token.strip())
        if owner is None:
            raise _ProblemError(HTTPStatus.UNAUTHORIZED, "Invalid OAuth token")
        if not client_id:
            raise _ProblemError(HTTPStatus.UNAUTHORIZED, "Client-Id header required")
        if client_id != owner[0]:
            raise _ProblemError(HTTPStatus.UNAUTHORIZED, "Client ID and OAuth token do not match")
        return client_id

    # -- rate limit -----------------------------------------------------------------------

    def take_point(self, client_id: str) -> RateStatus:
        """Spend one point of the client's bucket if it has one."""
        with self._lock:
            bucket, now = self._refilled(client_id)
            allowed = bucket.points >= 1
            if allowed:
                bucket.points -= 1
            return self._rate_status(bucket, now, allowed)

    def peek_rate(self, client_id: str) -> RateStatus:
        with self._lock:
            bucket, now = self._refilled(client_id)
            return self._rate_status(bucket, now, bucket.points >= 1)

    def _refilled(self, client_id: str) -> tuple[_Bucket, float]:
        now = self.now()
        limit = self.config.ratelimit_limit
        bucket = self._buckets.setdefault(client_id, _Bucket(points=limit, updated=now))
        rate = limit / self.config.ratelimit_window_s
        bucket.points = min(limit, bucket.points + max(0.0, now - bucket.updated) * rate)
        bucket.updated = now
        return bucket, now

    def _rate_status(self, bucket: _Bucket, now: float, allowed: bool) -> RateStatus:
        limit = self.config.ratelimit_limit
        rate = limit / self.config.ratelimit_window_s
        return RateStatus(
            allowed=allowed,
            limit=limit,
            remaining=math.floor(bucket.points),
            reset=math.ceil(now + (limit - bucket.points) / rate),
        )

    # -- streams and users ----------------------------------------------------------------

    def add_stream(
        self,
        user_id: str,
        user_login: str | None = None,
        *,
        user_name: str | None = None,
        id: str | None = None,  # Helix's field name
        **fields: Any,
    ) -> FakeStream:
        """Put a stream live (replacing the user's previous one); `fields` as in `FakeStream`."""
        with self._lock:
            login = user_login or f"streamer{user_id}"
            stream = FakeStream(
                user_id=user_id,
                user_login=login,
                user_name=user_name or login,
                id=id or str(next(self._stream_ids)),
                **fields,
            )
            if not stream.started_at:
                stream.started_at = _rfc3339(self.now(), fraction=False)
            if not stream.thumbnail_url:
                stream.thumbnail_url = (
                    f"https://static-cdn.jtvnw.net/previews-ttv/live_user_{login}"
                    "-{width}x{height}.jpg"
                )
            self._streams[user_id] = stream
            return dataclasses.replace(stream)

    def update_stream(self, user_id: str, **changes: Any) -> FakeStream:
        with self._lock:
            stream = dataclasses.replace(self._streams[user_id], **changes)
            self._streams[user_id] = stream
            return dataclasses.replace(stream)

    def remove_stream(self, user_id: str) -> bool:
        """Take the user's stream offline."""
        with self._lock:
            return self._streams.pop(user_id, None) is not None

    def streams(self) -> list[FakeStream]:
        with self._lock:
            return [dataclasses.replace(s) for s in self._streams.values()]

    def query_streams(
        self, user_ids: list[str], logins: list[str], game_ids: list[str], live_only: bool
    ) -> list[dict[str, Any]]:
        """Streams Helix shows now, by viewers (a lagging stream spends one hidden call)."""
        logins = [login.lower() for login in logins]
        with self._lock:
            now = self.now()
            shown: list[FakeStream] = []
            for stream in self._streams.values():
                if (user_ids or logins) and not (
                    stream.user_id in user_ids or stream.user_login.lower() in logins
                ):
                    continue
                if game_ids and stream.game_id not in game_ids:
                    continue
                if live_only and stream.type != "live":
                    continue
                if stream.hidden_for_calls > 0:
                    stream.hidden_for_calls -= 1
                    continue
                if stream.visible_at is not None and now < stream.visible_at:
                    continue
                shown.append(stream)
            shown.sort(key=lambda s: (-s.viewer_count, s.user_id))
            return [s.to_helix() for s in shown]

    def add_user(
        self,
        id: str,  # Helix's field name
        login: str,
        *,
        display_name: str | None = None,
        **fields: Any,
    ) -> FakeUser:
        with self._lock:
            user = FakeUser(id=id, login=login, display_name=display_name or login, **fields)
            if not user.profile_image_url:
                user.profile_image_url = f"https://static-cdn.jtvnw.net/jtv_user_pictures/{login}-profile_image-300x300.png"
            self._users[id] = user
            return dataclasses.replace(user)

    def identity(self, user_id: str) -> Identity | None:
        """The user's id, login and display name (the OAuth side's view of a user)."""
        with self._lock:
            user = self._users.get(user_id)
            return Identity(user.id, user.login, user.display_name) if user else None

    def first_identity(self) -> Identity | None:
        """The first seeded user: who approves the authorize page unless configured otherwise."""
        with self._lock:
            first = next(iter(self._users), None)
            return self.identity(first) if first is not None else None

    def query_users(self, ids: list[str], logins: list[str]) -> list[dict[str, Any]]:
        wanted = {login.lower() for login in logins}
        with self._lock:
            return [
                u.to_helix()
                for u in self._users.values()
                if u.id in ids or u.login.lower() in wanted
            ]

    # -- EventSub subscriptions -----------------------------------------------------------

    def add_subscription(
        self,
        broadcaster_user_id: str,
        *,
        type: str = "stream.online",  # Twitch's field name
        version: str = "1",
        status: str = "enabled",
        callback: str = "https://example.com/webhooks/twitch",
        secret: str = "fake-eventsub-secret",  # noqa: S107 - a fixture value, not a credential
        cost: int = 1,
        client_id: str | None = None,
        condition: dict[str, str] | None = None,
    ) -> FakeSubscription:
        """Store a subscription directly, bypassing create's checks (for drift tests).

        `condition` replaces ``{"broadcaster_user_id": broadcaster_user_id}`` when given.
        """
        with self._lock:
            return dataclasses.replace(
                self._insert_subscription(
                    client_id=client_id or self.client_id,
                    type=type,
                    version=version,
                    status=status,
                    condition=condition or {"broadcaster_user_id": broadcaster_user_id},
                    callback=callback,
                    secret=secret,
                    cost=cost,
                )
            )

    def set_subscription_status(self, subscription_id: str, status: str) -> FakeSubscription:
        """E.g. `notification_failures_exceeded`; KeyError when unknown."""
        with self._lock:
            sub = self._subscriptions[subscription_id]
            sub.status = status
            return dataclasses.replace(sub)

    def subscription(self, subscription_id: str) -> FakeSubscription | None:
        with self._lock:
            sub = self._subscriptions.get(subscription_id)
            return dataclasses.replace(sub) if sub else None

    def subscriptions(self) -> list[FakeSubscription]:
        """All subscriptions, oldest first."""
        with self._lock:
            return [dataclasses.replace(s) for s in self._subscriptions.values()]

    def create_subscription(
        self,
        client_id: str,
        type: str,  # Twitch's field name
        version: str,
        condition: dict[str, str],
        callback: str,
        secret: str,
    ) -> tuple[FakeSubscription, dict[str, int]]:
        """Create as Helix does after request validation: 409 / 429 as `_ProblemError`."""
        with self._lock:
            same = [
                s
                for s in self._subscriptions.values()
                if s.client_id == client_id and s.type == type and s.condition == condition
            ]
            if any(s.status in ACTIVE_STATUSES for s in same):
                raise _ProblemError(HTTPStatus.CONFLICT, "subscription already exists")
            if len(same) >= self.config.per_condition_limit:
                raise _ProblemError(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    "maximum subscriptions with type and condition exceeded",
                )
            cost = self._cost(client_id, type, condition)
            if self._total_cost(client_id) + cost > self.config.max_total_cost:
                raise _ProblemError(HTTPStatus.TOO_MANY_REQUESTS, "subscription cost exceeds limit")
            status = "enabled" if self.config.subscription_mode == "enabled" else PENDING
            sub = self._insert_subscription(
                client_id=client_id,
                type=type,
                version=version,
                status=status,
                condition=dict(condition),
                callback=callback,
                secret=secret,
                cost=cost,
            )
            totals = {
                "total": sum(1 for s in self._subscriptions.values() if s.client_id == client_id),
                "total_cost": self._total_cost(client_id),
                "max_total_cost": self.config.max_total_cost,
            }
            return dataclasses.replace(sub), totals

    def list_subscriptions(
        self, client_id: str, flt: tuple[str, str] | None, after_seq: int
    ) -> tuple[list[FakeSubscription], dict[str, int], int | None]:
        """One page (oldest first) after `after_seq`, the totals, and the next cursor's seq."""
        with self._lock:
            matching = [
                s
                for s in self._subscriptions.values()
                if s.client_id == client_id and _matches(s, flt)
            ]
            rest = [s for s in matching if s.seq > after_seq]
            page = rest[: self.config.subscription_page_size]
            next_seq = page[-1].seq if len(rest) > len(page) else None
            totals = {
                "total": len(matching),
                "total_cost": self._total_cost(client_id),
                "max_total_cost": self.config.max_total_cost,
            }
            return [dataclasses.replace(s) for s in page], totals, next_seq

    def delete_subscription(self, client_id: str, subscription_id: str) -> bool:
        with self._lock:
            sub = self._subscriptions.get(subscription_id)
            if sub is None or sub.client_id != client_id:
                return False
            del self._subscriptions[subscription_id]
            return True

    def finish_verification(self, subscription_id: str, ok: bool) -> None:
        """Record a challenge's outcome; a still-pending subscription becomes enabled/failed."""
        with self._lock:
            self.verifications.append((subscription_id, ok))
            sub = self._subscriptions.get(subscription_id)
            if sub is not None and sub.status == PENDING:
                sub.status = "enabled" if ok else "webhook_callback_verification_failed"

    def _insert_subscription(self, **values: Any) -> FakeSubscription:
        sub = FakeSubscription(
            id=str(uuid.uuid4()),
            created_at=_rfc3339(self.now()),
            seq=next(self._seq),
            **values,
        )
        self._subscriptions[sub.id] = sub
        return sub

    def authorization_subscribers(self, client_id: str, type: str) -> list[FakeSubscription]:
        """Enabled subscriptions of `client_id` to `type` whose condition names that client."""
        with self._lock:
            return [
                dataclasses.replace(s)
                for s in self._subscriptions.values()
                if s.client_id == client_id
                and s.type == type
                and s.status == "enabled"
                and s.condition == {"client_id": client_id}
            ]

    def record_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def _cost(self, client_id: str, type: str, condition: dict[str, str]) -> int:
        """0 for client-wide types and for a broadcaster who authorized the client, else 1.

        The cost is fixed at creation; whether Twitch re-costs existing subscriptions after a
        later grant or revoke is unconfirmed, so the fake does not.
        """
        if type in CLIENT_CONDITION_TYPES:
            return 0
        broadcaster = condition.get("broadcaster_user_id", "")
        return 0 if self.oauth.authorized(client_id, broadcaster) else 1

    def _total_cost(self, client_id: str) -> int:
        return sum(
            s.cost
            for s in self._subscriptions.values()
            if s.client_id == client_id and s.status in ACTIVE_STATUSES
        )

    # -- faults and request log -----------------------------------------------------------

    def add_fault(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        body: Any = None,
        delay_s: float = 0.0,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Queue `times` one-shot faults for requests matching `method` (or "*") and `path`.

        `path` is a regex matched against the whole path. The matching request first waits
        `delay_s`, then gets `status` with `body` (default: a Twitch error body); with
        `status=None` it is served normally after the delay (a slow answer, for timeouts).
        Rules are consumed first in, first out.
        """
        rule = FaultRule(
            method=method.upper(),
            path=re.compile(path),
            status=status,
            body=body,
            delay_s=delay_s,
            headers=dict(headers or {}),
        )
        with self._lock:
            self._faults.extend([rule] * times)

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for index, rule in enumerate(self._faults):
                if rule.matches(method, path):
                    return self._faults.pop(index)
            return None

    def record(self, method: str, path: str, query: str, status: int) -> None:
        with self._lock:
            self._log.append(LoggedRequest(method, path, query, status, self.now()))

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests (control API excluded), optionally by method and exact path."""
        with self._lock:
            return [
                r
                for r in self._log
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.requests(method, path))


def _matches(sub: FakeSubscription, flt: tuple[str, str] | None) -> bool:
    if flt is None:
        return True
    name, value = flt
    if name == "status":
        return sub.status == value
    if name == "type":
        return sub.type == value
    if name == "user_id":
        return value in sub.condition.values()
    if name == "subscription_id":
        return sub.id == value
    return False  # conduit_id: the fake has no conduits


# --------------------------------------------------------------------------- helpers


def _encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"c": value}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded))["c"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "Invalid value for parameter after") from exc
    if not isinstance(value, int) or value < 0:
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "Invalid value for parameter after")
    return value


def _first(request: Request, default: int) -> int:
    raw = request.query_params.get("first")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_MULTI:
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "Invalid value for parameter first")
    return int(raw)


def _multi(request: Request, name: str) -> list[str]:
    values = request.query_params.getlist(name)
    if len(values) > _MAX_MULTI:
        raise _ProblemError(
            HTTPStatus.BAD_REQUEST, f"The parameter {name} may be specified at most 100 times"
        )
    return values


def _valid_callback(callback: object) -> bool:
    if not isinstance(callback, str):
        return False
    try:
        parts = urlsplit(callback)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(parts.hostname) and port in (None, 443)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")


def _valid_secret(secret: object) -> bool:
    return isinstance(secret, str) and secret.isascii() and 10 <= len(secret) <= 100


# --------------------------------------------------------------------------- Helix handlers


async def _get_streams(request: Request, state: TwitchFakeState, _client_id: str) -> Response:
    user_ids = _multi(request, "user_id")
    logins = _multi(request, "user_login")
    game_ids = _multi(request, "game_id")
    stream_type = request.query_params.get("type", "all")
    if stream_type not in ("all", "live"):
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "Invalid value for parameter type")
    first = min(_first(request, default=20), state.config.stream_page_limit)
    offset = _decode_cursor(request.query_params.get("after"))
    shown = state.query_streams(user_ids, logins, game_ids, live_only=stream_type == "live")
    page = shown[offset : offset + first]
    more = offset + first < len(shown)
    pagination = {"cursor": _encode_cursor(offset + first)} if more else {}
    return JSONResponse({"data": page, "pagination": pagination})


async def _get_users(request: Request, state: TwitchFakeState, _client_id: str) -> Response:
    """By repeated `id`/`login`; with a user token and neither, the token's own user."""
    ids = request.query_params.getlist("id")
    logins = request.query_params.getlist("login")
    if len(ids) + len(logins) > _MAX_MULTI:
        raise _ProblemError(
            HTTPStatus.BAD_REQUEST, "The sum of id and login parameters exceeds 100"
        )
    if not ids and not logins:
        user_token = state.oauth.access_token(_bearer(request))
        if user_token is None:
            raise _ProblemError(HTTPStatus.BAD_REQUEST, "Must provide an ID, Login or OAuth Token")
        ids = [user_token.user_id]
    return JSONResponse({"data": state.query_users(ids, logins)})


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def _app_token_only(handler: HelixHandler) -> HelixHandler:
    """EventSub webhook subscriptions need an app token: a user token gets 401."""

    async def guarded(request: Request, state: TwitchFakeState, client_id: str) -> Response:
        if not state.is_app_token(_bearer(request)):
            raise _ProblemError(
                HTTPStatus.UNAUTHORIZED, "An app access token is required for webhook transports"
            )
        return await handler(request, state, client_id)

    return guarded


async def _list_subscriptions(request: Request, state: TwitchFakeState, client_id: str) -> Response:
    filters = [
        (name, value)
        for name in ("status", "type", "user_id", "subscription_id", "conduit_id")
        if (value := request.query_params.get(name))
    ]
    if len(filters) > 1:
        raise _ProblemError(
            HTTPStatus.BAD_REQUEST, "Only one filter query parameter can be specified"
        )
    after = _decode_cursor(request.query_params.get("after"))
    page, totals, next_seq = state.list_subscriptions(
        client_id, filters[0] if filters else None, after
    )
    pagination = {"cursor": _encode_cursor(next_seq)} if next_seq is not None else {}
    return JSONResponse({"data": [s.to_helix() for s in page], **totals, "pagination": pagination})


def _creation_request(body: object, client_id: str) -> tuple[str, str, dict[str, str], str, str]:
    """Validate a create body like Helix; (type, version, condition, callback, secret)."""
    if not isinstance(body, dict):
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "The request body is not a JSON object")
    sub_type, version = body.get("type"), body.get("version")
    if not isinstance(sub_type, str) or not isinstance(version, str):
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "The type and version fields are required")
    if (sub_type, version) not in SUPPORTED_SUBSCRIPTIONS:
        raise _ProblemError(
            HTTPStatus.BAD_REQUEST, "The combination of type and version is not valid"
        )
    condition = _condition(body.get("condition"), sub_type, client_id)
    transport = body.get("transport")
    if not isinstance(transport, dict) or transport.get("method") != "webhook":
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "The transport method is not valid")
    callback, secret = transport.get("callback"), transport.get("secret")
    if not _valid_callback(callback):
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "The callback must use HTTPS and port 443")
    if not _valid_secret(secret):
        raise _ProblemError(
            HTTPStatus.BAD_REQUEST, "The length of the string in the secret field is not valid"
        )
    assert isinstance(callback, str)  # narrowed by the checks above, for the type checker
    assert isinstance(secret, str)
    return sub_type, version, condition, callback, secret


def _condition(condition: object, sub_type: str, client_id: str) -> dict[str, str]:
    """The one condition field a type takes; a client condition must name the caller."""
    if sub_type in CLIENT_CONDITION_TYPES:
        named = condition.get("client_id") if isinstance(condition, dict) else None
        if named != client_id:
            raise _ProblemError(HTTPStatus.BAD_REQUEST, "The condition field is not valid")
        return {"client_id": client_id}
    broadcaster = condition.get("broadcaster_user_id") if isinstance(condition, dict) else None
    if not isinstance(broadcaster, str) or not broadcaster.isdigit():
        raise _ProblemError(HTTPStatus.BAD_REQUEST, "The condition field is not valid")
    return {"broadcaster_user_id": broadcaster}


def _create_subscription_handler(
    background: set[asyncio.Task[None]],
) -> Callable[[Request, TwitchFakeState, str], Awaitable[Response]]:
    async def create(request: Request, state: TwitchFakeState, client_id: str) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise _ProblemError(HTTPStatus.BAD_REQUEST, "Content-Type must be application/json")
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise _ProblemError(
                HTTPStatus.BAD_REQUEST, "The request body is not valid JSON"
            ) from exc
        sub, totals = state.create_subscription(client_id, *_creation_request(body, client_id))
        if state.config.subscription_mode == "verify":
            task = asyncio.get_running_loop().create_task(_send_challenge(state, sub))
            background.add(task)
            task.add_done_callback(background.discard)
        return JSONResponse({"data": [sub.to_helix()], **totals}, status_code=HTTPStatus.ACCEPTED)

    return create


async def _delete_subscription(
    request: Request, state: TwitchFakeState, client_id: str
) -> Response:
    subscription_id = request.query_params.get("id")
    if not subscription_id:
        raise _ProblemError(HTTPStatus.BAD_REQUEST, 'Missing required parameter "id"')
    if not state.delete_subscription(client_id, subscription_id):
        raise _ProblemError(HTTPStatus.NOT_FOUND, "subscription not found")
    return Response(status_code=HTTPStatus.NO_CONTENT)


async def _send_challenge(state: TwitchFakeState, sub: FakeSubscription) -> None:
    """POST a signed `webhook_callback_verification` like Twitch; enable on a correct echo."""
    challenge = str(uuid.uuid4())
    shown = sub.to_helix()
    delivery = await post_message(
        callback=sub.callback,
        secret=sub.secret,
        message_type="webhook_callback_verification",
        subscription=shown,
        payload={"challenge": challenge, "subscription": shown},
        now=state.now(),
    )
    state.finish_verification(
        sub.id, delivery.status == HTTPStatus.OK and delivery.answer == challenge.encode()
    )


# --------------------------------------------------------------------------- endpoint wrappers

OAuthHandler = Callable[[Request, TwitchFakeState], Awaitable[Response]]
HelixHandler = Callable[[Request, TwitchFakeState, str], Awaitable[Response]]


async def _serve_helix(request: Request, state: TwitchFakeState, handler: HelixHandler) -> Response:
    claimed = request.headers.get("client-id")
    try:
        client_id = state.authenticate(request.headers.get("authorization"), claimed)
    except _ProblemError as problem:
        response: Response = JSONResponse(
            _error_body(problem.status, problem.message), problem.status
        )
        if claimed is not None and state.knows_client(claimed):
            response.headers.update(state.peek_rate(claimed).headers())
        return response
    rate = state.take_point(client_id)
    if not rate.allowed:
        return JSONResponse(
            _error_body(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests"),
            HTTPStatus.TOO_MANY_REQUESTS,
            headers=rate.headers(),
        )
    try:
        response = await handler(request, state, client_id)
    except _ProblemError as problem:
        response = JSONResponse(_error_body(problem.status, problem.message), problem.status)
    response.headers.update(rate.headers())
    return response


def _endpoint(
    state: TwitchFakeState,
    serve: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Apply fault injection and the request log around `serve`."""

    async def endpoint(request: Request) -> Response:
        method, path = request.method, request.url.path
        fault = state.take_fault(method, path)
        response: Response | None = None
        if fault is not None:
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            if fault.status is not None:
                response = fault.response()
        if response is None:
            response = await serve(request)
        state.record(method, path, request.url.query, response.status_code)
        return response

    return endpoint


def _oauth(
    state: TwitchFakeState, handler: OAuthHandler
) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        try:
            return await handler(request, state)
        except _ProblemError as problem:  # id.twitch.tv errors: {"status", "message"}
            return JSONResponse(problem.oauth_body(), problem.status)

    return _endpoint(state, serve)


def _helix(
    state: TwitchFakeState, handler: HelixHandler
) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        return await _serve_helix(request, state, handler)

    return _endpoint(state, serve)


# --------------------------------------------------------------------------- control API


def _control_routes(state: TwitchFakeState, background: set[asyncio.Task[None]]) -> list[BaseRoute]:
    """``/_fake`` — the same operations as `TwitchFakeState`, as JSON over HTTP:

    POST /reset · POST /config {FakeConfig fields} · GET|POST /streams {FakeStream fields} ·
    PATCH|DELETE /streams/{user_id} · POST /users {FakeUser fields} · GET|POST /subscriptions
    (POST: add_subscription's arguments) · PATCH /subscriptions/{id} {"status"} ·
    POST /faults (add_fault's arguments) · POST /tokens/revoke · POST /tokens/expire ·
    GET /requests · GET /deliveries · /oauth/… (see `twitch_oauth_routes.control_routes`).
    """

    body = json_body

    async def reset(_request: Request) -> None:
        state.reset()

    async def configure(request: Request) -> dict[str, Any]:
        return dataclasses.asdict(state.configure(**await body(request)))

    async def list_streams(_request: Request) -> list[dict[str, Any]]:
        return [dataclasses.asdict(s) for s in state.streams()]

    async def add_stream(request: Request) -> dict[str, Any]:
        return dataclasses.asdict(state.add_stream(**await body(request)))

    async def update_stream(request: Request) -> dict[str, Any]:
        changes = await body(request)
        return dataclasses.asdict(state.update_stream(request.path_params["user_id"], **changes))

    async def remove_stream(request: Request) -> None:
        if not state.remove_stream(request.path_params["user_id"]):
            raise _ProblemError(HTTPStatus.NOT_FOUND, "no such stream")

    async def add_user(request: Request) -> dict[str, Any]:
        return state.add_user(**await body(request)).to_helix()

    async def list_subs(_request: Request) -> list[dict[str, Any]]:
        return [s.to_control() for s in state.subscriptions()]

    async def add_sub(request: Request) -> dict[str, Any]:
        return state.add_subscription(**await body(request)).to_control()

    async def patch_sub(request: Request) -> dict[str, Any]:
        status = (await body(request))["status"]
        return state.set_subscription_status(request.path_params["id"], status).to_control()

    async def add_fault(request: Request) -> None:
        values = await body(request)
        state.add_fault(values.pop("method"), values.pop("path"), **values)

    async def revoke(_request: Request) -> dict[str, int]:
        return {"revoked": state.revoke_tokens()}

    async def expire(_request: Request) -> dict[str, int]:
        return {"expired": state.expire_tokens()}

    async def logged(_request: Request) -> list[dict[str, Any]]:
        return [dataclasses.asdict(r) for r in state.requests()]

    async def deliveries(_request: Request) -> list[dict[str, Any]]:
        return [
            {**dataclasses.asdict(d), "body": d.body.decode(), "answer": d.answer.decode()}
            for d in list(state.deliveries)
        ]

    return [
        Route("/reset", control(reset), methods=["POST"]),
        Route("/config", control(configure), methods=["POST"]),
        Route("/streams", control(list_streams), methods=["GET"]),
        Route("/streams", control(add_stream, HTTPStatus.CREATED), methods=["POST"]),
        Route("/streams/{user_id}", control(update_stream), methods=["PATCH"]),
        Route("/streams/{user_id}", control(remove_stream), methods=["DELETE"]),
        Route("/users", control(add_user, HTTPStatus.CREATED), methods=["POST"]),
        Route("/subscriptions", control(list_subs), methods=["GET"]),
        Route("/subscriptions", control(add_sub, HTTPStatus.CREATED), methods=["POST"]),
        Route("/subscriptions/{id}", control(patch_sub), methods=["PATCH"]),
        Route("/faults", control(add_fault), methods=["POST"]),
        Route("/tokens/revoke", control(revoke), methods=["POST"]),
        Route("/tokens/expire", control(expire), methods=["POST"]),
        Route("/requests", control(logged), methods=["GET"]),
        Route("/deliveries", control(deliveries), methods=["GET"]),
        Mount("/oauth", routes=twitch_oauth_routes.control_routes(state, background)),
    ]


# --------------------------------------------------------------------------- app


def create_app(state: TwitchFakeState | None = None) -> Starlette:
    """The fake as an ASGI app; its state is `app.state.fake`."""
    state = state or TwitchFakeState()
    background: set[asyncio.Task[None]] = set()
    subscriptions = "/helix/eventsub/subscriptions"
    app = Starlette(
        routes=[
            Route(
                "/oauth2/authorize",
                _endpoint(state, functools.partial(twitch_oauth_routes.authorize, state=state)),
                methods=["GET"],
            ),
            Route("/oauth2/token", _oauth(state, twitch_oauth_routes.token), methods=["POST"]),
            Route("/oauth2/validate", _oauth(state, twitch_oauth_routes.validate), methods=["GET"]),
            Route(
                "/oauth2/revoke",
                _oauth(state, twitch_oauth_routes.revoke_handler(background)),
                methods=["POST"],
            ),
            Route("/helix/streams", _helix(state, _get_streams), methods=["GET"]),
            Route("/helix/users", _helix(state, _get_users), methods=["GET"]),
            Route(
                subscriptions,
                _helix(state, _app_token_only(_list_subscriptions)),
                methods=["GET"],
            ),
            Route(
                subscriptions,
                _helix(state, _app_token_only(_create_subscription_handler(background))),
                methods=["POST"],
            ),
            Route(
                subscriptions,
                _helix(state, _app_token_only(_delete_subscription)),
                methods=["DELETE"],
            ),
            Mount("/_fake", routes=_control_routes(state, background)),
        ]
    )
    app.state.fake = state
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Twitch API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument(
        "--subscription-mode", choices=["pending", "enabled", "verify"], default="pending"
    )
    args = parser.parse_args(argv)
    state = TwitchFakeState(
        FakeConfig(subscription_mode=args.subscription_mode),
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
