"""`streammaxing` — the command line: the entry point and composition root of every process.

Settings are loaded once here and handed to the command (`streammaxing.commands`), which builds
the pool, HTTP clients, metrics and procrastinate app (`streammaxing.bootstrap`) and passes them
down. Nothing else reads the environment or connects at import time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from streammaxing import __version__
from streammaxing.commands import (
    demo,
    migrate,
    rotate_keys,
    run_admin,
    run_job,
    run_worker,
    serve_ingest,
    sync_commands,
    up,
    with_database,
)
from streammaxing.logs import configure_logging
from streammaxing.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    Pool = AsyncConnectionPool[AsyncConnection[Any]]

log = structlog.get_logger("streammaxing")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: Commands that serve: their log is their output. The others print their answer, and log only
#: warnings and errors unless LOG_LEVEL=DEBUG.
SERVING_COMMANDS = frozenset({"up", "ingest", "worker"})


def log_level_for(command: str, configured: str) -> str:
    """The level a command logs at: as configured for a serving command or at DEBUG, else at
    least WARNING, so a verb's answer is not buried under infrastructure events."""
    if command in SERVING_COMMANDS or configured == "DEBUG":
        return configured
    if logging.getLevelName(configured) >= logging.WARNING:
        return configured
    return "WARNING"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streammaxing", description="Twitch → Discord go-live notifications."
    )
    parser.add_argument("--version", action="version", version=f"streammaxing {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up", help="run everything on this machine (embedded Postgres if needed)"
    )
    up.add_argument("--host", default=DEFAULT_HOST)
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--concurrency", type=int, default=20, help="worker concurrency")

    migrate = commands.add_parser("migrate", help="apply migrations and procrastinate's schema")
    migrate.add_argument(
        "--down-to",
        type=int,
        default=None,
        metavar="VERSION",
        help="revert migrations newer than VERSION instead (0 = everything)",
    )

    ingest = commands.add_parser("ingest", help="serve the ingest app (webhook, probes, API)")
    ingest.add_argument("--host", default=DEFAULT_HOST)
    ingest.add_argument("--port", type=int, default=DEFAULT_PORT)

    worker = commands.add_parser("worker", help="run a procrastinate worker")
    worker.add_argument("--concurrency", type=int, default=20)
    worker.add_argument(
        "--queues", default="", help="comma-separated queues to consume (default: all)"
    )
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port"
    )

    run_job = commands.add_parser("run-job", help="run one periodic job now, to completion")
    run_job.add_argument("name")

    commands.add_parser(
        "rotate-keys",
        help="re-encrypt every stored Twitch token under the first TOKEN_ENCRYPTION_KEYS key",
    )

    demo = commands.add_parser(
        "demo", help="seed a demo guild and send a signed stream.online to the local ingest"
    )
    demo.add_argument("--url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}", help="ingest URL")

    slash = commands.add_parser("commands", help="Discord slash commands")
    slash_verbs = slash.add_subparsers(dest="verb", required=True, metavar="VERB")
    sync = slash_verbs.add_parser(
        "sync", help="register the slash commands (bulk overwrite) and print what changed"
    )
    sync.add_argument(
        "--guild", default=None, metavar="GUILD_ID", help="a test guild (updates instantly)"
    )

    from streammaxing.admin.cli import add_admin_commands

    add_admin_commands(commands)

    trigger = commands.add_parser("trigger", help="send a signed EventSub message to a URL")
    from streammaxing.twitch.trigger import add_trigger_arguments

    add_trigger_arguments(trigger)
    return parser


def _run_fast(main: Coroutine[Any, Any, int]) -> int:
    """Run the worker on uvloop when it is installed (it comes with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"streammaxing: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, log_level_for(args.command, settings.log_level))
    try:
        return _dispatch(args, settings)
    except ConfigError as error:
        print(f"streammaxing: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    if command == "up":
        return up(args, settings)
    if command == "migrate":
        return with_database(
            settings, lambda url: asyncio.run(migrate(settings.direct_url(url), args.down_to))
        )
    if command == "ingest":
        return with_database(
            settings, lambda url: serve_ingest(settings, url, args.host, args.port)
        )
    if command == "worker":
        queues = [q.strip() for q in args.queues.split(",") if q.strip()] or None
        return with_database(
            settings,
            lambda url: _run_fast(
                run_worker(settings, url, args.concurrency, queues, args.metrics_port)
            ),
        )
    if command == "run-job":
        return with_database(settings, lambda url: asyncio.run(run_job(settings, url, args.name)))
    if command == "commands":
        return asyncio.run(sync_commands(settings, args.guild))
    if command == "rotate-keys":
        return with_database(settings, lambda url: asyncio.run(rotate_keys(settings, url)))
    if command == "demo":
        return with_database(settings, lambda url: asyncio.run(demo(settings, url, args.url)))
    from streammaxing.admin.cli import ADMIN_COMMANDS

    if command in ADMIN_COMMANDS:
        return with_database(settings, lambda url: asyncio.run(run_admin(settings, url, args)))
    if command == "trigger":
        from streammaxing.twitch.trigger import run_trigger

        return asyncio.run(run_trigger(args))
    raise AssertionError(f"unhandled command {command}")
