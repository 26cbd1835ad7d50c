"""The body of each `streammaxing` command: builds what the process needs and runs it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import secrets
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from streammaxing.bootstrap import (
    build_ingest,
    build_runtime,
    check_worker_credentials,
    close_runtime,
    manage_services,
    worker_options,
)
from streammaxing.embedded_pg import EmbeddedPostgres, data_root, start_embedded
from streammaxing.settings import ConfigError, Settings

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

log = structlog.get_logger("streammaxing")

# Generation-0 collection threshold of the ingest and worker processes (CPython's default is 700).
GC_THRESHOLD = 5_000


def settle_heap() -> None:
    """Move everything built so far out of the cyclic collector's view, and collect young
    objects less often.

    What a long-running process builds before serving (modules, the app, pools: ~87,000
    tracked objects in a worker) lives as long as the process, yet every full collection walks
    it again. In a worker under `bench/fanout_limited.py` (2,000 guilds at 50 req/s, 41 s), the
    collector took 195-277 ms per worker, in pauses of up to 160 ms; frozen, 9-36 ms, pauses up
    to 18 ms. Per request or announcement the process makes a few hundred short-lived objects
    and few cycles, so a larger generation-0 threshold spends less time in collections and
    bounds memory all the same (measured by bench/ingest.py).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)


def with_database(settings: Settings, body: Callable[[str], int]) -> int:
    """Run `body(url)` against DATABASE_URL, or the embedded server when it is unset."""
    embedded: EmbeddedPostgres | None = None
    url = settings.database_url
    if url is None:
        embedded = start_embedded()
        url = embedded.url
        log.info("embedded_postgres", data_dir=str(embedded.data_dir))
    try:
        return body(url)
    finally:
        if embedded is not None:
            embedded.stop()


async def migrate(url: str, down_to: int | None) -> int:
    """Apply (or revert) migrations on `url`: the caller passes the direct URL."""
    from streammaxing.schema.migrate import migrate, rollback

    if down_to is not None:
        reverted = await rollback(url, to_version=down_to)
        log.info("migrate_down_finished", reverted=reverted)
        print(f"reverted: {_versions(reverted)}")
    else:
        applied = await migrate(url)
        log.info("migrate_finished", applied=applied)
        print(f"applied: {_versions(applied)}")
    return 0


def _versions(versions: list[int]) -> str:
    return ", ".join(f"{version:03d}" for version in versions) or "nothing (already up to date)"


def ingest_server_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    """The ingest's uvicorn options (bench/_bare_floor.py serves its floor under the same)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def serve_ingest(settings: Settings, url: str, host: str, port: int) -> int:
    import uvicorn

    app = build_ingest(settings, url, listen=f"http://{host}:{port}")
    server = uvicorn.Server(ingest_server_config(app, host, port))
    settle_heap()
    server.run()
    return 0


async def run_admin(settings: Settings, url: str, args: argparse.Namespace) -> int:
    from psycopg_pool import PoolTimeout

    from streammaxing.admin.cli import run_admin_command
    from streammaxing.db import create_pool

    pool = create_pool(
        url,
        min_size=1,
        max_size=2,
        name="admin",
        slow_query_ms=settings.slow_query_ms,
        pooled=settings.is_pooled,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except PoolTimeout:
        print("streammaxing: the database does not answer", file=sys.stderr)
        return 1
    services = manage_services(settings, pool)
    try:
        return await run_admin_command(args, services)
    finally:
        if services.helix is not None:
            await services.helix.aclose()
        await pool.close()


async def rotate_keys(settings: Settings, url: str) -> int:
    """Re-encrypt every stored token under the first key; prints the counts (exit 1 when some
    token no configured key opens)."""
    from psycopg_pool import PoolTimeout

    from streammaxing.bootstrap import token_box
    from streammaxing.db import create_pool
    from streammaxing.key_rotation import RotationResult, rotate_tokens

    box = token_box(settings)
    pool = create_pool(url, min_size=1, max_size=1, name="rotate-keys", pooled=settings.is_pooled)
    try:
        await pool.open(wait=True, timeout=10)
    except PoolTimeout:
        print("streammaxing: the database does not answer", file=sys.stderr)
        return 1

    def progress(so_far: RotationResult) -> None:
        print(f"rotate-keys: {so_far.rotated} re-encrypted so far", file=sys.stderr)

    try:
        result = await rotate_tokens(pool, box, on_batch=progress)
    finally:
        await pool.close()
    print(
        f"rotate-keys: {result.rotated} re-encrypted under the first key, "
        f"{result.current} already current, {result.changed} changed meanwhile, "
        f"{result.unreadable} unreadable"
    )
    return 1 if result.unreadable else 0


async def run_worker(
    settings: Settings,
    url: str,
    concurrency: int,
    queues: list[str] | None,
    metrics_port: int | None = None,
) -> int:
    check_worker_credentials(settings)
    runtime = await build_runtime(settings, url, pool_size=concurrency + 4)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=runtime.metrics.registry)
    log.info(
        "worker_starting", concurrency=concurrency, queues=queues or "all", dry_run=settings.dry_run
    )
    # The Twitch app token is fetched in the background while the worker starts: a go-live
    # then does not pay the OAuth round trip before its fan-out.
    warm_up = asyncio.create_task(runtime.helix.warm_up()) if runtime.helix else None
    settle_heap()
    try:
        # procrastinate reads a missing `queues` as "every queue".
        scope: dict[str, list[str]] = {"queues": queues} if queues else {}
        await runtime.app.run_worker_async(
            **scope,  # type: ignore[arg-type]
            **worker_options(runtime),
            concurrency=concurrency,
            install_signal_handlers=True,
            delete_jobs="successful",
        )
    finally:
        if warm_up is not None:
            warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warm_up
        await close_runtime(runtime)
    return 0


async def sync_commands(settings: Settings, guild_id: str | None) -> int:
    """Register the slash commands (global, or one test guild's) and print what changed."""
    from streammaxing.bootstrap import discord_client
    from streammaxing.discord.errors import DiscordError
    from streammaxing.interactions.sync import sync_commands as sync

    settings.require("discord_bot_token", "discord_application_id")
    client = discord_client(settings)
    application_id = settings.discord_application_id
    if client is None or application_id is None:
        raise AssertionError("settings.require let a missing setting through")
    try:
        result = await sync(client, application_id, guild_id=guild_id)
    except DiscordError as error:
        print(f"streammaxing: Discord refused the command set: {error}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    scope = f"guild {guild_id}" if guild_id else "global"
    for line in result.lines():
        print(line)
    print(f"{scope}: {'overwritten' if result.needs_write else 'already up to date'}")
    return 0


async def run_job(settings: Settings, url: str, name: str) -> int:
    from streammaxing.jobs.tasks import PERIODIC_JOBS

    job = next((job for task, job in PERIODIC_JOBS.items() if task.value == name), None)
    if job is None:
        known = ", ".join(sorted(PERIODIC_JOBS))
        raise ConfigError(f"unknown job {name!r}; known jobs: {known}")
    runtime = await build_runtime(settings, url, pool_size=4)
    try:
        result = await job[1](runtime)
        log.info("job_finished", job=name, result=repr(result))
        print(f"{name}: {result!r}")
        if getattr(result, "retry_later", False):
            print(f"{name}: finished with work left for a later run (see the log)", file=sys.stderr)
            return 1
    finally:
        await close_runtime(runtime)
    return 0


async def demo(settings: Settings, url: str, ingest_url: str) -> int:
    from streammaxing.demo import run_demo

    if settings.twitch_eventsub_secret:
        secret = settings.twitch_eventsub_secret[0].get_secret_value()
    else:
        path = data_root() / "eventsub_secret"
        if not path.exists():
            raise ConfigError(
                "TWITCH_EVENTSUB_SECRET is required (or run `streammaxing up` once to generate one)"
            )
        secret = path.read_text(encoding="ascii").strip()
    result = await run_demo(url, ingest_url, secret)
    if result.status_code // 100 != 2:
        print(f"demo: the ingest answered {result.status_code}", file=sys.stderr)
        return 1
    print(
        f"demo: stream.online for streammaxing_demo (stream {result.stream_id}) accepted; "
        "watch the `up` log for announcement_dry_run"
    )
    return 0


def persistent_eventsub_secret() -> str:
    """A webhook secret for local runs without TWITCH_EVENTSUB_SECRET, stable across restarts."""
    path = data_root() / "eventsub_secret"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    secret = secrets.token_hex(32)
    path.touch(mode=0o600)
    path.write_text(secret, encoding="ascii")
    return secret


def up(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate, then run the ingest and a worker as supervised children on one database."""
    return with_database(settings, lambda url: _up(args, settings, url))


def _up(args: argparse.Namespace, settings: Settings, url: str) -> int:
    from streammaxing.schema.migrate import migrate as apply_migrations
    from streammaxing.supervisor import Child, Supervisor

    applied = asyncio.run(apply_migrations(settings.direct_url(url)))
    log.info("migrate_finished", applied=applied)
    env = dict(os.environ)
    env["DATABASE_URL"] = url
    if not settings.twitch_eventsub_secret:
        env["TWITCH_EVENTSUB_SECRET"] = persistent_eventsub_secret()
    missing = [
        name
        for name, present in (
            ("TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET", settings.has_twitch_credentials),
            ("DISCORD_BOT_TOKEN", settings.has_discord_credentials),
        )
        if not present
    ]
    if missing or settings.dry_run:
        env["DRY_RUN"] = "true"
        log.warning(
            "dry_run_mode",
            missing=missing,
            note="DRY RUN: announcements go to the log and notification_log, not Discord",
        )
    python = sys.executable
    children = [
        Child(
            "ingest",
            [python, "-m", "streammaxing", "ingest", "--host", args.host, "--port", str(args.port)],
        ),
        Child(
            "worker",
            [python, "-m", "streammaxing", "worker", "--concurrency", str(args.concurrency)],
        ),
    ]
    log.info("up", url=f"http://{args.host}:{args.port}", pid=os.getpid())
    return Supervisor(children, env).run()
