"""Settings: every bad or missing variable gives one line naming it; secrets never leak."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streammaxing.settings import ConfigError, Settings, load_settings

GOOD_SECRET = "s3cret-value-0123456789"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.upper() in Settings.model_fields or name.upper() in {
            f.upper() for f in Settings.model_fields
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


class TestValidation:
    @pytest.mark.parametrize(
        ("name", "value", "line"),
        [
            ("TWITCH_EVENTSUB_SECRET", "short", "TWITCH_EVENTSUB_SECRET must be 10–100 ASCII"),
            ("TWITCH_EVENTSUB_SECRET", "x" * 101, "TWITCH_EVENTSUB_SECRET must be 10–100 ASCII"),
            ("TWITCH_EVENTSUB_SECRET", "ünïcödé-secret", "TWITCH_EVENTSUB_SECRET must be 10–100"),
            ("PUBLIC_URL", "not a url", "PUBLIC_URL must be an absolute http(s) URL"),
            ("DISCORD_API_URL", "ftp://x", "DISCORD_API_URL must be an absolute http(s) URL"),
            ("DATABASE_URL", "mysql://x", "DATABASE_URL must be a postgresql://"),
            ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of: json, console"),
            ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
            ("DISCORD_GLOBAL_RATE_LIMIT", "0", "DISCORD_GLOBAL_RATE_LIMIT must be"),
            ("OFFLINE_GRACE_SECONDS", "-1", "OFFLINE_GRACE_SECONDS must be"),
            ("RETENTION_DAYS", "zero", "RETENTION_DAYS must be"),
            ("SLOW_QUERY_MS", "0", "SLOW_QUERY_MS must be a whole number of milliseconds"),
            ("SLOW_QUERY_MS", "fast", "SLOW_QUERY_MS must be a whole number of milliseconds"),
            ("TOKEN_ENCRYPTION_KEYS", "not-a-fernet-key", "TOKEN_ENCRYPTION_KEYS must be"),
        ],
    )
    def test_one_line_names_the_variable_and_rule(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str
    ) -> None:
        """An invalid variable raises ConfigError whose single line names it and its rule."""
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError) as caught:
            load_settings()
        message = str(caught.value)
        assert message.startswith(line)
        assert "\n" not in message
        if "SECRET" in name:
            assert value not in message

    def test_rotation_list_is_accepted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A comma-separated list of secrets is accepted; the first signs, all verify."""
        monkeypatch.setenv("TWITCH_EVENTSUB_SECRET", f"{GOOD_SECRET}, older-secret-abcdef")
        settings = load_settings()
        assert settings.eventsub_secrets == [GOOD_SECRET.encode(), b"older-secret-abcdef"]

    def test_fernet_keys_for_rotation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """TOKEN_ENCRYPTION_KEYS takes a comma-separated list of Fernet keys."""
        from cryptography.fernet import Fernet

        keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
        monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", ",".join(keys))
        settings = load_settings()
        assert [k.get_secret_value() for k in settings.token_encryption_keys] == keys

    def test_missing_required_setting(self) -> None:
        """require() names the first missing variable."""
        with pytest.raises(ConfigError, match=r"^DISCORD_BOT_TOKEN is required"):
            load_settings().require("discord_bot_token")

    def test_defaults(self) -> None:
        """Defaults follow SPEC §3 and §5.4."""
        settings = load_settings()
        assert settings.twitch_api_url == "https://api.twitch.tv/helix"
        assert settings.twitch_auth_url == "https://id.twitch.tv/oauth2"
        assert settings.discord_api_url == "https://discord.com/api/v10"
        assert settings.offline_grace_seconds == 120
        assert settings.restart_cooldown_seconds == 600
        assert settings.discord_global_rate_limit == 50
        assert settings.slow_query_ms == 100

    def test_dotenv_is_read(self, tmp_path: object) -> None:
        """Values come from .env in the working directory too."""
        with open(".env", "w", encoding="utf-8") as handle:
            handle.write(
                f"DISCORD_BOT_TOKEN=from-dotenv-token\nTWITCH_EVENTSUB_SECRET={GOOD_SECRET}\n"
            )
        settings = load_settings()
        assert settings.discord_bot_token is not None
        assert settings.discord_bot_token.get_secret_value() == "from-dotenv-token"


class TestSecrets:
    def test_secrets_never_in_repr(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """repr/str of the settings never shows a secret value."""
        values = {
            "TWITCH_EVENTSUB_SECRET": GOOD_SECRET,
            "TWITCH_CLIENT_SECRET": "client-secret-value",
            "DISCORD_BOT_TOKEN": "bot-token-value",
            "ADMIN_API_TOKEN": "admin-token-value",
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        for text in (repr(settings), str(settings), repr(settings.model_dump())):
            for value in values.values():
                assert value not in text

    def test_cli_prints_one_line_without_traceback(self, tmp_path: object) -> None:
        """The process exits 2 with exactly one line on stderr, naming the variable."""
        env = {k: v for k, v in os.environ.items() if k.upper() not in {"TWITCH_EVENTSUB_SECRET"}}
        env["TWITCH_EVENTSUB_SECRET"] = "tiny"
        proc = subprocess.run(
            [sys.executable, "-m", "streammaxing", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert lines == [
            "streammaxing: TWITCH_EVENTSUB_SECRET must be 10–100 ASCII characters"
            " (a comma-separated list while rotating)"
        ]
        assert "Traceback" not in proc.stderr


class TestPooledDatabase:
    def test_a_single_url_is_direct(self) -> None:
        """Only DATABASE_URL: not pooled, and it is also the session-bound URL."""
        settings = load_settings(database_url="postgresql://h/db")
        assert not settings.is_pooled
        assert settings.direct_url("postgresql://h/db") == "postgresql://h/db"

    def test_a_different_direct_url_makes_the_main_url_pooled(self) -> None:
        """DATABASE_DIRECT_URL differing from DATABASE_URL: the main URL is a pooler."""
        settings = load_settings(
            database_url="postgresql://h:6432/db", database_direct_url="postgresql://h:5432/db"
        )
        assert settings.is_pooled
        assert settings.direct_url("postgresql://h:6432/db") == "postgresql://h:5432/db"

    def test_database_pooled_overrides_the_detection(self) -> None:
        """DATABASE_POOLED=true with one URL (a pooler, no direct access) disables preparing."""
        assert load_settings(database_url="postgresql://h/db", database_pooled=True).is_pooled
        assert not load_settings(
            database_url="postgresql://a/db",
            database_direct_url="postgresql://b/db",
            database_pooled=False,
        ).is_pooled

    def test_an_embedded_server_is_direct(self) -> None:
        """Without DATABASE_URL (the embedded server) the embedded URL is used for everything."""
        settings = load_settings(database_direct_url="postgresql://h/db")
        assert not settings.is_pooled
        assert settings.direct_url("postgresql://embedded/db") == "postgresql://embedded/db"

    def test_the_direct_url_is_checked(self) -> None:
        """A direct URL that is not postgres is refused with its variable's name."""
        with pytest.raises(ConfigError, match="DATABASE_DIRECT_URL must be a postgresql://"):
            load_settings(database_direct_url="mysql://x")
