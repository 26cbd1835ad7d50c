"""Fixtures and helpers for the job tests: the Twitch fake over real HTTP, a worker `Runtime` on
this test's database, and seeding guilds that track streamers.

Imported by `test_jobs_*.py`: importing `fake_fixture`, `runtime_fixture` and
`twitch_server_fixture` makes the fixtures `fake`, `runtime` and `twitch_server` available.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import pytest
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from streammaxing.bootstrap import task_app, worker_options
from streammaxing.db import create_pool
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.metrics import Metrics
from streammaxing.runtime import Runtime
from streammaxing.settings import Settings
from streammaxing.templating import DEFAULT_TEMPLATE
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import FakeSubscription, TwitchFakeState, create_app

PUBLIC_URL = "https://streammaxing.example"
CALLBACK = f"{PUBLIC_URL}/webhooks/twitch"
SECRET = "jobs-test-secret-0123456789"
OLD_SECRET = "jobs-old-secret-0123456789"
SUBS = "/helix/eventsub/subscriptions"
TOPICS = {("stream.online", "1"), ("stream.offline", "1"), ("channel.update", "2")}


@pytest.fixture(scope="module", name="twitch_server")
def twitch_server_fixture() -> Iterator[tuple[TwitchFakeState, str]]:
    state = TwitchFakeState()
    with ServerThread(create_app(state)) as server:
        yield state, server.url


@pytest.fixture(name="fake")
def fake_fixture(twitch_server: tuple[TwitchFakeState, str]) -> TwitchFakeState:
    state = twitch_server[0]
    state.reset()
    return state


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "twitch_eventsub_secret": f"{SECRET},{OLD_SECRET}",
        "twitch_client_id": "unused-here",
        "twitch_client_secret": SecretStr("unused-here"),
        "retention_days": 30,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(name="runtime")
async def runtime_fixture(
    database_url: str, fake: TwitchFakeState, twitch_server: tuple[TwitchFakeState, str]
) -> AsyncIterator[Runtime]:
    """A worker's runtime (no Discord: dry-run delivery) talking to the Twitch fake."""
    url = twitch_server[1]
    pool = create_pool(database_url, min_size=1, max_size=10, name="test-jobs")
    await pool.open(wait=True)
    app = task_app(schedule=False)
    await app.open_async(pool=pool)
    helix = HelixClient(
        build_helix_http_client(
            f"{url}/helix", f"{url}/oauth2", fake.client_id, SecretStr(fake.client_secret)
        ),
        fake.client_id,
        max_rate_limit_wait=5.0,
    )
    runtime = Runtime(
        settings=make_settings(),
        pool=pool,
        metrics=Metrics(),
        app=app,
        # The periodic jobs never talk to Discord.
        port=DryRunPort(),
        helix=helix,
    )
    try:
        yield runtime
    finally:
        await helix.aclose()
        await app.close_async()
        await pool.close()


async def run_worker_until_idle(runtime: Runtime, *queues: str) -> None:
    """Run a real procrastinate worker until no job is left that can run now."""
    await runtime.app.run_worker_async(
        queues=list(queues) or None,
        wait=False,
        concurrency=1,
        **worker_options(runtime),
        install_signal_handlers=False,
        delete_jobs="never",
    )


async def track(
    runtime: Runtime, broadcaster_id: str, *, guild_id: str = "g1", login: str | None = None
) -> UUID:
    """A guild (created if needed, announcing to channel c-<guild>) tracks this streamer."""
    login = login or f"streamer{broadcaster_id}"
    async with runtime.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO guilds (guild_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (guild_id, f"Guild {guild_id}"),
        )
        await conn.execute(
            "INSERT INTO guild_config (guild_id, channel_id, message_template)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (guild_id, f"c-{guild_id}", Jsonb(copy.deepcopy(DEFAULT_TEMPLATE))),
        )
        cur = await conn.execute(
            "INSERT INTO streamers (twitch_broadcaster_id, twitch_login) VALUES (%s, %s)"
            " ON CONFLICT (twitch_broadcaster_id)"
            " DO UPDATE SET twitch_login = EXCLUDED.twitch_login RETURNING id",
            (broadcaster_id, login),
        )
        row = await cur.fetchone()
        assert row is not None
        streamer_id: UUID = row[0]
        await conn.execute(
            "INSERT INTO guild_streamers (guild_id, streamer_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (guild_id, streamer_id),
        )
    return streamer_id


async def untrack(runtime: Runtime, broadcaster_id: str) -> None:
    """Every guild stops tracking the streamer (its row stays: an orphan)."""
    async with runtime.pool.connection() as conn:
        await conn.execute(
            "DELETE FROM guild_streamers gs USING streamers s"
            " WHERE gs.streamer_id = s.id AND s.twitch_broadcaster_id = %s",
            (broadcaster_id,),
        )


async def stored(runtime: Runtime) -> dict[str, tuple[str, str | None, str]]:
    """Rows of eventsub_subscriptions: subscription id → (broadcaster id, type, status)."""
    async with runtime.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.subscription_id, s.twitch_broadcaster_id, e.type, e.status"
            " FROM eventsub_subscriptions e JOIN streamers s ON s.id = e.streamer_id"
        )
        return {row[0]: (row[1], row[2], row[3]) for row in await cur.fetchall()}


def ours(fake: TwitchFakeState, broadcaster_id: str | None = None) -> list[FakeSubscription]:
    """The fake's subscriptions to our callback (of one broadcaster)."""
    return [
        s
        for s in fake.subscriptions()
        if s.callback == CALLBACK
        and (broadcaster_id is None or s.condition.get("broadcaster_user_id") == broadcaster_id)
    ]


def topics(subs: list[FakeSubscription]) -> set[tuple[str, str]]:
    return {(s.type, s.version) for s in subs}


def mutations(fake: TwitchFakeState) -> int:
    """Creates and deletes the fake has served so far."""
    return fake.count("POST", SUBS) + fake.count("DELETE", SUBS)


def give_full_set(fake: TwitchFakeState, broadcaster_id: str, **fields: Any) -> None:
    """Our three healthy subscriptions for the broadcaster, already at Twitch."""
    for sub_type, version in sorted(TOPICS):
        fake.add_subscription(
            broadcaster_id, type=sub_type, version=version, callback=CALLBACK, **fields
        )
