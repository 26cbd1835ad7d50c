"""The user side of the fake id.twitch.tv: clients, consent, codes, user tokens, authorizations.

State only (the HTTP handlers are in `tests.fakes.twitch_oauth_routes`). It shares the lock and
the clock of `TwitchFakeState`, which owns it as ``state.oauth``. Facts it is built to:

- authorize: an unknown client gets a 400 page; a ``redirect_uri`` that is not exactly a
  registered one sends the browser to the *first* registered URI with ``redirect_mismatch`` and no
  ``state``; consent is a knob (approve as a seeded user, or deny with ``access_denied``); no
  PKCE (a ``code_challenge`` is ignored); ``force_verify`` is recorded;
- the token endpoint answers ``{"status", "message"}``, never RFC 6749 ``error`` codes; codes are
  single-use and expire (a replayed code also revokes what it issued, as RFC 6749 §4.1.2 asks);
  user tokens last 14,400 s; refresh rotates the refresh token (knob); at most 50 live access
  tokens per (client, user): the 51st revokes the oldest (observed) or fails (knob);
- an authorization per (client, user) is what makes EventSub subscriptions for that user cost 0.

Where Twitch is silent the choice is marked *unconfirmed* next to the code.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import itertools
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from tests.fakes.twitch_problem import TwitchProblemError

__all__ = [
    "Authorization",
    "AuthorizeRecord",
    "DroppedAuthorization",
    "Identity",
    "OAuthClient",
    "OAuthConfig",
    "TokenGrant",
    "TwitchOAuthState",
    "UserDirectory",
    "UserToken",
]

ClientType = Literal["confidential", "public"]
Consent = Literal["approve", "deny"]
TokenLimitPolicy = Literal["revoke_oldest", "fail"]
Clock = Callable[[], float]

_ALPHABET = string.ascii_lowercase + string.digits
REDIRECT_MISMATCH = "Parameter redirect_uri does not match registered URI"
INVALID_CODE = "Invalid authorization code"
INVALID_REFRESH = "Invalid refresh token"
ACCESS_DENIED = "The user denied you access"


@dataclass(frozen=True)
class OAuthConfig:
    """Knobs of the user-OAuth side; change them with `TwitchOAuthState.configure`."""

    consent: Consent = "approve"
    #: Who is signed in at the authorize page; None means the first seeded user.
    signed_in_user: str | None = None
    #: Code lifetime (unconfirmed for Twitch; RFC 6749 §4.1.2 recommends at most 10 minutes).
    code_ttl_s: float = 600.0
    user_token_expires_in: int = 14_400
    #: Refresh returns a new refresh token and the old one stops working.
    rotate_refresh_tokens: bool = True
    max_live_tokens: int = 50
    token_limit_policy: TokenLimitPolicy = "revoke_oldest"
    #: `POST /oauth2/revoke` of a user token also drops the authorization (and every token of
    #: it) and emits `user.authorization.revoke`; otherwise only that access token dies.
    revoke_drops_authorization: bool = False
    #: Whether an authorization without scopes makes subscriptions for that user cost 0.
    zero_scope_counts: bool = False
    #: Refresh tokens carry ``+`` and ``/``, so a client that does not form-encode them fails.
    refresh_token_special_chars: bool = False


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    type: ClientType = "confidential"  # Twitch's field name


@dataclass(frozen=True)
class Identity:
    user_id: str
    login: str
    display_name: str


class UserDirectory(Protocol):
    """The fake's users, as the OAuth side needs them."""

    def identity(self, user_id: str) -> Identity | None: ...

    def first_identity(self) -> Identity | None: ...


@dataclass(frozen=True)
class AuthorizeRecord:
    """One visit to the authorize page and how it ended (`outcome`: code or error code)."""

    client_id: str
    redirect_uri: str | None
    scopes: tuple[str, ...]
    state: str | None
    force_verify: bool
    outcome: str
    user_id: str | None
    #: The consent screen would have been shown (force_verify, first time, or new scopes).
    prompted: bool
    location: str


@dataclass(frozen=True)
class Authorization:
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    granted_at: float


@dataclass(frozen=True)
class DroppedAuthorization:
    """What a `user.authorization.revoke` event needs about the user (None: user unknown)."""

    client_id: str
    user_id: str
    user_login: str | None
    user_name: str | None


@dataclass(frozen=True)
class UserToken:
    token: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": list(self.scopes),
            "token_type": "bearer",
        }


@dataclass
class _Code:
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    redirect_uri: str
    created_at: float
    used: bool = False
    issued: list[str] = field(default_factory=list)  # access and refresh tokens it produced


@dataclass
class _Refresh:
    client_id: str
    user_id: str
    scopes: tuple[str, ...]


class TwitchOAuthState:
    """Clients, consent, codes, user tokens and authorizations; thread-safe via the shared lock."""

    def __init__(
        self,
        *,
        lock: threading.RLock,
        clock: Clock,
        directory: UserDirectory,
        config: OAuthConfig | None = None,
    ) -> None:
        self._lock = lock
        self._clock = clock
        self._directory = directory
        self._initial_config = config or OAuthConfig()
        self.reset(())

    def reset(self, clients: Iterable[OAuthClient]) -> None:
        """Forget everything but `clients`; restore the initial config."""
        with self._lock:
            self.config = self._initial_config
            self._clients = {c.client_id: c for c in clients}
            self._codes: dict[str, _Code] = {}
            self._access: dict[str, UserToken] = {}  # insertion order = issue order
            self._refresh: dict[str, _Refresh] = {}
            self._authorizations: dict[tuple[str, str], Authorization] = {}
            self._authorize_log: list[AuthorizeRecord] = []
            self._seq = itertools.count(1)

    def configure(self, **changes: Any) -> OAuthConfig:
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            return self.config

    # -- clients ---------------------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uris: Iterable[str] = (),
        type: ClientType = "confidential",  # Twitch's field name
    ) -> OAuthClient:
        """Register (or replace) an application; `redirect_uris` in console order."""
        client = OAuthClient(client_id, client_secret, tuple(redirect_uris), type)
        with self._lock:
            self._clients[client_id] = client
        return client

    def set_redirect_uris(self, client_id: str, redirect_uris: Iterable[str]) -> OAuthClient:
        with self._lock:
            client = dataclasses.replace(
                self._clients[client_id], redirect_uris=tuple(redirect_uris)
            )
            self._clients[client_id] = client
            return client

    def client(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def check_client(
        self, client_id: str, client_secret: str | None, *, secret_optional: bool = False
    ) -> OAuthClient:
        """The client, after id.twitch.tv's checks: unknown → 400, no secret → 400, wrong → 403.

        The messages for an unknown client and a wrong secret are unconfirmed; "missing client
        secret" is observed (twi#943). `secret_optional` lets a public client omit its secret.
        """
        client = self.client(client_id)
        if client is None:
            raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "invalid client")
        if not client_secret:
            if secret_optional and client.type == "public":
                return client
            raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "missing client secret")
        if not hmac.compare_digest(client.client_secret, client_secret):
            raise TwitchProblemError(HTTPStatus.FORBIDDEN, "invalid client secret")
        return client

    # -- authorize -------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> str:
        """Where the authorize page sends the browser; `TwitchProblemError(400)` means a page."""
        client = self.client(params.get("client_id", ""))
        if client is None or not client.redirect_uris:
            raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "invalid client")
        redirect_uri = params.get("redirect_uri")
        scopes = tuple(params.get("scope", "").split())
        state = params.get("state")
        force_verify = params.get("force_verify", "").lower() == "true"
        visit = functools.partial(
            AuthorizeRecord, client.client_id, redirect_uri, scopes, state, force_verify
        )
        with self._lock:
            if redirect_uri is None or redirect_uri not in client.redirect_uris:
                pairs = [("error", "redirect_mismatch"), ("error_description", REDIRECT_MISMATCH)]
                location = _with_query(client.redirect_uris[0], pairs)  # twi#762: no state
                return self._log(visit("redirect_mismatch", None, False, location))
            back = functools.partial(_with_query, redirect_uri)
            if params.get("response_type") != "code":
                # Twitch's answer to other response types is unconfirmed; RFC 6749 §4.1.2.1.
                error = "unsupported_response_type"
                pairs = [("error", error), ("error_description", "Unsupported response type")]
                return self._log(visit(error, None, False, back(pairs + _state_pair(state))))
            user = self._signed_in_user()
            if user is None:
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "no user is signed in to the fake")
            existing = self._authorizations.get((client.client_id, user.user_id))
            prompted = visit.args[-1] or existing is None or not set(scopes) <= set(existing.scopes)
            if self.config.consent == "deny":
                pairs = [("error", "access_denied"), ("error_description", ACCESS_DENIED)]
                location = back(pairs + _state_pair(state))
                return self._log(visit("access_denied", None, prompted, location))
            code = _random(30)
            self._codes[code] = _Code(
                client.client_id, user.user_id, scopes, redirect_uri, self._clock()
            )
            self.grant(client.client_id, user.user_id, scopes)
            location = back([("code", code), ("scope", " ".join(scopes)), *_state_pair(state)])
            return self._log(visit("code", user.user_id, prompted, location))

    def authorize_requests(self) -> list[AuthorizeRecord]:
        with self._lock:
            return list(self._authorize_log)

    def _signed_in_user(self) -> Identity | None:
        chosen = self.config.signed_in_user
        if chosen is None:
            return self._directory.first_identity()
        return self._directory.identity(chosen)

    def _log(self, record: AuthorizeRecord) -> str:
        self._authorize_log.append(record)
        return record.location

    # -- authorizations --------------------------------------------------------------------

    def grant(self, client_id: str, user_id: str, scopes: Iterable[str] = ()) -> Authorization:
        """Record that the user authorized the client (scopes add up over consents)."""
        with self._lock:
            existing = self._authorizations.get((client_id, user_id))
            merged = tuple(dict.fromkeys([*(existing.scopes if existing else ()), *scopes]))
            granted_at = existing.granted_at if existing else self._clock()
            authorization = Authorization(client_id, user_id, merged, granted_at)
            self._authorizations[(client_id, user_id)] = authorization
            return authorization

    def authorizations(self) -> list[Authorization]:
        with self._lock:
            return list(self._authorizations.values())

    def authorized(self, client_id: str, user_id: str) -> bool:
        """Whether the user's authorization of the client makes its subscriptions cost 0."""
        with self._lock:
            authorization = self._authorizations.get((client_id, user_id))
            if authorization is None:
                return False
            return bool(authorization.scopes) or self.config.zero_scope_counts

    def drop_authorization(self, client_id: str, user_id: str) -> DroppedAuthorization | None:
        """The user disconnects the app: the authorization and all its tokens go."""
        with self._lock:
            if self._authorizations.pop((client_id, user_id), None) is None:
                return None
            for token, record in list(self._access.items()):
                if (record.client_id, record.user_id) == (client_id, user_id):
                    del self._access[token]
            for token, refresh in list(self._refresh.items()):
                if (refresh.client_id, refresh.user_id) == (client_id, user_id):
                    del self._refresh[token]
            user = self._directory.identity(user_id)
            return DroppedAuthorization(
                client_id,
                user_id,
                user.login if user else None,
                user.display_name if user else None,
            )

    # -- token endpoint --------------------------------------------------------------------

    def exchange_code(
        self, client_id: str, client_secret: str | None, code: str, redirect_uri: str | None
    ) -> TokenGrant:
        """``grant_type=authorization_code``; the code is spent before the answer."""
        self.check_client(client_id, client_secret)
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.client_id != client_id:
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, INVALID_CODE)
            if record.used:
                for token in record.issued:  # a replayed code revokes what it issued
                    self._access.pop(token, None)
                    self._refresh.pop(token, None)
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, INVALID_CODE)
            if self._clock() - record.created_at >= self.config.code_ttl_s:
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, INVALID_CODE)
            if redirect_uri != record.redirect_uri:
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, REDIRECT_MISMATCH)
            record.used = True
            grant = self._issue(client_id, record.user_id, record.scopes, refresh_token=None)
            record.issued += [grant.access_token, grant.refresh_token]
            return grant

    def refresh(self, client_id: str, client_secret: str | None, refresh_token: str) -> TokenGrant:
        """``grant_type=refresh_token``; a public client may omit its secret."""
        self.check_client(client_id, client_secret, secret_optional=True)
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None or record.client_id != client_id:
                raise TwitchProblemError(
                    HTTPStatus.BAD_REQUEST, INVALID_REFRESH, with_error_key=True
                )
            keep = None if self.config.rotate_refresh_tokens else refresh_token
            if keep is None:
                del self._refresh[refresh_token]
            try:
                return self._issue(client_id, record.user_id, record.scopes, refresh_token=keep)
            except TwitchProblemError:
                self._refresh[refresh_token] = record  # a refused refresh spends nothing
                raise

    def _issue(
        self, client_id: str, user_id: str, scopes: tuple[str, ...], *, refresh_token: str | None
    ) -> TokenGrant:
        now = self._clock()
        live = [
            token
            for token, record in self._access.items()
            if (record.client_id, record.user_id) == (client_id, user_id)
            and record.expires_at > now
        ]
        if len(live) >= self.config.max_live_tokens:
            if self.config.token_limit_policy == "fail":
                # The failure's status and message are unconfirmed (the docs say only "fails").
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "too many access tokens")
            for token in live[: len(live) - self.config.max_live_tokens + 1]:
                del self._access[token]  # twi#986: the newest token kills the oldest
        expires_in = self.config.user_token_expires_in
        access = _random(30)
        self._access[access] = UserToken(access, client_id, user_id, scopes, now + expires_in)
        if refresh_token is None:
            refresh_token = self._new_refresh_token()
            self._refresh[refresh_token] = _Refresh(client_id, user_id, scopes)
        return TokenGrant(access, refresh_token, expires_in, scopes)

    def _new_refresh_token(self) -> str:
        if self.config.refresh_token_special_chars:
            return _random(24) + "+" + _random(12) + "/" + _random(12)
        return _random(50)

    # -- tokens ----------------------------------------------------------------------------

    def access_token(self, token: str) -> UserToken | None:
        """The user token if it is known and not expired."""
        with self._lock:
            record = self._access.get(token)
            if record is None or record.expires_at <= self._clock():
                return None
            return record

    def revoke_access_token(self, client_id: str, token: str) -> DroppedAuthorization | None:
        """Revoke one user access token of `client_id` (`TwitchProblemError(400)` if unknown).

        With `revoke_drops_authorization` the whole authorization goes and the result says
        whose (for the `user.authorization.revoke` event); otherwise the result is None. Whether
        Twitch does this on revoke is unconfirmed.
        """
        with self._lock:
            record = self._access.get(token)
            if record is None or record.client_id != client_id:
                raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "Invalid token")
            del self._access[token]
            if not self.config.revoke_drops_authorization:
                return None
            return self.drop_authorization(client_id, record.user_id)

    def secrets(self) -> list[str]:
        """Every live access and refresh token (for asserting they never leak into logs)."""
        with self._lock:
            return [*self._access, *self._refresh]

    def revoke_all_access_tokens(self) -> int:
        with self._lock:
            count = len(self._access)
            self._access.clear()
            return count

    def expire_all_access_tokens(self) -> int:
        with self._lock:
            now = self._clock()
            for token, record in self._access.items():
                self._access[token] = dataclasses.replace(
                    record, expires_at=min(record.expires_at, now)
                )
            return len(self._access)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _state_pair(state: str | None) -> list[tuple[str, str]]:
    return [("state", state)] if state is not None else []


def _with_query(uri: str, pairs: list[tuple[str, str]]) -> str:
    """`uri` with `pairs` appended to its query, form-encoded (spaces as ``+``) like Twitch."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(pairs)) if q)
    return urlunsplit(parts._replace(query=query))
