"""Twitch user tokens (authorization code grant): authorize URL, code exchange, refresh,
validate, revoke, and the token's own user from Helix.

Twitch has no PKCE; ``state`` is the caller's CSRF protection. Client authentication travels in
the form body. Token errors are ``{"status", "message"}`` bodies: a 4xx becomes
`TwitchPermanentError` (an invalid code or refresh token will stay invalid), a 5xx, timeout or
connection failure `TwitchTransientError`. Tokens are handled as `SecretStr` and never appear in
an error message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from streammaxing.twitch.errors import (
    TwitchPermanentError,
    TwitchTransientError,
    twitch_message,
)
from streammaxing.twitch.models import HelixUser, parse_user

__all__ = ["LINK_SCOPES", "TokenInfo", "TwitchUserOAuth", "UserTokens"]

#: The smallest scope set that makes a broadcaster's EventSub subscriptions cost 0: an
#: authorization without any scope may not count, and this one reads nothing we keep.
LINK_SCOPES: Final = ("user:read:email",)


@dataclass(frozen=True)
class UserTokens:
    """What a code exchange or refresh returns."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: int
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class TokenInfo:
    """What ``/validate`` says about a live user token (``expires_in`` 0: does not expire)."""

    user_id: str
    login: str
    client_id: str
    scopes: tuple[str, ...]
    expires_in: int


class TwitchUserOAuth:
    """Calls to ``TWITCH_AUTH_URL`` (and Helix ``/users``) for user tokens, through ``http``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        auth_url: str,
        api_url: str,
        client_id: str,
        client_secret: SecretStr,
    ) -> None:
        self._http = http
        self._auth_url = auth_url.rstrip("/")
        self._api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret

    async def aclose(self) -> None:
        await self._http.aclose()

    def authorize_url(self, *, redirect_uri: str, state: str, scopes: Sequence[str]) -> str:
        """Twitch's consent page for this client, sending the user back to ``redirect_uri``."""
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": " ".join(scopes),
                "state": state,
            }
        )
        return f"{self._auth_url}/authorize?{query}"

    async def exchange_code(self, code: str, *, redirect_uri: str) -> UserTokens:
        response = await self._post(
            "/token",
            {
                "client_id": self.client_id,
                "client_secret": self._client_secret.get_secret_value(),
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
            },
        )
        return _tokens(response)

    async def refresh(self, refresh_token: SecretStr) -> UserTokens:
        response = await self._post(
            "/token",
            {
                "client_id": self.client_id,
                "client_secret": self._client_secret.get_secret_value(),
                "grant_type": "refresh_token",
                "refresh_token": refresh_token.get_secret_value(),
            },
        )
        return _tokens(response)

    async def validate(self, access_token: SecretStr) -> TokenInfo | None:
        """The token's owner and lifetime; None when Twitch says it is no longer valid."""
        response = await self._send(
            "GET",
            f"{self._auth_url}/validate",
            headers={"Authorization": f"OAuth {access_token.get_secret_value()}"},
        )
        if response.status_code == 401:
            return None
        body = _checked(response)
        scopes = body.get("scopes")
        return TokenInfo(
            user_id=str(body.get("user_id", "")),
            login=str(body.get("login", "")),
            client_id=str(body.get("client_id", "")),
            scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
            expires_in=_int(body.get("expires_in")),
        )

    async def revoke(self, access_token: SecretStr) -> bool:
        """Revoke the token at Twitch; False when Twitch no longer knew it (400)."""
        response = await self._post(
            "/revoke",
            {"client_id": self.client_id, "token": access_token.get_secret_value()},
            ok_statuses=(400,),
        )
        return response.status_code == 200

    async def current_user(self, access_token: SecretStr) -> HelixUser:
        """The user the token belongs to (Helix ``GET /users`` without parameters)."""
        response = await self._send(
            "GET",
            f"{self._api_url}/users",
            headers={
                "Authorization": f"Bearer {access_token.get_secret_value()}",
                "Client-Id": self.client_id,
            },
        )
        data = _checked(response).get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise TwitchPermanentError(response.status_code, "Get Users returned no user")
        return parse_user(data[0])

    async def _post(
        self, path: str, form: dict[str, str], *, ok_statuses: tuple[int, ...] = ()
    ) -> httpx.Response:
        response = await self._send("POST", f"{self._auth_url}{path}", data=form)
        if response.status_code in ok_statuses:
            return response
        _raise_for(response)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self._http.request(method, url, data=data, headers=headers)
        except httpx.HTTPError as exc:
            # The exception's text can name the URL, never the form or headers; keep only its
            # class name all the same.
            raise TwitchTransientError(f"Twitch unreachable: {type(exc).__name__}") from None


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status >= 500:
        raise TwitchTransientError(f"Twitch answered {status}", status=status)
    if status >= 400:
        raise TwitchPermanentError(status, twitch_message(response))


def _checked(response: httpx.Response) -> dict[str, object]:
    _raise_for(response)
    try:
        body = response.json()
    except ValueError:
        raise TwitchTransientError("Twitch answered with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise TwitchTransientError("Twitch answered with an unexpected body")
    return body


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _tokens(response: httpx.Response) -> UserTokens:
    body = _checked(response)
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str):
        raise TwitchPermanentError(response.status_code, "the token answer lacks a token")
    scopes = body.get("scope")
    return UserTokens(
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        expires_in=_int(body.get("expires_in")),
        scopes=tuple(str(s) for s in scopes if s) if isinstance(scopes, list) else (),
    )


def build_user_oauth_http_client(*, timeout: float = 10.0) -> httpx.AsyncClient:
    """The process's client for user-token calls (absolute URLs; no app token)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        headers={"User-Agent": "streammaxing"},
    )
