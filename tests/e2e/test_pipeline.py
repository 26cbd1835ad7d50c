"""End to end: real `ingest` + two `worker` processes against the Twitch and Discord fakes."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import Stack, running_stack
from tests.fakes.discord_fake import FakeConfig
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def queue_idle(stack: Stack) -> bool:
    rows = stack.sql(
        "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        " AND queue_name <> 'maintenance' AND (scheduled_at IS NULL OR scheduled_at <= now())"
    )
    pending = stack.sql(
        "SELECT (SELECT count(*) FROM notification_log WHERE status = 'pending')"
        " + (SELECT count(*) FROM dm_log WHERE status = 'pending')"
    )
    return rows[0][0] == 0 and pending[0][0] == 0


class TestGoLive:
    def test_one_message_per_guild_however_the_stream_arrives(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """Same message id twice, new message ids, and concurrent copies → one message per guild,
        pinging only the guild's role even when the title says @everyone."""
        with running_stack(database_url, tmp_path) as stack:
            channels = stack.seed_guilds(3, broadcaster_id="1337")
            stack.twitch.add_user("1337", "cool_user", display_name="Cool_User")
            stack.twitch.add_stream(
                "1337", "cool_user", id="9001", title="@everyone <@&1> <@2> hi", game_name="Chess"
            )
            first = stack.send(broadcaster_id="1337", stream_id="9001", message_id="m-1")
            assert first.status_code == 204
            assert stack.send(broadcaster_id="1337", stream_id="9001", message_id="m-1").is_success
            assert stack.send(broadcaster_id="1337", stream_id="9001", message_id="m-2").is_success
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda n: stack.send(
                            broadcaster_id="1337", stream_id="9001", message_id=f"c-{n}"
                        ),
                        range(8),
                    )
                )
            assert all(a.is_success for a in answers)

            assert wait_for(lambda: len(stack.discord.state.messages) >= 3, timeout=30), (
                stack.logs()
            )
            assert wait_for(lambda: queue_idle(stack), timeout=30), stack.logs()
            messages = stack.discord.state.messages
            assert sorted(m.channel_id for m in messages) == sorted(channels)
            for message in messages:
                assert "@everyone <@&1> <@2> hi" in message.content
                assert message.mention_everyone is False
                assert message.mentions == ()
                assert len(message.pinged_role_ids) == 1

    def test_dms_once_per_subscriber_and_never_to_muted_users(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """A subscriber of three tracking guilds gets one DM; a member who muted gets none."""
        with running_stack(database_url, tmp_path) as stack:
            stack.seed_guilds(3, broadcaster_id="42")
            stack.sql("INSERT INTO users (user_id, username) VALUES ('6001', 'a'), ('6002', 'b')")
            stack.sql(
                "INSERT INTO dm_subscribers (guild_id, user_id) VALUES"
                " ('900000', '6001'), ('900001', '6001'), ('900002', '6001'), ('900000', '6002')"
            )
            stack.sql(
                "INSERT INTO user_preferences"
                " (user_id, guild_id, streamer_id, notifications_enabled)"
                " SELECT '6002', '900000', id, false FROM streamers"
                " WHERE twitch_broadcaster_id = '42'"
            )
            for user in ("6001", "6002"):
                stack.discord.state.add_user(user)
            assert stack.send(broadcaster_id="42", stream_id="777").is_success
            assert wait_for(lambda: len(stack.discord.state.messages) >= 4, timeout=30), (
                stack.logs()
            )
            assert wait_for(lambda: queue_idle(stack), timeout=30), stack.logs()
            scraped = "".join(httpx.get(url, timeout=5).text for url in stack.metrics_urls)
            assert 'jobs_total{outcome="succeeded",task="dm"}' in scraped
            opened = stack.discord.state.requests_to("POST", r"/users/@me/channels")
            assert [r.json["recipient_id"] for r in opened] == ["6001"]
            assert len([m for m in stack.discord.state.messages if m.guild_id is None]) == 1

    def test_unknown_channel_is_tried_once_and_the_guild_marked(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """A deleted channel: one attempt, the guild is disabled with the reason, others deliver."""
        with running_stack(database_url, tmp_path) as stack:
            channels = stack.seed_guilds(3, broadcaster_id="55")
            stack.discord.state.update_channel(channels[1], deleted=True)
            assert stack.send(broadcaster_id="55", stream_id="1").is_success
            assert wait_for(lambda: queue_idle(stack), timeout=30), stack.logs()
            assert sorted(m.channel_id for m in stack.discord.state.messages) == sorted(
                [channels[0], channels[2]]
            )
            tries = stack.discord.state.requests_to("POST", rf"/channels/{channels[1]}/messages")
            assert len(tries) == 1
            rows = stack.sql(
                "SELECT enabled, disabled_reason FROM guild_config WHERE channel_id = %s",
                (channels[1],),
            )
            assert rows[0][0] is False
            assert "10003" in rows[0][1]

    def test_twenty_streamers_into_one_channel_go_out_in_order(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """Twenty streamers live at once, one channel (5 per 5 s): go-live order, zero 429s."""
        with running_stack(database_url, tmp_path) as stack:
            stack.seed_guilds(1, broadcaster_id="2000")
            for n in range(1, 20):
                # One statement: a streamer without a guild in between is an orphan, and the
                # workers' cleanup_orphans job may delete it at that very moment.
                stack.sql(
                    "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login)"
                    " VALUES (%s, %s) RETURNING id)"
                    " INSERT INTO guild_streamers (guild_id, streamer_id)"
                    " SELECT '900000', id FROM s",
                    (str(2000 + n), f"s{n}"),
                )
            for n in range(20):
                response = stack.send(
                    broadcaster_id=str(2000 + n),
                    broadcaster_name=f"Streamer{n:02d}",
                    stream_id=str(10_000 + n),
                    timestamp=f"{_now_prefix()}.{n:02d}Z",
                )
                assert response.is_success
            assert wait_for(
                lambda: len(stack.discord.state.messages) >= 20, timeout=90, interval=0.5
            ), stack.logs()
            names = [
                int(re.search(r"Streamer(\d+)", m.content).group(1))  # type: ignore[union-attr]
                for m in stack.discord.state.messages_in("800000")
            ]
            assert names == list(range(20))
            limited = stack.discord.state.rate_limited
            assert limited.get("user", 0) == 0
            assert limited.get("global", 0) == 0

    def test_go_lives_ms_apart_reach_one_channel_in_acceptance_order(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """24 streamers, one channel, two workers: each go-live sent 5 ms after the previous
        one was accepted (timestamps deliberately reversed) → the channel receives all 24 once,
        in the order the ingest accepted them."""
        with running_stack(database_url, tmp_path) as stack:
            stack.seed_guilds(1, broadcaster_id="4000")
            for n in range(1, 24):
                stack.sql(
                    "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login)"
                    " VALUES (%s, %s) RETURNING id)"
                    " INSERT INTO guild_streamers (guild_id, streamer_id)"
                    " SELECT '900000', id FROM s",
                    (str(4000 + n), f"o{n}"),
                )
            for n in range(24):
                response = stack.send(
                    broadcaster_id=str(4000 + n),
                    broadcaster_name=f"Streamer{n:02d}",
                    stream_id=str(40_000 + n),
                    timestamp=f"{_now_prefix()}.{99 - n:02d}Z",
                )
                assert response.is_success
                time.sleep(0.005)
            assert wait_for(
                lambda: len(stack.discord.state.messages) >= 24, timeout=120, interval=0.5
            ), stack.logs()
            names = [
                int(re.search(r"Streamer(\d+)", m.content).group(1))  # type: ignore[union-attr]
                for m in stack.discord.state.messages_in("800000")
            ]
            assert names == list(range(24))


class TestLifecycle:
    def test_update_then_offline_edit_the_announcements(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """channel.update while live → one PATCH per guild; stream.offline → one "ended" edit."""
        with running_stack(
            database_url, tmp_path, extra_env={"OFFLINE_GRACE_SECONDS": "1"}
        ) as stack:
            stack.seed_guilds(2, broadcaster_id="77")
            assert stack.send(broadcaster_id="77", stream_id="4242").is_success
            assert wait_for(lambda: len(stack.discord.state.messages) == 2, timeout=30)
            assert wait_for(lambda: queue_idle(stack), timeout=30), stack.logs()
            update = stack.send(
                "channel.update", broadcaster_id="77", title="Fresh title", category_name="Go"
            )
            assert update.is_success
            edits = lambda: stack.discord.state.requests_to(  # noqa: E731
                "PATCH", r"/channels/\d+/messages/\d+"
            )
            assert wait_for(lambda: len(edits()) == 2, timeout=30), stack.logs()
            assert all("Fresh title" in e.json["content"] for e in edits())
            assert stack.send("stream.offline", broadcaster_id="77").is_success
            assert wait_for(lambda: len(edits()) == 4, timeout=30), stack.logs()
            assert all("ended" in e.json["content"] for e in edits()[2:])
            assert len(stack.discord.state.messages) == 2


class TestCrash:
    def test_kill_a_worker_mid_fan_out_and_every_guild_gets_exactly_one(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """kill -9 one of two workers mid 500-guild fan-out: 500 messages, no duplicates."""
        config = FakeConfig(global_limit=50)
        with running_stack(database_url, tmp_path, discord_config=config) as stack:
            channels = stack.seed_guilds(500, broadcaster_id="31337", role=False)
            assert stack.send(broadcaster_id="31337", stream_id="424242").is_success
            assert wait_for(lambda: len(stack.discord.state.messages) >= 100, timeout=60), (
                stack.logs()
            )
            victim = stack.workers[0]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            assert wait_for(
                lambda: len(stack.discord.state.messages) >= 500 and queue_idle(stack),
                timeout=300,
                interval=1.0,
            ), stack.logs()[-5000:]
            per_channel = Counter(m.channel_id for m in stack.discord.state.messages)
            assert set(per_channel) == set(channels)
            assert max(per_channel.values()) == 1


def _now_prefix() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
