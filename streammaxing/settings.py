"""Configuration: every environment variable the service reads, from the environment or `.env`.

`load_settings()` is called once, by the composition root (`cli.py`). An invalid value stops the
process with one line naming the variable and the rule (`ConfigError`); nothing here reads the
environment at import time. Which variables are *required* depends on the command, so the model
keeps them optional and commands call `require()`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or invalid; `str(error)` is the one line shown to the operator."""


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


def _is_ascii_printable(value: str) -> bool:
    return all(32 <= ord(char) < 127 for char in value)


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


_RULES: dict[str, str] = {
    "twitch_eventsub_secret": (
        "must be 10–100 ASCII characters (a comma-separated list while rotating)"
    ),
    "token_encryption_keys": (
        "must be a comma-separated list of Fernet keys (32 url-safe base64 bytes)"
    ),
    "public_url": "must be an absolute http(s) URL",
    "twitch_api_url": "must be an absolute http(s) URL",
    "twitch_auth_url": "must be an absolute http(s) URL",
    "discord_api_url": "must be an absolute http(s) URL",
    "database_url": "must be a postgresql:// or postgres:// URL",
    "database_direct_url": "must be a postgresql:// or postgres:// URL",
    "database_pooled": "must be true or false",
    "discord_public_key": "must be the application's public key: 64 hex characters",
    "discord_application_id": "must be a Discord id (1-20 digits)",
    "discord_oauth_url": "must be an absolute http(s) URL",
    "log_format": "must be one of: json, console",
    "log_level": "must be one of: DEBUG, INFO, WARNING, ERROR, CRITICAL",
    "discord_global_rate_limit": "must be a number of requests per second greater than 0",
    "offline_grace_seconds": "must be a whole number of seconds ≥ 0",
    "restart_cooldown_seconds": "must be a whole number of seconds ≥ 0",
    "retention_days": "must be a whole number of days ≥ 1",
    "slow_query_ms": "must be a whole number of milliseconds ≥ 1",
}


class Settings(BaseSettings):
    """All of StreamMaxing's configuration. Secrets are `SecretStr`: never printed, never logged."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    database_url: str | None = None
    #: A connection straight to Postgres (no transaction pooler): migrations and procrastinate's
    #: LISTEN use it. Unset: `database_url`.
    database_direct_url: str | None = None
    #: `database_url` goes through a transaction-mode pooler (PgBouncer), so no statement is
    #: prepared. Unset: pooled exactly when a different `database_direct_url` is set.
    database_pooled: bool | None = None
    twitch_client_id: str | None = None
    twitch_client_secret: SecretStr | None = None
    twitch_eventsub_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    public_url: str | None = None
    discord_bot_token: SecretStr | None = None
    admin_api_token: SecretStr | None = None
    token_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    twitch_api_url: str = "https://api.twitch.tv/helix"
    twitch_auth_url: str = "https://id.twitch.tv/oauth2"
    discord_api_url: str = "https://discord.com/api/v10"
    #: The OAuth2 client id (the application id) and secret, for Discord sign-in and installs.
    discord_application_id: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    discord_client_secret: SecretStr | None = None
    #: The application's Ed25519 public key (hex), which signs interactions and webhook events.
    discord_public_key: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    #: The browser-facing authorize page.
    discord_oauth_url: str = "https://discord.com/oauth2/authorize"
    #: None: console lines when stderr is a terminal, JSON otherwise.
    log_format: LogFormat | None = None
    log_level: str = "INFO"
    dry_run: bool = False
    discord_global_rate_limit: float = Field(default=50.0, gt=0)
    offline_grace_seconds: int = Field(default=120, ge=0)
    restart_cooldown_seconds: int = Field(default=600, ge=0)
    retention_days: int = Field(default=30, ge=1)
    #: Statements slower than this are logged as `slow_query` and counted.
    slow_query_ms: int = Field(default=100, ge=1)

    @field_validator("twitch_eventsub_secret", mode="before")
    @classmethod
    def _parse_secrets(cls, value: object) -> object:
        items = _split_list(value.get_secret_value() if isinstance(value, SecretStr) else value)
        if isinstance(items, list):
            for item in items:
                raw = item.get_secret_value() if isinstance(item, SecretStr) else str(item)
                if not (10 <= len(raw) <= 100 and _is_ascii_printable(raw)):
                    raise ValueError(_RULES["twitch_eventsub_secret"])
        return items

    @field_validator("token_encryption_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        from cryptography.fernet import Fernet

        items = _split_list(value.get_secret_value() if isinstance(value, SecretStr) else value)
        if isinstance(items, list):
            for item in items:
                raw = item.get_secret_value() if isinstance(item, SecretStr) else str(item)
                try:
                    Fernet(raw.encode("ascii"))
                except (ValueError, UnicodeEncodeError):
                    raise ValueError(_RULES["token_encryption_keys"]) from None
        return items

    @field_validator(
        "public_url", "twitch_api_url", "twitch_auth_url", "discord_api_url", "discord_oauth_url"
    )
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url", "database_direct_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(_RULES["database_url"])
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(_RULES["log_level"])
        return level

    @property
    def is_pooled(self) -> bool:
        """Whether `database_url` is a transaction pooler: no prepared statements through it."""
        if self.database_pooled is not None:
            return self.database_pooled
        direct = self.database_direct_url
        url = self.database_url
        return direct is not None and url is not None and direct != url

    def direct_url(self, url: str) -> str:
        """The session-bound URL for a process connected to `url`: `database_direct_url` when
        `database_url` is set (an embedded server's `url` is always direct)."""
        if self.database_url is not None and self.database_direct_url is not None:
            return self.database_direct_url
        return url

    @property
    def eventsub_secrets(self) -> list[bytes]:
        """Every accepted webhook secret, as bytes; the first one signs new subscriptions."""
        return [secret.get_secret_value().encode("ascii") for secret in self.twitch_eventsub_secret]

    @property
    def has_twitch_credentials(self) -> bool:
        return bool(self.twitch_client_id and self.twitch_client_secret)

    @property
    def has_discord_credentials(self) -> bool:
        return self.discord_bot_token is not None

    @property
    def has_discord_oauth(self) -> bool:
        """Discord sign-in and installs can run: client id and secret are set."""
        return bool(self.discord_application_id and self.discord_client_secret)

    def require(self, *names: str) -> None:
        """Raise `ConfigError` naming the first of `names` that is unset."""
        for name in names:
            value = getattr(self, name)
            if value is None or value == [] or value == "":
                raise ConfigError(f"{name.upper()} is required (set it in the environment or .env)")


def _format_error(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    rule = _RULES.get(field)
    if rule is None:
        message = str(first.get("msg", "is invalid"))
        rule = message.removeprefix("Value error, ")
        if not rule.startswith(("must", "is")):
            rule = f"is invalid: {rule}"
    return f"{field.upper()} {rule}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once; raise `ConfigError` with one line on the first invalid variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_format_error(error)) from None
