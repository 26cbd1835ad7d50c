"""Who is acting: the operator, or a Discord user with what they may do in each of their guilds.

Every operation takes an `Actor`. The operator (the CLI, a request carrying the admin API token)
may do everything. A `DiscordUser` carries their user id and, for each guild in their Discord
guild list, whether they can manage it; `can_manage` derives that from Discord's own data (a
``GET /users/@me/guilds`` entry, or an interaction's ``member.permissions``). Both name the
`Surface` they act from, which the audit trail records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "ADMINISTRATOR",
    "MANAGE_GUILD",
    "Actor",
    "DiscordUser",
    "GuildEntry",
    "Operator",
    "Surface",
    "can_manage",
]

#: Discord permission bits that let a member manage a guild's settings.
ADMINISTRATOR: Final = 0x8
MANAGE_GUILD: Final = 0x20


class Surface(StrEnum):
    """Where an operation was asked for."""

    API = "api"
    CLI = "cli"
    DASHBOARD = "dashboard"
    DISCORD = "discord"
    SYSTEM = "system"


def can_manage(*, owner: bool, permissions: str | None) -> bool:
    """Whether Discord's data says the user may manage the guild.

    ``permissions`` is Discord's decimal string of permission bits (``"2147483647"``); the owner,
    ADMINISTRATOR (0x8) or MANAGE_GUILD (0x20) can manage. A missing or malformed string grants
    nothing beyond ownership.
    """
    if owner:
        return True
    if permissions is None or not permissions.isascii() or not permissions.isdigit():
        return False
    return bool(int(permissions) & (ADMINISTRATOR | MANAGE_GUILD))


@dataclass(frozen=True)
class GuildEntry:
    """One guild of a user's Discord guild list, as Discord describes it."""

    guild_id: str
    owner: bool = False
    permissions: str | None = None


@dataclass(frozen=True)
class Operator:
    """The service's operator: may do everything."""

    surface: Surface

    @property
    def user_id(self) -> None:
        return None


@dataclass(frozen=True)
class DiscordUser:
    """A signed-in Discord user; ``guilds`` maps each guild id of their guild list to whether
    they can manage it (a guild absent from it is one they are not in)."""

    user_id: str
    surface: Surface
    guilds: Mapping[str, bool] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # A read-only copy: the actor cannot change after the rules were checked against it.
        object.__setattr__(self, "guilds", MappingProxyType(dict(self.guilds)))

    @classmethod
    def from_guild_list(
        cls, user_id: str, surface: Surface, entries: Iterable[GuildEntry]
    ) -> DiscordUser:
        """The actor for a user whose Discord guild list is ``entries``."""
        return cls(
            user_id=user_id,
            surface=surface,
            guilds={
                entry.guild_id: can_manage(owner=entry.owner, permissions=entry.permissions)
                for entry in entries
            },
        )

    def manages(self, guild_id: str) -> bool:
        return self.guilds.get(guild_id, False)

    def is_member(self, guild_id: str) -> bool:
        return guild_id in self.guilds


Actor = Operator | DiscordUser
