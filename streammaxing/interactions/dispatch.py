"""Which handler answers which command, and every refusal as an ephemeral reply.

`answer` never raises for anything a user can cause: an unknown command, a missing or unusable
option, a refused operation, a guild where the bot is not set up — each becomes an ephemeral
message (autocomplete: no choices). The endpoint still guards against the unexpected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import structlog

from streammaxing.interactions import alerts, announce, streamers
from streammaxing.interactions.context import CommandContext, CommandError, Deferrer, Handler
from streammaxing.interactions.model import APPLICATION_COMMAND, AUTOCOMPLETE, Interaction
from streammaxing.interactions.replies import Reply, choices, message
from streammaxing.interactions.wording import refusal
from streammaxing.manage.errors import ManageError
from streammaxing.manage.services import ManageServices

log = structlog.get_logger(__name__)

COMMANDS: Final[Mapping[tuple[str, ...], Handler]] = {
    ("streamers", "add"): streamers.add,
    ("streamers", "remove"): streamers.remove,
    ("streamers", "list"): streamers.listing,
    ("streamers", "invite"): streamers.invite,
    ("announce", "channel"): announce.channel,
    ("announce", "role"): announce.role,
    ("announce", "role-clear"): announce.role_clear,
    ("announce", "on"): announce.turn_on,
    ("announce", "off"): announce.turn_off,
    ("announce", "preview"): announce.preview,
    ("announce", "test"): announce.test,
    ("alerts", "mute"): alerts.mute,
    ("alerts", "unmute"): alerts.unmute,
    ("alerts", "dm", "on"): alerts.dm_on,
    ("alerts", "dm", "off"): alerts.dm_off,
    ("alerts", "status"): alerts.status,
}

#: Commands whose focused option is a tracked streamer.
AUTOCOMPLETE_STREAMER: Final = frozenset(
    {("streamers", "remove"), ("alerts", "mute"), ("alerts", "unmute")}
)

OUTSIDE_GUILD = "StreamMaxing's commands work inside a server, not in DMs."


def command_name(interaction: Interaction) -> str:
    return "/" + " ".join(interaction.command) if interaction.command else "?"


async def answer(services: ManageServices, interaction: Interaction, defer: Deferrer) -> Reply:
    """The reply to a verified APPLICATION_COMMAND or AUTOCOMPLETE interaction."""
    completing = interaction.type == AUTOCOMPLETE
    actor = interaction.actor()
    if interaction.type not in (APPLICATION_COMMAND, AUTOCOMPLETE):
        return message("StreamMaxing does not handle this kind of interaction.")
    if actor is None or interaction.guild_id is None:
        return choices([]) if completing else message(OUTSIDE_GUILD)
    ctx = CommandContext(services, interaction, actor, interaction.guild_id, defer)
    if completing:
        if interaction.command not in AUTOCOMPLETE_STREAMER:
            return choices([])
        try:
            return await streamers.suggest(ctx)
        except ManageError:
            return choices([])
    handler = COMMANDS.get(interaction.command)
    if handler is None:
        return message(f"I don't know the command `{command_name(interaction)}`.")
    try:
        return await handler(ctx)
    except CommandError as problem:
        return message(str(problem))
    except ManageError as error:
        log.info(
            "interaction_refused", command=command_name(interaction), error=type(error).__name__
        )
        return message(refusal(error))
