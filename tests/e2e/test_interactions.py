"""End to end: a member configures their DMs from Discord alone, against the real `ingest` and
`worker` processes; an install from Discord's UI creates the guild."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack, running_stack
from tests.fakes.discord_interaction_driver import STRING, InteractionDriver, group, option
from tests.fakes.discord_interaction_driver import subcommand as sub
from tests.fakes.discord_signing import SigningKey
from tests.fakes.discord_webhook_events import WebhookEventsDriver
from tests.support import wait_for

pytestmark = pytest.mark.e2e

APP = "700000000000000001"
MUTER = "6101"
LISTENER = "6102"
BROADCASTER = "4242"
DISCORD_ENV = {"DISCORD_PUBLIC_KEY": SigningKey().public_key_hex, "DISCORD_APPLICATION_ID": APP}


async def _command(stack: Stack, user: str, guild: str, channel: str, *data: Any) -> str:
    """Send one signed command as `user`; the inline ephemeral answer's text."""
    async with httpx.AsyncClient(timeout=10) as client:
        driver = InteractionDriver(
            client, f"{stack.ingest_url}/interactions", stack.discord.state,
            application_id=APP, guild_id=guild, channel_id=channel, user_id=user,
        )  # fmt: skip
        result = await driver.send(driver.command("alerts", *data))
    assert result.delivery.status == 200, result.delivery
    assert result.in_time
    body = result.delivery.json()
    assert body["type"] == 4
    assert body["data"]["flags"] & 64
    return str(body["data"]["content"])


def dm_recipients(stack: Stack) -> list[str]:
    opened = stack.discord.state.requests_to("POST", r"/users/@me/channels")
    return sorted(str(r.json["recipient_id"]) for r in opened if r.status == 200)


class TestMembersFromDiscord:
    def test_a_muted_member_gets_no_dm_and_another_opted_in_member_does(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """Two members opt in with `/alerts dm on`, one mutes the streamer with `/alerts mute`;
        when the streamer goes live only the other one gets a DM (and the guild its message)."""
        with running_stack(database_url, tmp_path, workers=1, extra_env=DISCORD_ENV) as stack:
            [channel] = stack.seed_guilds(1, broadcaster_id=BROADCASTER)
            guild = "900000"
            for user in (MUTER, LISTENER):
                stack.discord.state.add_user(user)
                stack.discord.state.add_member(guild, user)

            async def configure() -> list[str]:
                dm_on = group("dm", sub("on"))
                return [
                    await _command(stack, MUTER, guild, channel, dm_on),
                    await _command(stack, LISTENER, guild, channel, dm_on),
                    await _command(
                        stack,
                        MUTER,
                        guild,
                        channel,
                        sub("mute", option("streamer", STRING, f"login{BROADCASTER}")),
                    ),
                ]

            answers = asyncio.run(configure())
            assert "You will get a DM" in answers[0]
            assert "You will get a DM" in answers[1]
            assert "Muted" in answers[2]
            assert stack.send(broadcaster_id=BROADCASTER, stream_id="5150").is_success
            assert wait_for(lambda: dm_recipients(stack) == [LISTENER], timeout=30), stack.logs()
            assert wait_for(lambda: len(stack.discord.state.messages_in(channel)) == 1, timeout=30)
            assert wait_for(
                lambda: stack.sql("SELECT user_id, status FROM dm_log") == [(LISTENER, "sent")],
                timeout=30,
            ), stack.logs()


class TestInstallFromDiscord:
    def test_an_install_event_creates_the_guild(self, database_url: str, tmp_path: Path) -> None:
        """APPLICATION_AUTHORIZED for a guild install → 204 → a worker records the guild with
        the name Discord's API gives."""
        with running_stack(database_url, tmp_path, workers=1, extra_env=DISCORD_ENV) as stack:
            stack.discord.state.add_guild("955555", name="Installed From Discord", owner_id="61")

            async def deliver() -> int:
                async with httpx.AsyncClient(timeout=10) as client:
                    events = WebhookEventsDriver(
                        client, f"{stack.ingest_url}/webhooks/discord", application_id=APP
                    )
                    delivery = await events.application_authorized(
                        user={"id": "61", "username": "owner"}, guild={"id": "955555"}
                    )
                    return delivery.status

            assert asyncio.run(deliver()) == 204
            assert wait_for(
                lambda: (
                    stack.sql("SELECT name FROM guilds WHERE guild_id = '955555'")
                    == [("Installed From Discord",)]
                ),
                timeout=30,
            ), stack.logs()
