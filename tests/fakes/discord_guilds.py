"""Bot-token guild reads: `GET /guilds/{id}`, `/guilds/{id}/channels`, `/guilds/{id}/roles`,
`/guilds/{id}/members/{user_id}`.

The bot must be a member (else 404 Unknown Guild, code 10004). Since 2026-10-12 Discord omits
the channels the bot cannot view from the channel list; the fake does so while the
`obfuscate_hidden_channels` knob is on (the default).

The fake keeps each channel's computed bot permissions (`FakeChannel.permissions`) as the truth
it enforces. So that a client computing them from what it reads (the bot member's roles, the
roles' permissions, the channel's overwrites) arrives at the same bits, the channel list adds a
member overwrite for the asking bot whenever the seeded roles and overwrites alone would give
something else. The bot member's roles are the managed roles an install created for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.discord_http import Call, Outcome, RouteSpec, error_outcome, json_outcome
from tests.fakes.discord_model import (
    ADMINISTRATOR,
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
    RouteSpec("GET", _GUILD + "/members/(?P<user_id>[0-9]{1,20})", "get_member", "guild_read",
              BUCKET_GUILD_READ, "guild_member", major="guild_id"),
)
# fmt: on
UNKNOWN_GUILD = (404, 10004, "Unknown Guild")
UNKNOWN_MEMBER = (404, 10007, "Unknown Member")
MEMBER_OVERWRITE = 1


class GuildReads:
    """Answers the bot's guild reads from the seeded world."""

    def __init__(self, world: World) -> None:
        self._world = world

    def handlers(self) -> dict[str, Callable[[Call], Outcome]]:
        return {
            "get_guild": self._get_guild,
            "list_channels": self._list_channels,
            "list_roles": self._list_roles,
            "get_member": self._get_member,
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
        return json_outcome(200, [self._channel_json(channel, call.bot_id) for channel in channels])

    def _list_roles(self, call: Call) -> Outcome:
        guild = self._guild_for(call)
        if isinstance(guild, Outcome):
            return guild
        roles = self._world.guild_roles(guild.id)
        return json_outcome(200, [self._world.role_json(role) for role in roles])

    def _get_member(self, call: Call) -> Outcome:
        guild = self._guild_for(call)
        if isinstance(guild, Outcome):
            return guild
        user_id = call.params["user_id"]
        if user_id == call.bot_id:
            user = {"id": user_id, "username": self._world.bot_names.get(user_id, ""), "bot": True}
            roles = self._bot_role_ids(guild.id, user_id)
        elif (guild.id, user_id) in self._world.members and user_id in self._world.users:
            user = self._world.user_json(self._world.users[user_id])
            roles = []
        else:
            return error_outcome(*UNKNOWN_MEMBER)
        return json_outcome(
            200,
            {
                "user": user,
                "nick": None,
                "avatar": None,
                "roles": roles,
                "joined_at": self._world.iso(call.now),
                "deaf": False,
                "mute": False,
                "flags": 0,
            },
        )

    def _bot_role_ids(self, guild_id: str, bot_id: str) -> list[str]:
        return [
            role.id
            for role in self._world.guild_roles(guild_id)
            if role.bot_id == bot_id and role.id != guild_id
        ]

    def _seeded_permissions(
        self, channel: FakeChannel, bot_id: str, overwrites: list[dict[str, Any]]
    ) -> int:
        """The bot's permissions in the channel as computed from roles and `overwrites`, before
        a missing VIEW_CHANNEL voids them; -1 when ADMINISTRATOR makes overwrites moot."""
        guild_id = channel.guild_id or ""
        role_ids = set(self._bot_role_ids(guild_id, bot_id))
        everyone = self._world.roles.get(guild_id)
        base = everyone.permissions if everyone is not None else 0
        for role_id in role_ids:
            base |= self._world.roles[role_id].permissions
        if base & ADMINISTRATOR:
            return -1
        layers: list[tuple[int, int]] = [(0, 0), (0, 0), (0, 0)]
        for item in overwrites:
            allow, deny = int(item.get("allow") or 0), int(item.get("deny") or 0)
            if item.get("type") == 0 and item.get("id") == guild_id:
                layers[0] = (allow, deny)
            elif item.get("type") == 0 and item.get("id") in role_ids:
                layers[1] = (layers[1][0] | allow, layers[1][1] | deny)
            elif item.get("type") == MEMBER_OVERWRITE and item.get("id") == bot_id:
                layers[2] = (allow, deny)
        for allow, deny in layers:
            base = (base & ~deny) | allow
        return base

    def _overwrites_for(self, channel: FakeChannel, bot_id: str) -> list[dict[str, Any]]:
        seeded = [dict(item) for item in channel.permission_overwrites]
        computed = self._seeded_permissions(channel, bot_id, seeded)
        effective = computed if computed & VIEW_CHANNEL else 0
        target = channel.permissions if channel.permissions & VIEW_CHANNEL else 0
        if not bot_id or computed == -1 or effective == target:
            return seeded
        others = [
            item
            for item in seeded
            if not (item.get("type") == MEMBER_OVERWRITE and item.get("id") == bot_id)
        ]
        computed = self._seeded_permissions(channel, bot_id, others)
        target = channel.permissions
        own = {
            "id": bot_id,
            "type": MEMBER_OVERWRITE,
            "allow": str(target & ~computed),
            "deny": str(computed & ~target),
        }
        return [*others, own]

    def _channel_json(self, channel: FakeChannel, bot_id: str) -> dict[str, Any]:
        return {
            "id": channel.id,
            "type": channel.type,
            "guild_id": channel.guild_id,
            "name": channel.name,
            "position": channel.position,
            "parent_id": channel.parent_id,
            "permission_overwrites": self._overwrites_for(channel, bot_id),
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
