"""The slash command set, as the JSON ``streammaxing commands sync`` registers.

Three top-level commands, each with subcommands:

- ``/streamers add login`` · ``remove streamer`` · ``list`` · ``invite`` — tracked Twitch
  streamers, and an invite link for a streamer to link their Twitch account;
- ``/announce channel channel`` · ``role role`` · ``role-clear`` · ``on`` · ``off`` · ``preview``
  · ``test [ping]`` — the guild's announcement config;
- ``/alerts mute streamer`` · ``unmute streamer`` · ``dm on`` · ``dm off`` · ``status`` — a
  member's own DM opt-in and mutes.

``default_member_permissions`` is per top-level command: ``/announce`` (manage only) is hidden
from members without Manage Server; ``/streamers`` stays visible because ``list`` is for anyone,
and its ``add``/``remove``/``invite`` are refused on the server. Discord lets server admins
change who sees a command, so the server checks every manage command itself. Guild installs
and guild channels only (``integration_types [0]``, ``contexts [0]``).
"""

from __future__ import annotations

from typing import Any, Final

from streammaxing.discord.models import GUILD_ANNOUNCEMENT, GUILD_TEXT
from streammaxing.interactions.model import (
    BOOLEAN,
    CHANNEL,
    ROLE,
    STRING,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
)
from streammaxing.manage.actor import MANAGE_GUILD

Command = dict[str, Any]

#: Twitch logins are 1–25 characters (letters, digits, underscore).
LOGIN_MAX_LENGTH: Final = 25


def _sub(name: str, description: str, *options: dict[str, Any]) -> dict[str, Any]:
    sub: dict[str, Any] = {"type": SUB_COMMAND, "name": name, "description": description}
    if options:
        sub["options"] = list(options)
    return sub


def _streamer_option(description: str) -> dict[str, Any]:
    return {
        "type": STRING,
        "name": "streamer",
        "description": description,
        "required": True,
        "autocomplete": True,
        "min_length": 1,
        "max_length": LOGIN_MAX_LENGTH,
    }


def _command(name: str, description: str, *subs: dict[str, Any], manage: bool) -> Command:
    return {
        "type": 1,
        "name": name,
        "description": description,
        "options": list(subs),
        "default_member_permissions": str(MANAGE_GUILD) if manage else None,
        "integration_types": [0],
        "contexts": [0],
    }


STREAMERS: Final = _command(
    "streamers",
    "The Twitch streamers this server announces",
    _sub(
        "add",
        "Announce a Twitch streamer here (Manage Server)",
        {
            "type": STRING,
            "name": "login",
            "description": "The streamer's Twitch login, as in twitch.tv/<login>",
            "required": True,
            "min_length": 1,
            "max_length": LOGIN_MAX_LENGTH,
        },
    ),
    _sub("remove", "Stop announcing a streamer (Manage Server)", _streamer_option("Who to remove")),
    _sub("list", "The streamers this server announces, live ones first"),
    _sub("invite", "A link a streamer opens to link Twitch and be announced here (Manage Server)"),
    manage=False,
)

ANNOUNCE: Final = _command(
    "announce",
    "Where and how go-live announcements are posted",
    _sub(
        "channel",
        "Post announcements in this channel",
        {
            "type": CHANNEL,
            "name": "channel",
            "description": "A text or announcement channel the bot can post in",
            "required": True,
            "channel_types": [GUILD_TEXT, GUILD_ANNOUNCEMENT],
        },
    ),
    _sub(
        "role",
        "Mention this role in announcements",
        {"type": ROLE, "name": "role", "description": "The role to ping", "required": True},
    ),
    _sub("role-clear", "Mention no role in announcements"),
    _sub("on", "Turn announcements on"),
    _sub("off", "Turn announcements off"),
    _sub("preview", "Show what an announcement looks like (only to you)"),
    _sub(
        "test",
        "Post a test announcement in the configured channel",
        {
            "type": BOOLEAN,
            "name": "ping",
            "description": "Also mention the configured role (off unless you say so)",
            "required": False,
        },
    ),
    manage=True,
)

ALERTS: Final = _command(
    "alerts",
    "Your own go-live DMs from this server",
    _sub("mute", "No DMs when this streamer goes live", _streamer_option("Who to mute")),
    _sub("unmute", "DMs again when this streamer goes live", _streamer_option("Who to unmute")),
    {
        "type": SUB_COMMAND_GROUP,
        "name": "dm",
        "description": "Go-live DMs from this server",
        "options": [
            _sub("on", "DM me when this server's streamers go live"),
            _sub("off", "Stop DMing me for this server"),
        ],
    },
    _sub("status", "What you will get from this server"),
    manage=False,
)

COMMANDS: Final[tuple[Command, ...]] = (STREAMERS, ANNOUNCE, ALERTS)
