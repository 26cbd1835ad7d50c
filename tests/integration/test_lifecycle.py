"""Stream lifecycle (SPEC §5.4): edits on channel.update and stream.offline, restart cooldown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer
from tests.integration.pipeline import Pipeline, online_event, pipeline

OFFLINE = {
    "broadcaster_user_id": "1337",
    "broadcaster_user_login": "cool_user",
    "broadcaster_user_name": "Cool_User",
}


@pytest.fixture
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer(DiscordFakeState(FakeConfig())) as fake:
        yield fake


def update_event(title: str, game: str) -> dict[str, Any]:
    return {
        "broadcaster_user_id": "1337",
        "broadcaster_user_login": "cool_user",
        "broadcaster_user_name": "Cool_User",
        "title": title,
        "language": "en",
        "category_id": "1",
        "category_name": game,
        "content_classification_labels": [],
    }


async def live_in_two_guilds(p: Pipeline) -> None:
    streamer = await p.add_streamer("1337", "cool_user")
    for n in range(2):
        await p.add_guild(f"90{n}", channel_id=f"80{n}", streamer_id=streamer, role_id=f"70{n}")
    await p.defer_online(online_event("1337", "9001"))
    await p.drain()


def patches(fake: FakeDiscordServer) -> list[Any]:
    return [r for r in fake.state.requests_to("PATCH", r"/channels/\d+/messages/\d+")]


class TestChannelUpdate:
    async def test_update_while_live_edits_every_guild_once(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """One PATCH per guild with the new title and game, and the create's allowed_mentions."""
        async with pipeline(database_url, discord=discord) as p:
            await live_in_two_guilds(p)
            await p.defer_event("channel_update", update_event("New title!", "Celeste"))
            await p.drain()
            edits = patches(discord)
            assert len(edits) == 2
            creates = {
                _channel(r.path): r.json
                for r in discord.state.requests_to("POST", r"/channels/\d+/messages")
            }
            for edit in edits:
                channel = _channel(edit.path)
                assert edit.json["allowed_mentions"] == creates[channel]["allowed_mentions"]
                assert edit.json["embeds"][0]["description"] == "New title!"
                assert "Celeste" in edit.json["embeds"][0]["title"]
            assert len(discord.state.messages) == 2

    async def test_update_while_offline_is_remembered_for_the_next_go_live(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Not live: no edit; the next go-live (Helix silent) uses the remembered title."""
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.defer_event("channel_update", update_event("Remembered", "Chess"))
            await p.drain()
            assert patches(discord) == []
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            (message,) = discord.state.messages
            assert message.embeds[0]["description"] == "Remembered"


class TestOffline:
    async def test_offline_edits_to_ended_after_the_grace_period(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """One "ended" edit per guild after the grace period; no new message."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=1) as p:
            await live_in_two_guilds(p)
            await p.defer_event("stream_offline", OFFLINE)
            await p.drain()
            edits = patches(discord)
            assert len(edits) == 2
            for edit in edits:
                assert "ended" in edit.json["content"]
                assert "allowed_mentions" in edit.json
            assert len(discord.state.messages) == 2
            rows = await p.rows("SELECT ended_at IS NOT NULL FROM streams WHERE stream_id = '9001'")
            assert rows == [(True,)]

    async def test_online_within_the_grace_cancels_the_ending(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Offline then online again (new stream id) within the grace: no "ended" edit, no post."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=2) as p:
            await live_in_two_guilds(p)
            await p.defer_event("stream_offline", OFFLINE)
            await p.defer_online(online_event("1337", "9002"))
            await p.drain()
            assert all("ended" not in e.json["content"] for e in patches(discord))
            assert len(discord.state.messages) == 2

    async def test_deleted_message_is_not_an_error(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """The announcement was deleted: the edit job succeeds and nothing is re-posted."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=0) as p:
            await live_in_two_guilds(p)
            for message in discord.state.messages:
                discord.state.delete_message(message.id)
            await p.defer_event("stream_offline", OFFLINE)
            await p.drain()
            failed = await p.rows("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
            assert failed == [(0,)]
            assert len(discord.state.requests_to("POST", r"/channels/\d+/messages")) == 2


class TestRestartCooldown:
    async def _offline_minutes_ago(self, p: Pipeline, minutes: int) -> None:
        await p.defer_event("stream_offline", OFFLINE)
        await p.drain()
        await p.execute(
            "UPDATE streams SET offline_at = now() - make_interval(mins => %s),"
            " created_at = now() - make_interval(mins => %s)",
            minutes,
            minutes + 60,
        )

    async def test_restart_after_three_minutes_edits_the_old_message_back(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Online 3 min after offline (cooldown 10): old message edited to live, no new message."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=0) as p:
            await live_in_two_guilds(p)
            await self._offline_minutes_ago(p, 3)
            before = len(patches(discord))
            await p.defer_online(online_event("1337", "9002"))
            await p.drain()
            assert len(discord.state.messages) == 2
            relive = patches(discord)[before:]
            assert len(relive) == 2
            assert all("ended" not in e.json["content"] for e in relive)
            rows = await p.rows(
                "SELECT status, resumed_from FROM notification_log WHERE event_id = '9002'"
            )
            assert rows == [("resumed", "9001"), ("resumed", "9001")]

    async def test_restart_after_fifteen_minutes_announces_again(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Online 15 min after offline (cooldown 10): a new announcement per guild."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=0) as p:
            await live_in_two_guilds(p)
            await self._offline_minutes_ago(p, 15)
            await p.defer_online(online_event("1337", "9002"))
            await p.drain()
            assert len(discord.state.messages) == 4

    @pytest.mark.parametrize(
        ("cooldown", "minutes", "channels", "rows"),
        [
            # Cooldown 0, 3 min after offline: guild 900 announces, 901 (default 10) edits.
            (0, 3, ["800", "800", "801"], [("900", "sent", None), ("901", "resumed", "9001")]),
            # 15 min, past the default but within 900's own 60: 900 edits, 901 announces.
            (3600, 15, ["800", "801", "801"], [("900", "resumed", "9001"), ("901", "sent", None)]),
        ],
        ids=["shorter", "longer"],
    )
    async def test_guild_cooldown_overrides_the_default(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        cooldown: int,
        minutes: int,
        channels: list[str],
        rows: list[tuple[str, str, str | None]],
    ) -> None:
        """A guild's own cooldown, shorter or longer than the default, decides its restart."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=0) as p:
            await live_in_two_guilds(p)
            await p.execute(
                "UPDATE guild_config SET restart_cooldown_seconds = %s WHERE guild_id = '900'",
                cooldown,
            )
            await self._offline_minutes_ago(p, minutes)
            await p.defer_online(online_event("1337", "9002"))
            await p.drain()
            assert sorted(m.channel_id for m in discord.state.messages) == channels
            restarted = await p.rows(
                "SELECT guild_id, status, resumed_from FROM notification_log"
                " WHERE event_id = '9002' ORDER BY guild_id"
            )
            assert restarted == rows

    async def test_restart_of_a_stream_that_never_went_offline_edits_the_old_message(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """A new stream id while the previous stream never said offline: the same stream to
        members, whatever its age."""
        async with pipeline(database_url, discord=discord, offline_grace_seconds=0) as p:
            await live_in_two_guilds(p)
            await p.execute("UPDATE streams SET created_at = now() - interval '2 days'")
            await p.defer_online(online_event("1337", "9002"))
            await p.drain()
            assert len(discord.state.messages) == 2
            rows = await p.rows("SELECT status FROM notification_log WHERE event_id = '9002'")
            assert rows == [("resumed",), ("resumed",)]


def _channel(path: str) -> str:
    return path.split("/channels/")[1].split("/")[0]
