"""The `DiscordPort` that sends: the Discord REST client paced by the shared limiter.

Each request goes acquire → send → record: the limiter slot is taken first (nothing is sent
when it is refused), the request goes out at once, and its response is recorded whatever it
was, so the limiter learns the bucket and releases the reservation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from streammaxing.discord.client import (
    DiscordClient,
    Route,
    SentMessage,
    create_message_route,
    edit_message_route,
    open_dm_route,
)
from streammaxing.discord.errors import DiscordError, SlotMissed, status_of
from streammaxing.discord.limiter import DiscordLimiter, Lane, LimiterHalted, WaitTooLong
from streammaxing.discord.port import (
    Accepted,
    Announcement,
    Answer,
    ChannelOpened,
    DirectMessage,
    Halted,
    MessageEdit,
    MustWait,
    Refused,
)
from streammaxing.discord.ratelimit_headers import RateLimitInfo

T = TypeVar("T", SentMessage, str)
_Failure = DiscordError | WaitTooLong | LimiterHalted


@dataclass(frozen=True, slots=True)
class _Exchange(Generic[T]):
    """One request: what Discord returned, what it answered instead, or the limiter's refusal."""

    route: Route
    outcome: T | _Failure

    @property
    def major(self) -> str:
        return self.route.major_id or ""

    def response(self) -> tuple[int, RateLimitInfo | None] | None:
        """(status, rate-limit info) to record; None when the limiter refused and nothing went
        out. An opened DM channel comes back without rate-limit facts."""
        match self.outcome:
            case DiscordError() as error:
                return status_of(error), error.rate_limit
            case WaitTooLong() | LimiterHalted():
                return None
            case SentMessage(rate_limit=info):
                return 200, info
            case _:
                return 200, None


class LiveDiscordPort:
    """Sends through `client`, paced by `limiter`; closing the port closes the client."""

    def __init__(self, client: DiscordClient, limiter: DiscordLimiter) -> None:
        self._client = client
        self._limiter = limiter

    async def announce(
        self, announcements: Sequence[Announcement], *, max_wait: float
    ) -> list[Answer]:
        # Every acquire (and below, every record) is issued in the same event-loop turn, so
        # the limiter serves the batch in one round trip each.
        exchanges = await asyncio.gather(
            *(
                self._exchange(
                    Lane.ANNOUNCE,
                    create_message_route(a.channel_id),
                    max_wait,
                    partial(self._client.create_message, a.channel_id, a.payload, nonce=a.nonce),
                    urgent=a.urgent,
                )
                for a in announcements
            )
        )
        await asyncio.gather(*(self._record(exchange) for exchange in exchanges))
        return [_answer(exchange.outcome) for exchange in exchanges]

    async def send_dm(
        self, dm: DirectMessage, *, max_wait: float, channel_opened: ChannelOpened
    ) -> Answer:
        channel_id = dm.channel_id
        if channel_id is None:
            opened = await self._exchange(
                Lane.DM, open_dm_route(), max_wait, partial(self._client.open_dm, dm.user_id)
            )
            await self._record(opened)
            if not isinstance(opened.outcome, str):
                return _failure(opened.outcome)
            channel_id = opened.outcome
            await channel_opened(channel_id)
        posted = await self._exchange(
            Lane.DM,
            create_message_route(channel_id),
            max_wait,
            partial(self._client.create_message, channel_id, dm.payload, nonce=dm.nonce),
        )
        await self._record(posted)
        return _answer(posted.outcome)

    async def edit(self, edit: MessageEdit, *, max_wait: float) -> Answer:
        patched = await self._exchange(
            Lane.ANNOUNCE,
            edit_message_route(edit.channel_id, edit.message_id),
            max_wait,
            partial(self._client.edit_message, edit.channel_id, edit.message_id, edit.payload),
        )
        await self._record(patched)
        return _answer(patched.outcome)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _exchange(
        self,
        lane: Lane,
        route: Route,
        max_wait: float,
        send: Callable[..., Awaitable[T]],
        *,
        urgent: bool = False,
    ) -> _Exchange[T]:
        """Take the limiter slot for `route`, then send at once (so it goes out at its slot).

        `send` takes `on_time`, asked right before the write: a request held up past its slot
        (SlotMissed: nothing was sent) gives its bucket back and takes a new slot."""
        major = route.major_id or ""
        while True:
            try:
                slot_at = await self._limiter.acquire(
                    lane, route.key, major, max_wait=max_wait, urgent=urgent
                )
            except (WaitTooLong, LimiterHalted) as refusal:
                return _Exchange(route, refusal)
            try:
                return _Exchange(route, await send(on_time=partial(self._limiter.on_time, slot_at)))
            except SlotMissed:
                self._limiter.give_back(route.key, major)
            except DiscordError as error:
                return _Exchange(route, error)

    async def _record(self, exchange: _Exchange[T]) -> None:
        response = exchange.response()
        if response is not None:
            await self._limiter.record(exchange.route.key, exchange.major, *response)


def _answer(outcome: SentMessage | _Failure) -> Answer:
    if isinstance(outcome, SentMessage):
        return Accepted(outcome)
    return _failure(outcome)


def _failure(outcome: _Failure) -> Refused | MustWait | Halted:
    match outcome:
        case WaitTooLong():
            return MustWait(outcome)
        case LimiterHalted():
            return Halted(outcome)
        case _:
            return Refused(outcome)
