"""The one seam between delivery and Discord: the messages delivery hands over and the answers.

Delivery code (announcements, DMs, edits) talks to a `DiscordPort` only. A port takes the
limiter slot, sends and records the response for every request in one place, and reports what
became of each message as an `Answer` value instead of raising:

    Accepted  Discord took it; `message` is what it returned, None when nothing was sent (dry run)
    Refused   Discord answered with an error, or no answer came (`error`: a `DiscordError`)
    MustWait  the limiter would not give a slot within `max_wait` (`error.retry_at` says when)
    Halted    sending is halted for the bot token (`error.reason`)

The composition root picks the implementation: `LiveDiscordPort` (the REST client and the
shared limiter) or `DryRunPort` (logs each message and sends nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streammaxing.discord.client import SentMessage
from streammaxing.discord.errors import DiscordError
from streammaxing.discord.limiter import LimiterHalted, WaitTooLong


@dataclass(frozen=True, slots=True)
class Announcement:
    """A go-live message for one guild's channel; `nonce` is the same on every retry.

    `urgent`: served before the requests that are not (a small fan-out's message, sent while a
    big one's backlog drains).
    """

    guild_id: str
    channel_id: str
    payload: Mapping[str, Any]
    nonce: str
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A personal DM; `channel_id` is the user's DM channel, None until one was opened."""

    user_id: str
    event_id: str
    channel_id: str | None
    payload: Mapping[str, Any]
    nonce: str


@dataclass(frozen=True, slots=True)
class MessageEdit:
    """New content for a message the bot already posted."""

    guild_id: str
    channel_id: str
    message_id: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Accepted:
    message: SentMessage | None


@dataclass(frozen=True, slots=True)
class Refused:
    error: DiscordError


@dataclass(frozen=True, slots=True)
class MustWait:
    error: WaitTooLong


@dataclass(frozen=True, slots=True)
class Halted:
    error: LimiterHalted


Answer = Accepted | Refused | MustWait | Halted

#: Called with a DM channel the port just opened, before the message is posted to it.
ChannelOpened = Callable[[str], Awaitable[None]]


class DiscordPort(Protocol):
    async def announce(
        self, announcements: Sequence[Announcement], *, max_wait: float
    ) -> list[Answer]:
        """Post each announcement on the ANNOUNCE lane; one answer per announcement, in order.

        The limiter slots of the whole batch are asked for together, and so are the responses
        recorded: a batch costs the limiter one round trip of each kind.
        """
        ...

    async def send_dm(
        self, dm: DirectMessage, *, max_wait: float, channel_opened: ChannelOpened
    ) -> Answer:
        """Post a DM on the DM lane, opening the user's DM channel first when it is not known."""
        ...

    async def edit(self, edit: MessageEdit, *, max_wait: float) -> Answer:
        """PATCH a message on the ANNOUNCE lane."""
        ...

    async def aclose(self) -> None:
        """Release what the port holds (the process is shutting down)."""
        ...
