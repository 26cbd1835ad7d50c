"""The real `streammaxing ingest` and `worker` processes, wired to the Twitch and Discord fakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from streammaxing.twitch.trigger import TriggerOptions, build_message
from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer
from tests.fakes.server import ServerThread, free_port
from tests.fakes.twitch_fake import TwitchFakeState
from tests.fakes.twitch_fake import create_app as create_twitch_app
from tests.support import conninfo_to_url, http_ok, wait_for

SECRET = "e2e-eventsub-secret-0123"
BOT_TOKEN = "e2e-bot-token"


@dataclass
class Stack:
    database_url: str
    ingest_url: str
    discord: FakeDiscordServer
    twitch: TwitchFakeState
    workers: list[subprocess.Popen[bytes]]
    log_dir: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    metrics_urls: list[str] = field(default_factory=list)

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def send(self, kind: str = "stream.online", **options: Any) -> httpx.Response:
        message = build_message(TriggerOptions(kind=kind, secret=SECRET, **options))  # type: ignore[arg-type]
        return httpx.post(
            f"{self.ingest_url}/webhooks/twitch",
            headers=message.headers,
            content=message.body,
            timeout=10,
        )

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        port = free_port()
        self.metrics_urls.append(f"http://127.0.0.1:{port}/metrics")
        worker = _spawn(
            ["worker", "--concurrency", "20", "--metrics-port", str(port)],
            self.env,
            self.log_dir / f"{name}.log",
        )
        self.workers.append(worker)
        self.processes.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def seed_guilds(
        self, count: int, *, broadcaster_id: str, role: bool = True, first: int = 0
    ) -> list[str]:
        """Guilds (each with its own channel, in the fake too) tracking one streamer."""
        guild_ids = [str(900_000 + first + n) for n in range(count)]
        channel_ids = [str(800_000 + first + n) for n in range(count)]
        roles = [str(700_000 + first + n) if role else None for n in range(count)]
        # One statement: a streamer without a guild in between is an orphan, and the workers'
        # cleanup_orphans job may delete it at that very moment.
        self.sql(
            """
            WITH s AS (
                INSERT INTO streamers (twitch_broadcaster_id, twitch_login)
                VALUES (%(b)s, %(login)s)
                ON CONFLICT (twitch_broadcaster_id)
                DO UPDATE SET twitch_login = EXCLUDED.twitch_login
                RETURNING id
            ), g AS (
                INSERT INTO guilds (guild_id, name)
                SELECT gid, 'Guild ' || gid FROM unnest(%(g)s::text[]) AS gid
                ON CONFLICT DO NOTHING
            ), c AS (
                INSERT INTO guild_config (guild_id, channel_id, mention_role_id, message_template)
                SELECT t.gid, t.cid, t.rid,
                       '{"content": "{streamer_display_name} is live: {stream_title}"}'::jsonb
                FROM unnest(%(g)s::text[], %(c)s::text[], %(r)s::text[]) AS t(gid, cid, rid)
                ON CONFLICT DO NOTHING
            )
            INSERT INTO guild_streamers (guild_id, streamer_id)
            SELECT gid, s.id FROM unnest(%(g)s::text[]) AS gid, s
            """,
            {
                "b": broadcaster_id,
                "login": f"login{broadcaster_id}",
                "g": guild_ids,
                "c": channel_ids,
                "r": roles,
            },
        )
        for guild_id, channel_id, role_id in zip(guild_ids, channel_ids, roles, strict=True):
            self.discord.state.add_channel(channel_id, guild_id=guild_id)
            if role_id:
                self.discord.state.add_role(role_id, guild_id=guild_id, mentionable=True)
        return channel_ids


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "streammaxing", *args],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def running_stack(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 2,
    discord_config: FakeConfig | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    twitch_state = TwitchFakeState()
    discord_state = DiscordFakeState(discord_config or FakeConfig())
    discord_state.add_token(BOT_TOKEN)
    with (
        FakeDiscordServer(discord_state) as discord,
        ServerThread(create_twitch_app(twitch_state)) as twitch_server,
    ):
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWITCH_", "DISCORD_"))},
            "DATABASE_URL": conninfo_to_url(database_url),
            "TWITCH_EVENTSUB_SECRET": SECRET,
            "TWITCH_CLIENT_ID": twitch_state.client_id,
            "TWITCH_CLIENT_SECRET": twitch_state.client_secret,
            "TWITCH_API_URL": f"{twitch_server.url}/helix",
            "TWITCH_AUTH_URL": f"{twitch_server.url}/oauth2",
            "DISCORD_BOT_TOKEN": BOT_TOKEN,
            "DISCORD_API_URL": discord.api_url,
            "LOG_FORMAT": "json",
            "DRY_RUN": "false",
            **(extra_env or {}),
        }
        ingest = _spawn(["ingest", "--port", str(port)], env, log_dir / "ingest.log")
        stack = Stack(
            database_url=database_url,
            ingest_url=f"http://127.0.0.1:{port}",
            discord=discord,
            twitch=twitch_state,
            workers=[],
            log_dir=log_dir,
            env=env,
            processes=[ingest],
        )
        try:
            for n in range(workers):
                stack.start_worker(f"worker{n}")
            if not wait_for(lambda: http_ok(f"{stack.ingest_url}/readyz"), timeout=30):
                raise RuntimeError(f"ingest did not become ready:\n{stack.logs()}")
            yield stack
        finally:
            for process in stack.processes:
                _stop(process)
