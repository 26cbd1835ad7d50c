"""The Discord port: the live one takes a limiter slot, sends and records every response; the
dry-run one logs what it would send and sends nothing.

The live port runs against the Discord fake and the Postgres limiter; what the limiter learned is
read back from its bucket rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from streammaxing.discord.client import (
    DiscordClient,
    build_http_client,
    create_message_route,
)
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.discord.errors import MISSING_ACCESS, PermanentError, TransientError
from streammaxing.discord.limiter import HALT_UNAUTHORIZED, DiscordLimiter, token_fingerprint
from streammaxing.discord.live_port import LiveDiscordPort
from streammaxing.discord.port import (
    Accepted,
    Announcement,
    DirectMessage,
    Halted,
    MessageEdit,
    MustWait,
    Refused,
)
from streammaxing.discord.ratelimit_headers import RateLimitInfo
from streammaxing.schema.ratelimits import invalid_request_count
from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer, Fault

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]

BOT_TOKEN = "bot-token-for-port-tests"
TOKEN = token_fingerprint(BOT_TOKEN)
PAYLOAD: dict[str, Any] = {"content": "live now", "allowed_mentions": {"parse": []}}
CHANNELS = ("800", "801", "802")
ROUTE = create_message_route("800").key


@dataclass
class Live:
    port: LiveDiscordPort
    limiter: DiscordLimiter
    fake: DiscordFakeState
    pool: Pool

    async def bucket(self, major: str) -> tuple[Any, ...]:
        """(limit, remaining, blocked_until) of the bucket the limiter now uses for a message
        to channel `major`."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT lim, remaining, blocked_until FROM discord_rl_buckets"
                " WHERE token_key = %s AND bucket_key = discord_rl_bucket_key(%s, %s, %s)",
                (TOKEN, TOKEN, ROUTE, major),
            )
            row = await cur.fetchone()
        assert row is not None
        return row

    async def reserved(self, major: str) -> bool:
        """Does any bucket of channel `major` hold a request whose response is not recorded?"""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM discord_rl_buckets WHERE token_key = %s"
                " AND bucket_key LIKE %s AND in_flight_until > clock_timestamp()",
                (TOKEN, f"%:{major}"),
            )
            row = await cur.fetchone()
        assert row is not None
        return bool(row[0])

    def posts_to(self, channel_id: str) -> int:
        return len(self.fake.requests_to("POST", rf"/channels/{channel_id}/messages"))


@pytest.fixture
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer(DiscordFakeState(FakeConfig(global_limit=None))) as fake:
        fake.state.add_token(BOT_TOKEN)
        for channel_id in CHANNELS:
            fake.state.add_channel(channel_id, guild_id="900")
        fake.state.add_user("700")
        yield fake


@pytest.fixture
async def live(pool: Pool, discord: FakeDiscordServer) -> AsyncIterator[Live]:
    limiter = DiscordLimiter(pool, global_rate=1_000.0, token_fingerprint=TOKEN)
    port = LiveDiscordPort(
        DiscordClient(build_http_client(discord.api_url, BOT_TOKEN, "test")), limiter
    )
    try:
        yield Live(port, limiter, discord.state, pool)
    finally:
        await port.aclose()


def announcement(channel_id: str) -> Announcement:
    return Announcement("900", channel_id, PAYLOAD, nonce=f"nonce-{channel_id}")


class TestLiveDiscordPortAnnounce:
    async def test_success_is_accepted_and_its_bucket_learned(self, live: Live) -> None:
        """A 200 comes back as Accepted with the message; the limiter learns the bucket's
        limit and remaining from it and holds no reservation."""
        [answer] = await live.port.announce([announcement("800")], max_wait=5.0)

        assert isinstance(answer, Accepted)
        assert answer.message is not None
        assert live.fake.message(answer.message.id).channel_id == "800"
        assert await live.bucket("800") == (5, 4, None)
        assert not await live.reserved("800")

    async def test_a_batch_answers_each_message_in_order(self, live: Live) -> None:
        """Three channels in one call: one answer per message, in the order given; a channel
        Discord refuses does not stop the others."""
        live.fake.update_channel("801", permissions=0)
        answers = await live.port.announce(
            [announcement(channel) for channel in CHANNELS], max_wait=5.0
        )

        assert [type(a) for a in answers] == [Accepted, Refused, Accepted]
        refused = answers[1]
        assert isinstance(refused, Refused)
        assert isinstance(refused.error, PermanentError)
        sent = [a.message.channel_id for a in answers if isinstance(a, Accepted) and a.message]
        assert sent == ["800", "802"]

    async def test_429_is_recorded_and_closes_the_bucket(self, live: Live) -> None:
        """A 429 comes back as Refused; recorded, it closes the bucket for retry_after, so the
        next message to that channel waits (MustWait) and is not sent."""
        live.fake.inject(
            Fault.error(
                "POST",
                "/channels/800/messages",
                429,
                {"message": "You are being rate limited.", "retry_after": 30.0, "global": False},
            )
        )
        [limited] = await live.port.announce([announcement("800")], max_wait=5.0)
        [waiting] = await live.port.announce([announcement("800")], max_wait=1.0)

        assert isinstance(limited, Refused)
        _, _, blocked_until = await live.bucket("800")
        assert blocked_until > datetime.now(UTC) + timedelta(seconds=25)
        assert isinstance(waiting, MustWait)
        assert waiting.error.retry_at > datetime.now(UTC) + timedelta(seconds=25)
        assert live.posts_to("800") == 1

    async def test_5xx_is_recorded_and_releases_the_reservation(self, live: Live) -> None:
        """A 500 comes back as Refused(TransientError); recorded, it frees the bucket's single
        in-flight request, so the resend goes out at once (and returns the message its nonce
        may already have made)."""
        live.fake.inject(Fault.error("POST", "/channels/800/messages", 500))
        [failed] = await live.port.announce([announcement("800")], max_wait=5.0)
        reserved = await live.reserved("800")
        [retried] = await live.port.announce([announcement("800")], max_wait=0.5)

        assert isinstance(failed, Refused)
        assert isinstance(failed.error, TransientError)
        assert not reserved
        assert isinstance(retried, Accepted)

    async def test_permanent_error_is_recorded_as_an_invalid_request(self, live: Live) -> None:
        """A 403 comes back as Refused(PermanentError) with Discord's code; recorded, it counts
        toward the invalid-request breaker and frees the bucket."""
        live.fake.update_channel("800", permissions=0)
        [answer] = await live.port.announce([announcement("800")], max_wait=5.0)

        assert isinstance(answer, Refused)
        assert isinstance(answer.error, PermanentError)
        assert answer.error.code == MISSING_ACCESS
        async with live.pool.connection() as conn:
            assert await invalid_request_count(conn, TOKEN) == 1
        assert not await live.reserved("800")

    async def test_halted_limiter_sends_nothing(self, live: Live) -> None:
        """While sending is halted (a 401 was recorded) the answer is Halted with the reason,
        and no request reaches Discord."""
        await live.limiter.record(ROUTE, "800", 401, None)
        [answer] = await live.port.announce([announcement("800")], max_wait=5.0)

        assert isinstance(answer, Halted)
        assert answer.error.reason == HALT_UNAUTHORIZED
        assert live.fake.requests == ()

    async def test_slot_beyond_max_wait_sends_nothing(self, live: Live) -> None:
        """A bucket closed for longer than max_wait: MustWait with the time to come back, and
        no request reaches Discord."""
        await live.limiter.record(ROUTE, "800", 429, RateLimitInfo(retry_after=10.0, scope="user"))
        [answer] = await live.port.announce([announcement("800")], max_wait=0.5)

        assert isinstance(answer, MustWait)
        assert answer.error.retry_at > datetime.now(UTC) + timedelta(seconds=5)
        assert live.fake.requests == ()


class TestLiveDiscordPortDm:
    async def test_opens_the_channel_then_posts(self, live: Live) -> None:
        """Without a known DM channel the port opens one, reports it before posting, and the
        DM arrives there."""
        opened: list[str] = []

        async def remember(channel_id: str) -> None:
            opened.append(channel_id)

        dm = DirectMessage("700", "9001", None, PAYLOAD, "dm-nonce")
        answer = await live.port.send_dm(dm, max_wait=5.0, channel_opened=remember)

        assert isinstance(answer, Accepted)
        assert answer.message is not None
        assert opened == [answer.message.channel_id]
        assert len(live.fake.requests_to("POST", r"/users/@me/channels")) == 1

    async def test_known_channel_is_not_opened_again(self, live: Live) -> None:
        """With the DM channel known, only the message is posted."""
        first = DirectMessage("700", "9001", None, PAYLOAD, "dm-nonce-1")
        opened: list[str] = []

        async def remember(channel_id: str) -> None:
            opened.append(channel_id)

        await live.port.send_dm(first, max_wait=5.0, channel_opened=remember)
        again = DirectMessage("700", "9002", opened[0], PAYLOAD, "dm-nonce-2")
        answer = await live.port.send_dm(again, max_wait=5.0, channel_opened=remember)

        assert isinstance(answer, Accepted)
        assert len(opened) == 1
        assert len(live.fake.requests_to("POST", r"/users/@me/channels")) == 1

    async def test_closed_dms_are_refused(self, live: Live) -> None:
        """A user who closed their DMs: Refused with Discord's permanent error."""
        live.fake.update_user("700", dms_open=False)

        async def remember(channel_id: str) -> None:
            return None

        dm = DirectMessage("700", "9001", None, PAYLOAD, "dm-nonce")
        answer = await live.port.send_dm(dm, max_wait=5.0, channel_opened=remember)

        assert isinstance(answer, Refused)
        assert isinstance(answer.error, PermanentError)


class TestLiveDiscordPortEdit:
    async def test_edit_is_accepted(self, live: Live) -> None:
        """PATCHing a message the bot posted: Accepted, and Discord holds the new content."""
        [posted] = await live.port.announce([announcement("800")], max_wait=5.0)
        assert isinstance(posted, Accepted)
        assert posted.message is not None
        new = {"content": "ended", "allowed_mentions": {"parse": []}}
        answer = await live.port.edit(
            MessageEdit("900", "800", posted.message.id, new), max_wait=5.0
        )

        assert isinstance(answer, Accepted)
        assert live.fake.message(posted.message.id).content == "ended"

    async def test_unknown_message_is_refused(self, live: Live) -> None:
        """PATCHing a message that does not exist: Refused with Discord's permanent error."""
        answer = await live.port.edit(MessageEdit("900", "800", "12345", PAYLOAD), max_wait=5.0)

        assert isinstance(answer, Refused)
        assert isinstance(answer.error, PermanentError)


class TestDryRunPort:
    async def test_announcements_are_logged_and_accepted_without_a_message(self) -> None:
        """Each announcement is logged as announcement_dry_run with what it would show, and
        accepted with no message (nothing was sent)."""
        payload = {**PAYLOAD, "embeds": [{"title": "Playing chess"}]}
        with capture_logs() as logs:
            answers = await DryRunPort().announce(
                [
                    Announcement("900", "800", payload, "n1"),
                    Announcement("901", "801", payload, "n2"),
                ],
                max_wait=5.0,
            )

        assert answers == [Accepted(None), Accepted(None)]
        assert [(e["event"], e["guild_id"], e["channel_id"]) for e in logs] == [
            ("announcement_dry_run", "900", "800"),
            ("announcement_dry_run", "901", "801"),
        ]
        assert logs[0]["content"] == "live now"
        assert logs[0]["embed_title"] == "Playing chess"
        assert logs[0]["allowed_mentions"] == {"parse": []}

    async def test_dm_is_logged_and_no_channel_is_opened(self) -> None:
        """A DM is logged as dm_dry_run; no DM channel is reported as opened."""
        opened: list[str] = []

        async def remember(channel_id: str) -> None:
            opened.append(channel_id)

        with capture_logs() as logs:
            answer = await DryRunPort().send_dm(
                DirectMessage("700", "9001", None, PAYLOAD, "n"),
                max_wait=5.0,
                channel_opened=remember,
            )

        assert answer == Accepted(None)
        assert opened == []
        assert [(e["event"], e["user_id"], e["event_id"]) for e in logs] == [
            ("dm_dry_run", "700", "9001")
        ]

    async def test_edit_is_logged(self) -> None:
        """An edit is logged as announcement_edit_dry_run with the message and new content."""
        with capture_logs() as logs:
            answer = await DryRunPort().edit(
                MessageEdit("900", "800", "555", PAYLOAD), max_wait=5.0
            )

        assert answer == Accepted(None)
        assert [(e["event"], e["guild_id"], e["message_id"], e["content"]) for e in logs] == [
            ("announcement_edit_dry_run", "900", "555", "live now")
        ]
