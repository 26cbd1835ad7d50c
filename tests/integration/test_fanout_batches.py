"""A big fan-out claims in batches: every row exactly once, with its payload; a retried fan-out
claims only what is left; a later go-live sharing a guild claims after the whole fan-out, one
with disjoint guilds does not wait for it."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from typing import Any

import pytest
from structlog.testing import capture_logs

from streammaxing.db import create_pool
from streammaxing.queues import Queue, Task
from streammaxing.runtime import Runtime
from streammaxing.schema.fanout import (
    AnnouncementClaim,
    claim_announcements,
    guilds_tracking,
    guilds_tracking_pages,
)
from streammaxing.schema.golive_order import earlier_overlapping_go_live
from streammaxing.schema.outbox import pending_announcements
from streammaxing.schema.webhooks import JobRequest, accept_messages
from streammaxing.workers import fanout, golive_order
from streammaxing.workers.fanout import fan_out, shard_of
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    fake_fixture,
    runtime_fixture,
    track,
    twitch_server_fixture,
)
from tests.integration.pipeline import online_event

BIG, SMALL, OTHER = "7001", "7002", "7003"
BIG_GUILDS = [f"g{n}" for n in range(7)]


def online(broadcaster_id: str, stream_id: str) -> dict[str, Any]:
    """A stream.online event whose login is the one `fake.add_stream` gets below."""
    return online_event(
        broadcaster_id,
        stream_id,
        broadcaster_user_login=f"s{broadcaster_id}",
        broadcaster_user_name=f"S{broadcaster_id}",
    )


async def accept(runtime: Runtime, event: dict[str, Any]) -> int:
    """Accept the go-live as the ingest does; its acceptance number."""
    message_id = str(uuid.uuid4())
    request = JobRequest(message_id, Task.STREAM_ONLINE.value, Queue.EVENTS.value, {"event": event})
    async with runtime.pool.connection() as conn:
        assert await accept_messages(conn, [request]) == {message_id}
        cur = await conn.execute(
            "SELECT (args ->> 'accepted_seq')::bigint FROM procrastinate_jobs"
            " WHERE args -> 'event' ->> 'id' = %s",
            (event["id"],),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def rows(runtime: Runtime, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async with runtime.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 1, then 2: seven guilds take four batches."""
    monkeypatch.setattr(fanout, "FIRST_BATCH", 1)
    monkeypatch.setattr(fanout, "BATCH", 2)


async def test_target_pages_hold_every_target_once_first_page_first(runtime: Runtime) -> None:
    streamer_id = None
    for guild in BIG_GUILDS:
        streamer_id = await track(runtime, BIG, guild_id=guild)
    assert streamer_id is not None
    await track(runtime, OTHER, guild_id="g-other")
    async with runtime.pool.connection() as conn:
        whole = await guilds_tracking(conn, streamer_id)
        async with (
            conn.transaction(),
            aclosing(guilds_tracking_pages(conn, streamer_id, first=1, then=4)) as pages,
        ):
            read = [page async for page in pages]

    assert [len(page) for page in read] == [1, 4, 2]
    targets = [target for page in read for target in page]
    assert sorted(targets, key=lambda t: t.guild_id) == sorted(whole, key=lambda t: t.guild_id)
    # Equal templates are one dict across pages (rendering serialises each dict once).
    assert len({id(target.message_template) for target in targets}) == 1


async def test_target_pages_stop_early_and_leave_the_connection_usable(runtime: Runtime) -> None:
    streamer_id = None
    for guild in BIG_GUILDS:
        streamer_id = await track(runtime, BIG, guild_id=guild)
    assert streamer_id is not None
    async with runtime.pool.connection() as conn:
        async with (
            conn.transaction(),
            aclosing(guilds_tracking_pages(conn, streamer_id, first=2, then=2)) as pages,
        ):
            first = await anext(pages)
        assert len(first) == 2
        cur = await conn.execute("SELECT count(*) FROM pg_cursors")
        assert await cur.fetchone() == (0,)


async def test_target_pages_are_timed_as_the_pool_times_its_statements(
    runtime: Runtime, database_url: str
) -> None:
    """Each FETCH is reported as a slow query past the pool's threshold (0 ms here), named
    after the function and with its row count."""
    streamer_id = None
    for guild in BIG_GUILDS:
        streamer_id = await track(runtime, BIG, guild_id=guild)
    assert streamer_id is not None
    pool = create_pool(database_url, min_size=1, max_size=1, name="every", slow_query_ms=0)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn, conn.transaction():
            with capture_logs() as logs:
                async with aclosing(
                    guilds_tracking_pages(conn, streamer_id, first=3, then=3)
                ) as pages:
                    assert [len(page) async for page in pages] == [3, 3, 1]
    finally:
        await pool.close()
    fetches = [
        entry["rows"]
        for entry in logs
        if entry["event"] == "slow_query"
        and entry["query"] == "streammaxing.schema.fanout.guilds_tracking_pages"
    ]
    assert fetches == [3, 3, 1, 0]
    assert all(entry["pool"] == "every" for entry in logs if entry["event"] == "slow_query")


async def test_batches_claim_every_row_once_with_its_payload(
    runtime: Runtime, fake: TwitchFakeState, small_batches: None
) -> None:
    for guild in BIG_GUILDS:
        await track(runtime, BIG, guild_id=guild)
    fake.add_stream(BIG, f"s{BIG}", id="s-big")
    seq = await accept(runtime, online(BIG, "s-big"))

    result = await fan_out(runtime, online(BIG, "s-big"), seq)
    again = await fan_out(runtime, online(BIG, "s-big"), None)

    assert (result.announcements_claimed, again.announcements_claimed) == (7, 0)
    claimed = await rows(
        runtime,
        "SELECT guild_id, accepted_seq, payload IS NOT NULL FROM notification_log"
        " WHERE event_id = 's-big' ORDER BY guild_id",
    )
    assert claimed == [(g, seq, True) for g in BIG_GUILDS]
    # Every shard with a row has a delivery job; the acceptance is forgotten.
    jobs = await rows(
        runtime,
        "SELECT DISTINCT (args ->> 'shard')::int FROM procrastinate_jobs"
        " WHERE task_name = %s ORDER BY 1",
        Task.ANNOUNCE.value,
    )
    assert [j[0] for j in jobs] == sorted({shard_of(f"c-{g}") for g in BIG_GUILDS})
    assert await rows(runtime, "SELECT seq FROM golive_acceptances") == []


async def test_a_retried_fan_out_claims_and_fills_only_what_is_left(
    runtime: Runtime, fake: TwitchFakeState, small_batches: None
) -> None:
    """A fan-out that died after some batches: its rows stay as they are, a row it claimed
    without a payload gets one, the others are claimed once."""
    streamer_id = None
    for guild in BIG_GUILDS:
        streamer_id = await track(runtime, BIG, guild_id=guild)
    assert streamer_id is not None
    fake.add_stream(BIG, f"s{BIG}", id="s-big")
    seq = await accept(runtime, online(BIG, "s-big"))
    async with runtime.pool.connection() as conn:
        await claim_announcements(
            conn,
            streamer_id=streamer_id,
            event_id="s-big",
            started_at=fanout.OnlineEvent.from_payload(online(BIG, "s-big")).started_at,
            accepted_seq=seq,
            payloads=[{"content": "from the first run"}],
            claims=[
                AnnouncementClaim("g0", "c-g0", shard_of("c-g0"), 0),
                AnnouncementClaim("g1", "c-g1", shard_of("c-g1"), 0),
                AnnouncementClaim("g2", "c-g2", shard_of("c-g2"), None),
            ],
        )

    await fan_out(runtime, online(BIG, "s-big"), seq)

    # g0, g1 as they were, g2 filled, g3..g6 claimed with payloads; one row each.
    payloads = await rows(
        runtime,
        "SELECT guild_id, payload ->> 'content' = 'from the first run', payload IS NULL"
        " FROM notification_log WHERE event_id = 's-big' ORDER BY guild_id",
    )
    assert payloads == [
        ("g0", True, False),
        ("g1", True, False),
        *[(g, False, False) for g in BIG_GUILDS[2:]],
    ]


async def test_overlap_probe(runtime: Runtime) -> None:
    """Earlier go-lives still claiming hold a later one back only when a guild tracks both
    streamers, or it is the same broadcaster, or its broadcaster is unknown; not past the
    patience."""
    for guild in BIG_GUILDS:
        await track(runtime, BIG, guild_id=guild)
    await track(runtime, SMALL, guild_id="g6")
    await track(runtime, OTHER, guild_id="lonely")
    big = await accept(runtime, online(BIG, "s-big"))
    later = big + 100
    async with runtime.pool.connection() as conn:
        assert await earlier_overlapping_go_live(conn, later, SMALL, 60.0)
        assert await earlier_overlapping_go_live(conn, later, BIG, 60.0)
        assert not await earlier_overlapping_go_live(conn, later, OTHER, 60.0)
        assert not await earlier_overlapping_go_live(conn, later, "never-seen", 60.0)
        assert not await earlier_overlapping_go_live(conn, big, SMALL, 60.0)
        await conn.execute("UPDATE golive_acceptances SET accepted_at = now() - interval '61 s'")
        assert not await earlier_overlapping_go_live(conn, later, SMALL, 60.0)
        await conn.execute(
            "UPDATE golive_acceptances SET accepted_at = now(), broadcaster_id = NULL"
        )
        assert await earlier_overlapping_go_live(conn, later, OTHER, 60.0)


async def big_and_small_sharing_g6(runtime: Runtime, fake: TwitchFakeState) -> tuple[int, int]:
    """The big streamer in every BIG_GUILDS guild and the small one in g6 (one of them), both
    live at Twitch; their go-lives accepted, the big one first. Returns their numbers."""
    for guild in BIG_GUILDS:
        await track(runtime, BIG, guild_id=guild)
    await track(runtime, SMALL, guild_id="g6")
    fake.add_stream(BIG, f"s{BIG}", id="s-big")
    fake.add_stream(SMALL, f"s{SMALL}", id="s-small")
    big = await accept(runtime, online(BIG, "s-big"))
    small = await accept(runtime, online(SMALL, "s-small"))
    return big, small


async def test_a_later_go_live_sharing_a_guild_claims_after_the_whole_batched_fan_out(
    runtime: Runtime, fake: TwitchFakeState, small_batches: None
) -> None:
    big, small = await big_and_small_sharing_g6(runtime, fake)

    # The later go-live is picked up first (another worker), and waits for the big one.
    later = asyncio.create_task(fan_out(runtime, online(SMALL, "s-small"), small))
    await fan_out(runtime, online(BIG, "s-big"), big)
    assert (await later).announcements_claimed == 1

    # Claimed (sent_at: the claiming transaction's start) after every batch of the big one.
    order = await rows(
        runtime,
        "SELECT (SELECT sent_at FROM notification_log WHERE event_id = 's-small')"
        " > (SELECT max(sent_at) FROM notification_log WHERE event_id = 's-big')",
    )
    assert order == [(True,)]
    assert await rows(
        runtime,
        "SELECT event_id, accepted_seq FROM notification_log WHERE channel_id = 'c-g6'"
        " ORDER BY accepted_seq",
    ) == [("s-big", big), ("s-small", small)]


async def test_a_later_go_live_with_disjoint_guilds_does_not_wait(
    runtime: Runtime, fake: TwitchFakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The big go-live is accepted and has claimed nothing (its job not started): a go-live to
    other guilds claims and queues its announcement meanwhile."""
    monkeypatch.setattr(golive_order, "ORDER_PATIENCE_SECONDS", 3600.0)
    for guild in BIG_GUILDS:
        await track(runtime, BIG, guild_id=guild)
    await track(runtime, OTHER, guild_id="lonely")
    fake.add_stream(OTHER, f"s{OTHER}", id="s-other")
    await accept(runtime, online(BIG, "s-big"))
    other = await accept(runtime, online(OTHER, "s-other"))

    # The timeout only ends a hang (waiting for the big go-live's patience of an hour).
    result = await asyncio.wait_for(fan_out(runtime, online(OTHER, "s-other"), other), 60)

    assert result.announcements_claimed == 1
    assert await rows(
        runtime, "SELECT count(*) FROM notification_log WHERE event_id = 's-big'"
    ) == [(0,)]
    assert await rows(
        runtime, "SELECT payload IS NOT NULL FROM notification_log WHERE event_id = 's-other'"
    ) == [(True,)]


async def test_a_later_go_live_sharing_a_guild_does_not_wait_for_the_earlier_helix_lookup(
    runtime: Runtime, fake: TwitchFakeState, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    """While the earlier go-live's Helix lookup has not answered (Helix lagging EventSub), its
    rows are claimed without payloads: the later go-live sharing a guild claims and queues its
    own meanwhile, and delivery reads the shared channel's rows in acceptance order, the earlier
    one first (it holds the later one back until it has its payload)."""
    helix_answers = asyncio.Event()
    real_enrich = fanout.enrich

    async def lagging_enrich(helix: Any, event: Any, **kwargs: Any) -> Any:
        if event.broadcaster_id == BIG:
            await helix_answers.wait()
        return await real_enrich(helix, event, **kwargs)

    monkeypatch.setattr(fanout, "enrich", lagging_enrich)
    big, small = await big_and_small_sharing_g6(runtime, fake)

    earlier = asyncio.create_task(fan_out(runtime, online(BIG, "s-big"), big))
    # The timeout only ends a hang (the later go-live waiting for the lookup that never ends).
    later = await asyncio.wait_for(fan_out(runtime, online(SMALL, "s-small"), small), 60)

    assert later.announcements_claimed == 1
    assert not earlier.done()
    channel = "SELECT event_id, payload IS NOT NULL FROM notification_log WHERE channel_id = 'c-g6'"
    assert await rows(runtime, channel + " ORDER BY accepted_seq") == [
        ("s-big", False),
        ("s-small", True),
    ]
    async with runtime.pool.connection() as conn:
        pending = await pending_announcements(conn, shard_of("c-g6"), 100)
    assert [p.event_id for p in pending if p.channel_id == "c-g6"] == ["s-big", "s-small"]

    helix_answers.set()
    assert (await earlier).announcements_claimed == len(BIG_GUILDS)
    assert await rows(runtime, channel + " ORDER BY accepted_seq") == [
        ("s-big", True),
        ("s-small", True),
    ]
    assert await rows(
        runtime,
        "SELECT count(*) FROM notification_log WHERE event_id = 's-big' AND payload IS NULL",
    ) == [(0,)]
