"""Discord's OAuth2 as a fake: the authorize page, token exchange, refresh, revoke, and the
Bearer-token reads `/users/@me`, `/users/@me/guilds` and `/oauth2/@me`.

Clients are seeded with exact redirect URIs. The authorize page never shows a screen: a consent
knob (`OAuthServer.set_consent`) says which seeded user approves, or that consent is denied, so
a browser test just follows the 302. Codes are single-use and live `oauth_code_ttl_s` (100 s,
what Discord staff stated in api#2526) on the fake's clock; refresh tokens rotate. Error bodies
are the ones users observed from Discord; where Discord's exact text is unknown (a JSON body
at the token endpoint, the revoke status) the fake answers what RFC 6749/7009 prescribe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from tests.fakes.discord_forms import FormErrors
from tests.fakes.discord_http import (
    Call,
    Outcome,
    RouteSpec,
    error_outcome,
    html_outcome,
    json_outcome,
    query_value,
)
from tests.fakes.discord_model import (
    ADMINISTRATOR,
    BUCKET_USERS_ME,
    BUCKET_USERS_ME_GUILDS,
    MANAGE_GUILD,
    FakeRole,
    World,
)
from tests.fakes.discord_webhook_events import WebhookEventQueue

# fmt: off
OAUTH_ROUTES = (
    RouteSpec("GET", "/oauth2/authorize", "oauth_authorize", None, None, "authorize",
              auth="none", global_limited=False),
    RouteSpec("POST", "/oauth2/token", "oauth_token", None, None, "token", "form",
              auth="client", global_limited=False),
    RouteSpec("POST", "/oauth2/token/revoke", "oauth_revoke", None, None, "revoke", "form",
              auth="client", global_limited=False),
    RouteSpec("GET", "/users/@me", "oauth_me", "users_me", BUCKET_USERS_ME, "me",
              auth="bearer", major=""),
    RouteSpec("GET", "/users/@me/guilds", "oauth_my_guilds", "users_me_guilds",
              BUCKET_USERS_ME_GUILDS, "my_guilds", auth="bearer", major=""),
    RouteSpec("GET", "/oauth2/@me", "oauth_info", None, None, "oauth_info", auth="bearer"),
)
# fmt: on

KNOWN_SCOPES = frozenset(
    {
        "identify", "email", "guilds", "guilds.join", "guilds.members.read", "connections",
        "bot", "applications.commands", "applications.commands.update", "webhook.incoming",
        "role_connections.write", "openid", "messages.read", "activities.read",
    }
)  # fmt: skip
BOT_SCOPES = frozenset({"bot", "applications.commands"})
DENIED_DESCRIPTION = "The resource owner or authorization server denied the request"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CODE_ALPHABET = string.ascii_letters + string.digits
_FORM = "application/x-www-form-urlencoded"
_INVALID_CODE = 'Invalid "code" in request.'
_INVALID_REFRESH = 'Invalid "refresh_token" in request'


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A registered application: its secret and exact redirect URIs, first one the default."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    public: bool = False
    name: str = "StreamMaxing"


@dataclass(frozen=True, slots=True)
class Consent:
    """What the next visit to the authorize page does.

    `user_id` approves (None: the first seeded user); `deny` sends `error=access_denied`.
    For a bot install, `guild_id` is the guild picked when the URL names none (None: the first
    guild the user can manage) and `granted_permissions` what was left checked (None: all
    requested).
    """

    user_id: str | None = None
    deny: bool = False
    guild_id: str | None = None
    granted_permissions: int | None = None


@dataclass(slots=True)
class AuthorizationCode:
    code: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    redirect_uri: str
    bound_to_default: bool
    code_challenge: str | None
    guild_id: str | None
    created_at: float
    used: bool = False


@dataclass(slots=True)
class Grant:
    """One access/refresh token pair. A refresh spends the refresh token and issues a new pair."""

    access_token: str
    refresh_token: str
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    access_expires_at: float
    guild_id: str | None = None
    code: str | None = None
    access_revoked: bool = False
    refresh_spent: bool = False
    revoked: bool = False


@dataclass(slots=True)
class _ClientAuth:
    client: OAuthClient | None = None
    error: Outcome | None = None
    extra: dict[str, str] = field(default_factory=dict)


def pkce_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _oauth_error(
    status: int, error: str, description: str | None = None, **headers: str
) -> Outcome:
    payload = {"error": error}
    if description is not None:
        payload["error_description"] = description
    return json_outcome(status, payload, headers={"cache-control": "no-store", **headers})


def _page(status: int, title: str) -> Outcome:
    return html_outcome(
        status, f"<!DOCTYPE html><html><head><title>Discord</title></head><body><h1>{title}</h1>"
        "</body></html>",
    )  # fmt: skip


def _redirect(uri: str, params: Mapping[str, str]) -> Outcome:
    separator = "&" if "?" in uri else "?"
    return Outcome(302, b"", {"location": uri + separator + urlencode(params)})


class OAuthServer:
    """Clients, consent, codes and tokens; its handlers run under the state's lock."""

    def __init__(self, world: World, lock: threading.RLock, events: WebhookEventQueue) -> None:
        self._world = world
        self._lock = lock
        self._events = events
        self._clients: dict[str, OAuthClient] = {}
        self._consent = Consent()
        self._codes: dict[str, AuthorizationCode] = {}
        self._grants: list[Grant] = []

    # -- seeding, knobs, reading ---------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: tuple[str, ...] | list[str],
        *,
        public: bool = False,
        name: str = "StreamMaxing",
    ) -> OAuthClient:
        with self._lock:
            client = OAuthClient(client_id, client_secret, tuple(redirect_uris), public, name)
            self._clients[client_id] = client
            return client

    def set_consent(
        self,
        *,
        user_id: str | None = None,
        deny: bool = False,
        guild_id: str | None = None,
        granted_permissions: int | None = None,
    ) -> None:
        """Choose what the authorize page does from now on (see `Consent`)."""
        with self._lock:
            self._consent = Consent(user_id, deny, guild_id, granted_permissions)

    def issue(self, client_id: str, user_id: str, scopes: tuple[str, ...]) -> Grant:
        """A token pair as if the user had signed in (for tests that skip the browser)."""
        with self._lock:
            return self._new_grant(client_id, user_id, scopes, self._world.clock(), None, None)

    @property
    def codes(self) -> tuple[AuthorizationCode, ...]:
        with self._lock:
            return tuple(self._codes.values())

    @property
    def grants(self) -> tuple[Grant, ...]:
        with self._lock:
            return tuple(self._grants)

    def access_token_valid(self, token: str, now: float) -> bool:
        return self._live_grant(token, now) is not None

    def handlers(self) -> dict[str, Callable[[Call], Outcome]]:
        return {
            "oauth_authorize": self._authorize,
            "oauth_token": self._token,
            "oauth_revoke": self._revoke,
            "oauth_me": self._me,
            "oauth_my_guilds": self._my_guilds,
            "oauth_info": self._info,
        }

    # -- the authorize page --------------------------------------------------------------------

    def _authorize(self, call: Call) -> Outcome:
        client = self._clients.get(query_value(call.query, "client_id") or "")
        if client is None:
            return _page(400, "Unknown Application")
        redirect_uri = query_value(call.query, "redirect_uri")
        bound_to_default = redirect_uri is None
        if redirect_uri is None:
            if not client.redirect_uris:
                return _page(400, "Invalid OAuth2 redirect_uri")
            redirect_uri = client.redirect_uris[0]
        elif redirect_uri not in client.redirect_uris:
            return _page(400, "Invalid OAuth2 redirect_uri")
        state = query_value(call.query, "state")
        echo = {} if state is None else {"state": state}
        scopes = tuple((query_value(call.query, "scope") or "").split())
        response_type = query_value(call.query, "response_type")
        if not scopes or any(scope not in KNOWN_SCOPES for scope in scopes):
            return _redirect(redirect_uri, {"error": "invalid_scope", **echo})
        bot_only = set(scopes) <= BOT_SCOPES
        if response_type not in (None, "code") or (response_type is None and not bot_only):
            return _redirect(redirect_uri, {"error": "invalid_request", **echo})
        challenge = query_value(call.query, "code_challenge")
        method = query_value(call.query, "code_challenge_method")
        if (challenge is not None or method is not None) and method != "S256":
            description = 'Unsupported "code_challenge_method"'
            return _redirect(
                redirect_uri,
                {"error": "invalid_request", "error_description": description, **echo},
            )
        consent = self._consent
        if consent.deny:
            return _redirect(
                redirect_uri,
                {"error": "access_denied", "error_description": DENIED_DESCRIPTION, **echo},
            )
        user_id = consent.user_id or next(iter(self._world.users), None)
        if user_id is None or user_id not in self._world.users:
            return _page(400, "No signed-in user (seed one and set the consent knob)")
        params: dict[str, str] = {}
        guild_id: str | None = None
        if "bot" in scopes:
            installed = self._install_bot(call, client, user_id, scopes, consent)
            if isinstance(installed, Outcome):
                return installed
            guild_id, requested = installed
            params |= {"guild_id": guild_id, "permissions": str(requested)}
        if response_type == "code":
            code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(30))
            self._codes[code] = AuthorizationCode(
                code, client.client_id, user_id, scopes, redirect_uri, bound_to_default,
                challenge, guild_id, call.now,
            )  # fmt: skip
            params = {"code": code, **params}
        elif bound_to_default:
            return _page(200, "Authorized")
        return _redirect(redirect_uri, {**params, **echo})

    def _install_bot(
        self,
        call: Call,
        client: OAuthClient,
        user_id: str,
        scopes: tuple[str, ...],
        consent: Consent,
    ) -> tuple[str, int] | Outcome:
        """Add the bot to the chosen guild with the permissions left checked; queue the
        APPLICATION_AUTHORIZED Webhook Event. Returns (guild id, requested permissions)."""
        raw = query_value(call.query, "permissions") or "0"
        if not raw.isdigit():
            return _page(400, "Invalid permissions")
        requested = int(raw)
        manageable = [
            guild_id for guild_id in self._world.guilds if self._can_manage(guild_id, user_id)
        ]
        guild_id = query_value(call.query, "guild_id") or consent.guild_id
        if guild_id is None and manageable:
            guild_id = manageable[0]
        if guild_id is None or guild_id not in manageable:
            return _page(400, "You need Manage Server permission in that server to add this bot")
        granted = requested if consent.granted_permissions is None else consent.granted_permissions
        guild = self._world.guilds[guild_id]
        guild.bot_member = True
        guild.bot_permissions = granted
        bot_id = client.client_id
        for role in list(self._world.roles.values()):
            if role.guild_id == guild_id and role.bot_id == bot_id:
                del self._world.roles[role.id]
        role_id = self._world.new_id(call.now)
        self._world.roles[role_id] = FakeRole(
            role_id, guild_id, name=client.name, position=1, permissions=granted, managed=True,
            bot_id=bot_id,
        )  # fmt: skip
        self._events.queue(
            client.client_id,
            "APPLICATION_AUTHORIZED",
            {
                "integration_type": 0,
                "scopes": list(scopes),
                "user": self._world.user_json(self._world.users[user_id]),
                "guild": self._world.guild_json(guild),
            },
        )
        return guild_id, requested

    def _can_manage(self, guild_id: str, user_id: str) -> bool:
        permissions = self._world.member_permissions(guild_id, user_id)
        return permissions is not None and bool(permissions & (ADMINISTRATOR | MANAGE_GUILD))

    # -- token endpoint ------------------------------------------------------------------------

    def _client_auth(self, call: Call) -> _ClientAuth:
        """Check the content type, parse the form and authenticate the client (Basic or body)."""
        content_type = call.request.headers.get("content-type", "").split(";")[0].strip()
        if content_type.lower() != _FORM:
            return _ClientAuth(error=_oauth_error(400, "invalid_request"))
        try:
            parsed = parse_qs(call.request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _ClientAuth(error=_oauth_error(400, "invalid_request"))
        form = {name: values[0] for name, values in parsed.items()}
        basic = self._basic_credentials(call.request.headers.get("authorization", ""))
        body_id, body_secret = form.get("client_id"), form.get("client_secret")
        if basic is not None and body_secret is not None and (body_id, body_secret) != basic:
            return _ClientAuth(error=_oauth_error(400, "invalid_request"))
        client_id, secret = basic if basic is not None else (body_id, body_secret)
        client = self._clients.get(client_id or "")
        challenge = {"www-authenticate": 'Basic realm="discord"'} if basic is not None else {}
        if client is None or (secret is None and not client.public):
            return _ClientAuth(error=_oauth_error(401, "invalid_client", **challenge))
        if secret is not None and not secrets.compare_digest(secret, client.client_secret):
            return _ClientAuth(error=_oauth_error(401, "invalid_client", **challenge))
        return _ClientAuth(client=client, extra=form)

    @staticmethod
    def _basic_credentials(header: str) -> tuple[str, str] | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ("", "")
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)

    def _token(self, call: Call) -> Outcome:
        auth = self._client_auth(call)
        if auth.error is not None or auth.client is None:
            return auth.error or _oauth_error(401, "invalid_client")
        grant_type = auth.extra.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(call, auth.client, auth.extra)
        if grant_type == "refresh_token":
            return self._refresh(call, auth.client, auth.extra)
        if grant_type is None:
            return _oauth_error(400, "invalid_request", 'Missing "grant_type"')
        return _oauth_error(400, "unsupported_grant_type")

    def _exchange_code(self, call: Call, client: OAuthClient, form: dict[str, str]) -> Outcome:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id:
            return _oauth_error(400, "invalid_grant", _INVALID_CODE)
        if code.used:
            for grant in self._grants:
                if grant.code == code.code:
                    grant.revoked = True
            return _oauth_error(400, "invalid_grant", _INVALID_CODE)
        code.used = True
        if call.now - code.created_at > self._world.config.oauth_code_ttl_s:
            return _oauth_error(400, "invalid_grant", _INVALID_CODE)
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "invalid_request", 'Invalid "redirect_uri" in request.')
        verifier = form.get("code_verifier")
        if code.code_challenge is None:
            if verifier is not None:
                return _oauth_error(400, "invalid_grant", 'Invalid "code_verifier"')
        elif verifier is None:
            return _oauth_error(400, "invalid_request", 'Missing "code_verifier"')
        elif not _VERIFIER.fullmatch(verifier):
            return _oauth_error(400, "invalid_request", 'Invalid "code_verifier"')
        elif not secrets.compare_digest(pkce_challenge(verifier), code.code_challenge):
            return _oauth_error(400, "invalid_grant", 'Invalid "code_verifier"')
        grant = self._new_grant(
            client.client_id, code.user_id, code.scopes, call.now, code.guild_id, code.code
        )
        return self._token_response(grant, call.now)

    def _refresh(self, call: Call, client: OAuthClient, form: dict[str, str]) -> Outcome:
        token = form.get("refresh_token", "")
        old = next((g for g in self._grants if g.refresh_token == token and token), None)
        if old is None or old.client_id != client.client_id or old.revoked or old.refresh_spent:
            return _oauth_error(400, "invalid_grant", _INVALID_REFRESH)
        old.refresh_spent = True
        if not self._world.config.oauth_old_access_survives_refresh:
            old.access_revoked = True
        grant = self._new_grant(
            client.client_id, old.user_id, old.scopes, call.now, old.guild_id, old.code
        )
        return self._token_response(grant, call.now)

    def _new_grant(
        self,
        client_id: str,
        user_id: str,
        scopes: tuple[str, ...],
        now: float,
        guild_id: str | None,
        code: str | None,
    ) -> Grant:
        grant = Grant(
            access_token=secrets.token_urlsafe(22),
            refresh_token=secrets.token_urlsafe(22),
            client_id=client_id, user_id=user_id, scopes=scopes,
            access_expires_at=now + self._world.config.oauth_access_ttl_s,
            guild_id=guild_id, code=code,
        )  # fmt: skip
        self._grants.append(grant)
        return grant

    def _token_response(self, grant: Grant, now: float) -> Outcome:
        payload: dict[str, Any] = {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": round(grant.access_expires_at - now),
            "refresh_token": grant.refresh_token,
            "scope": " ".join(grant.scopes),
        }
        guild = self._world.guilds.get(grant.guild_id or "")
        if "bot" in grant.scopes and guild is not None:
            payload["guild"] = self._world.guild_json(guild)
        return json_outcome(200, payload, headers={"cache-control": "no-store"})

    def _revoke(self, call: Call) -> Outcome:
        auth = self._client_auth(call)
        if auth.error is not None or auth.client is None:
            return auth.error or _oauth_error(401, "invalid_client")
        token = auth.extra.get("token")
        if not token:
            return _oauth_error(400, "invalid_request", 'Missing "token"')
        found = next(
            (
                grant
                for grant in self._grants
                if grant.client_id == auth.client.client_id
                and token in (grant.access_token, grant.refresh_token)
            ),
            None,
        )
        if found is not None:
            for grant in self._grants:
                if grant.client_id == found.client_id and grant.user_id == found.user_id:
                    grant.revoked = True
            user = self._world.users.get(found.user_id)
            data = {"user": self._world.user_json(user)} if user is not None else {}
            self._events.queue(found.client_id, "APPLICATION_DEAUTHORIZED", data)
        return Outcome(200, b"", {"via": "1.1 google"})

    # -- Bearer-token reads --------------------------------------------------------------------

    def _live_grant(self, token: str, now: float) -> Grant | None:
        if not token:
            return None
        for grant in self._grants:
            if grant.access_token == token:
                live = not (grant.revoked or grant.access_revoked)
                return grant if live and now < grant.access_expires_at else None
        return None

    def _scoped_grant(self, call: Call, scope: str) -> Grant | Outcome:
        grant = self._live_grant(call.token, call.now)
        if grant is None:
            return json_outcome(401, {"message": "401: Unauthorized", "code": 0})
        if scope not in grant.scopes:
            return error_outcome(403, 50001, "Missing Access")
        return grant

    def _me(self, call: Call) -> Outcome:
        grant = self._scoped_grant(call, "identify")
        if isinstance(grant, Outcome):
            return grant
        user = self._world.users[grant.user_id]
        payload = {
            **self._world.user_json(user),
            "flags": 0, "banner": None, "accent_color": None, "locale": "en-US",
            "mfa_enabled": False, "premium_type": 0,
        }  # fmt: skip
        if "email" in grant.scopes:
            payload |= {"email": f"{user.username}@example.test", "verified": True}
        return json_outcome(200, payload)

    def _my_guilds(self, call: Call) -> Outcome:
        grant = self._scoped_grant(call, "guilds")
        if isinstance(grant, Outcome):
            return grant
        raw_limit = query_value(call.query, "limit") or "200"
        limit = int(raw_limit) if raw_limit.isdigit() else -1
        if not 1 <= limit <= 200:
            errors = FormErrors()
            code = "NUMBER_TYPE_MAX" if limit > 200 else "NUMBER_TYPE_MIN"
            errors.add(("limit",), code, "Value should be between 1 and 200.")
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        before = query_value(call.query, "before")
        after = query_value(call.query, "after")
        ids = sorted(
            (guild_id for guild_id, user_id in self._world.members if user_id == grant.user_id),
            key=int,
        )
        ids = [
            guild_id
            for guild_id in ids
            if (after is None or int(guild_id) > int(after))
            and (before is None or int(guild_id) < int(before))
        ]
        page = ids[-limit:] if before is not None and after is None else ids[:limit]
        with_counts = (query_value(call.query, "with_counts") or "").lower() in ("true", "1")
        return json_outcome(
            200, [self._partial_guild(guild_id, grant.user_id, with_counts) for guild_id in page]
        )

    def _partial_guild(self, guild_id: str, user_id: str, with_counts: bool) -> dict[str, Any]:
        guild = self._world.guilds[guild_id]
        permissions = self._world.member_permissions(guild_id, user_id) or 0
        payload: dict[str, Any] = {
            "id": guild.id,
            "name": guild.name or f"guild{guild.id}",
            "icon": guild.icon,
            "banner": None,
            "owner": guild.owner_id == user_id,
            "permissions": str(permissions),
            "features": [],
        }
        if with_counts:
            members = sum(1 for member_guild, _ in self._world.members if member_guild == guild_id)
            payload |= {"approximate_member_count": members, "approximate_presence_count": 0}
        return payload

    def _info(self, call: Call) -> Outcome:
        grant = self._live_grant(call.token, call.now)
        if grant is None:
            return json_outcome(401, {"message": "401: Unauthorized", "code": 0})
        client = self._clients[grant.client_id]
        payload: dict[str, Any] = {
            "application": {
                "id": client.client_id,
                "name": client.name,
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
            },
            "scopes": list(grant.scopes),
            "expires": self._world.iso(grant.access_expires_at),
        }
        if "identify" in grant.scopes:
            payload["user"] = self._world.user_json(self._world.users[grant.user_id])
        return json_outcome(200, payload)
