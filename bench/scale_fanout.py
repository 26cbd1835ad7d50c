"""The 100,000-guild go-live end to end: one fan-out job at full size, and a small go-live
accepted while it runs.

Seeds (with `bench/scale.py`'s SQL) only what the big streamer's fan-out reads: 100,000 guilds
(98,000 of them announcing it), 500,000 DM subscriptions of 358,000 users, 200,000
preferences, a 1,000,000-row delivery log with the big streamer's previous stream, plus a small
streamer tracked by one guild of its own (`--shared`: also by one of the big streamer's
guilds). Seeding takes a few minutes of both cores; `--reuse` measures an existing seed.

Each repetition runs in this process, dry-run, Helix absent (the fallback title), on a pool
of 6 connections, as one worker would: the ingest's accept statement numbers the big go-live,
the fan-out job starts (t = 0), and `--small-after` seconds later the small go-live is accepted
and its fan-out starts alongside, in the same event loop. Two watcher threads with their own
connections (excluded from the CPU figures) record when the big go-live's first row with a
payload was committed (`first_queued_s`: its delivery jobs are deferred in the same
transaction), when all rows were claimed (`all_claimed_s`) and all had payloads
(`all_filled_s`: the last delivery jobs are deferred with them), when the fan-out returned
(`fanout_done_s`, DMs included), and for the small go-live when its row was claimed
(`small.claimed_s`) and its fan-out returned (`small.queued_s`), both from its job's start.
Watcher resolution: 10 ms for the first row and the small row, 250 ms for the big counts.

Server CPU: user + system CPU of the pool's Postgres backends during the run.
Prints ONE JSON line: per repetition and medians.

    createdb -h 127.0.0.1 -U postgres scale_fanout
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scale_fanout \\
        uv run python bench/scale_fanout.py                  # seeds, then measures
    ... uv run python bench/scale_fanout.py --reuse --repetitions 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from _stack import quiet_library_logs
from psycopg import AsyncConnection
from scale import Sizes, backend_cpu_ms, seed

from streammaxing.bootstrap import task_app
from streammaxing.db import create_pool
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.metrics import Metrics
from streammaxing.queues import Queue, Task
from streammaxing.runtime import Runtime
from streammaxing.schema.migrate import migrate
from streammaxing.schema.webhooks import JobRequest, accept_messages
from streammaxing.settings import load_settings
from streammaxing.workers.fanout import fan_out

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/scale_fanout"
SIZES = Sizes(
    guilds=100_000,
    streamers=200,
    medium_guilds=1_000,
    users=400_000,
    dm_subscriptions=500_000,
    dm_users=358_000,
    preferences=200_000,
    log_rows=1_000_000,
)
BIG_BROADCASTER = "b1"
SMALL_BROADCASTER = "b-small"
POOL_SIZE = 6
#: The watchers give up after this long.
WATCH_SECONDS = 120.0

_SMALL_SEED = [
    """INSERT INTO guilds (guild_id, name) VALUES ('g-small', 'Small guild')""",
    """INSERT INTO guild_config (guild_id, channel_id, message_template)
       SELECT 'g-small', 'c-small', message_template FROM guild_config WHERE guild_id = 'g1'""",
    """INSERT INTO streamers (id, twitch_broadcaster_id, twitch_login)
       VALUES (md5('s-small')::uuid, 'b-small', 'smallstreamer')""",
    """INSERT INTO guild_streamers (guild_id, streamer_id)
       VALUES ('g-small', md5('s-small')::uuid)""",
]


def online(broadcaster_id: str, stream_id: str) -> dict[str, Any]:
    return {
        "id": stream_id,
        "broadcaster_user_id": broadcaster_id,
        "broadcaster_user_login": f"login{broadcaster_id}",
        "broadcaster_user_name": f"Name{broadcaster_id}",
        "type": "live",
        "started_at": "2026-12-03T10:00:00Z",
    }


async def accept(conn: AsyncConnection[Any], event: dict[str, Any]) -> int:
    """Accept the go-live with the ingest's statement; its acceptance number."""
    message_id = f"fo-{uuid.uuid4()}"
    request = JobRequest(message_id, Task.STREAM_ONLINE.value, Queue.EVENTS.value, {"event": event})
    await accept_messages(conn, [request])
    cur = await conn.execute(
        "SELECT (args ->> 'accepted_seq')::bigint FROM procrastinate_jobs"
        " WHERE args ->> 'message_id' = %s OR args -> 'event' ->> 'id' = %s",
        (message_id, event["id"]),
    )
    row = await cur.fetchone()
    assert row is not None, "the ingest did not accept the go-live"
    assert row[0] is not None, "the ingest did not number the go-live"
    return int(row[0])


async def reset(url: str, shared: bool) -> int:
    """Remove earlier runs' rows; return how many guilds announce the big streamer."""
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DELETE FROM notification_log WHERE event_id LIKE 'fo-%'")
        await conn.execute("DELETE FROM dm_log WHERE event_id LIKE 'fo-%'")
        await conn.execute("DELETE FROM streams WHERE stream_id LIKE 'fo-%'")
        await conn.execute("DELETE FROM procrastinate_jobs")
        await conn.execute("DELETE FROM golive_acceptances")
        await conn.execute("DELETE FROM eventsub_messages WHERE message_id LIKE 'fo-%'")
        await conn.execute(
            "DELETE FROM guild_streamers"
            " WHERE guild_id = 'g1' AND streamer_id = md5('s-small')::uuid"
        )
        if shared:
            await conn.execute(
                "INSERT INTO guild_streamers (guild_id, streamer_id)"
                " VALUES ('g1', md5('s-small')::uuid)"
            )
        await conn.execute("VACUUM ANALYZE notification_log, dm_log, procrastinate_jobs")
        cur = await conn.execute(
            "SELECT count(*) FROM guild_streamers gs JOIN guild_config gc USING (guild_id)"
            " WHERE gs.streamer_id = md5('s1')::uuid AND gs.enabled AND gc.enabled"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


@dataclass
class Timeline:
    first_queued_s: float | None = None
    first_queued_job: bool | None = None
    all_claimed_s: float | None = None
    all_filled_s: float | None = None
    small_claimed_s: float | None = None
    samples: list[tuple[float, int, int]] = field(default_factory=list)


def watch_rows(
    url: str, t0: float, big: str, small: str, small_start: list[float], line: Timeline
) -> None:
    """Every 10 ms: the big go-live's first row with a payload, and the small go-live's row.
    A thread (its own connection): the fan-out's Python work holds this process's event loop
    for tenths of a second, a thread still gets the GIL every few ms."""
    with psycopg.connect(url, autocommit=True) as conn:
        while line.first_queued_s is None or line.small_claimed_s is None:
            if line.first_queued_s is None:
                row = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM notification_log WHERE event_id = %s"
                    "               AND payload IS NOT NULL),"
                    " EXISTS (SELECT 1 FROM procrastinate_jobs WHERE task_name = %s)",
                    (big, Task.ANNOUNCE.value),
                ).fetchone()
                if row and row[0]:
                    line.first_queued_s = time.monotonic() - t0
                    line.first_queued_job = bool(row[1])
            if line.small_claimed_s is None and small_start:
                row = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM notification_log WHERE event_id = %s)", (small,)
                ).fetchone()
                if row and row[0]:
                    line.small_claimed_s = time.monotonic() - small_start[0]
            if time.monotonic() - t0 > WATCH_SECONDS:
                return
            time.sleep(0.01)


def watch_counts(url: str, t0: float, big: str, expected: int, line: Timeline) -> None:
    """Every 250 ms: the big go-live's rows claimed and with payloads (counting them costs
    Postgres 20-40 ms at 98,000 rows)."""
    with psycopg.connect(url, autocommit=True) as conn:
        while line.all_filled_s is None and time.monotonic() - t0 < WATCH_SECONDS:
            row = conn.execute(
                "SELECT count(*), count(payload) FROM notification_log WHERE event_id = %s",
                (big,),
            ).fetchone()
            assert row is not None
            now = time.monotonic() - t0
            claimed, filled = int(row[0]), int(row[1])
            line.samples.append((round(now, 2), claimed, filled))
            if line.all_claimed_s is None and claimed >= expected:
                line.all_claimed_s = now
            if filled >= expected:
                line.all_filled_s = now
            time.sleep(0.25)


async def backend_pids(conn: AsyncConnection[Any], exclude: int) -> list[int]:
    cur = await conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> %s",
        (exclude,),
    )
    return [int(row[0]) for row in await cur.fetchall()]


async def repetition(url: str, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    expected = await reset(url, args.shared)
    settings = load_settings(dry_run=True, _env_file=None)
    pool = create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE, name="bench-scale-fanout")
    await pool.open(wait=True)
    app = task_app(schedule=False)
    await app.open_async(pool=pool)
    runtime = Runtime(settings=settings, pool=pool, metrics=Metrics(), app=app, port=DryRunPort())
    big_id, small_id = f"fo-big-{rep}-{time.time_ns()}", f"fo-small-{rep}-{time.time_ns()}"
    load_before = os.getloadavg()[0]
    try:
        async with await AsyncConnection.connect(url, autocommit=True) as probe:
            cur = await probe.execute("SELECT pg_backend_pid()")
            row = await cur.fetchone()
            assert row is not None
            pids = await backend_pids(probe, int(row[0]))
            cpu_before = {pid: backend_cpu_ms(pid) for pid in pids}
            client_before = time.process_time()
            async with pool.connection() as conn:
                big_seq = await accept(conn, online(BIG_BROADCASTER, big_id))
            line = Timeline()
            small_start: list[float] = []
            t0 = time.monotonic()
            watchers = [
                asyncio.create_task(
                    asyncio.to_thread(watch_rows, url, t0, big_id, small_id, small_start, line)
                ),
                asyncio.create_task(
                    asyncio.to_thread(watch_counts, url, t0, big_id, expected, line)
                ),
            ]

            async def small_go_live() -> float:
                await asyncio.sleep(args.small_after)
                async with pool.connection() as conn:
                    seq = await accept(conn, online(SMALL_BROADCASTER, small_id))
                small_start.append(time.monotonic())
                await fan_out(runtime, online(SMALL_BROADCASTER, small_id), seq)
                return time.monotonic() - small_start[0]

            small_task = asyncio.create_task(small_go_live())
            result = await fan_out(runtime, online(BIG_BROADCASTER, big_id), big_seq)
            fanout_done = time.monotonic() - t0
            small_queued = await small_task
            await asyncio.gather(*watchers)
            client_cpu = time.process_time() - client_before
            cpu_after = {pid: backend_cpu_ms(pid) for pid in pids}
    finally:
        await app.close_async()
        await pool.close()
    server_cpu = sum(cpu_after[p] - cpu_before[p] for p in pids)
    return {
        "guilds": result.guilds,
        "announcements_claimed": result.announcements_claimed,
        "expected": expected,
        "dms_claimed": result.dms_claimed,
        "first_queued_s": _r(line.first_queued_s),
        "first_queued_job_seen": line.first_queued_job,
        "all_claimed_s": _r(line.all_claimed_s),
        "all_filled_s": _r(line.all_filled_s),
        "fanout_done_s": _r(fanout_done),
        "small": {"claimed_s": _r(line.small_claimed_s), "queued_s": _r(small_queued)},
        "server_cpu_ms": round(server_cpu),
        "client_cpu_ms": round(client_cpu * 1000),
        "load_1min_before": round(load_before, 2),
        "count_samples": line.samples if args.samples else None,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _median(reps: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for rep in reps:
        value: Any = rep
        for key in path:
            value = value[key]
        if value is not None:
            values.append(value)
    return round(statistics.median(values), 3) if values else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not args.no_migrate:
        await migrate(url)
    out: dict[str, Any] = {"bench": "scale_fanout", "shared": args.shared}
    if not args.reuse:
        out["seed_seconds"] = await seed(url, SIZES)
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            for sql in _SMALL_SEED:
                await conn.execute(sql)
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT max(version) FROM schema_migrations")
        row = await cur.fetchone()
        out["schema_version"] = row[0] if row else None
    reps = []
    for rep in range(args.repetitions):
        reps.append(await repetition(url, rep, args))
        print(json.dumps(reps[-1]), file=sys.stderr)
    out["medians"] = {
        name: _median(reps, *path)
        for name, path in {
            "first_queued_s": ("first_queued_s",),
            "all_claimed_s": ("all_claimed_s",),
            "all_filled_s": ("all_filled_s",),
            "fanout_done_s": ("fanout_done_s",),
            "small_claimed_s": ("small", "claimed_s"),
            "small_queued_s": ("small", "queued_s"),
            "server_cpu_ms": ("server_cpu_ms",),
            "client_cpu_ms": ("client_cpu_ms",),
        }.items()
    }
    out["repetitions"] = reps
    out["load_1min_after"] = round(os.getloadavg()[0], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reuse", action="store_true", help="measure the database as seeded")
    parser.add_argument(
        "--no-migrate", action="store_true", help="use the schema as it is (e.g. before)"
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--small-after", type=float, default=0.3, help="seconds after the big fan-out starts"
    )
    parser.add_argument(
        "--shared", action="store_true", help="the small streamer is also tracked by guild g1"
    )
    parser.add_argument("--samples", action="store_true", help="include the count samples")
    args = parser.parse_args()
    quiet_library_logs()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
