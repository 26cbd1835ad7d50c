"""A short-lived per-guild memory of what the pickers read from Discord.

Every guild page view would otherwise read the guild's channels, roles and the bot's member
from Discord (three calls). A guild's channels and roles rarely change while an admin edits
the page, so an answer is reused for `TTL_SECONDS`; saving the config or asking to refresh
forgets the guild's entry, so a new channel or role shows at the latest then. Failures are not
remembered. One instance per dashboard app (in `WebDeps`), so processes and tests never share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

TTL_SECONDS = 30.0
#: Entries kept at most; the oldest are dropped first (a guild page view re-reads them).
MAX_ENTRIES = 1024


class PickerCache(Generic[T]):
    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, T]] = {}

    def get(self, guild_id: str) -> T | None:
        entry = self._entries.get(guild_id)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[guild_id]
            return None
        return entry[1]

    def put(self, guild_id: str, value: T) -> None:
        self._entries.pop(guild_id, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[guild_id] = (self._clock() + self._ttl, value)

    def forget(self, guild_id: str) -> None:
        self._entries.pop(guild_id, None)
