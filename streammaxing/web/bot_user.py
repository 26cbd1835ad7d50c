"""The bot's own user id, read once per process (a bot token's user never changes)."""

from __future__ import annotations

import asyncio

from streammaxing.discord.client import DiscordClient


class BotUser:
    """Remembers the answer of the first successful `GET /users/@me` with the bot token."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._lock = asyncio.Lock()

    async def user_id(self, bot: DiscordClient) -> str:
        if self._id is None:
            async with self._lock:
                if self._id is None:
                    self._id = (await bot.current_user()).id
        return self._id
