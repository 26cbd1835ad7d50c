"""`streammaxing demo`: seed a demo guild and fire a signed `stream.online` at the local ingest.

Right after `streammaxing up` (dry-run without credentials), the worker renders the guild's
announcement and logs it as `announcement_dry_run` within seconds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import psycopg

from streammaxing.schema.demo import seed_demo
from streammaxing.templating import DEFAULT_TEMPLATE
from streammaxing.twitch.trigger import TriggerOptions, build_message, send_message


@dataclass(frozen=True)
class DemoResult:
    status_code: int
    stream_id: str
    message_id: str


DEMO_GUILD_ID = "100000000000000001"
DEMO_CHANNEL_ID = "100000000000000002"
DEMO_ROLE_ID = "100000000000000003"
DEMO_BROADCASTER_ID = "100000001"
DEMO_LOGIN = "streammaxing_demo"


async def run_demo(database_url: str, ingest_url: str, secret: str) -> DemoResult:
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        await seed_demo(
            conn,
            guild_id=DEMO_GUILD_ID,
            guild_name="StreamMaxing Demo",
            channel_id=DEMO_CHANNEL_ID,
            role_id=DEMO_ROLE_ID,
            template=dict(DEFAULT_TEMPLATE),
            broadcaster_id=DEMO_BROADCASTER_ID,
            login=DEMO_LOGIN,
            display_name="StreamMaxing_Demo",
        )
    stream_id = str(secrets.randbelow(10**10))
    message = build_message(
        TriggerOptions(
            kind="stream.online",
            secret=secret,
            broadcaster_id=DEMO_BROADCASTER_ID,
            broadcaster_login=DEMO_LOGIN,
            broadcaster_name="StreamMaxing_Demo",
            stream_id=stream_id,
        )
    )
    result = await send_message(message, f"{ingest_url.rstrip('/')}/webhooks/twitch")
    return DemoResult(result.status_code, stream_id, message.message_id)
