"""`streammaxing rotate-keys`: every stored token re-encrypted under the first key, in batches
that commit on their own, so an interrupted run is finished by running it again."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from streammaxing.crypto import TokenBox
from streammaxing.key_rotation import RotationResult, rotate_tokens
from streammaxing.schema.twitch_links import store_link
from tests.integration.linking_harness import Pool, fetch
from tests.support import conninfo_to_url

OLD = SecretStr(Fernet.generate_key().decode())
NEW = SecretStr(Fernet.generate_key().decode())
STREAMERS = [str(1000 + n) for n in range(5)]


def plain(broadcaster_id: str, kind: str) -> str:
    return f"{kind}-token-of-{broadcaster_id}"


@pytest.fixture
async def sealed_under_old(pool: Pool) -> None:
    """Five linked streamers whose tokens are sealed under the old key only."""
    box = TokenBox([OLD])
    async with pool.connection() as conn:
        for broadcaster in STREAMERS:
            await store_link(
                conn,
                broadcaster_id=broadcaster,
                login=f"s{broadcaster}",
                display_name=None,
                avatar_url=None,
                sealed_access=box.seal(plain(broadcaster, "access")),
                sealed_refresh=box.seal(plain(broadcaster, "refresh")),
                expires_in_s=14_400,
            )


async def opened_with_new_key_only(pool: Pool) -> dict[str, tuple[str, str]]:
    box = TokenBox([NEW])
    rows = await fetch(
        pool,
        "SELECT twitch_broadcaster_id, twitch_access_token, twitch_refresh_token FROM streamers",
    )
    return {row[0]: (box.open(row[1]), box.open(row[2])) for row in rows}


class Interrupted(Exception):  # noqa: N818 - names the condition
    pass


@pytest.mark.usefixtures("sealed_under_old")
class TestRotateTokens:
    async def test_interrupted_then_rerun_rotates_everything_once(self, pool: Pool) -> None:
        """Stopped after its first batch of 2, the run has committed those 2; the re-run
        rotates the other 3 and finds 2 current; a third run changes nothing. Every token then
        opens with the new key alone, unchanged."""
        box = TokenBox([NEW, OLD])

        def stop(_: RotationResult) -> None:
            raise Interrupted

        with pytest.raises(Interrupted):
            await rotate_tokens(pool, box, batch=2, on_batch=stop)
        second = await rotate_tokens(pool, box, batch=2)
        assert (second.rotated, second.current) == (3, 2)
        third = await rotate_tokens(pool, box, batch=2)
        assert (third.rotated, third.current) == (0, 5)
        assert await opened_with_new_key_only(pool) == {
            b: (plain(b, "access"), plain(b, "refresh")) for b in STREAMERS
        }

    async def test_tokens_no_key_opens_are_counted_not_lost(self, pool: Pool) -> None:
        """Without the old key nothing can be opened: each streamer counts as unreadable and
        its ciphertexts stay as they were."""
        before = await fetch(pool, "SELECT twitch_access_token FROM streamers ORDER BY id")
        result = await rotate_tokens(pool, TokenBox([NEW]))
        assert (result.rotated, result.unreadable) == (0, 5)
        assert await fetch(pool, "SELECT twitch_access_token FROM streamers ORDER BY id") == before

    async def test_the_command_prints_the_count(self, pool: Pool, database_url: str) -> None:
        """`streammaxing rotate-keys` with the new key first prints how many it re-encrypted
        and exits 0; no token appears in its output."""
        env = {
            **os.environ,
            "DATABASE_URL": conninfo_to_url(database_url),
            "TOKEN_ENCRYPTION_KEYS": f"{NEW.get_secret_value()},{OLD.get_secret_value()}",
            "LOG_FORMAT": "json",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streammaxing",
            "rotate-keys",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        assert "rotate-keys: 5 re-encrypted under the first key" in out.decode()
        for b in STREAMERS:
            assert plain(b, "access") not in out.decode() + err.decode()
        assert len(await opened_with_new_key_only(pool)) == 5

    async def test_the_command_refuses_without_a_key(self) -> None:
        """Without TOKEN_ENCRYPTION_KEYS the command exits 2 naming the setting."""
        env = {k: v for k, v in os.environ.items() if k != "TOKEN_ENCRYPTION_KEYS"}
        env["DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/none"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streammaxing",
            "rotate-keys",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 2
        assert "TOKEN_ENCRYPTION_KEYS is required" in err.decode()
