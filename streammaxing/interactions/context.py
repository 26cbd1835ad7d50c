"""What a command handler gets: the operations' services, the parsed interaction, the acting
member, and a way to answer later from a job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streammaxing.interactions.model import Interaction, ResolvedChannel, ResolvedRole
from streammaxing.interactions.replies import Reply
from streammaxing.manage import members
from streammaxing.manage.actor import DiscordUser
from streammaxing.manage.errors import NotFound
from streammaxing.manage.models import UserUpsert
from streammaxing.manage.services import ManageServices

#: Queues the follow-up job for a deferred answer: (kind, arguments) → the deferred reply.
Deferrer = Callable[[str, Mapping[str, Any]], Awaitable[Reply]]


class CommandError(Exception):
    """The command cannot run as given (a missing or unusable option); ``str()`` tells the
    user what to do, as an ephemeral reply."""


@dataclass(frozen=True)
class CommandContext:
    services: ManageServices
    interaction: Interaction
    actor: DiscordUser
    guild_id: str
    defer: Deferrer

    def string(self, name: str) -> str:
        value = self.interaction.string(name)
        if value is None or not value.strip():
            raise CommandError(f"The option `{name}` is missing.")
        return value.strip()

    def channel(self, name: str) -> ResolvedChannel:
        channel = self.interaction.channel(name)
        if channel is None:
            raise CommandError(f"The option `{name}` is missing: pick a channel.")
        return channel

    def role(self, name: str) -> ResolvedRole:
        role = self.interaction.role(name)
        if role is None:
            raise CommandError(f"The option `{name}` is missing: pick a role.")
        return role


Handler = Callable[[CommandContext], Awaitable[Reply]]


async def ensure_user(
    services: ManageServices, actor: DiscordUser, username: str | None, avatar: str | None
) -> None:
    """Create the acting user's row (as themselves) when they have none yet: a member may use
    a command before ever signing in, and preferences, opt-ins and ``added_by`` name a user."""
    try:
        await members.get_user(services, actor, actor.user_id)
    except NotFound:
        body = UserUpsert(username=(username or f"user{actor.user_id}")[:100], avatar=avatar)
        await members.upsert_user(services, actor, actor.user_id, body)
