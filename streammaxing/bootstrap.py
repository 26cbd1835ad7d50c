"""The composition root's parts: the clients, services and job runtime each process is built from.

Called by `streammaxing.commands` once per process, after the settings were loaded. Nothing here
runs at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streammaxing import __version__
from streammaxing.runtime import Runtime
from streammaxing.settings import Settings

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from streammaxing.admin.service import AdminServices
    from streammaxing.twitch.client import HelixClient
    from streammaxing.workers.port import DiscordPort

    Pool = AsyncConnectionPool[AsyncConnection[Any]]


def helix(settings: Settings) -> HelixClient | None:
    from streammaxing.twitch.client import HelixClient, build_helix_http_client

    if not (settings.twitch_client_id and settings.twitch_client_secret):
        return None
    http = build_helix_http_client(
        settings.twitch_api_url,
        settings.twitch_auth_url,
        settings.twitch_client_id,
        settings.twitch_client_secret,
    )
    return HelixClient(http, settings.twitch_client_id)


def admin_services(settings: Settings, pool: Pool) -> AdminServices:
    import procrastinate

    from streammaxing.admin.service import AdminServices

    return AdminServices(
        pool=pool,
        # Jobs are deferred on the operation's own connection: this App is never opened.
        app=procrastinate.App(connector=procrastinate.PsycopgConnector()),
        helix=helix(settings),
        api_token=settings.admin_api_token,
    )


def check_worker_credentials(settings: Settings) -> None:
    if settings.dry_run:
        return
    settings.require("twitch_client_id", "twitch_client_secret", "discord_bot_token")


def discord_port(settings: Settings, pool: Pool) -> DiscordPort:
    """The live port (client + shared limiter) with a bot token outside dry-run, else dry-run."""
    import hashlib

    from streammaxing.discord.client import DiscordClient, build_http_client
    from streammaxing.discord.limiter import DiscordLimiter
    from streammaxing.workers.discord_port import LiveDiscordPort
    from streammaxing.workers.dry_run_port import DryRunPort

    token = settings.discord_bot_token
    if token is None or settings.dry_run:
        return DryRunPort()
    plain = token.get_secret_value()
    client = DiscordClient(build_http_client(settings.discord_api_url, plain, __version__))
    limiter = DiscordLimiter(
        pool,
        global_rate=settings.discord_global_rate_limit,
        # Announcements get 0.98 x 50 - 0.5 = 48.5 req/s, DMs 0.5/s: at most 49 + 1 in any
        # second, and DMs (opt-in, one per stream) never need more.
        safety=0.98,
        dm_rate=0.5,
        token_fingerprint=hashlib.sha256(plain.encode()).hexdigest()[:16],
    )
    return LiveDiscordPort(client, limiter)


async def build_runtime(settings: Settings, url: str, pool_size: int) -> Runtime:
    import procrastinate

    from streammaxing.db import create_pool
    from streammaxing.jobs.tasks import register_job_tasks
    from streammaxing.metrics import Metrics
    from streammaxing.workers.tasks import register_worker_tasks

    pool = create_pool(url, min_size=1, max_size=pool_size, name="worker")
    await pool.open(wait=True, timeout=30)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    register_worker_tasks(app)
    register_job_tasks(app)
    await app.open_async(pool=pool)
    runtime = Runtime(
        settings=settings,
        pool=pool,
        metrics=Metrics(),
        app=app,
        port=discord_port(settings, pool),
    )
    runtime.helix = helix(settings)
    return runtime


async def close_runtime(runtime: Runtime) -> None:
    if runtime.helix is not None:
        await runtime.helix.aclose()
    await runtime.port.aclose()
    await runtime.app.close_async()
    await runtime.pool.close()
