"""The service through a real transaction-mode PgBouncer (Debian's 1.18, no prepared statement
support): the pools prepare nothing, locks hold across server connections, LISTEN goes to the
direct URL. Skipped with a reason when `pgbouncer` is not installed (a failure in CI)."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from streammaxing.bootstrap import task_app
from streammaxing.db import create_pool
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.jobs.eventsub.reconcile import reconcile_subscriptions
from streammaxing.metrics import Metrics
from streammaxing.runtime import Runtime
from streammaxing.schema.migrate import load_migrations
from streammaxing.slow_queries import slow_queries_of
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.e2e.stack import Stack, running_stack
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    SUBS,
    fake_fixture,
    make_settings,
    ours,
    track,
    twitch_server_fixture,
)
from tests.pgbouncer import PgBouncer
from tests.support import conninfo_to_url, wait_for


@pytest.fixture(scope="module")
def bouncer(pg_server_url: str) -> Iterator[PgBouncer]:
    with PgBouncer(pg_server_url) as running:
        yield running


class TestPreparedStatements:
    async def test_a_pooled_pool_repeats_statements_on_many_server_connections(
        self, bouncer: PgBouncer, database_url: str
    ) -> None:
        """Each statement run far past psycopg's prepare threshold (5), by 12 client
        connections over 8 server connections: no `_pg3_0 already exists`, and the
        slow-query cursor still times them."""
        pool = create_pool(
            bouncer.conninfo(database_url), min_size=12, max_size=12, name="pooled", pooled=True
        )
        await pool.open(wait=True)
        try:

            async def repeat(n: int) -> int:
                total = 0
                for _ in range(20):
                    async with pool.connection() as conn:
                        cur = await conn.execute("SELECT %s::int + 1", (n,))
                        total += (await cur.fetchone())[0]  # type: ignore[index]
                        cur = await conn.execute("SELECT count(*) FROM guilds")
                        await cur.fetchone()
                return total

            totals = await asyncio.gather(*(repeat(n) for n in range(12)))
        finally:
            await pool.close()
        assert totals == [20 * (n + 1) for n in range(12)]
        assert slow_queries_of(pool) is not None


def _migrate(url: str) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")},
        "DATABASE_URL": url,
        "DATABASE_POOLED": "true",
        "LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "streammaxing", "migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


class TestMigrate:
    def test_two_migrates_at_once_through_the_pooler(
        self, bouncer: PgBouncer, empty_database_url: str
    ) -> None:
        """Without a direct URL, two `migrate` processes through the pooler, three rounds: each
        finishes within 60 s, every version is applied once, procrastinate's schema exists."""
        pooled = conninfo_to_url(bouncer.conninfo(empty_database_url))
        for _ in range(3):
            runs = [_migrate(pooled), _migrate(pooled)]
            outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
            assert [run.returncode for run in runs] == [0, 0], outputs
        with psycopg.connect(empty_database_url) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
            jobs = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        assert sorted(versions) == [m.version for m in load_migrations()]
        assert jobs is not None
        assert jobs[0] is not None


@pytest.fixture
async def pooled_runtimes(
    bouncer: PgBouncer,
    database_url: str,
    fake: TwitchFakeState,
    twitch_server: tuple[TwitchFakeState, str],
) -> AsyncIterator[list[Runtime]]:
    """Two workers' runtimes, each with its own pool through the pooler."""
    url = twitch_server[1]
    runtimes: list[Runtime] = []
    try:
        for n in range(2):
            pool = create_pool(
                bouncer.conninfo(database_url), max_size=6, name=f"pooled{n}", pooled=True
            )
            await pool.open(wait=True)
            app = task_app(schedule=False, listen_url=database_url)
            await app.open_async(pool=pool)
            helix = HelixClient(
                build_helix_http_client(
                    f"{url}/helix", f"{url}/oauth2", fake.client_id, SecretStr(fake.client_secret)
                ),
                fake.client_id,
            )
            runtimes.append(
                Runtime(
                    settings=make_settings(),
                    pool=pool,
                    metrics=Metrics(),
                    app=app,
                    port=DryRunPort(),
                    helix=helix,
                )
            )
        yield runtimes
    finally:
        for runtime in runtimes:
            assert runtime.helix is not None
            await runtime.helix.aclose()
            await runtime.app.close_async()
            await runtime.pool.close()


class TestReconcile:
    async def test_two_reconciles_at_once_one_runs(
        self, pooled_runtimes: list[Runtime], fake: TwitchFakeState
    ) -> None:
        """Two workers reconcile at the same time through the pooler, five rounds: each round
        exactly one runs and the other finds the lock held while it runs; 60 subscriptions,
        none twice."""
        first, second = pooled_runtimes
        for n in range(20):
            await track(first, str(3000 + n))
        for round_ in range(5):
            # The run holding the lock lists slowly, so the two runs surely overlap: a round
            # after the subscriptions exist is otherwise fast enough to finish before the other
            # run starts, and then both rightly run, one after the other.
            fake.add_fault("GET", SUBS, delay_s=0.5)
            results = await asyncio.gather(
                reconcile_subscriptions(first), reconcile_subscriptions(second)
            )
            assert sorted(r.skipped or "" for r in results) == [
                "",
                "another reconcile is running",
            ], round_
        assert len(ours(fake)) == 60


def _latencies(stack: Stack, first_streamer: int, count: int) -> list[float]:
    """Go-lives one at a time, each to its own guild's channel: seconds until its message."""
    seen: list[float] = []
    for n in range(count):
        streamer = first_streamer + n
        channel = str(800_000 + streamer % 1000)
        started = time.monotonic()
        assert stack.send(broadcaster_id=str(streamer), stream_id=str(streamer)).is_success
        assert wait_for(
            lambda channel=channel: len(stack.discord.state.messages_in(channel)) >= 1,  # type: ignore[misc]
            timeout=30,
            interval=0.01,
        ), stack.logs()
        seen.append(time.monotonic() - started)
    return seen


def _seed(stack: Stack, first_streamer: int, count: int) -> None:
    for n in range(count):
        streamer = first_streamer + n
        stack.seed_guilds(1, broadcaster_id=str(streamer), first=streamer % 1000)
        stack.twitch.add_user(str(streamer), f"login{streamer}")
        stack.twitch.add_stream(str(streamer), f"login{streamer}", id=str(streamer))


@pytest.mark.e2e
class TestPipeline:
    def test_ingest_and_workers_through_the_pooler(
        self, bouncer: PgBouncer, database_url: str, tmp_path: Path
    ) -> None:
        """The real ingest and two workers with DATABASE_URL on the pooler and
        DATABASE_DIRECT_URL on the server: every go-live announced once, no worker error, and
        go-live → announcement p50 within 2× of the same stack on the direct URL."""
        (tmp_path / "direct").mkdir()
        (tmp_path / "pooled").mkdir()
        with running_stack(database_url, tmp_path / "direct") as stack:
            _seed(stack, 5000, 10)
            direct = _latencies(stack, 5000, 10)
        pooled_env = {
            "DATABASE_URL": conninfo_to_url(bouncer.conninfo(database_url)),
            "DATABASE_DIRECT_URL": conninfo_to_url(database_url),
        }
        with running_stack(database_url, tmp_path / "pooled", extra_env=pooled_env) as stack:
            _seed(stack, 6000, 40)
            pooled = _latencies(stack, 6000, 10)
            # A burst: 30 go-lives at once, each to its own channel.
            for n in range(10, 40):
                assert stack.send(broadcaster_id=str(6000 + n), stream_id=str(6000 + n)).is_success
            assert wait_for(lambda: len(stack.discord.state.messages) >= 40, timeout=60)
            assert all(process.poll() is None for process in stack.processes), stack.logs()
            logs = stack.logs()
            counts = [len(stack.discord.state.messages_in(str(800_000 + n))) for n in range(40)]
        assert counts == [1] * 40
        assert "DuplicatePreparedStatement" not in logs
        assert "already exists" not in logs
        direct_p50, pooled_p50 = statistics.median(direct), statistics.median(pooled)
        print(f"go-live p50: direct {direct_p50:.3f} s, pooled {pooled_p50:.3f} s")
        assert pooled_p50 <= 2 * direct_p50, (direct, pooled)
