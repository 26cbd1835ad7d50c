"""The go-live pipeline in-process: stream_online → fan-out → delivery jobs → the Discord fake."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer, Fault
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import TwitchFakeState, create_app
from tests.integration.pipeline import online_event, pipeline


@pytest.fixture
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer(DiscordFakeState(FakeConfig())) as fake:
        yield fake


@pytest.fixture
def twitch() -> Iterator[tuple[str, TwitchFakeState]]:
    state = TwitchFakeState()
    with ServerThread(create_app(state)) as server:
        yield server.url, state


class TestAnnouncements:
    async def test_one_message_per_guild_with_role_ping_only(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Three guilds → three messages; @everyone and mentions in the title ping only the role."""
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            for n in range(3):
                await p.add_guild(
                    f"90{n}", channel_id=f"80{n}", streamer_id=streamer, role_id=f"70{n}"
                )
            template = {"content": "{stream_title} @everyone <@&1> <@2>"}
            await p.execute("UPDATE guild_config SET message_template = %s::jsonb", _json(template))
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()

            messages = discord.state.messages
            assert sorted(m.channel_id for m in messages) == ["800", "801", "802"]
            for message in messages:
                guild_role = "70" + message.channel_id[-1]
                assert message.pinged_role_ids == (guild_role,)
                assert message.mention_roles == (guild_role,)
                assert message.mentions == ()
                assert message.mention_everyone is False
            rows = await p.rows("SELECT status, message_id FROM notification_log ORDER BY guild_id")
            assert {r[0] for r in rows} == {"sent"}
            assert all(r[1] for r in rows)

    async def test_same_stream_three_ways_is_still_one_message_per_guild(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """The same stream id delivered again (new message id) and in parallel → one per guild."""
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            for n in range(2):
                await p.add_guild(f"90{n}", channel_id=f"80{n}", streamer_id=streamer)
            for _ in range(3):
                await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            assert len(discord.state.messages) == 2

    async def test_unknown_channel_is_one_attempt_and_marks_the_guild(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """10003 → one request, guild config disabled with the reason, other guilds unaffected."""
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.add_guild("902", channel_id="802", streamer_id=streamer, in_fake=False)
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            assert [m.channel_id for m in discord.state.messages] == ["801"]
            assert len(discord.state.requests_to("POST", r"/channels/802/messages")) == 1
            config = await p.rows(
                "SELECT enabled, disabled_reason FROM guild_config WHERE guild_id = '902'"
            )
            assert config[0][0] is False
            assert "10003" in config[0][1]
            await p.defer_online(online_event("1337", "9002"))
            await p.drain()
            assert len(discord.state.requests_to("POST", r"/channels/802/messages")) == 1

    async def test_server_error_is_retried_with_the_same_nonce(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """A 500 then success → exactly one message; both attempts carried the same nonce."""
        discord.state.inject(Fault.error("POST", r"/channels/801/messages", 500))
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.defer_online(online_event("1337", "9001"))
            await p.drain(within=30)
            requests = discord.state.requests_to("POST", r"/channels/801/messages")
            assert len(requests) == 2
            assert len({r.json["nonce"] for r in requests}) == 1
            assert len(discord.state.messages) == 1

    async def test_drop_after_commit_gives_one_message(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Discord created the message but the answer was lost: the retry gets the same message."""
        discord.state.inject(Fault.drop_after_commit("POST", r"/channels/801/messages"))
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.defer_online(online_event("1337", "9001"))
            await p.drain(within=30)
            assert len(discord.state.requests_to("POST", r"/channels/801/messages")) == 2
            assert len(discord.state.messages) == 1
            rows = await p.rows("SELECT status, message_id FROM notification_log")
            assert rows == [("sent", discord.state.messages[0].id)]

    @pytest.mark.parametrize("is_global", [False, True])
    async def test_429_is_honoured_before_retrying(
        self, database_url: str, discord: FakeDiscordServer, is_global: bool
    ) -> None:
        """A user or global 429 with retry_after 1.5 s: the retry comes no sooner, one message."""
        body = {"message": "You are being rate limited.", "retry_after": 1.5, "global": is_global}
        discord.state.inject(Fault.error("POST", r"/channels/801/messages", 429, body))
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.defer_online(online_event("1337", "9001"))
            await p.drain(within=30)
            first, second = discord.state.requests_to("POST", r"/channels/801/messages")
            assert first.status == 429
            assert second.time - first.time >= 1.5
            assert len(discord.state.messages) == 1
            rows = await p.rows("SELECT attempts, status FROM notification_log")
            assert rows == [(1, "sent")]

    async def test_many_streamers_into_one_channel_in_order_without_429(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Eight streamers live at once into one channel (5 per 5 s bucket): in order, no 429."""
        async with pipeline(database_url, discord=discord) as p:
            await p.execute("INSERT INTO guilds (guild_id, name) VALUES ('901', 'one')")
            for n in range(8):
                streamer = await p.add_streamer(f"{100 + n}", f"s{n}")
                if n == 0:
                    await p.add_guild("901", channel_id="801", streamer_id=streamer)
                else:
                    await p.execute(
                        "INSERT INTO guild_streamers (guild_id, streamer_id) VALUES ('901', %s)",
                        streamer,
                    )
                event = online_event(f"{100 + n}", f"{5000 + n}")
                event["started_at"] = f"2026-11-25T10:00:{10 + n}Z"
                await p.defer_online(event)
            await p.drain(within=40)
            contents = [m.content for m in discord.state.messages_in("801")]
            order = [int(re.search(r"Name(\d+)", c).group(1)) for c in contents]  # type: ignore[union-attr]
            assert order == list(range(100, 108))
            assert discord.state.rate_limited.get("user", 0) == 0
            assert discord.state.rate_limited.get("global", 0) == 0


class TestDirectMessages:
    async def test_subscribers_get_one_dm_and_muted_users_none(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """A subscriber of three guilds gets one DM; a user who muted the streamer gets none."""
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            for n in range(3):
                await p.add_guild(f"90{n}", channel_id=f"80{n}", streamer_id=streamer)
                await p.add_dm_subscriber(f"90{n}", "5001")
            await p.add_dm_subscriber("900", "5002")
            await p.execute(
                "INSERT INTO user_preferences (user_id, guild_id, streamer_id,"
                " notifications_enabled) VALUES ('5002', '900', %s, false)",
                streamer,
            )
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            dm_opens = discord.state.requests_to("POST", r"/users/@me/channels")
            assert [r.json["recipient_id"] for r in dm_opens] == ["5001"]
            dms = [m for m in discord.state.messages if m.guild_id is None]
            assert len(dms) == 1
            cached = await p.rows("SELECT dm_channel_id FROM users WHERE user_id = '5001'")
            assert cached[0][0] == dms[0].channel_id


class TestCustomContent:
    async def test_a_streamers_custom_message_replaces_the_template_content(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """A guild with a custom message for the streamer sends it; the other, its template."""
        async with pipeline(database_url, discord=discord) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer, role_id="701")
            await p.add_guild("902", channel_id="802", streamer_id=streamer)
            template = {"content": "template {streamer_login}", "embed": {"title": "{game_name}"}}
            await p.execute("UPDATE guild_config SET message_template = %s::jsonb", _json(template))
            await p.execute(
                "UPDATE guild_streamers SET custom_content = %s WHERE guild_id = '901'",
                "{streamer_login} is on, come say hi",
            )
            await p.defer_online(online_event("1337", "9001", title="Speedrun"))
            await p.drain()

            (custom,) = discord.state.messages_in("801")
            (plain,) = discord.state.messages_in("802")
            assert custom.content == "<@&701> login1337 is on, come say hi"
            assert custom.pinged_role_ids == ("701",)
            assert plain.content == "template login1337"
            assert custom.embeds == plain.embeds


class TestDryRun:
    async def test_dry_run_records_without_sending(self, database_url: str) -> None:
        """Without Discord, announcements are rendered, logged and recorded as dry_run."""
        async with pipeline(database_url, discord=None) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            rows = await p.rows("SELECT status, payload->>'content' FROM notification_log")
            assert rows == [("dry_run", "Name1337 is now live!")]


class TestEnrichment:
    async def test_helix_fields_fill_the_template(
        self, database_url: str, discord: FakeDiscordServer, twitch: tuple[str, TwitchFakeState]
    ) -> None:
        """Title, game and avatar come from Helix when it knows the stream."""
        url, state = twitch
        state.add_user(
            "1337", "cool_user", display_name="Cool_User", profile_image_url="https://x/a.png"
        )
        state.add_stream(
            "1337", "cool_user", id="9001", title="Speedrun!", game_name="Celeste", viewer_count=42
        )
        async with pipeline(database_url, discord=discord, twitch_url=url, twitch_state=state) as p:
            streamer = await p.add_streamer("1337", "cool_user")
            await p.add_guild("901", channel_id="801", streamer_id=streamer)
            await p.defer_online(online_event("1337", "9001"))
            await p.drain()
            (message,) = discord.state.messages
            embed = message.embeds[0]
            assert embed["description"] == "Speedrun!"
            assert "Celeste" in embed["title"]
            assert embed["thumbnail"]["url"] == "https://x/a.png"


def _json(value: object) -> str:
    import json

    return json.dumps(value)
