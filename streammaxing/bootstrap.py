"""The composition root: builds what each process runs, from the settings loaded once by `cli`.

- `task_app` is the one procrastinate App factory: every worker task and job, registered from
  their declarations, for every process that runs or defers jobs.
- `build_runtime` / `close_runtime`: what a worker (and `run-job`) hands its tasks.
- `worker_options`: how every worker runs its jobs (the job middleware, the runtime).
- `build_ingest`: the ingest's Starlette app, with the admin API and, when
  ``DISCORD_PUBLIC_KEY`` is set, the Discord interactions and webhook-events routes.
- `manage_services`: what the operations (admin API, CLI verbs, and later the dashboard and
  slash commands) need.

`streammaxing.commands` only runs what is built here. Nothing here runs at import time; the
component imports are inside the functions, so a command that needs none of them (`trigger`)
does not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streammaxing import __version__
from streammaxing.runtime import RUNTIME_KEY, Runtime
from streammaxing.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import procrastinate
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute

    from streammaxing.crypto import TokenBox
    from streammaxing.discord.client import DiscordClient
    from streammaxing.discord.port import DiscordPort
    from streammaxing.linking.routes import Linking
    from streammaxing.manage.services import ManageServices
    from streammaxing.metrics import Metrics
    from streammaxing.twitch.client import HelixClient
    from streammaxing.twitch.user_oauth import TwitchUserOAuth

    Pool = AsyncConnectionPool[AsyncConnection[Any]]

#: Connections of the ingest's pool: the group commit holds a few, the admin API the rest.
INGEST_POOL = (2, 12)


def task_app(*, schedule: bool = True, listen_url: str | None = None) -> procrastinate.App:
    """A closed procrastinate App with every task registered (``schedule=False``: without the
    periodic jobs' cron schedules). Open it with ``await app.open_async(pool=pool)``.

    ``listen_url``: the worker LISTENs for new jobs on a connection to this URL rather than the
    pool's (the direct URL, when the pool goes through a transaction pooler)."""
    import procrastinate

    from streammaxing.direct_listen import DirectListenConnector
    from streammaxing.interactions.tasks import INTERACTION_TASKS
    from streammaxing.jobs.tasks import JOB_TASKS
    from streammaxing.runner import register
    from streammaxing.workers.tasks import WORKER_TASKS

    connector = (
        procrastinate.PsycopgConnector()
        if listen_url is None
        else DirectListenConnector(listen_url)
    )
    app = procrastinate.App(connector=connector)
    register(app, (*WORKER_TASKS, *JOB_TASKS, *INTERACTION_TASKS), schedule=schedule)
    return app


def worker_options(runtime: Runtime, *, time_limit: float | None = None) -> dict[str, Any]:
    """The arguments every `run_worker_async` gets: the runtime in the job context and the job
    middleware (`time_limit` overrides its default, for tests)."""
    from streammaxing.runner import job_middleware

    middleware = job_middleware() if time_limit is None else job_middleware(time_limit=time_limit)
    return {"additional_context": {RUNTIME_KEY: runtime}, "worker_middleware": [middleware]}


def helix(settings: Settings) -> HelixClient | None:
    """The Helix client (app access token), or None without Twitch credentials."""
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


def manage_services(settings: Settings, pool: Pool) -> ManageServices:
    """What the operations need: the pool, the App jobs are deferred through, Helix."""
    from streammaxing.manage.services import ManageServices

    return ManageServices(
        pool=pool,
        # Jobs are deferred on the operation's own connection: this App is never opened.
        app=task_app(schedule=False),
        helix=helix(settings),
        public_url=settings.public_url,
    )


def check_worker_credentials(settings: Settings) -> None:
    if settings.dry_run:
        return
    settings.require("twitch_client_id", "twitch_client_secret", "discord_bot_token")


def discord_port(settings: Settings, pool: Pool, metrics: Metrics) -> DiscordPort:
    """The live port (client + shared limiter) with a bot token outside dry-run, else dry-run.

    The limiter counts its missed slots in `metrics`."""
    import hashlib

    from streammaxing.discord.client import DiscordClient, build_http_client
    from streammaxing.discord.dry_run_port import DryRunPort
    from streammaxing.discord.limiter import DiscordLimiter
    from streammaxing.discord.live_port import LiveDiscordPort

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
        on_slot_missed=lambda at: metrics.discord_slots_missed.labels(at).inc(),
    )
    return LiveDiscordPort(client, limiter)


async def build_runtime(settings: Settings, url: str, pool_size: int) -> Runtime:
    """An opened runtime: pool, task app, metrics, the Discord port and the Helix client."""
    from streammaxing.db import create_pool
    from streammaxing.metrics import Metrics

    pool = create_pool(
        url,
        min_size=1,
        max_size=pool_size,
        name="worker",
        slow_query_ms=settings.slow_query_ms,
        pooled=settings.is_pooled,
    )
    await pool.open(wait=True, timeout=30)
    app = task_app(listen_url=settings.direct_url(url))
    await app.open_async(pool=pool)
    metrics = Metrics(pools=[pool])
    runtime = Runtime(
        settings=settings,
        pool=pool,
        metrics=metrics,
        app=app,
        port=discord_port(settings, pool, metrics),
    )
    runtime.helix = helix(settings)
    runtime.discord = discord_client(settings)
    runtime.user_oauth = user_oauth(settings)
    if settings.token_encryption_keys:
        runtime.tokens = token_box(settings)
    return runtime


def discord_client(settings: Settings) -> DiscordClient | None:
    """A bot-token REST client for calls outside delivery, or None without a bot token."""
    from streammaxing.discord.client import DiscordClient, build_http_client

    if settings.discord_bot_token is None:
        return None
    token = settings.discord_bot_token.get_secret_value()
    return DiscordClient(build_http_client(settings.discord_api_url, token, __version__))


async def close_runtime(runtime: Runtime) -> None:
    if runtime.helix is not None:
        await runtime.helix.aclose()
    if runtime.discord is not None:
        await runtime.discord.aclose()
    if runtime.user_oauth is not None:
        await runtime.user_oauth.aclose()
    await runtime.port.aclose()
    await runtime.app.close_async()
    await runtime.pool.close()


def dashboard(
    settings: Settings, services: ManageServices, listen: str, linking: Linking | None = None
) -> tuple[list[BaseRoute], list[Callable[[], Awaitable[None]]]]:
    """The dashboard's routes (a catch-all Mount, so it goes after every other route) and what
    to close at shutdown.

    ``listen`` is the ingest's own URL, the public URL when PUBLIC_URL is not set."""
    from streammaxing.crypto import TokenBox
    from streammaxing.discord.client import DiscordClient, build_http_client
    from streammaxing.linking.routes import dashboard_start
    from streammaxing.web.app import dashboard_routes
    from streammaxing.web.config import DiscordOAuth, WebConfig
    from streammaxing.web.deps import WebDeps, build_templates

    oauth = None
    if settings.has_discord_oauth:
        assert settings.discord_application_id is not None  # noqa: S101 - has_discord_oauth
        assert settings.discord_client_secret is not None  # noqa: S101 - has_discord_oauth
        oauth = DiscordOAuth(
            client_id=settings.discord_application_id,
            client_secret=settings.discord_client_secret,
            authorize_url=settings.discord_oauth_url,
            api_url=settings.discord_api_url,
        )
    bot = None
    if settings.discord_bot_token is not None and not settings.dry_run:
        plain = settings.discord_bot_token.get_secret_value()
        bot = DiscordClient(build_http_client(settings.discord_api_url, plain, __version__))
    deps = WebDeps(
        services=services,
        config=WebConfig(public_url=settings.public_url or listen, oauth=oauth),
        templates=build_templates(),
        bot=bot,
        box=TokenBox(settings.token_encryption_keys) if settings.token_encryption_keys else None,
        start_twitch_link=None if linking is None else dashboard_start(linking),
    )
    return dashboard_routes(deps), ([bot.aclose] if bot is not None else [])


def user_oauth(settings: Settings) -> TwitchUserOAuth | None:
    """The client for streamers' user tokens, or None without Twitch credentials."""
    from streammaxing.twitch.user_oauth import TwitchUserOAuth, build_user_oauth_http_client

    if not (settings.twitch_client_id and settings.twitch_client_secret):
        return None
    return TwitchUserOAuth(
        build_user_oauth_http_client(),
        auth_url=settings.twitch_auth_url,
        api_url=settings.twitch_api_url,
        client_id=settings.twitch_client_id,
        client_secret=settings.twitch_client_secret,
    )


def token_box(settings: Settings) -> TokenBox:
    """The keys streamers' tokens are sealed with; `ConfigError` when none is configured."""
    from streammaxing.crypto import TokenBox
    from streammaxing.settings import ConfigError

    if not settings.token_encryption_keys:
        raise ConfigError(
            "TOKEN_ENCRYPTION_KEYS is required: streamers' Twitch tokens are stored encrypted "
            "(generate a key with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)"
        )
    return TokenBox(settings.token_encryption_keys)


def linking_setup(settings: Settings, services: ManageServices) -> Linking | None:
    """The Twitch link routes' dependencies when Twitch credentials and PUBLIC_URL are set
    (then `TOKEN_ENCRYPTION_KEYS` is required); None otherwise."""
    from streammaxing.linking.routes import Linking

    if settings.public_url is None:
        return None
    oauth = user_oauth(settings)
    if oauth is None:
        return None
    return Linking(
        services=services, oauth=oauth, box=token_box(settings), public_url=settings.public_url
    )


def build_ingest(
    settings: Settings, url: str, *, listen: str = "http://127.0.0.1:8080", web: bool = True
) -> Starlette:
    """The ingest app (webhook, probes, metrics, admin API and, with ``web``, the dashboard);
    its lifespan opens the pool."""
    import dataclasses

    from streammaxing.admin.api import api_routes
    from streammaxing.db import create_pool
    from streammaxing.ingest.app import create_app
    from streammaxing.ingest.enqueue import GroupCommitter
    from streammaxing.ingest.state import IngestState
    from streammaxing.metrics import Metrics

    settings.require("twitch_eventsub_secret")
    min_size, max_size = INGEST_POOL
    pool = create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        name="ingest",
        slow_query_ms=settings.slow_query_ms,
        pooled=settings.is_pooled,
    )
    state = IngestState(
        pool=pool,
        metrics=Metrics(pools=[pool]),
        committer=GroupCommitter(pool),
        eventsub_secrets=settings.eventsub_secrets,
    )
    services = manage_services(settings, pool)
    if services.helix is not None:
        state.on_shutdown.append(services.helix.aclose)
    routes: list[BaseRoute] = []
    linking = linking_setup(settings, services)
    if linking is not None:
        from streammaxing.linking.routes import linking_routes

        state.on_shutdown.append(linking.oauth.aclose)
        services = dataclasses.replace(services, user_oauth=linking.oauth, tokens=linking.box)
        linking = dataclasses.replace(linking, services=services)
        routes += linking_routes(linking)
    routes += api_routes(services, settings.admin_api_token)
    if settings.discord_public_key is not None:
        from streammaxing.interactions.routes import discord_routes

        routes += discord_routes(services, settings.discord_public_key)
    if web:
        web_routes, closers = dashboard(settings, services, listen, linking)
        routes = [*routes, *web_routes]
        state.on_shutdown.extend(closers)
    return create_app(state, extra_routes=routes)
