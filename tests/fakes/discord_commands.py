"""Application command registration: bulk overwrite (`PUT`) and listing (`GET`) of global and
guild commands, with Discord's validation of the command objects.

Rules: names 1–32 characters, lowercase letters, digits, `-`, `_` and `'`; CHAT_INPUT
descriptions 1–100 (USER and MESSAGE commands take none); at most 25 options and 25 choices;
option types 1–11; required options before optional ones; a SUB_COMMAND_GROUP holds only
SUB_COMMANDs, a SUB_COMMAND holds no subcommands, and subcommands do not mix with plain
options; `autocomplete` only on STRING/INTEGER/NUMBER and never with `choices`;
`channel_types` only on CHANNEL; `min_length`/`max_length` 0–6000 on STRING;
`default_member_permissions` a decimal string or null; at most 100 CHAT_INPUT commands; at most
8000 characters of names, descriptions and choices per command. The error codes inside the
50035 tree are modelled on Discord's naming and are best guesses. Names in a bulk overwrite
that already exist keep their command id.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.discord_forms import REQUIRED, FormErrors, Path
from tests.fakes.discord_http import Call, Outcome, RouteSpec, error_outcome, json_outcome
from tests.fakes.discord_model import BUCKET_COMMANDS_READ, BUCKET_COMMANDS_WRITE, World

_APP = r"/applications/(?P<application_id>[0-9]{1,20})"
_GLOBAL = _APP + "/commands"
_GUILD = _APP + r"/guilds/(?P<guild_id>[0-9]{1,20})/commands"
_W, _R = BUCKET_COMMANDS_WRITE, BUCKET_COMMANDS_READ
# fmt: off
COMMAND_ROUTES = (
    RouteSpec("PUT", _GLOBAL, "put_commands", "commands_write", _W, "commands_put", "json_list",
              major="application_id"),
    RouteSpec("GET", _GLOBAL, "get_commands", "commands_read", _R, "commands_get",
              major="application_id"),
    RouteSpec("PUT", _GUILD, "put_commands", "commands_write", _W, "commands_put", "json_list",
              major="guild_id"),
    RouteSpec("GET", _GUILD, "get_commands", "commands_read", _R, "commands_get",
              major="guild_id"),
)
# fmt: on

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, CHANNEL, NUMBER = 3, 4, 7, 10
_NAME = re.compile(r"[-_'\w]{1,32}")
_CHOICE_TYPES = frozenset({STRING, INTEGER, NUMBER})
_SUBCOMMANDS = frozenset({SUB_COMMAND, SUB_COMMAND_GROUP})


def _check_name(errors: FormErrors, path: Path, value: Any, *, lowercase: bool) -> str:
    if not isinstance(value, str) or not value:
        errors.add((*path, "name"), REQUIRED, "This field is required")
        return ""
    if not _NAME.fullmatch(value) or (lowercase and value != value.lower()):
        errors.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    return value


def _check_description(errors: FormErrors, path: Path, value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 100:
        errors.add(
            (*path, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
        return ""
    return value


def _check_choices(errors: FormErrors, path: Path, option: Mapping[str, Any]) -> int:
    choices = option.get("choices")
    if choices is None:
        return 0
    if not isinstance(choices, list) or len(choices) > 25:
        errors.add((*path, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        return 0
    if option.get("type") not in _CHOICE_TYPES:
        errors.add(
            (*path, "choices"),
            "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
            "Only STRING, INTEGER and NUMBER options take choices.",
        )
    size = 0
    for index, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        value = choice.get("value") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors.add(
                (*path, "choices", index, "name"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if value is None or (isinstance(value, str) and len(value) > 100):
            errors.add(
                (*path, "choices", index, "value"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        size += len(str(name or "")) + len(str(value or ""))
    return size


def _check_option(errors: FormErrors, path: Path, option: Any, *, depth: str) -> int:
    """Check one option; `depth` is `top`, `group` (inside a group) or `sub` (inside a
    subcommand). Returns its size in characters."""
    if not isinstance(option, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return 0
    kind = option.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool) or not 1 <= kind <= 11:
        errors.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of 1..11.")
        return 0
    size = len(_check_name(errors, path, option.get("name"), lowercase=True))
    size += len(_check_description(errors, path, option.get("description")))
    if (kind == SUB_COMMAND_GROUP and depth != "top") or (kind == SUB_COMMAND and depth == "sub"):
        errors.add(
            (*path, "type"),
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "Subcommands cannot be nested this way.",
        )
    if depth == "group" and kind != SUB_COMMAND:
        errors.add(
            (*path, "type"),
            "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
            "A subcommand group may only contain subcommands.",
        )
    if option.get("autocomplete") and (kind not in _CHOICE_TYPES or option.get("choices")):
        errors.add(
            (*path, "autocomplete"),
            "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
            "Autocomplete needs a STRING, INTEGER or NUMBER option without choices.",
        )
    if option.get("channel_types") is not None and kind != CHANNEL:
        errors.add(
            (*path, "channel_types"),
            "APPLICATION_COMMAND_OPTION_INVALID",
            "Only CHANNEL options take channel_types.",
        )
    for key in ("min_length", "max_length"):
        value = option.get(key)
        if value is None:
            continue
        if kind != STRING or not isinstance(value, int) or not 0 <= value <= 6000:
            errors.add(
                (*path, key),
                "NUMBER_TYPE_MAX",
                "Must be an integer from 0 to 6000 on a STRING option.",
            )
    size += _check_choices(errors, path, option)
    if kind in _SUBCOMMANDS:
        inner = "group" if kind == SUB_COMMAND_GROUP else "sub"
        size += _check_options(errors, path, option.get("options"), depth=inner)
    elif option.get("options"):
        errors.add(
            (*path, "options"),
            "APPLICATION_COMMAND_OPTION_INVALID",
            "Only subcommands and groups take options.",
        )
    return size


def _check_options(errors: FormErrors, path: Path, options: Any, *, depth: str) -> int:
    if options is None:
        return 0
    if not isinstance(options, list):
        errors.add((*path, "options"), "LIST_TYPE_CONVERT", "Must be an array.")
        return 0
    if len(options) > 25:
        errors.add((*path, "options"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    size = sum(
        _check_option(errors, (*path, "options", index), option, depth=depth)
        for index, option in enumerate(options)
    )
    dicts = [option for option in options if isinstance(option, dict)]
    kinds = {option.get("type") in _SUBCOMMANDS for option in dicts}
    if len(kinds) > 1:
        errors.add(
            (*path, "options"),
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Subcommands cannot be mixed with other options.",
        )
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(dicts):
        if option.get("type") not in _SUBCOMMANDS:
            if option.get("required") and seen_optional:
                errors.add(
                    (*path, "options", index, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
            seen_optional = seen_optional or not option.get("required")
        name = option.get("name")
        if isinstance(name, str) and name in names:
            errors.add(
                (*path, "options", index, "name"),
                "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME",
                "Option names must be unique",
            )
        names.add(str(name))
    return size


def validate_commands(commands: list[Any]) -> FormErrors:
    """Check a bulk-overwrite body (a list of command objects) as Discord does."""
    errors = FormErrors()
    seen: set[tuple[Any, str]] = set()
    chat_inputs = 0
    for index, command in enumerate(commands):
        path: Path = (index,)
        if not isinstance(command, dict):
            errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        kind = command.get("type", CHAT_INPUT)
        if kind not in (CHAT_INPUT, USER, MESSAGE, 4):
            errors.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4).")
            continue
        name = _check_name(errors, path, command.get("name"), lowercase=kind == CHAT_INPUT)
        size = len(name)
        if kind == CHAT_INPUT:
            chat_inputs += 1
            size += len(_check_description(errors, path, command.get("description")))
            size += _check_options(errors, path, command.get("options"), depth="top")
        elif command.get("description") or command.get("options"):
            errors.add(
                (*path, "description"),
                "APPLICATION_COMMAND_INVALID",
                "USER and MESSAGE commands take no description or options.",
            )
        permissions = command.get("default_member_permissions")
        if permissions is not None and not (isinstance(permissions, str) and permissions.isdigit()):
            errors.add(
                (*path, "default_member_permissions"),
                "STRING_TYPE_CONVERT",
                "Must be a permission bitfield as a decimal string, or null.",
            )
        if size > 8000:
            errors.add(path, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)")
        if (kind, name) in seen:
            errors.add(
                (*path, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add((kind, name))
    if chat_inputs > 100:
        errors.add((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    return errors


class CommandRegistry:
    """Registered commands keyed by (application id, guild id or None)."""

    def __init__(self, world: World, lock: threading.RLock) -> None:
        self._world = world
        self._lock = lock
        self._commands: dict[tuple[str, str | None], list[dict[str, Any]]] = {}

    def registered(self, application_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        """The commands as the last bulk overwrite left them (global when `guild_id` is None)."""
        with self._lock:
            return [dict(command) for command in self._commands.get((application_id, guild_id), [])]

    def handlers(self) -> dict[str, Callable[[Call], Outcome]]:
        return {"put_commands": self._put, "get_commands": self._get}

    def _scope(self, call: Call) -> tuple[str, str | None] | Outcome:
        application_id = call.params["application_id"]
        if application_id != call.bot_id:
            return error_outcome(403, 50001, "Missing Access")
        guild_id = call.params.get("guild_id")
        if guild_id is not None:
            guild = self._world.guilds.get(guild_id)
            if guild is None or not guild.bot_member:
                return error_outcome(403, 50001, "Missing Access")
        return application_id, guild_id

    def _put(self, call: Call) -> Outcome:
        scope = self._scope(call)
        if isinstance(scope, Outcome):
            return scope
        errors = validate_commands(call.body)
        if errors:
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        application_id, guild_id = scope
        existing = {
            (command["type"], command["name"]): command["id"]
            for command in self._commands.get(scope, [])
        }
        stored: list[dict[str, Any]] = []
        for command in call.body:
            kind = command.get("type", CHAT_INPUT)
            command_id = existing.get((kind, command["name"])) or self._world.new_id(call.now)
            stored.append(
                {
                    "id": command_id,
                    "application_id": application_id,
                    "version": self._world.new_id(call.now),
                    "default_member_permissions": command.get("default_member_permissions"),
                    "type": kind,
                    "name": command["name"],
                    "name_localizations": command.get("name_localizations"),
                    "description": command.get("description", ""),
                    "description_localizations": command.get("description_localizations"),
                    "options": command.get("options", []),
                    "nsfw": bool(command.get("nsfw", False)),
                    "integration_types": command.get("integration_types", [0]),
                    "contexts": command.get("contexts"),
                    **({"guild_id": guild_id} if guild_id is not None else {}),
                }
            )
        self._commands[scope] = stored
        return json_outcome(200, stored)

    def _get(self, call: Call) -> Outcome:
        scope = self._scope(call)
        if isinstance(scope, Outcome):
            return scope
        return json_outcome(200, self._commands.get(scope, []))
