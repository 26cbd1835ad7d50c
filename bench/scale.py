"""Query times on a large database: the 100,000-guild streamer and everything around it.

Seeds (with SQL, `generate_series`) a database of the size below times `--scale`, then times
every query that runs per go-live, per delivery, per admin page and per periodic job, through
the project's own `streammaxing.schema` functions. Every statement that changes rows runs in a
transaction that is rolled back, so one seed serves any number of runs (`--reuse`).

Full size (`--scale 1`): 100,000 guilds (all configured); 50,000 streamers, one tracked by every
guild, 100 tracked by 10,000 guilds each (×scale), the rest by 3 each and 1 % by none (orphans
with history); 1,000,000 users; 500,000 DM subscriptions (358,000 distinct users); 2,000,000
preferences; 10,000,000 delivery-log rows over 60 days (~500-byte payloads) plus the big
streamer's previous stream.

The go-live of the big streamer runs as the fan-out does (claim, render, fill, DM recipients,
DM claim), then the delivery lanes' polling queries run against its pending rows, first on the
statistics from before the claim (`*_stale`), then after an ANALYZE. `reused.*` entries time
the big streamer's skewed queries on a connection that first served a dozen small go-lives
(where a prepared statement's generic plan would show).

Statements slower than `--explain-ms` have their EXPLAIN (ANALYZE, BUFFERS) printed to stderr.
Prints ONE JSON line: per query, the median wall ms (3-5 repeats; 1 for statements that claim
or delete), the medians of this process's and the Postgres backend's CPU ms, and the rows
returned.

    createdb -h 127.0.0.1 -U postgres scale_bench
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scale_bench \\
        uv run python bench/scale.py --scale 0.1            # seeds, then measures
    ... uv run python bench/scale.py --scale 0.1 --reuse    # measures the existing seed
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from _stack import quiet_library_logs
from psycopg import AsyncConnection, AsyncCursor
from psycopg.types.json import Jsonb

from streammaxing.schema import (
    catch_up,
    fanout,
    guild_streamers,
    guilds,
    history,
    inactive_guilds,
    lifecycle,
    members,
    outbox,
    retention,
    streamers,
)
from streammaxing.schema.migrate import migrate
from streammaxing.templating import DEFAULT_TEMPLATE, StreamInfo, render_announcement
from streammaxing.workers.fanout import shard_of

try:
    from streammaxing.workers.fanout_render import render_for_targets
except ImportError:  # the tree before rendering once per distinct message: measured for "before"
    render_for_targets = None  # type: ignore[assignment]

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/scale_bench"
RETENTION_DAYS = 30
#: The DM recipients asked for: every one (the fan-out asks for its per-stream cap), so the
#: query and the DM claim are timed at full size.
DM_LIMIT = 10_000_000


# --- seed -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    guilds: int
    streamers: int
    medium_guilds: int
    users: int
    dm_subscriptions: int
    dm_users: int
    preferences: int
    log_rows: int
    medium_streamers: int = 100
    rest_links: int = 3

    @classmethod
    def at(cls, scale: float) -> Sizes:
        def n(full: int) -> int:
            return max(1, round(full * scale))

        return cls(
            guilds=n(100_000),
            streamers=max(200, n(50_000)),
            medium_guilds=n(10_000),
            users=n(1_000_000),
            dm_subscriptions=n(500_000),
            dm_users=n(358_000),
            preferences=n(2_000_000),
            log_rows=n(10_000_000),
        )

    @property
    def orphans(self) -> int:
        return max(1, self.streamers // 100)


# Streamer i's id is md5('s' || i)::uuid: deterministic, so no step needs to look ids up.
# Streamer 1 is the big one; 2..101 the medium ones; the last `orphans` are tracked by nobody.
SEED_STEPS: list[tuple[str, str]] = [
    (
        "users",
        """INSERT INTO users (user_id, username, dm_channel_id, dm_disabled_reason)
        SELECT 'u' || i, 'user' || i, CASE WHEN i % 2 = 0 THEN 'dm' || i END,
               CASE WHEN i % 50 = 0 THEN 'dms closed' END
        FROM generate_series(1, {users}) AS i""",
    ),
    (
        "guilds",
        """INSERT INTO guilds (guild_id, name, owner_id, created_at)
        SELECT 'g' || i, 'Guild ' || i, 'u' || (i % {users} + 1),
               now() - make_interval(days => 1 + i % 400)
        FROM generate_series(1, {guilds}) AS i""",
    ),
    (
        "guild_config",
        """INSERT INTO guild_config (guild_id, channel_id, mention_role_id, message_template,
                                     enabled, dm_enabled)
        SELECT 'g' || i, 'c' || i, CASE WHEN i %% 5 = 0 THEN (100000000000000000 + i)::text END,
               %(template)s, i %% 50 <> 0, i %% 10 <> 0
        FROM generate_series(1, {guilds}) AS i""",
    ),
    (
        "streamers",
        """INSERT INTO streamers (id, twitch_broadcaster_id, twitch_login, twitch_display_name,
                                  twitch_avatar_url, last_title, last_category_name)
        SELECT md5('s' || i)::uuid, 'b' || i, 'streamer' || i, 'Streamer' || i,
               'https://static-cdn.jtvnw.net/u/' || i || '.png', 'Title ' || i, 'Just Chatting'
        FROM generate_series(1, {streamers}) AS i""",
    ),
    (
        "guild_streamers (big)",
        """INSERT INTO guild_streamers (guild_id, streamer_id, enabled)
        SELECT 'g' || i, md5('s1')::uuid, i % 100 <> 0 FROM generate_series(1, {guilds}) AS i""",
    ),
    (
        "guild_streamers (medium)",
        """INSERT INTO guild_streamers (guild_id, streamer_id, custom_content)
        SELECT 'g' || ((m * 997 + k) % {guilds} + 1), md5('s' || m)::uuid,
               CASE WHEN k % 500 = 0 THEN 'Go see ' || m END
        FROM generate_series(2, 101) AS m, generate_series(0, {medium_guilds} - 1) AS k
        ON CONFLICT DO NOTHING""",
    ),
    (
        "guild_streamers (rest)",
        """INSERT INTO guild_streamers (guild_id, streamer_id)
        SELECT 'g' || ((r * 37 + k * 5573) % {guilds} + 1), md5('s' || r)::uuid
        FROM generate_series(102, {streamers} - {orphans}) AS r,
             generate_series(0, {rest_links} - 1) AS k
        ON CONFLICT DO NOTHING""",
    ),
    (
        "dm_subscribers",
        """INSERT INTO dm_subscribers (guild_id, user_id)
        SELECT 'g' || (i % {guilds} + 1), 'u' || (i % {dm_users} + 1)
        FROM generate_series(0, {dm_subscriptions} - 1) AS i
        ON CONFLICT DO NOTHING""",
    ),
    (
        "user_preferences",
        """INSERT INTO user_preferences (user_id, guild_id, streamer_id, notifications_enabled)
        SELECT 'u' || (i % {users} + 1), 'g' || ((i * 13 + i / {users}) % {guilds} + 1),
               CASE WHEN i % 20 = 0 THEN md5('s1')::uuid
                    ELSE md5('s' || (i % ({streamers} - 1) + 2))::uuid END,
               i % 10 <> 0
        FROM generate_series(0, {preferences} - 1) AS i
        ON CONFLICT DO NOTHING""",
    ),
    (
        "notification_log (history)",
        """INSERT INTO notification_log
            (guild_id, streamer_id, event_id, sent_at, channel_id, message_id, status, payload,
             shard, stream_started_at, attempts, first_attempt_at, delivered_at)
        SELECT 'g' || x.g, md5('s' || (x.e % ({streamers} - 101) + 102))::uuid, 'e' || x.e,
               x.at, 'c' || x.g, CASE WHEN x.i % 30 <> 0 THEN 'm' || x.i END,
               CASE WHEN x.i % 30 <> 0 THEN 'sent' ELSE 'failed' END,
               jsonb_build_object(
                   'content', 'Streamer' || x.e || ' is now live!',
                   'embeds', jsonb_build_array(jsonb_build_object(
                       'title', 'Streamer' || x.e || ' is streaming Just Chatting',
                       'description', 'Title of stream ' || x.e || repeat(' words', 30),
                       'url', 'https://twitch.tv/streamer' || x.e, 'color', 6570404,
                       'image', jsonb_build_object(
                           'url', 'https://static-cdn.jtvnw.net/previews-ttv/live_user_'
                                  || x.e || '-1280x720.jpg?s=' || x.e)))),
               (x.g % 64)::smallint, x.at - interval '20 seconds', 1, x.at, x.at
        FROM (
            SELECT i, i / 10 AS e, ((i / 10) * 7 + (i % 10) * 5573) % {guilds} + 1 AS g,
                   now() - make_interval(secs => 60 * 86400 * (1 - i::float8 / {log_rows}))
                       AS at
            FROM generate_series(0, {log_rows} - 1) AS i
        ) AS x""",
    ),
    (
        "notification_log (big streamer's previous stream)",
        """INSERT INTO notification_log
            (guild_id, streamer_id, event_id, sent_at, channel_id, message_id, status, shard,
             stream_started_at, attempts, delivered_at)
        SELECT 'g' || i, md5('s1')::uuid, 'big-prev', now() - interval '1 day', 'c' || i,
               'm-big-' || i, 'sent', (i % 64)::smallint, now() - interval '1 day', 1,
               now() - interval '1 day'
        FROM generate_series(1, {guilds}) AS i""",
    ),
    (
        "streams",
        """INSERT INTO streams (stream_id, streamer_id, started_at, offline_at, ended_at,
                                created_at)
        VALUES ('big-prev', md5('s1')::uuid, now() - interval '26 hours',
                now() - interval '1 day', now() - interval '1 day', now() - interval '26 hours')""",
    ),
]


async def seed(url: str, sizes: Sizes) -> dict[str, float]:
    values = {**sizes.__dict__, "orphans": sizes.orphans}
    took: dict[str, float] = {}
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "TRUNCATE users, guilds, streamers, notification_log, dm_log, streams,"
            " golive_acceptances CASCADE"
        )
        for name, sql in SEED_STEPS:
            started = time.perf_counter()
            params = {"template": Jsonb(DEFAULT_TEMPLATE)} if "%(template)s" in sql else None
            await conn.execute(sql.format(**values), params)
            took[name] = round(time.perf_counter() - started, 1)
            print(f"seeded {name} in {took[name]} s", file=sys.stderr)
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        took["vacuum analyze"] = round(time.perf_counter() - started, 1)
    return took


# --- timing ---------------------------------------------------------------------------------


class RecordingCursor(AsyncCursor[Any]):
    """Remembers the statements it runs, so a slow one can be explained."""

    log: ClassVar[list[tuple[Any, Any]]] = []

    async def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None
    ) -> Any:
        RecordingCursor.log.append((query, params))
        return await super().execute(query, params, prepare=prepare, binary=binary)


@dataclass
class Timings:
    explain_ms: float
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(
        self,
        name: str,
        samples: list[float],
        rows: int | None,
        cpu: list[tuple[float, float]] | None = None,
    ) -> None:
        """`cpu`: per sample, (this process's, the Postgres backend's) CPU ms."""
        samples.sort()
        entry: dict[str, Any] = {"median_ms": round(samples[len(samples) // 2], 2)}
        if len(samples) > 1:
            entry["max_ms"] = round(samples[-1], 2)
        if cpu:
            entry["client_cpu_ms"] = round(sorted(c for c, _ in cpu)[len(cpu) // 2], 1)
            entry["server_cpu_ms"] = round(sorted(s for _, s in cpu)[len(cpu) // 2], 1)
        if rows is not None:
            entry["rows"] = rows
        self.results[name] = entry
        print(f"{name:48s} {entry}", file=sys.stderr)

    async def explain(
        self, conn: AsyncConnection[Any], name: str, statements: list[tuple[Any, Any]]
    ) -> None:
        """EXPLAIN (ANALYZE, BUFFERS) `statements`, rolled back."""
        for query, params in statements:
            text = query if isinstance(query, str) else query.as_string(conn)
            if text.split(None, 1)[0].upper() not in {
                "SELECT",
                "WITH",
                "INSERT",
                "UPDATE",
                "DELETE",
            }:
                continue
            async with conn.transaction(force_rollback=True):
                cur = await conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + text, params, prepare=False
                )
                plan = "\n".join(str(row[0]) for row in await cur.fetchall())
            print(f"--- EXPLAIN {name}\n{plan}", file=sys.stderr)


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def backend_cpu_ms(pid: int) -> float:
    """CPU ms (user + system) a Postgres backend on this machine has used: a steadier figure
    than wall time on a busy machine (10 ms resolution)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / _TICKS_PER_S


def _rows(result: object) -> int | None:
    if isinstance(result, (list, set, tuple, dict)):
        return len(result)
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return None


async def measure(
    timings: Timings,
    conn: AsyncConnection[Any],
    name: str,
    call: Callable[[], Awaitable[Any]],
    *,
    repeats: int = 1,
    rollback: bool = False,
) -> Any:
    """Time `call` `repeats` times (each in a rolled-back transaction if `rollback`); explain
    the last repeat's statements if the median is slow."""
    samples: list[float] = []
    cpu: list[tuple[float, float]] = []
    result: Any = None
    last: list[tuple[Any, Any]] = []
    backend = conn.info.backend_pid
    for _ in range(repeats):
        mark = len(RecordingCursor.log)
        server_cpu = backend_cpu_ms(backend)
        client_cpu = time.process_time()
        started = time.perf_counter()
        if rollback:
            async with conn.transaction(force_rollback=True):
                result = await call()
        else:
            result = await call()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append(
            ((time.process_time() - client_cpu) * 1000, backend_cpu_ms(backend) - server_cpu)
        )
        last = RecordingCursor.log[mark:]
        del RecordingCursor.log[mark:]
    timings.record(name, samples, _rows(result), cpu)
    if sorted(samples)[len(samples) // 2] > timings.explain_ms:
        await timings.explain(conn, name, last)
    return result


async def scalar(conn: AsyncConnection[Any], sql: str) -> Any:
    cur = await conn.execute(sql, prepare=False)
    row = await cur.fetchone()
    return row[0] if row else None


SAMPLE_INFO = StreamInfo(
    streamer_login="streamer1",
    streamer_display_name="Streamer1",
    streamer_avatar_url="https://static-cdn.jtvnw.net/u/1.png",
    stream_title="The big one",
    game_name="Just Chatting",
    viewer_count=120_000,
    stream_thumbnail_url="https://static-cdn.jtvnw.net/previews-ttv/live_user_streamer1.jpg",
    started_at=datetime.now(UTC),
)


_CAPPED = "limit" in inspect.signature(fanout.dm_recipients).parameters


async def dm_recipients(
    conn: AsyncConnection[Any], streamer_id: UUID, guild_ids: list[str], limit: int, key: str
) -> list[fanout.DmRecipient]:
    """`fanout.dm_recipients`, on the tree before the per-stream cap too (for "before")."""
    if _CAPPED:
        return await fanout.dm_recipients(conn, streamer_id, guild_ids, limit=limit, sample_key=key)
    return await fanout.dm_recipients(conn, streamer_id, guild_ids)  # type: ignore[call-arg]


def sid(i: int) -> UUID:
    """Streamer i's id, as the seed made it."""
    return UUID(hashlib.md5(f"s{i}".encode(), usedforsecurity=False).hexdigest())


async def golive(
    timings: Timings, conn: AsyncConnection[Any], label: str, streamer: int, *, polling: bool
) -> None:
    """One go-live, as the fan-out runs it, in a transaction that is rolled back."""
    streamer_id = sid(streamer)
    event_id = f"bench-{label}-{time.time_ns()}"
    started_at = datetime.now(UTC)
    async with conn.transaction(force_rollback=True):
        targets = await measure(
            timings,
            conn,
            f"{label}.guilds_tracking",
            lambda: fanout.guilds_tracking(conn, streamer_id),
            repeats=3,
        )
        guild_ids = [t.guild_id for t in targets]
        await measure(
            timings,
            conn,
            f"{label}.resume_targets",
            lambda: lifecycle.resume_targets(
                conn,
                streamer_id=streamer_id,
                stream_id=event_id,
                default_cooldown=600,
            ),
            repeats=3,
        )
        claims = [
            fanout.AnnouncementClaim(t.guild_id, t.channel_id, shard_of(t.channel_id))
            for t in targets
        ]
        await measure(
            timings,
            conn,
            f"{label}.claim_announcements",
            lambda: fanout.claim_announcements(
                conn,
                streamer_id=streamer_id,
                event_id=event_id,
                started_at=started_at,
                claims=claims,
            ),
        )
        started, client_cpu = time.perf_counter(), time.process_time()
        if render_for_targets is None:
            per_guild = {
                t.guild_id: render_announcement(
                    t.message_template,
                    SAMPLE_INFO,
                    mention_role_id=t.mention_role_id,
                    cache_buster=event_id,
                    custom_content=t.custom_content,
                )
                for t in targets
            }

            def fill() -> Awaitable[list[int]]:
                return fanout.fill_announcement_payloads(
                    conn, event_id=event_id, payloads=per_guild
                )
        elif hasattr(fanout, "fill_announcement_payloads"):
            rendered = render_for_targets(targets, SAMPLE_INFO, cache_buster=event_id)

            def fill() -> Awaitable[list[int]]:
                return fanout.fill_announcement_payloads(  # type: ignore[attr-defined]
                    conn,
                    event_id=event_id,
                    payloads=rendered.payloads,
                    payload_of=rendered.of_guild,
                )
        else:
            # The tree where a claim carries its payload: the claimed rows (payload NULL) are
            # filled by claiming them again with their payloads, as a retried fan-out does.
            rendered = render_for_targets(targets, SAMPLE_INFO, cache_buster=event_id)
            filled_claims = [
                fanout.AnnouncementClaim(
                    t.guild_id,
                    t.channel_id,
                    shard_of(t.channel_id),
                    rendered.of_guild.get(t.guild_id),
                )
                for t in targets
            ]

            def fill() -> Awaitable[list[int]]:
                return fanout.claim_announcements(
                    conn,
                    streamer_id=streamer_id,
                    event_id=event_id,
                    started_at=started_at,
                    claims=filled_claims,
                    payloads=rendered.payloads,
                )

        timings.record(
            f"{label}.render_python",
            [(time.perf_counter() - started) * 1000],
            None,
            [((time.process_time() - client_cpu) * 1000, 0.0)],
        )
        await measure(
            timings,
            conn,
            f"{label}.fill_payloads",
            fill,
        )
        recipients = await measure(
            timings,
            conn,
            f"{label}.dm_recipients",
            lambda: dm_recipients(conn, streamer_id, guild_ids, DM_LIMIT, event_id),
            repeats=3,
        )
        if _CAPPED:
            await measure(
                timings,
                conn,
                f"{label}.dm_recipients_capped_1000",
                lambda: dm_recipients(conn, streamer_id, guild_ids, 1000, event_id),
                repeats=3,
            )
        dm_payload = render_announcement(
            DEFAULT_TEMPLATE, SAMPLE_INFO, mention_role_id=None, cache_buster=event_id
        )
        await measure(
            timings,
            conn,
            f"{label}.claim_dms",
            lambda: fanout.claim_dms(
                conn,
                streamer_id=streamer_id,
                event_id=event_id,
                payload=dm_payload,
                recipients=recipients,
            ),
        )
        if polling:
            await delivery_polling(timings, conn, label, "stale")
            await measure(
                timings,
                conn,
                f"{label}.analyze_notification_log",
                lambda: conn.execute("ANALYZE notification_log"),
            )
            await measure(
                timings, conn, f"{label}.analyze_dm_log", lambda: conn.execute("ANALYZE dm_log")
            )
            await delivery_polling(timings, conn, label, "analyzed")


async def delivery_polling(
    timings: Timings, conn: AsyncConnection[Any], label: str, stats: str
) -> None:
    """The delivery lanes' queries while a fan-out's rows are pending."""
    prefix = f"{label}.{stats}"
    shards = await measure(
        timings,
        conn,
        f"{prefix}.shards_with_pending",
        lambda: outbox.shards_with_pending(conn),
        repeats=3,
    )
    shard = shards[0] if shards else 0
    await measure(
        timings,
        conn,
        f"{prefix}.next_announcement_due",
        lambda: outbox.next_announcement_due(conn, shard),
        repeats=3,
    )
    rows = await measure(
        timings,
        conn,
        f"{prefix}.pending_announcements",
        lambda: outbox.pending_announcements(conn, shard, 500),
        repeats=3,
    )
    marks = [outbox.SentMark(r.id, r.channel_id, f"msg-{r.id}") for r in rows[:8]]
    await measure(
        timings,
        conn,
        f"{prefix}.mark_announcements_sent_8",
        lambda: outbox.mark_announcements_sent(conn, marks),
        repeats=3,
        rollback=True,
    )
    await measure(
        timings, conn, f"{prefix}.next_dm_due", lambda: outbox.next_dm_due(conn), repeats=3
    )
    dms = await measure(
        timings, conn, f"{prefix}.pending_dms", lambda: outbox.pending_dms(conn, 50), repeats=3
    )
    await measure(
        timings, conn, f"{prefix}.dms_pending", lambda: outbox.dms_pending(conn), repeats=3
    )
    if dms:
        await measure(
            timings,
            conn,
            f"{prefix}.mark_dm_done",
            lambda: outbox.mark_dm_done(
                conn, dms[0].id, status="sent", channel_id="dm", message_id="m"
            ),
            repeats=3,
            rollback=True,
        )


async def reused_connection(timings: Timings, url: str, sizes: Sizes) -> None:
    """The skewed queries for the big streamer on a connection that first served a dozen small
    go-lives, as a worker's pooled connection does: psycopg prepares a statement on its 5th
    use, and after 5 custom plans Postgres may keep a generic plan built for small streamers."""
    async with await AsyncConnection.connect(
        url, autocommit=True, cursor_factory=RecordingCursor
    ) as conn:
        for n in range(12):
            small = sid(sizes.streamers // 2 + n)
            small_guilds = [t.guild_id for t in await fanout.guilds_tracking(conn, small)]
            await dm_recipients(conn, small, small_guilds, DM_LIMIT, "s")
        del RecordingCursor.log[:]
        big = sid(1)
        targets = await measure(
            timings,
            conn,
            "reused.big.guilds_tracking",
            lambda: fanout.guilds_tracking(conn, big),
            repeats=3,
        )
        big_guilds = [t.guild_id for t in targets]
        await measure(
            timings,
            conn,
            "reused.big.dm_recipients",
            lambda: dm_recipients(conn, big, big_guilds, DM_LIMIT, "s"),
            repeats=3,
        )


async def pages_and_jobs(timings: Timings, conn: AsyncConnection[Any], sizes: Sizes) -> None:
    guild = f"g{sizes.guilds // 2}"
    user = "u4"  # a DM subscriber with preferences
    member_of = [f"g{i}" for i in range(1, 51)]
    page: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("page.get_guild", lambda: guilds.get_guild(conn, guild)),
        ("page.get_config", lambda: guilds.get_config(conn, guild)),
        ("page.list_guilds", lambda: guilds.list_guilds(conn, after=None, limit=100)),
        ("page.guild_streamers", lambda: guild_streamers.guild_streamers(conn, guild)),
        ("page.guild_history", lambda: history.guild_history(conn, guild, limit=50)),
        (
            "page.list_subscribers",
            lambda: members.list_subscribers(conn, guild, after=None, limit=100),
        ),
        ("page.user_preferences", lambda: members.user_preferences(conn, user)),
        (
            "page.member_guilds",
            lambda: members.member_guilds(conn, user, member_of, offset=0, limit=10),
        ),
        (
            "page.member_streamers",
            lambda: members.member_streamers(
                conn, user, dict.fromkeys(member_of[:10], 0), limit=50
            ),
        ),
        ("job.catch_up.announceable", lambda: catch_up.announceable_broadcasters(conn)),
        (
            "job.catch_up.unannounced_1000",
            lambda: catch_up.unannounced_streams(conn, [f"e{i * 97}" for i in range(1000)]),
        ),
        ("job.orphaned_streamers", lambda: streamers.orphaned_streamers(conn)),
        ("job.count_inactive_guilds", lambda: inactive_guilds.count_inactive_guilds(conn, 90)),
    ]
    for name, call in page:
        await measure(timings, conn, name, call, repeats=5)
    orphan = sid(sizes.streamers)
    changing: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("job.delete_orphan", lambda: streamers.delete_streamer_if_orphaned(conn, orphan)),
        ("job.delete_guild", lambda: guilds.delete_guild(conn, guild)),
        ("job.prune_notification_log", lambda: retention.prune_notification_log(conn, 30)),
        ("job.prune_dm_log", lambda: retention.prune_dm_log(conn, 30)),
    ]
    for name, call in changing:
        await measure(timings, conn, name, call, repeats=1, rollback=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    sizes = Sizes.at(args.scale)
    if not args.no_migrate:
        await migrate(url)
    out: dict[str, Any] = {"bench": "scale", "scale": args.scale, "sizes": sizes.__dict__}
    if not args.reuse:
        out["seed_seconds"] = await seed(url, sizes)
    timings = Timings(args.explain_ms)
    load_before = os.getloadavg()[0]
    async with await AsyncConnection.connect(
        url, autocommit=True, cursor_factory=RecordingCursor
    ) as conn:
        out["schema_version"] = await scalar(conn, "SELECT max(version) FROM schema_migrations")
        out["notification_log_rows_estimate"] = await scalar(
            conn, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'notification_log'"
        )
        # Start from a quiet period's statistics (nothing pending), whatever an earlier run's
        # rolled-back ANALYZE left in pg_class.
        await conn.execute("VACUUM ANALYZE notification_log, dm_log")
        await golive(timings, conn, "small", sizes.streamers // 2, polling=False)
        await golive(timings, conn, "medium", 50, polling=False)
        await golive(timings, conn, "big", 1, polling=True)
        await pages_and_jobs(timings, conn, sizes)
    await reused_connection(timings, url, sizes)
    out["load_1min_before"] = round(load_before, 2)
    out["load_1min_after"] = round(os.getloadavg()[0], 2)
    out["queries"] = timings.results
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--reuse", action="store_true", help="measure the database as seeded")
    parser.add_argument(
        "--no-migrate", action="store_true", help="measure the schema as it is (e.g. before)"
    )
    parser.add_argument("--explain-ms", type=float, default=100.0)
    args = parser.parse_args()
    quiet_library_logs()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
