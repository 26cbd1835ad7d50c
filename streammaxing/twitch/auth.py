"""The Twitch app access token (OAuth client-credentials flow) as an `httpx.Auth`.

`AppTokenAuth` fetches a token from ``<auth_url>/token``, caches it, fetches a new one once
`renew_ratio` of its lifetime has passed (keeping the old one while it is valid if that
fetch fails), and, when Helix answers 401 anyway (token revoked
or expired early), fetches a new one and retries the request once. Concurrent requests share
one fetch: an `asyncio.Lock` guards the cache. The token and the client secret are never
logged, and the token is kept out of `repr`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field

import httpx
import structlog
from pydantic import SecretStr

from streammaxing.twitch.errors import TwitchAuthError, TwitchTransientError, twitch_message

__all__ = ["AppTokenAuth"]

log = structlog.get_logger(__name__)

#: Used when a token response omits `expires_in` (Twitch always sends it; be conservative).
_FALLBACK_LIFETIME_S = 3600.0


@dataclass(frozen=True, slots=True)
class _AppToken:
    value: str = field(repr=False)
    renew_at: float
    expires_at: float


class AppTokenAuth(httpx.Auth):
    """Adds `Authorization: Bearer <app token>` to every request of an `httpx.AsyncClient`.

    The token call goes through `http` when given (its base URL is not used), else through a
    short-lived client per fetch: tokens last weeks, so fetches are rare. `clock` is monotonic
    seconds, injectable so tests can move time.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        auth_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        renew_ratio: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < renew_ratio <= 1:
            raise ValueError("renew_ratio must be in (0, 1]")
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth_url = auth_url.rstrip("/")
        self._http = http
        self._timeout = timeout
        self._renew_ratio = renew_ratio
        self._clock = clock
        self._token: _AppToken | None = None
        self._lock = asyncio.Lock()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise TypeError("AppTokenAuth is async-only: use it with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._valid_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != httpx.codes.UNAUTHORIZED:
            return
        log.info("twitch_app_token_rejected", url=str(request.url.copy_with(query=None)))
        token = await self._renewed_token(rejected=token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    async def token(self) -> str:
        """The current app token, fetched (or renewed) first when needed."""
        return await self._valid_token()

    async def validate(self) -> bool:
        """Ask Twitch whether the cached token is still valid (its docs ask for this hourly).

        A token Twitch no longer accepts is forgotten, so the next request fetches a new one.
        Returns False when no valid token is cached.
        """
        token = self._token
        if token is None:
            return False
        response = await self._call(
            "GET", "/validate", headers={"Authorization": f"OAuth {token.value}"}
        )
        if response.status_code == httpx.codes.OK:
            return True
        if response.status_code == httpx.codes.UNAUTHORIZED:
            async with self._lock:
                if self._token is token:
                    self._token = None
            log.warning("twitch_app_token_invalidated")
            return False
        raise TwitchTransientError(
            f"token validation answered {response.status_code}", status=response.status_code
        )

    async def _valid_token(self) -> str:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token.value
        async with self._lock:
            token = self._token
            if token is not None and self._clock() < token.renew_at:
                return token.value
            try:
                return (await self._fetch()).value
            except TwitchTransientError:
                # Renewal starts early: a token that has not expired yet still serves.
                if token is None or self._clock() >= token.expires_at:
                    raise
                log.warning("twitch_app_token_renewal_failed")
                return token.value

    async def _renewed_token(self, *, rejected: str) -> str:
        async with self._lock:
            token = self._token
            if token is not None and token.value != rejected and self._clock() < token.renew_at:
                return token.value  # another request renewed it meanwhile
            self._token = None
            return (await self._fetch()).value

    async def _fetch(self) -> _AppToken:
        """Fetch a new token and cache it; the caller holds the lock."""
        response = await self._call(
            "POST",
            "/token",
            data={
                "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value(),
                "grant_type": "client_credentials",
            },
        )
        status = response.status_code
        if status >= httpx.codes.INTERNAL_SERVER_ERROR:
            raise TwitchTransientError(f"token endpoint answered {status}", status=status)
        if status >= httpx.codes.BAD_REQUEST:
            raise TwitchAuthError(
                f"Twitch refused the app credentials ({status}: {twitch_message(response)})"
            )
        try:
            body = response.json()
            value = body["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TwitchTransientError("malformed token response", status=status) from exc
        if not isinstance(value, str) or not value:
            raise TwitchTransientError("malformed token response", status=status)
        expires_in = body.get("expires_in")
        lifetime = (
            float(expires_in) if isinstance(expires_in, int | float) else _FALLBACK_LIFETIME_S
        )
        now = self._clock()
        token = _AppToken(
            value=value, renew_at=now + lifetime * self._renew_ratio, expires_at=now + lifetime
        )
        self._token = token
        log.info("twitch_app_token_issued", expires_in=lifetime)
        return token

    async def _call(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = self._auth_url + path
        try:
            if self._http is not None:
                return await self._http.request(method, url, data=data, headers=headers)
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                return await http.request(method, url, data=data, headers=headers)
        except httpx.HTTPError as exc:
            raise TwitchTransientError(f"token endpoint unreachable: {type(exc).__name__}") from exc
