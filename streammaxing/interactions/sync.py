"""Registering the command set: compare with what Discord has, bulk-overwrite when different.

`plan` is pure: which commands the overwrite adds, changes and removes, compared on the fields
the catalog sets (Discord adds ids, versions and defaults of its own). Nothing differs → no
write, so running it again changes nothing and spends none of Discord's daily command creates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streammaxing.discord.client import DiscordClient
from streammaxing.interactions.catalog import COMMANDS


@dataclass(frozen=True)
class SyncPlan:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def needs_write(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def lines(self) -> list[str]:
        """What changed, one line per command, for the CLI."""
        lines = [f"added: /{name}" for name in self.added]
        lines += [f"changed: /{name}" for name in self.changed]
        lines += [f"removed: /{name}" for name in self.removed]
        lines += [f"unchanged: /{name}" for name in self.unchanged]
        return lines


def _differs(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    return any(current.get(key) != value for key, value in wanted.items())


def plan(current: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> SyncPlan:
    registered = {str(command.get("name")): command for command in current}
    names = [str(command["name"]) for command in wanted]
    added = tuple(name for name in names if name not in registered)
    changed = tuple(
        str(command["name"])
        for command in wanted
        if command["name"] in registered and _differs(command, registered[command["name"]])
    )
    removed = tuple(sorted(name for name in registered if name not in names))
    unchanged = tuple(name for name in names if name not in added and name not in changed)
    return SyncPlan(added=added, changed=changed, removed=removed, unchanged=unchanged)


async def sync_commands(
    client: DiscordClient, application_id: str, *, guild_id: str | None = None
) -> SyncPlan:
    """Make Discord's command set (global, or one guild's) the catalog; what changed."""
    current = await client.get_commands(application_id, guild_id=guild_id)
    result = plan(current, COMMANDS)
    if result.needs_write:
        await client.put_commands(application_id, COMMANDS, guild_id=guild_id)
    return result
