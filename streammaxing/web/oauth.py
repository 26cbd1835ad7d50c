"""Discord's OAuth2 authorization code grant with PKCE (S256), through Authlib over httpx.

Authlib builds the authorize URL (``state``, ``code_challenge``) and performs the token
exchange with the exact redirect URI; the user's Bearer reads (``/users/@me``,
``/users/@me/guilds``) go through the same client. Every failure becomes `OAuthFailed`.
"""

from __future__ import annotations

import asyncio
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from streammaxing.web.config import DiscordOAuth

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns when it falls back to httpx, which is
    # what this project uses everywhere; the fallback is its supported path for httpx users.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

SIGN_IN_SCOPE = "identify guilds"
INSTALL_SCOPE = "bot applications.commands"
#: VIEW_CHANNEL (0x400) | SEND_MESSAGES (0x800) | EMBED_LINKS (0x4000): what announcements need.
BOT_PERMISSIONS = 0x400 | 0x800 | 0x4000
TIMEOUT = httpx.Timeout(10.0)


class OAuthFailed(Exception):  # noqa: N818 - names the condition
    """Discord refused or failed the exchange or a read (the message is safe to show)."""


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str
    verifier: str


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: datetime | None


@dataclass(frozen=True)
class DiscordProfile:
    user_id: str
    username: str
    avatar: str | None


@dataclass(frozen=True)
class ListedGuild:
    guild_id: str
    name: str
    icon: str | None
    owner: bool
    permissions: str | None


def _client(oauth: DiscordOAuth, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret.get_secret_value(),
        code_challenge_method="S256",
        timeout=TIMEOUT,
        **kwargs,
    )


async def authorization(oauth: DiscordOAuth, redirect_uri: str) -> Authorization:
    """The sign-in URL with a fresh ``state`` and PKCE verifier."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    async with _client(oauth, redirect_uri=redirect_uri, scope=SIGN_IN_SCOPE) as client:
        url, _ = client.create_authorization_url(
            oauth.authorize_url, state=state, code_verifier=verifier
        )
    return Authorization(url=url, state=state, verifier=verifier)


def install_url(oauth: DiscordOAuth, redirect_uri: str, guild_id: str | None) -> str:
    """Discord's "add the bot" page: the minimal permissions, back to our callback."""
    params = {
        "client_id": oauth.client_id,
        "scope": INSTALL_SCOPE,
        "permissions": str(BOT_PERMISSIONS),
        "redirect_uri": redirect_uri,
    }
    if guild_id is not None:
        params |= {"guild_id": guild_id, "disable_guild_select": "true"}
    return f"{oauth.authorize_url}?{urlencode(params)}"


async def exchange(oauth: DiscordOAuth, redirect_uri: str, code: str, verifier: str) -> Token:
    """Trade the code (with the verifier) for the user's access token."""
    token_url = f"{oauth.api_url.rstrip('/')}/oauth2/token"
    async with _client(oauth, redirect_uri=redirect_uri) as client:
        try:
            token = await client.fetch_token(
                token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
            )
        except Exception as error:
            raise OAuthFailed("Discord did not accept the sign-in code") from error
    expires_at = token.get("expires_at")
    return Token(
        access_token=str(token["access_token"]),
        expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
    )


async def _bearer_get(oauth: DiscordOAuth, access_token: str, path: str) -> Any:
    url = f"{oauth.api_url.rstrip('/')}{path}"
    token = {"access_token": access_token, "token_type": "Bearer"}
    async with _client(oauth, token=token) as client:
        for _attempt in range(3):
            try:
                response = await client.get(url)
            except httpx.HTTPError as error:
                raise OAuthFailed("Discord could not be reached") from error
            if response.status_code == 429:
                retry_after = float(response.json().get("retry_after", 1.0))
                await asyncio.sleep(min(retry_after, 2.0))
                continue
            if response.status_code != 200:
                raise OAuthFailed(f"Discord answered {response.status_code} to {path}")
            return response.json()
    raise OAuthFailed(f"Discord kept rate limiting {path}")


async def profile(oauth: DiscordOAuth, access_token: str) -> DiscordProfile:
    data = await _bearer_get(oauth, access_token, "/users/@me")
    return DiscordProfile(
        user_id=str(data["id"]), username=str(data["username"]), avatar=data.get("avatar")
    )


async def guild_list(oauth: DiscordOAuth, access_token: str) -> list[ListedGuild]:
    data = await _bearer_get(oauth, access_token, "/users/@me/guilds")
    return [
        ListedGuild(
            guild_id=str(item["id"]),
            name=str(item.get("name") or ""),
            icon=item.get("icon"),
            owner=bool(item.get("owner")),
            permissions=None if item.get("permissions") is None else str(item["permissions"]),
        )
        for item in data
    ]
