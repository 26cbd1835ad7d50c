"""The ingest's Discord routes served on 127.0.0.1 over a real database, with a worker runtime
on the Discord and Twitch fakes to run the follow-up and install jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from streammaxing.bootstrap import worker_options
from streammaxing.db import create_pool
from streammaxing.discord.client import DiscordClient, build_http_client
from streammaxing.ingest.app import create_app
from streammaxing.ingest.enqueue import GroupCommitter
from streammaxing.ingest.state import IngestState
from streammaxing.interactions.routes import discord_routes
from streammaxing.manage.actor import Operator, Surface
from streammaxing.manage.guilds import set_config, upsert_guild
from streammaxing.manage.models import GuildConfigUpdate, GuildUpsert, StreamerAdd
from streammaxing.manage.services import ManageServices
from streammaxing.manage.streamers import track_streamer
from streammaxing.metrics import Metrics
from streammaxing.queues import Queue
from tests.fakes.discord_fake import (
    DEFAULT_BOT_PERMISSIONS,
    GUILD_VOICE,
    MANAGE_GUILD,
    VIEW_CHANNEL,
    FakeDiscordServer,
)
from tests.fakes.discord_interaction_driver import InteractionDriver, InteractionResult
from tests.fakes.discord_signing import SigningKey
from tests.fakes.discord_webhook_events import WebhookEventsDriver
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.pipeline import BOT_TOKEN, Pipeline, pipeline
from tests.integration.test_admin_api import serve

APP = "700000000000000001"
GUILD = "810000000000000001"
BARE_GUILD = "810000000000000009"
CHANNEL = "820000000000000001"
HIDDEN_CHANNEL = "820000000000000002"
VOICE_CHANNEL = "820000000000000003"
ROLE = "830000000000000001"
MANAGED_ROLE = "830000000000000002"
MANAGER = "840000000000000001"
MEMBER = "840000000000000002"
OTHER_MEMBER = "840000000000000003"
OPERATOR = Operator(Surface.CLI)


def seed_discord(discord: FakeDiscordServer) -> None:
    state = discord.state
    state.reset()
    for guild_id, name in ((GUILD, "Speedrunners"), (BARE_GUILD, "No Bot Setup")):
        state.add_guild(guild_id, name=name, owner_id=MANAGER)
    state.add_channel(CHANNEL, guild_id=GUILD, name="live")
    state.add_channel(HIDDEN_CHANNEL, guild_id=GUILD, name="secret", permissions=VIEW_CHANNEL)
    state.add_channel(VOICE_CHANNEL, guild_id=GUILD, name="voice", type=GUILD_VOICE)
    state.add_channel("820000000000000009", guild_id=BARE_GUILD, name="general")
    state.add_role(ROLE, guild_id=GUILD, name="live-pings", mentionable=True)
    state.add_role(MANAGED_ROLE, guild_id=GUILD, name="SomeBot", managed=True)
    for user_id, name in ((MANAGER, "boss"), (MEMBER, "fan"), (OTHER_MEMBER, "otherfan")):
        state.add_user(user_id, username=name)
        for guild_id in (GUILD, BARE_GUILD):
            perms = MANAGE_GUILD if user_id == MANAGER else 0
            state.add_member(guild_id, user_id, permissions=perms)
    assert DEFAULT_BOT_PERMISSIONS


@dataclass
class Stack:
    http: httpx.AsyncClient
    url: str
    discord: FakeDiscordServer
    pipeline: Pipeline
    services: ManageServices

    def driver(self, user_id: str, guild_id: str = GUILD) -> InteractionDriver:
        return InteractionDriver(
            self.http, f"{self.url}/interactions", self.discord.state,
            application_id=APP, guild_id=guild_id, channel_id=CHANNEL, user_id=user_id,
        )  # fmt: skip

    def events(self) -> WebhookEventsDriver:
        return WebhookEventsDriver(self.http, f"{self.url}/webhooks/discord", application_id=APP)

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return await self.pipeline.rows(sql, *params)

    async def run_jobs(self) -> None:
        """Run every queued interaction job to completion."""
        runtime = self.pipeline.runtime
        await runtime.app.run_worker_async(
            queues=[Queue.INTERACTIONS.value], wait=False, concurrency=2,
            install_signal_handlers=False, **worker_options(runtime),
        )  # fmt: skip

    def original(self, result: InteractionResult) -> dict[str, Any]:
        """The interaction's first answer as Discord now shows it (after any edit)."""
        record = self.discord.state.interactions.get(result.interaction_id)
        assert record.original is not None, "the interaction has no message answer"
        return record.original

    async def install(self, *, channel: bool = True, streamer: bool = True) -> None:
        """The bot is set up in GUILD: guild row, config on CHANNEL, twitchdev tracked."""
        await upsert_guild(self.services, OPERATOR, GUILD, GuildUpsert(name="Speedrunners"))
        if channel:
            update = GuildConfigUpdate.model_validate({"channel_id": CHANNEL})
            await set_config(self.services, OPERATOR, GUILD, update)
        if streamer:
            body = StreamerAdd.model_validate({"login": "twitchdev"})
            await track_streamer(self.services, OPERATOR, GUILD, body)


#: Where browsers reach the service under test (invite links start with it).
PUBLIC_URL = "https://sm.example"


@asynccontextmanager
async def running_stack(
    database_url: str, discord: FakeDiscordServer, twitch_url: str, twitch: TwitchFakeState
) -> AsyncIterator[Stack]:
    seed_discord(discord)
    async with pipeline(
        database_url, discord=discord, twitch_url=twitch_url, twitch_state=twitch
    ) as running:
        discord.state.add_token(BOT_TOKEN, bot_id=APP)
        runtime = running.runtime
        runtime.discord = DiscordClient(build_http_client(discord.api_url, BOT_TOKEN, "test"))
        services = ManageServices(pool=runtime.pool, app=runtime.app, helix=runtime.helix)
        pool = create_pool(database_url, min_size=1, max_size=4, name="ingest-test")
        state = IngestState(
            pool=pool, metrics=Metrics(), committer=GroupCommitter(pool),
            eventsub_secrets=[b"unused-eventsub-secret"],
        )  # fmt: skip
        ingest_services = ManageServices(
            pool=pool, app=runtime.app, helix=runtime.helix, public_url=PUBLIC_URL
        )
        web = create_app(
            state, extra_routes=discord_routes(ingest_services, SigningKey().public_key_hex)
        )
        try:
            async with serve(web) as url, httpx.AsyncClient(timeout=10) as http:
                yield Stack(http, url, discord, running, services)
        finally:
            await runtime.discord.aclose()
