"""A worker runtime wired to the Discord and Twitch fakes, for in-process pipeline tests."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from streammaxing.bootstrap import task_app, worker_options
from streammaxing.db import create_pool
from streammaxing.discord.client import DiscordClient, build_http_client
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.discord.limiter import DiscordLimiter
from streammaxing.discord.live_port import LiveDiscordPort
from streammaxing.discord.port import DiscordPort
from streammaxing.metrics import Metrics
from streammaxing.queues import Queue
from streammaxing.runtime import Runtime
from streammaxing.schema.webhooks import JobRequest, accept_messages
from streammaxing.settings import load_settings
from streammaxing.templating import DEFAULT_TEMPLATE
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.fakes.discord_fake import FakeDiscordServer
from tests.fakes.twitch_fake import TwitchFakeState

BOT_TOKEN = "bot-token-for-tests"


@dataclass
class Pipeline:
    runtime: Runtime
    discord: FakeDiscordServer | None

    async def execute(self, sql: str, *params: Any) -> None:
        async with self.runtime.pool.connection() as conn:
            await conn.execute(sql, params or None)

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        async with self.runtime.pool.connection() as conn:
            cur = await conn.execute(sql, params or None)
            return await cur.fetchall()

    async def add_guild(
        self,
        guild_id: str,
        *,
        channel_id: str,
        streamer_id: uuid.UUID,
        role_id: str | None = None,
        template: dict[str, Any] | None = None,
        in_fake: bool = True,
    ) -> None:
        await self.execute(
            "INSERT INTO guilds (guild_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            guild_id,
            f"Guild {guild_id}",
        )
        await self.execute(
            "INSERT INTO guild_config (guild_id, channel_id, mention_role_id, message_template)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            guild_id,
            channel_id,
            role_id,
            Jsonb(template or dict(DEFAULT_TEMPLATE)),
        )
        await self.execute(
            "INSERT INTO guild_streamers (guild_id, streamer_id) VALUES (%s, %s)",
            guild_id,
            streamer_id,
        )
        if in_fake and self.discord is not None:
            self.discord.state.add_channel(channel_id, guild_id=guild_id)
            if role_id:
                self.discord.state.add_role(role_id, guild_id=guild_id, mentionable=True)

    async def add_streamer(self, broadcaster_id: str, login: str) -> uuid.UUID:
        rows = await self.rows(
            "INSERT INTO streamers (twitch_broadcaster_id, twitch_login) VALUES (%s, %s)"
            " RETURNING id",
            broadcaster_id,
            login,
        )
        return uuid.UUID(str(rows[0][0]))

    async def add_dm_subscriber(self, guild_id: str, user_id: str) -> None:
        await self.execute(
            "INSERT INTO users (user_id, username) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            user_id,
            f"user{user_id}",
        )
        await self.execute(
            "INSERT INTO dm_subscribers (guild_id, user_id) VALUES (%s, %s)", guild_id, user_id
        )
        if self.discord is not None:
            self.discord.state.add_user(user_id)

    async def defer_online(self, event: dict[str, Any]) -> None:
        await self.defer_event("stream_online", event)

    async def defer_event(self, task: str, event: dict[str, Any]) -> None:
        """Queue a job exactly as the ingest does for a notification, through its accept
        statement: a go-live is numbered in acceptance order, like one the ingest took."""
        message_id = str(uuid.uuid4())
        job = JobRequest(
            message_id=message_id,
            task_name=task,
            queue=Queue.EVENTS,
            args={"message_id": message_id, "subscription_id": None, "event": event},
        )
        async with self.runtime.pool.connection() as conn:
            await accept_messages(conn, [job])

    async def drain(self, *, within: float = 30.0) -> None:
        """Run the worker until no delivery is pending (or `within` seconds pass)."""
        deadline = time.monotonic() + within
        while True:
            await self.runtime.app.run_worker_async(
                queues=["events", "announce", "dm"],
                wait=False,
                concurrency=8,
                **worker_options(self.runtime),
                install_signal_handlers=False,
                fetch_job_polling_interval=0.1,
            )
            pending = await self.rows(
                "SELECT (SELECT count(*) FROM notification_log WHERE status = 'pending')"
                " + (SELECT count(*) FROM dm_log WHERE status = 'pending')"
                " + (SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
                "    AND queue_name <> 'maintenance')"
            )
            if pending[0][0] == 0 or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.2)


def online_event(broadcaster_id: str, stream_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": stream_id,
        "broadcaster_user_id": broadcaster_id,
        "broadcaster_user_login": f"login{broadcaster_id}",
        "broadcaster_user_name": f"Name{broadcaster_id}",
        "type": "live",
        "started_at": "2026-11-25T10:00:00Z",
        **extra,
    }


@asynccontextmanager
async def pipeline(
    database_url: str,
    *,
    discord: FakeDiscordServer | None,
    twitch_url: str | None = None,
    twitch_state: TwitchFakeState | None = None,
    global_rate: float = 50.0,
    **settings: Any,
) -> AsyncIterator[Pipeline]:
    """A runtime as `streammaxing worker` builds it, on the fakes (dry-run without Discord)."""
    configured = load_settings(
        dry_run=discord is None,
        discord_global_rate_limit=global_rate,
        _env_file=None,
        **settings,
    )
    pool = create_pool(database_url, min_size=1, max_size=20, name="pipeline")
    await pool.open(wait=True)
    app = task_app(schedule=False)
    await app.open_async(pool=pool)
    port: DiscordPort = DryRunPort()
    if discord is not None:
        discord.state.add_token(BOT_TOKEN)
        port = LiveDiscordPort(
            DiscordClient(build_http_client(discord.api_url, BOT_TOKEN, "test")),
            DiscordLimiter(
                pool,
                global_rate=global_rate,
                token_fingerprint=hashlib.sha256(BOT_TOKEN.encode()).hexdigest()[:16],
            ),
        )
    runtime = Runtime(settings=configured, pool=pool, metrics=Metrics(), app=app, port=port)
    if twitch_url is not None and twitch_state is not None:
        runtime.helix = HelixClient(
            build_helix_http_client(
                f"{twitch_url}/helix",
                f"{twitch_url}/oauth2",
                twitch_state.client_id,
                _secret(twitch_state.client_secret),
            ),
            twitch_state.client_id,
        )
    try:
        yield Pipeline(runtime=runtime, discord=discord)
    finally:
        await port.aclose()
        if runtime.helix is not None:
            await runtime.helix.aclose()
        await app.close_async()
        await pool.close()


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)
