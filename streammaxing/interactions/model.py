"""An interaction as Discord sends it, parsed into typed values (pure: no I/O).

Only what the commands use is kept: who invoked it (the user, the guild and the member's
permission string), the command path (``("alerts", "dm", "on")``), the options of the innermost
subcommand with their Discord type, the resolved channels and roles, and the option being typed
for autocomplete. A payload that lacks what every interaction has (id, token, type) is
`MalformedInteraction`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streammaxing.manage.actor import DiscordUser, GuildEntry, Surface

# Interaction types.
PING: Final = 1
APPLICATION_COMMAND: Final = 2
AUTOCOMPLETE: Final = 4

# Option types.
SUB_COMMAND: Final = 1
SUB_COMMAND_GROUP: Final = 2
STRING: Final = 3
BOOLEAN: Final = 5
CHANNEL: Final = 7
ROLE: Final = 8


_NESTING: Final = (SUB_COMMAND, SUB_COMMAND_GROUP)


class MalformedInteraction(ValueError):  # noqa: N818 - names the condition
    """The verified body is not an interaction this service can read."""


@dataclass(frozen=True)
class OptionValue:
    """One filled option: its Discord type and value (a snowflake string for channels/roles)."""

    type: int
    value: str | int | float | bool
    focused: bool = False


@dataclass(frozen=True)
class ResolvedChannel:
    id: str
    name: str
    type: int
    #: The bot's permissions in the channel; None when Discord did not send them.
    app_permissions: int | None


@dataclass(frozen=True)
class ResolvedRole:
    id: str
    name: str
    managed: bool
    mentionable: bool


@dataclass(frozen=True)
class Interaction:
    id: str
    application_id: str
    token: str
    type: int
    guild_id: str | None = None
    user_id: str | None = None
    username: str | None = None
    avatar: str | None = None
    #: The invoking member's permissions (decimal string), None outside a guild.
    member_permissions: str | None = None
    command: tuple[str, ...] = ()
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    channels: Mapping[str, ResolvedChannel] = field(default_factory=dict)
    roles: Mapping[str, ResolvedRole] = field(default_factory=dict)

    def actor(self) -> DiscordUser | None:
        """The invoking user as the operations see them: in a guild, a member whose
        ``member.permissions`` say whether they manage it; None outside a guild."""
        if self.guild_id is None or self.user_id is None:
            return None
        entry = GuildEntry(self.guild_id, owner=False, permissions=self.member_permissions)
        return DiscordUser.from_guild_list(self.user_id, Surface.DISCORD, [entry])

    @property
    def focused(self) -> tuple[str, str] | None:
        """(name, typed text) of the option being typed, for autocomplete."""
        for name, option in self.options.items():
            if option.focused:
                return name, str(option.value)
        return None

    def string(self, name: str) -> str | None:
        option = self.options.get(name)
        if option is None or option.type != STRING or not isinstance(option.value, str):
            return None
        return option.value

    def boolean(self, name: str) -> bool | None:
        option = self.options.get(name)
        if option is None or option.type != BOOLEAN or not isinstance(option.value, bool):
            return None
        return option.value

    def channel(self, name: str) -> ResolvedChannel | None:
        option = self.options.get(name)
        if option is None or option.type != CHANNEL:
            return None
        return self.channels.get(str(option.value))

    def role(self, name: str) -> ResolvedRole | None:
        option = self.options.get(name)
        if option is None or option.type != ROLE:
            return None
        return self.roles.get(str(option.value))


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _mapping(data: Any, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _permissions(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


def parse(payload: Any) -> Interaction:
    """The interaction in a decoded JSON body; raises `MalformedInteraction`."""
    if not isinstance(payload, Mapping):
        raise MalformedInteraction("not a JSON object")
    interaction_id = _text(payload, "id")
    token = _text(payload, "token")
    application_id = _text(payload, "application_id")
    kind = payload.get("type")
    if not (interaction_id and token and application_id) or not isinstance(kind, int):
        raise MalformedInteraction("id, token, application_id and type are required")
    member = _mapping(payload, "member")
    user = _mapping(member, "user") or _mapping(payload, "user")
    data = _mapping(payload, "data")
    command, options = _command(data)
    resolved = _mapping(data, "resolved")
    return Interaction(
        id=interaction_id,
        application_id=application_id,
        token=token,
        type=kind,
        guild_id=_text(payload, "guild_id"),
        user_id=_text(user, "id"),
        username=_text(user, "global_name") or _text(user, "username"),
        avatar=_text(user, "avatar"),
        member_permissions=_text(member, "permissions") if member else None,
        command=command,
        options=options,
        channels={
            key: ResolvedChannel(
                id=str(key),
                name=str(value.get("name") or ""),
                type=int(value.get("type", -1)),
                app_permissions=_permissions(value.get("app_permissions")),
            )
            for key, value in _mapping(resolved, "channels").items()
            if isinstance(value, Mapping)
        },
        roles={
            key: ResolvedRole(
                id=str(key),
                name=str(value.get("name") or ""),
                managed=bool(value.get("managed")),
                mentionable=bool(value.get("mentionable")),
            )
            for key, value in _mapping(resolved, "roles").items()
            if isinstance(value, Mapping)
        },
    )


def _command(data: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, OptionValue]]:
    """The command path down through subcommand groups, and the innermost options."""
    name = _text(data, "name")
    if name is None:
        return (), {}
    path = [name]
    options: Any = data.get("options")
    while isinstance(options, list) and len(options) == 1:
        only = options[0]
        if not isinstance(only, Mapping) or only.get("type") not in (
            SUB_COMMAND,
            SUB_COMMAND_GROUP,
        ):
            break
        path.append(str(only.get("name")))
        options = only.get("options")
    filled: dict[str, OptionValue] = {}
    for item in options if isinstance(options, list) else []:
        if not isinstance(item, Mapping):
            continue
        option_name, kind, value = item.get("name"), item.get("type"), item.get("value")
        if (
            isinstance(option_name, str)
            and isinstance(kind, int)
            and isinstance(value, str | int | float | bool)
        ):
            filled[option_name] = OptionValue(kind, value, bool(item.get("focused")))
    return tuple(path), filled
