"""Seed rows for `streammaxing demo`: one guild tracking one streamer, with the default template."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from streammaxing.schema.streamers import StreamerRow, upsert_streamer

_GUILD = """
INSERT INTO guilds (guild_id, name) VALUES (%s, %s)
ON CONFLICT (guild_id) DO UPDATE SET name = EXCLUDED.name
"""
_CONFIG = """
INSERT INTO guild_config (guild_id, channel_id, mention_role_id, message_template)
VALUES (%s, %s, %s, %s)
ON CONFLICT (guild_id) DO UPDATE SET
    channel_id = EXCLUDED.channel_id,
    mention_role_id = EXCLUDED.mention_role_id,
    message_template = EXCLUDED.message_template,
    enabled = true,
    disabled_reason = NULL,
    updated_at = now()
"""
_LINK = """
INSERT INTO guild_streamers (guild_id, streamer_id) VALUES (%s, %s)
ON CONFLICT (guild_id, streamer_id) DO UPDATE SET enabled = true
"""


async def seed_demo(
    conn: AsyncConnection[Any],
    *,
    guild_id: str,
    guild_name: str,
    channel_id: str,
    role_id: str,
    template: dict[str, Any],
    broadcaster_id: str,
    login: str,
    display_name: str,
) -> StreamerRow:
    """Upsert the demo guild, its config, the demo streamer and the link between them."""
    await conn.execute(_GUILD, (guild_id, guild_name))
    await conn.execute(_CONFIG, (guild_id, channel_id, role_id, Jsonb(template)))
    streamer = await upsert_streamer(
        conn, broadcaster_id=broadcaster_id, login=login, display_name=display_name, avatar_url=None
    )
    await conn.execute(_LINK, (guild_id, streamer.id))
    return streamer
