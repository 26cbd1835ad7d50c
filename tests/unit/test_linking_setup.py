"""The composition root's rules for mounting the Twitch link routes."""

from __future__ import annotations

from typing import Any

import procrastinate
import pytest
from cryptography.fernet import Fernet

from streammaxing.bootstrap import linking_setup
from streammaxing.manage.services import ManageServices
from streammaxing.settings import ConfigError, load_settings

TWITCH = {"twitch_client_id": "abc", "twitch_client_secret": "shh"}


def services() -> ManageServices:
    # Never connected: the setup only keeps a reference to the pool.
    pool: Any = object()
    return ManageServices(
        pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
    )


class TestLinkingSetup:
    def test_refuses_to_start_without_an_encryption_key(self) -> None:
        """With Twitch credentials and PUBLIC_URL but no TOKEN_ENCRYPTION_KEYS, startup stops
        with a message naming the setting."""
        settings = load_settings(public_url="https://sm.example", **TWITCH)
        with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS is required"):
            linking_setup(settings, services())

    @pytest.mark.parametrize("missing", ["public_url", "twitch"])
    def test_not_mounted_without_public_url_or_twitch_credentials(self, missing: str) -> None:
        """Without PUBLIC_URL (no callback to register) or without Twitch credentials there is
        nothing to link with, and no key is needed."""
        overrides: dict[str, Any] = {} if missing == "twitch" else dict(TWITCH)
        if missing != "public_url":
            overrides["public_url"] = "https://sm.example"
        assert linking_setup(load_settings(**overrides), services()) is None

    def test_callback_is_under_public_url(self) -> None:
        """The redirect URI is PUBLIC_URL + /auth/twitch/callback, and an https URL makes the
        state cookie Secure."""
        settings = load_settings(
            public_url="https://sm.example/",
            token_encryption_keys=Fernet.generate_key().decode(),
            **TWITCH,
        )
        linking = linking_setup(settings, services())
        assert linking is not None
        assert linking.redirect_uri == "https://sm.example/auth/twitch/callback"
        assert linking.secure_cookie
