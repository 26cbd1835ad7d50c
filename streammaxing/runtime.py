"""What tasks and periodic jobs need at run time, built once per process by the composition root.

Workers receive it through procrastinate's `additional_context["runtime"]`; `run-job` and tests
pass it directly to the core functions. The Twitch and Discord clients are None without
credentials; in dry-run mode the Discord port logs what it would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import procrastinate
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from streammaxing.metrics import Metrics
from streammaxing.settings import Settings

if TYPE_CHECKING:
    from streammaxing.crypto import TokenBox
    from streammaxing.discord.client import DiscordClient
    from streammaxing.discord.port import DiscordPort
    from streammaxing.twitch.client import HelixClient
    from streammaxing.twitch.user_oauth import TwitchUserOAuth

RUNTIME_KEY = "runtime"


@dataclass
class Runtime:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    metrics: Metrics
    app: procrastinate.App
    port: DiscordPort
    helix: HelixClient | None = None
    #: Bot-token REST calls outside delivery (interaction answers, guild reads); None without
    #: a bot token.
    discord: DiscordClient | None = None
    #: Streamers' user tokens: the id.twitch.tv client and the keys they are sealed with; None
    #: without Twitch credentials or without TOKEN_ENCRYPTION_KEYS.
    user_oauth: TwitchUserOAuth | None = None
    tokens: TokenBox | None = None


def runtime_from(context: procrastinate.JobContext) -> Runtime:
    """The `Runtime` a worker put into the job context."""
    runtime = (context.additional_context or {}).get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("worker started without a StreamMaxing runtime in its job context")
    return runtime
