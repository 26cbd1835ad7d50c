"""Dashboard server time: the guild page, /me and a config save at realistic sizes.

Seeds 1,000 guilds with the bot (each configured), one guild G tracking 1,000 streamers (the
others 5 each), 100,000 users with 3 preferences each in G and 10 % of them subscribed to its
DMs, 10,000 recent announcements and 2,000 audit rows in G. The signed-in user manages G and is
a member of 49 more of those guilds (with preferences in each).

The dashboard is the production app (`create_app` + `dashboard_routes`, as
`bootstrap.build_ingest` mounts it) served by uvicorn on 127.0.0.1 in this process, with the
Discord fake (unlimited, in a thread) answering the bot's reads and the OAuth flow at once.
Server time is measured around the ASGI call (first byte in to last byte out), so the load
generator's own work is not counted; requests are sent one at a time after `--warmup`
unmeasured ones. `cpu_*_ms` is the event loop thread's CPU time over the same span (the Discord
fake's thread excluded): steadier than wall time when other work shares the machine.
Prints ONE JSON line: p50/p95/max per request kind, and the target (p95 < 50 ms each).

    uv run python bench/dashboard.py [--requests 200] [--warmup 20] [--profile PATH]

With `BENCH_DATABASE_URL`, a database an earlier run seeded is reused as it is (only the
sessions and audit rows a run adds are reset), so repeated runs skip the seeding; any other
database there is emptied and seeded.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests.fakes

from _stack import Database, bench_database, median, percentile, progress, quiet_library_logs
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer
from tests.integration.dashboard_site import (
    APP,
    BOT_TOKEN,
    CHANNEL,
    GUILD,
    MANAGER,
    SECRET,
    csrf,
    running_site,
    sign_in,
)

GUILDS = 1000
STREAMERS = 1000
USERS = 100_000
MEMBER_OF = 50
TARGET_P95_MS = 50.0
ROLE = "300000000000000001"

_AUDIT_SEED = """INSERT INTO audit_log (actor_kind, surface, guild_id, action)
       SELECT 'operator', 'api', %(g)s, 'config.set' FROM generate_series(1, 2000)"""

_SEED = [
    # Guilds 0..999 (G is guild 0) with a config each.
    """INSERT INTO guilds (guild_id, name)
       SELECT (%(g0)s::bigint + i)::text, 'Guild ' || i
       FROM generate_series(0, %(guilds)s - 1) i""",
    """INSERT INTO guild_config (guild_id, channel_id, message_template)
       SELECT guild_id, %(channel)s, '{"content": "{streamer_login} is live"}' FROM guilds""",
    """INSERT INTO streamers (twitch_broadcaster_id, twitch_login, twitch_display_name)
       SELECT (9000000 + i)::text, 'streamer' || i, 'Streamer ' || i
       FROM generate_series(0, %(streamers)s - 1) i""",
    """INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %(g)s, id FROM streamers""",
    """INSERT INTO guild_streamers (guild_id, streamer_id)
       SELECT g.guild_id, s.id FROM guilds g
       CROSS JOIN LATERAL (SELECT id FROM streamers ORDER BY twitch_login
                           OFFSET (g.guild_id::bigint %% 990) LIMIT 5) s
       WHERE g.guild_id <> %(g)s""",
    """INSERT INTO users (user_id, username)
       SELECT (600000000000000000 + i)::text, 'user' || i FROM generate_series(1, %(users)s) i""",
    # Each user: the 3 streamers from position user_id %% 997 in login order (a join on the
    # numbered list; a sort per user took minutes).
    """INSERT INTO user_preferences (user_id, guild_id, streamer_id, notifications_enabled)
       SELECT u.user_id, %(g)s, s.id, false FROM users u
       JOIN (SELECT id, row_number() OVER (ORDER BY twitch_login) - 1 AS n FROM streamers) s
         ON s.n BETWEEN u.user_id::bigint %% 997 AND u.user_id::bigint %% 997 + 2""",
    """INSERT INTO dm_subscribers (user_id, guild_id)
       SELECT user_id, %(g)s FROM users WHERE user_id::bigint %% 10 = 0""",
    """INSERT INTO notification_log
         (guild_id, streamer_id, event_id, channel_id, shard, stream_started_at, status, sent_at)
       SELECT %(g)s, s.id, 'ev' || i, %(channel)s, 0, now() - i * interval '1 minute', 'sent',
              now() - i * interval '1 minute'
       FROM generate_series(1, 10000) i
       JOIN streamers s ON s.twitch_broadcaster_id = (9000000 + i %% 1000)::text""",
    _AUDIT_SEED,
    # As autovacuum leaves a settled database: statistics and the visibility map (index-only
    # scans of the counts).
    "VACUUM ANALYZE",
]
# What a run adds (sessions, config saves' audit rows) is undone before a run on a database
# seeded by an earlier one (`BENCH_DATABASE_URL`), so every run sees the same sizes.
_RESEED = [
    "DELETE FROM web_sessions",
    "DELETE FROM audit_log",
    _AUDIT_SEED,
    "ANALYZE audit_log",
]


class Timed:
    """ASGI wrapper recording each HTTP request's server time under a label."""

    def __init__(self, app: ASGIApp, profiler: cProfile.Profile | None = None) -> None:
        self.app = app
        self.profiler = profiler
        self.label: str | None = None
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, list[float]] = defaultdict(list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.label is None:
            await self.app(scope, receive, send)
            return
        label, started, cpu = self.label, time.perf_counter(), time.thread_time()
        if self.profiler is not None:
            self.profiler.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            if self.profiler is not None:
                self.profiler.disable()
            self.samples[label].append((time.perf_counter() - started) * 1000)
            self.cpu[label].append((time.thread_time() - cpu) * 1000)


def seed_discord(fake: DiscordFakeState, guild_ids: list[str], callback: str) -> None:
    """The Discord side of the seeded database: the manager in the first `MEMBER_OF` guilds
    (owner of G), the bot in each, G's channel and a mentionable role, the OAuth client.
    Replaces what `running_site` seeds for the tests (another guild set, a rate-limited fake)."""
    fake.reset(FakeConfig(unlimited=True))
    fake.add_token(BOT_TOKEN, bot_id=APP)
    fake.add_user(MANAGER, username="manny")
    for n, guild_id in enumerate(guild_ids[:MEMBER_OF]):
        fake.add_guild(guild_id, name=f"Guild {n}", owner_id=MANAGER if n == 0 else None)
        fake.add_member(guild_id, MANAGER, permissions=0x400)
    fake.add_channel(CHANNEL, guild_id=GUILD, name="live")
    fake.add_role(ROLE, guild_id=GUILD, name="Live pings", mentionable=True)
    fake.oauth.add_client(APP, SECRET, [callback])


async def seed(database: Database) -> float | None:
    """Seed the database; on one an earlier run seeded (same sizes), only undo what a run
    adds. Returns the seconds seeding took, None when reused."""
    import psycopg

    params = {
        "g0": int(GUILD),
        "g": GUILD,
        "guilds": GUILDS,
        "streamers": STREAMERS,
        "users": USERS,
        "channel": CHANNEL,
    }
    started = time.monotonic()
    async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM guilds),"
            " (SELECT count(*) FROM users WHERE user_id <> %s),"
            " (SELECT count(*) FROM guild_streamers WHERE guild_id = %s)",
            (MANAGER, GUILD),
        )
        sizes = await cur.fetchone()
        if sizes == (GUILDS, USERS, STREAMERS):
            progress("reusing the seeded database")
            for statement in _RESEED:
                await conn.execute(statement, params)  # type: ignore[arg-type]
            return None
    database.reset()
    progress(f"seeding {GUILDS} guilds, {STREAMERS} streamers, {USERS} users")
    async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as conn:
        for statement in _SEED:
            await conn.execute(statement, params)  # type: ignore[arg-type]
    return round(time.monotonic() - started, 1)


async def run(
    database: Database, requests: int, warmup: int, profiler: cProfile.Profile | None
) -> dict[str, Any]:
    guild_ids = [str(int(GUILD) + i) for i in range(GUILDS)]
    seeded_s = await seed(database)

    with FakeDiscordServer(DiscordFakeState(FakeConfig(unlimited=True))) as discord:
        timed: Timed | None = None

        def wrap(app: ASGIApp) -> ASGIApp:
            nonlocal timed
            timed = Timed(app, profiler)
            return timed

        async with running_site(
            database.url, discord, with_oauth=True, idle=timedelta(hours=1), wrap=wrap
        ) as site:
            seed_discord(discord.state, guild_ids, f"{site.url}/auth/discord/callback")
            assert timed is not None
            async with site.browser() as browser:
                await sign_in(site, browser, MANAGER)
                await browser.get("/install?guild_id=" + GUILD)
                await site.sql(
                    "INSERT INTO user_preferences (user_id, guild_id, streamer_id)"
                    " SELECT %s, g.guild_id, gs.streamer_id FROM guild_streamers gs"
                    " JOIN guilds g USING (guild_id) WHERE g.guild_id = ANY(%s)"
                    " ON CONFLICT DO NOTHING",
                    (MANAGER, guild_ids[:MEMBER_OF]),
                )
                page = await browser.get(f"/guilds/{GUILD}")
                if 'id="channel_id" name="channel_id" required' not in page.text:
                    raise RuntimeError("the guild page shows no channel picker")
                token = csrf(page)
                shown = len(re.findall(r'name="streamer" value=', page.text)) // 3
                config = {
                    "csrf_token": token,
                    "channel_id": CHANNEL,
                    "enabled": "on",
                    "mention_role_id": ROLE,
                    "message_template": '{"content": "{streamer_login} is live!"}',
                }
                kinds = {
                    "guild_page": lambda: browser.get(f"/guilds/{GUILD}"),
                    "me_page": lambda: browser.get("/me"),
                    "config_save": lambda: browser.post(f"/guilds/{GUILD}/config", data=config),
                }
                for label, call in kinds.items():
                    progress(f"{label}: {warmup} warm-up + {requests} measured")
                    for _ in range(warmup):
                        await call()
                    timed.label = label
                    for _ in range(requests):
                        response = await call()
                        if response.status_code not in (200, 303):
                            raise RuntimeError(f"{label} answered {response.status_code}")
                    timed.label = None
            me = await site.sql(
                "SELECT count(*) FROM user_preferences WHERE user_id = %s", (MANAGER,)
            )
            tracked = await site.sql(
                "SELECT count(*) FROM guild_streamers WHERE guild_id = %s", (GUILD,)
            )
    results = {
        label: {
            "p50_ms": round(median(samples), 2),
            "p95_ms": round(percentile(samples, 0.95), 2),
            "max_ms": round(max(samples), 2),
            "cpu_p50_ms": round(median(timed.cpu[label]), 2),
            "cpu_p95_ms": round(percentile(timed.cpu[label], 0.95), 2),
            "n": len(samples),
        }
        for label, samples in timed.samples.items()
    }
    return {
        "bench": "dashboard",
        "sizes": {
            "guilds": GUILDS,
            "guild_streamers": int(tracked[0][0]),
            "rows_per_page": shown,
            "users": USERS,
            "preferences": USERS * 3 + int(me[0][0]),
            "my_guilds": MEMBER_OF,
        },
        "seed_s": seeded_s,
        "database": database.source,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": results,
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": all(r["p95_ms"] < TARGET_P95_MS for r in results.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="cProfile the measured requests (server side) into PATH (pstats) and print the"
        " top functions by cumulative time to stderr",
    )
    args = parser.parse_args()
    quiet_library_logs()
    profiler = cProfile.Profile() if args.profile else None
    with bench_database("dashboard") as database:
        result = asyncio.run(run(database, args.requests, args.warmup, profiler))
    if profiler is not None:
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
