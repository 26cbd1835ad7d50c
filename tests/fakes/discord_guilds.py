"""Bot-token guild reads: `GET /guilds/{id}`, `/guilds/{id}/channels`, `/guilds/{id}/roles`.

The bot must be a member (else 404 Unknown Guild, code 10004). Since 2026-10-12 Discord omits
the channels the bot cannot view from the channel list; the fake does so while the
`obfuscate_hidden_channels` knob is on (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.discord_http import Call, Outcome, RouteSpec, error_outcome, json_outcome
from tests.fakes.discord_model import (
    BUCKET_GUILD_READ,
    VIEW_CHANNEL,
    FakeChannel,
    FakeGuild,
    World,
)

_GUILD = r"/guilds/(?P<guild_id>[0-9]{1,20})"
# fmt: off
GUILD_ROUTES = (
    RouteSpec("GET", _GUILD, "get_guild", "guild_read", BUCKET_GUILD_READ, "guild",
              major="guild_id"),
    RouteSpec("GET", _GUILD + "/channels", "list_channels", "guild_read", BUCKET_GUILD_READ,
              "guild_channels", major="guild_id"),
    RouteSpec("GET", _GUILD + "/roles", "list_roles", "guild_read", BUCKET_GUILD_READ,
              "guild_roles", major="guild_id"),
)
# fmt: on
UNKNOWN_GUILD = (404, 10004, "Unknown Guild")


class GuildReads:
    """Answers the bot's guild reads from the seeded world."""

    def __init__(self, world: World) -> None:
        self._world = world

    def handlers(self) -> dict[str, Callable[[Call], Outcome]]:
        return {
            "get_guild": self._get_guild,
            "list_channels": self._list_channels,
            "list_roles": self._list_roles,
        }

    def _guild_for(self, call: Call) -> FakeGuild | Outcome:
        guild = self._world.guilds.get(call.params["guild_id"])
        if guild is None or not guild.bot_member:
            return error_outcome(*UNKNOWN_GUILD)
        return guild

    def _get_guild(self, call: Call) -> Outcome:
        guild = self._guild_for(call)
        if isinstance(guild, Outcome):
            return guild
        payload = self._world.guild_json(guild)
        if (call.query.get("with_counts") or [""])[0].lower() in ("true", "1"):
            members = sum(1 for guild_id, _ in self._world.members if guild_id == guild.id)
            payload |= {"approximate_member_count": members, "approximate_presence_count": 0}
        return json_outcome(200, payload)

    def _list_channels(self, call: Call) -> Outcome:
        guild = self._guild_for(call)
        if isinstance(guild, Outcome):
            return guild
        hide = self._world.config.obfuscate_hidden_channels
        channels = [
            channel
            for channel in self._world.channels.values()
            if channel.guild_id == guild.id
            and not channel.deleted
            and not (hide and not channel.permissions & VIEW_CHANNEL)
        ]
        channels.sort(key=lambda channel: (channel.position, int(channel.id)))
        return json_outcome(200, [self._channel_json(channel) for channel in channels])

    def _list_roles(self, call: Call) -> Outcome:
        guild = self._guild_for(call)
        if isinstance(guild, Outcome):
            return guild
        roles = self._world.guild_roles(guild.id)
        return json_outcome(200, [self._world.role_json(role) for role in roles])

    @staticmethod
    def _channel_json(channel: FakeChannel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "type": channel.type,
            "guild_id": channel.guild_id,
            "name": channel.name,
            "position": channel.position,
            "parent_id": channel.parent_id,
            "permission_overwrites": [dict(item) for item in channel.permission_overwrites],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
