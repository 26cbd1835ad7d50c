"""Fairness between go-lives: a small go-live is not queued behind a big one's backlog."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest

from streammaxing.bootstrap import worker_options
from streammaxing.workers.fanout import shard_of
from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer
from tests.integration.pipeline import online_event, pipeline

BIG_GUILDS = 60


@pytest.fixture
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer(DiscordFakeState(FakeConfig())) as fake:
        yield fake


def channels_of_one_shard(count: int) -> list[str]:
    """`count` channel ids that all fall in one delivery shard: one shard's job then holds the
    whole backlog, the case where a go-live used to wait behind every row ahead of it."""
    candidates = (str(800_000 + n) for n in itertools.count())
    first = next(candidates)
    shard = shard_of(first)
    return [first, *itertools.islice((c for c in candidates if shard_of(c) == shard), count - 1)]


async def test_a_small_go_live_overtakes_a_big_fan_outs_backlog(
    database_url: str, discord: FakeDiscordServer
) -> None:
    """A 60-guild fan-out is draining (paced at 20 req/s) when a streamer tracked by one guild,
    and by one of the big streamer's guilds, goes live. The small guild's announcement goes out
    while most of the backlog is still waiting; the shared channel gets the big streamer's
    announcement first (go-live order); every guild gets exactly one message per go-live."""
    *big_channels, small_channel = channels_of_one_shard(BIG_GUILDS + 1)
    shared_channel = big_channels[-1]
    async with pipeline(database_url, discord=discord, global_rate=20.0) as p:
        big = await p.add_streamer("100", "big")
        small = await p.add_streamer("200", "small")
        for n, channel in enumerate(big_channels):
            await p.add_guild(f"9{n:04}", channel_id=channel, streamer_id=big)
        await p.add_guild("95000", channel_id=small_channel, streamer_id=small)
        await p.execute(
            "INSERT INTO guild_streamers (guild_id, streamer_id) VALUES (%s, %s)",
            f"9{BIG_GUILDS - 1:04}",
            small,
        )
        await p.defer_online(online_event("100", "7100"))
        draining = asyncio.create_task(p.drain(within=60))
        while len(discord.state.messages) < 5:
            assert not draining.done(), "the big fan-out ended before it was under way"
            await asyncio.sleep(0.05)
        await p.defer_online(online_event("200", "7200", started_at="2026-11-25T10:05:00Z"))
        # The draining worker takes no new job until its running ones end: a second worker
        # fans the small go-live out now, as another worker process would.
        await p.runtime.app.run_worker_async(
            queues=["events"],
            wait=False,
            concurrency=1,
            **worker_options(p.runtime),
            install_signal_handlers=False,
        )
        await draining

        order = [m.channel_id for m in discord.state.messages]
        # Exactly once: one message per big guild, and the shared channel got both go-lives.
        assert sorted(order) == sorted([*big_channels, small_channel, shared_channel])
        position = order.index(small_channel)
        big_after = sum(1 for c in order[position:] if c in set(big_channels))
        assert big_after > BIG_GUILDS // 2, f"the small go-live went out at {position}: {order}"
        shared = [m.content for m in discord.state.messages_in(shared_channel)]
        assert ["Name100" in shared[0], "Name200" in shared[1]] == [True, True], shared
        rows = await p.rows("SELECT status, count(*) FROM notification_log GROUP BY status")
        assert rows == [("sent", BIG_GUILDS + 2)]
