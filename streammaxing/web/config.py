"""What the dashboard needs to know, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr


@dataclass(frozen=True)
class DiscordOAuth:
    """The Discord application the dashboard signs users in with."""

    client_id: str
    client_secret: SecretStr
    authorize_url: str
    api_url: str


@dataclass(frozen=True)
class WebConfig:
    """``public_url`` is where browsers reach the service (the redirect URI's base). Without
    ``oauth`` the dashboard offers the loopback-only local operator sign-in instead."""

    public_url: str
    oauth: DiscordOAuth | None
    session_idle: timedelta = timedelta(hours=12)
    session_absolute: timedelta = timedelta(days=7)
    #: How old a cached guild list may be before a write relies on it.
    guild_list_max_age: timedelta = timedelta(minutes=5)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/discord/callback"

    @property
    def local_operator(self) -> bool:
        return self.oauth is None
