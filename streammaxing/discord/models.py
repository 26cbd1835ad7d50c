"""What the bot reads about a guild: the guild, its channels, roles and members (typed, frozen).

Discord sends permission bitsets as decimal strings; they are parsed into ints here. Unknown
fields are ignored; a field Discord may leave out has a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Channel types announcements can go to: a text channel and an announcement channel.
GUILD_TEXT = 0
GUILD_ANNOUNCEMENT = 5


def _permissions(value: object) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 0


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A channel permission overwrite for a role (type 0) or a member (type 1)."""

    id: str
    type: int
    allow: int
    deny: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Overwrite:
        return cls(
            id=str(data["id"]),
            type=int(data.get("type", 0)),
            allow=_permissions(data.get("allow")),
            deny=_permissions(data.get("deny")),
        )


@dataclass(frozen=True, slots=True)
class GuildChannel:
    id: str
    name: str
    type: int
    position: int
    parent_id: str | None
    overwrites: tuple[Overwrite, ...]

    @property
    def can_hold_announcements(self) -> bool:
        """A text or announcement channel (not a voice channel, category, forum, thread)."""
        return self.type in (GUILD_TEXT, GUILD_ANNOUNCEMENT)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GuildChannel:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            type=int(data.get("type", -1)),
            position=int(data.get("position") or 0),
            parent_id=data.get("parent_id"),
            overwrites=tuple(
                Overwrite.from_json(item) for item in data.get("permission_overwrites") or []
            ),
        )


@dataclass(frozen=True, slots=True)
class GuildRole:
    id: str
    name: str
    position: int
    permissions: int
    managed: bool
    mentionable: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GuildRole:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            position=int(data.get("position") or 0),
            permissions=_permissions(data.get("permissions")),
            managed=bool(data.get("managed")),
            mentionable=bool(data.get("mentionable")),
        )


@dataclass(frozen=True, slots=True)
class GuildInfo:
    """`GET /guilds/{id}`: what the guild row keeps (name, icon hash, owner)."""

    id: str
    name: str
    icon: str | None
    owner_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GuildInfo:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            icon=data.get("icon"),
            owner_id=data.get("owner_id"),
        )


@dataclass(frozen=True, slots=True)
class GuildMember:
    """`GET /guilds/{id}/members/{user_id}`: the member's user id and role ids."""

    user_id: str
    role_ids: frozenset[str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GuildMember:
        user = data.get("user")
        user_id = str(user.get("id", "")) if isinstance(user, Mapping) else ""
        return cls(user_id=user_id, role_ids=frozenset(str(r) for r in data.get("roles") or []))


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """`GET /users/@me` with the bot token: the bot's own user."""

    id: str
    username: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CurrentUser:
        return cls(id=str(data["id"]), username=str(data.get("username") or ""))
