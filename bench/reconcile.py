"""Reconcile at scale: 5,000 tracked streamers against a Twitch holding 15,000 subscriptions,
10 % of them wrong — wall time, Twitch calls and database queries.

The Twitch fake (tests/fakes/twitch_fake.py) serves on 127.0.0.1 in a background thread and
enforces Twitch's rate limit (`--rate-limit` points a minute, default 800, with Twitch's
`Ratelimit-Reset` = "bucket full again" semantics). Its cost budget is raised to 20,000: at the
default 10,000, unauthorized stream.online/offline/channel.update subscriptions fit only
~3,333 streamers per client id (reference §3.5).

Drift (1,500 = 10 % of 15,000 subscriptions): 500 missing (stream.offline of 500 streamers),
500 failed (`notification_failures_exceeded` stream.online of 500 others) and 500 extra (ours,
for 167 broadcasters no guild tracks). The first run must repair all of it (2,000 Twitch
mutations + the listing); a second run right after must change nothing. Database queries are
counted by a cursor subclass on the pool the job uses. Prints ONE JSON line.

Database: `BENCH_DATABASE_URL` (used as is), else a fresh database on
`postgresql://postgres@127.0.0.1:5432/postgres`, else on the embedded server.

    uv run python bench/reconcile.py [--streamers 5000] [--rate-limit 800]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import structlog
from psycopg import AsyncConnection, AsyncCursor
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for tests.fakes

from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.jobs.eventsub.reconcile import ReconcileResult, reconcile_subscriptions
from streammaxing.metrics import Metrics
from streammaxing.runtime import Runtime
from streammaxing.schema.migrate import migrate
from streammaxing.settings import Settings
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import FakeConfig, TwitchFakeState, create_app

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PUBLIC_URL = "https://streammaxing.example"
CALLBACK = f"{PUBLIC_URL}/webhooks/twitch"
SECRET = "bench-secret-0123456789abcdef"
TOPICS = (("stream.online", "1"), ("stream.offline", "1"), ("channel.update", "2"))
PERIOD_S = 600


class CountingCursor(AsyncCursor[Any]):
    """Counts every statement sent (the pool's connections use it for all their queries)."""

    executed = 0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        CountingCursor.executed += 1
        return await super().execute(*args, **kwargs)


async def _configure(conn: AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)
    conn.cursor_factory = CountingCursor


@contextmanager
def bench_database() -> Iterator[str]:
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        asyncio.run(migrate(given))
        yield given
        return
    embedded = None
    try:
        with psycopg.connect(LOCAL_SERVER, connect_timeout=3):
            server = LOCAL_SERVER
    except psycopg.OperationalError:
        from streammaxing.embedded_pg import data_root, start_embedded

        embedded = start_embedded(data_root() / "pgdata-bench")
        server = embedded.url
    name = f"streammaxing_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_conninfo(server, dbname=name)
            asyncio.run(migrate(url))
            yield url
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if embedded is not None:
            embedded.stop()


def seed_database(url: str, streamers: int) -> None:
    """One guild tracking `streamers` streamers with broadcaster ids 1 … streamers."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE guilds, streamers, eventsub_subscriptions CASCADE")
        conn.execute("INSERT INTO guilds (guild_id, name) VALUES ('g1', 'Bench')")
        conn.execute(
            "INSERT INTO streamers (twitch_broadcaster_id, twitch_login)"
            " SELECT n::text, 'streamer' || n FROM generate_series(1, %s) AS n",
            (streamers,),
        )
        conn.execute(
            "INSERT INTO guild_streamers (guild_id, streamer_id) SELECT 'g1', id FROM streamers"
        )


def seed_twitch(fake: TwitchFakeState, streamers: int, drift: int) -> dict[str, int]:
    """Every tracked streamer's three subscriptions, with `drift` missing, failed and extra."""
    missing = failed = extra = 0
    for n in range(1, streamers + 1):
        for sub_type, version in TOPICS:
            if sub_type == "stream.offline" and missing < drift:
                missing += 1
                continue
            status = "enabled"
            if sub_type == "stream.online" and n > drift and failed < drift:
                failed += 1
                status = "notification_failures_exceeded"
            fake.add_subscription(
                str(n), type=sub_type, version=version, status=status, callback=CALLBACK
            )
    untracked = streamers + 1
    while extra < drift:
        for sub_type, version in TOPICS[: drift - extra]:
            fake.add_subscription(str(untracked), type=sub_type, version=version, callback=CALLBACK)
            extra += 1
        untracked += 1
    total = len(fake.subscriptions())
    return {"total": total, "missing": missing, "failed": failed, "extra": extra}


def helix_calls(fake: TwitchFakeState, since: int) -> dict[str, int]:
    calls = [r for r in fake.requests()[since:] if r.path.startswith("/helix")]
    counts: dict[str, int] = {"total": len(calls), "rate_limited_429": 0}
    for r in calls:
        kind = {"GET": "list", "POST": "create", "DELETE": "delete"}.get(r.method, r.method)
        counts[kind] = counts.get(kind, 0) + 1
        counts["rate_limited_429"] += r.status == 429
    return counts


async def timed_run(runtime: Runtime, fake: TwitchFakeState) -> dict[str, Any]:
    since = len(fake.requests())
    queries = CountingCursor.executed
    started = time.perf_counter()
    result: ReconcileResult = await reconcile_subscriptions(runtime)
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "twitch_calls": helix_calls(fake, since),
        "db_queries": CountingCursor.executed - queries,
        "result": {
            "listed": result.listed,
            "ours": result.ours,
            "tracked": result.tracked,
            **vars(result.counts),
        },
    }


async def run(url: str, fake: TwitchFakeState, twitch_url: str, streamers: int) -> dict[str, Any]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        url, min_size=2, max_size=4, open=False, configure=_configure
    )
    await pool.open(wait=True)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    await app.open_async(pool=pool)
    helix = HelixClient(
        build_helix_http_client(
            f"{twitch_url}/helix",
            f"{twitch_url}/oauth2",
            fake.client_id,
            SecretStr(fake.client_secret),
        ),
        fake.client_id,
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, public_url=PUBLIC_URL, twitch_eventsub_secret=SECRET
    )
    runtime = Runtime(
        settings=settings, pool=pool, metrics=Metrics(), app=app, port=DryRunPort(), helix=helix
    )
    try:
        first = await timed_run(runtime, fake)
        second = await timed_run(runtime, fake)
    finally:
        await helix.aclose()
        await app.close_async()
        await pool.close()
    subs = [s for s in fake.subscriptions() if s.callback == CALLBACK]
    healthy = {
        (s.condition["broadcaster_user_id"], s.type)
        for s in subs
        if s.status in ("enabled", "webhook_callback_verification_pending")
    }
    assert len(subs) == len(healthy) == streamers * 3, (len(subs), len(healthy))
    assert all(int(b) <= streamers for b, _ in healthy)
    return {"first_run": first, "second_run": second}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streamers", type=int, default=5000)
    parser.add_argument("--rate-limit", type=int, default=800, help="Helix points per minute")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    drift = args.streamers * 3 // 10 // 3
    fake = TwitchFakeState(
        FakeConfig(ratelimit_limit=args.rate_limit, max_total_cost=4 * args.streamers)
    )
    seeded = seed_twitch(fake, args.streamers, drift)
    with bench_database() as url, ServerThread(create_app(fake)) as server:
        seed_database(url, args.streamers)
        runs = asyncio.run(run(url, fake, server.url, args.streamers))
    first = runs["first_run"]
    print(
        json.dumps(
            {
                "bench": "reconcile",
                "streamers": args.streamers,
                "subscriptions_at_twitch": seeded.pop("total"),
                "drift": seeded,
                "rate_limit_per_min": args.rate_limit,
                **runs,
                "period_s": PERIOD_S,
                "share_of_period": round(first["wall_s"] / PERIOD_S, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
