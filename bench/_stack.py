"""What the worker benchmarks share: a database, the fakes and the real processes, as subprocesses.

Every process under test is a real command: `streammaxing ingest` and `streammaxing worker`
(the production command line, settings and composition root), the Discord fake
(`python -m tests.fakes.discord_fake`) and the Twitch fake (`python -m tests.fakes.twitch_fake`),
each in its own process so that the fakes' CPU does not land in the load generator's (this
process's) event loop. The fakes are driven through their `/_fake/*` control APIs.

Clocks: the Discord fake stamps each logged request with `time.monotonic()` of its own process.
On Linux that is `CLOCK_MONOTONIC`, one clock for the whole machine, so it is compared directly
with `time.monotonic()` read here (e.g. when the ingest's 2xx arrived).

Database: `BENCH_DATABASE_URL` (a database used as is: migrated, and its tables emptied before
each run), else a fresh database on `postgresql://postgres@127.0.0.1:5432/postgres`, dropped at
the end (the embedded server when no local server answers).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import structlog

from streammaxing.schema.migrate import migrate
from streammaxing.twitch.trigger import TriggerOptions, build_message

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-eventsub-secret-0123"
BOT_TOKEN = "bench-bot-token"
TWITCH_CLIENT_ID = "benchclientid0123456789abcdef"
TWITCH_CLIENT_SECRET = "benchclientsecret0123456789abc"
# The queues of the go-live path: fan-out, announcements, DMs.
GO_LIVE_QUEUES = "events,announce,dm"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Tables a run must not empty: the migrations applied and the workers' registrations (handled
# apart, see `Database.reset`).
_KEPT_TABLES = ("schema_migrations", "procrastinate_workers")


class BenchError(Exception):
    """The benchmark could not run, or the pipeline broke its contract."""


def progress(message: str) -> None:
    """Progress goes to stderr; stdout carries the one JSON line."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def quiet_library_logs() -> None:
    """Library events (migrations) go to stderr, never to the JSON line on stdout."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of a non-empty list."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return ordered[rank - 1]


# --- database -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: str
    source: str  # "BENCH_DATABASE_URL", "local", "embedded"

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def reset(self) -> None:
        """Empty every table (data, queue, limiter state), so runs start alike."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables"
                " WHERE schemaname = current_schema() AND tablename <> ALL(%s)",
                (list(_KEPT_TABLES),),
            ).fetchall()
            conn.execute(f"TRUNCATE {', '.join(r[0] for r in rows)} RESTART IDENTITY CASCADE")
            conn.execute("DELETE FROM procrastinate_workers")
            # No VACUUM ANALYZE: statistics of empty tables make Postgres plan each job insert's
            # FK check as a sequential scan; TRUNCATE already marks the statistics unknown.


def _local_server_answers() -> bool:
    try:
        with psycopg.connect(LOCAL_SERVER, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def bench_database(prefix: str) -> Iterator[Database]:
    """The database to run on: given, or created (and dropped afterwards) on a server."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        asyncio.run(migrate(given))
        yield Database(given, "BENCH_DATABASE_URL")
        return
    embedded = None
    if _local_server_answers():
        server, source = LOCAL_SERVER, "local"
    else:
        from streammaxing.embedded_pg import data_root, start_embedded

        embedded = start_embedded(data_root() / "pgdata-bench")
        server, source = embedded.url, "embedded"
    name = f"streammaxing_{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
            asyncio.run(migrate(url))
            yield Database(url, source)
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if embedded is not None:
            embedded.stop()


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def memory_kib(self) -> dict[str, int]:
        """Current (VmRSS) and peak (VmHWM) resident memory, KiB, from /proc."""
        values: dict[str, int] = {}
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
        except OSError:
            pass
        return values

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        return _proc_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def spawn(name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Process:
    """Start `argv` with this interpreter in its own session, output to `<workdir>/<name>.log`."""
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log_file:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(  # noqa: S603 - our own commands
            [sys.executable, *argv],
            env=env,
            cwd=REPO_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log_path)


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


# --- fakes --------------------------------------------------------------------------------------


@dataclass
class DiscordFake:
    process: Process
    url: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    def seed_channels(self, channels: list[tuple[str, str]]) -> None:
        """(channel id, guild id) pairs: text channels the bot may post in."""
        for start in range(0, len(channels), 1000):
            chunk = channels[start : start + 1000]
            response = self.http.post(
                f"{self.url}/_fake/seed",
                json={"channels": [{"id": c, "guild_id": g} for c, g in chunk]},
            )
            response.raise_for_status()

    def reset(self, **config: Any) -> None:
        """Forget everything, apply `config` (FakeConfig fields), accept the bot token again."""
        self.http.post(f"{self.url}/_fake/reset").raise_for_status()
        if config:
            self.http.post(f"{self.url}/_fake/config", json=config).raise_for_status()
        self.http.post(
            f"{self.url}/_fake/seed", json={"tokens": [{"token": BOT_TOKEN}]}
        ).raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/_fake/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def requests(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.url}/_fake/requests")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def messages(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.url}/_fake/messages")
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result


@dataclass
class TwitchFake:
    process: Process
    url: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def add_user(self, user_id: str, login: str) -> None:
        self.http.post(
            f"{self.url}/_fake/users", json={"id": user_id, "login": login}
        ).raise_for_status()

    def add_stream(self, user_id: str, login: str, stream_id: str, title: str) -> None:
        self.http.post(
            f"{self.url}/_fake/streams",
            json={
                "user_id": user_id,
                "user_login": login,
                "id": stream_id,
                "title": title,
                "game_name": "Chess",
            },
        ).raise_for_status()


@contextmanager
def discord_fake(
    workdir: Path, *, unlimited: bool, global_limit: int | None = 50
) -> Iterator[DiscordFake]:
    port = free_port()
    argv = ["-m", "tests.fakes.discord_fake", "--port", str(port), "--token", BOT_TOKEN]
    argv += ["--unlimited"] if unlimited else []
    argv += ["--global-limit", "none" if global_limit is None else str(global_limit)]
    process = spawn("discord_fake", argv, dict(os.environ), workdir)
    fake = DiscordFake(process, f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: _http_status(f"{fake.url}/_fake/stats") == 200 or not process.alive(),
            timeout=30,
            what="the Discord fake",
        )
        if not process.alive():
            raise BenchError(f"the Discord fake died:\n{process.log_tail()}")
        yield fake
    finally:
        fake.http.close()
        process.stop()


@contextmanager
def twitch_fake(workdir: Path) -> Iterator[TwitchFake]:
    port = free_port()
    argv = ["-m", "tests.fakes.twitch_fake", "--port", str(port)]
    argv += ["--client-id", TWITCH_CLIENT_ID, "--client-secret", TWITCH_CLIENT_SECRET]
    process = spawn("twitch_fake", argv, dict(os.environ), workdir)
    fake = TwitchFake(process, f"http://127.0.0.1:{port}")
    try:
        wait_until(
            lambda: _http_status(f"{fake.url}/_fake/streams") == 200 or not process.alive(),
            timeout=30,
            what="the Twitch fake",
        )
        if not process.alive():
            raise BenchError(f"the Twitch fake died:\n{process.log_tail()}")
        yield fake
    finally:
        fake.http.close()
        process.stop()


# --- the service --------------------------------------------------------------------------------


def service_env(
    database: Database, discord: DiscordFake, twitch: TwitchFake, **extra: str
) -> dict[str, str]:
    """The environment of `streammaxing ingest` / `worker`: the fakes, JSON logs, real sending."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWITCH_", "DISCORD_", "DATABASE_", "DRY_RUN", "LOG_"))
    }
    return {
        **inherited,
        "DATABASE_URL": database.url,
        "TWITCH_EVENTSUB_SECRET": SECRET,
        "TWITCH_CLIENT_ID": TWITCH_CLIENT_ID,
        "TWITCH_CLIENT_SECRET": TWITCH_CLIENT_SECRET,
        "TWITCH_API_URL": f"{twitch.url}/helix",
        "TWITCH_AUTH_URL": f"{twitch.url}/oauth2",
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_API_URL": discord.api_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "DRY_RUN": "false",
        **extra,
    }


@contextmanager
def ingest(env: dict[str, str], workdir: Path, name: str = "ingest") -> Iterator[str]:
    """The real `streammaxing ingest`; yields its base URL once /readyz answers 200."""
    port = free_port()
    process = spawn(name, ["-m", "streammaxing", "ingest", "--port", str(port)], env, workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _http_status(f"{url}/readyz") == 200 or not process.alive(),
            timeout=60,
            what="the ingest",
        )
        if not process.alive():
            raise BenchError(f"the ingest died:\n{process.log_tail()}")
        yield url
    finally:
        process.stop()


@contextmanager
def workers(
    database: Database,
    env: dict[str, str],
    workdir: Path,
    count: int,
    *,
    concurrency: int = 20,
    queues: str = GO_LIVE_QUEUES,
) -> Iterator[list[Process]]:
    """`count` real `streammaxing worker` processes; yields once every one has registered.

    They consume the go-live queues only: the periodic maintenance jobs (`catch_up_live` would
    announce the seeded live stream by itself) are not what is measured.
    """
    with ExitStack() as stack:
        processes: list[Process] = []
        for n in range(count):
            argv = ["-m", "streammaxing", "worker", "--concurrency", str(concurrency)]
            argv += ["--queues", queues]
            process = spawn(f"worker{n}", argv, env, workdir)
            stack.callback(process.stop)
            processes.append(process)

        def registered() -> bool:
            for process in processes:
                if not process.alive():
                    raise BenchError(f"{process.name} died:\n{process.log_tail()}")
            rows = database.sql("SELECT count(*) FROM procrastinate_workers")
            return int(rows[0][0]) >= count

        wait_until(registered, timeout=60, what="the workers to register")
        yield processes


# --- seeding and sending ------------------------------------------------------------------------


def seed_guilds(
    database: Database,
    discord: DiscordFake,
    *,
    broadcaster_id: str,
    count: int,
    first: int = 0,
) -> list[str]:
    """`count` guilds, each with its own channel (in the fake too), tracking one streamer.

    Returns the channel ids. Each guild pings a role and uses a content + embed template, like a
    typical configuration.
    """
    rows = database.sql(
        "INSERT INTO streamers (twitch_broadcaster_id, twitch_login) VALUES (%s, %s)"
        " ON CONFLICT (twitch_broadcaster_id) DO UPDATE SET twitch_login = EXCLUDED.twitch_login"
        " RETURNING id",
        (broadcaster_id, f"login{broadcaster_id}"),
    )
    streamer_id = rows[0][0]
    guild_ids = [str(100_000_000 + first + n) for n in range(count)]
    channel_ids = [str(200_000_000 + first + n) for n in range(count)]
    role_ids = [str(300_000_000 + first + n) for n in range(count)]
    template = {
        "content": "{mention_role} {streamer_display_name} is live!",
        "embed": {
            "title": "{stream_title}",
            "description": "Playing {game_name}",
            "url": "https://twitch.tv/{streamer_login}",
        },
    }
    database.sql(
        """
        WITH g AS (
            INSERT INTO guilds (guild_id, name)
            SELECT gid, 'Guild ' || gid FROM unnest(%(g)s::text[]) AS gid
            ON CONFLICT DO NOTHING
        ), c AS (
            INSERT INTO guild_config (guild_id, channel_id, mention_role_id, message_template)
            SELECT t.gid, t.cid, t.rid, %(tpl)s::jsonb
            FROM unnest(%(g)s::text[], %(c)s::text[], %(r)s::text[]) AS t(gid, cid, rid)
            ON CONFLICT DO NOTHING
        )
        INSERT INTO guild_streamers (guild_id, streamer_id)
        SELECT gid, %(s)s FROM unnest(%(g)s::text[]) AS gid
        """,
        {"g": guild_ids, "c": channel_ids, "r": role_ids, "s": streamer_id,
         "tpl": json.dumps(template)},
    )  # fmt: skip
    discord.seed_channels(list(zip(channel_ids, guild_ids, strict=True)))
    return channel_ids


def online_message(
    *, broadcaster_id: str, stream_id: str, login: str | None = None
) -> tuple[dict[str, str], bytes]:
    """A signed `stream.online` notification (headers, body), as Twitch would send it."""
    message = build_message(
        TriggerOptions(
            kind="stream.online",
            secret=SECRET,
            broadcaster_id=broadcaster_id,
            broadcaster_login=login or f"login{broadcaster_id}",
            stream_id=stream_id,
        )
    )
    return message.headers, message.body


def send_online(
    client: httpx.Client, ingest_url: str, *, broadcaster_id: str, stream_id: str
) -> float:
    """POST one `stream.online`; return `time.monotonic()` when the 2xx arrived."""
    headers, body = online_message(broadcaster_id=broadcaster_id, stream_id=stream_id)
    response = client.post(f"{ingest_url}/webhooks/twitch", headers=headers, content=body)
    accepted = time.monotonic()
    if not response.is_success:
        raise BenchError(f"the ingest answered {response.status_code}: {response.text[:200]}")
    return accepted


def message_posts(discord: DiscordFake) -> list[dict[str, Any]]:
    """The fake's log of message creates (`POST /channels/{id}/messages`), in arrival order."""
    return [
        r
        for r in discord.requests()
        if r["method"] == "POST" and r["path"].startswith("/api/v10/channels/")
    ]


def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu(database: Database) -> dict[int, float]:
    """CPU seconds used so far by each Postgres backend connected to the benchmark's database
    (readable when the server runs on this machine; empty otherwise)."""
    rows = database.sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return {int(pid): _proc_cpu_seconds(int(pid)) for (pid,) in rows}


def pending_rows(database: Database) -> int:
    rows = database.sql("SELECT count(*) FROM notification_log WHERE status = 'pending'")
    return int(rows[0][0])


# --- one fan-out run (fanout.py, fanout_limited.py) ---------------------------------------------


@dataclass(frozen=True)
class FanoutRun:
    """One `stream.online` for a streamer tracked by `guilds` guilds, measured end to end."""

    workers: int
    guilds: int
    messages: int
    wall_seconds: float  # webhook accepted → last message POST received by the fake
    first_post_seconds: float  # webhook accepted → first message POST
    delivery_seconds: float  # first → last message POST
    posts: int  # message POSTs the fake received (429s included)
    post_times: tuple[float, ...]  # when the fake received each of them (its monotonic clock)
    post_statuses: tuple[int, ...]  # and what it answered
    rate_limited: dict[str, int]  # the fake's 429s by scope
    worker_peak_rss_mib: list[float]
    worker_cpu_seconds: list[float]
    postgres_cpu_seconds: float  # the database's backends (this database only)
    discord_fake_cpu_seconds: float

    @property
    def announcements_per_s(self) -> float:
        return self.messages / self.wall_seconds

    @property
    def delivery_per_s(self) -> float:
        """Messages per second between the first and the last POST (pace of the sending)."""
        return (self.messages - 1) / self.delivery_seconds if self.delivery_seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "messages": self.messages,
            "announcements_per_s": round(self.announcements_per_s, 1),
            "wall_s": round(self.wall_seconds, 3),
            "first_post_s": round(self.first_post_seconds, 3),
            "delivery_s": round(self.delivery_seconds, 3),
            "delivery_per_s": round(self.delivery_per_s, 1),
            "posts": self.posts,
            "rate_limited": self.rate_limited,
            "worker_peak_rss_mib": self.worker_peak_rss_mib,
            "worker_cpu_s": self.worker_cpu_seconds,
            "postgres_cpu_s": round(self.postgres_cpu_seconds, 2),
            "discord_fake_cpu_s": round(self.discord_fake_cpu_seconds, 2),
            "cpu_ms_per_message": round(self.cpu_ms_per_message, 3),
        }

    @property
    def cpu_ms_per_message(self) -> float:
        """Workers' and Postgres' CPU per message: a measure that other load disturbs less."""
        total = sum(self.worker_cpu_seconds) + self.postgres_cpu_seconds
        return total * 1000 / self.messages


BROADCASTER_ID = "4242"
STREAM_ID = "77001"
WARM_UP_BROADCASTER_ID = "4343"
WARM_UP_STREAM_ID = "77002"


def run_fanout(
    database: Database,
    discord: DiscordFake,
    twitch: TwitchFake,
    workdir: Path,
    *,
    worker_count: int,
    guilds: int,
    fake_config: dict[str, Any],
    extra_env: dict[str, str],
    timeout: float,
    warm_up_guilds: int = 0,
) -> FanoutRun:
    """Seed, start the ingest and `worker_count` workers, fire one go-live, wait, check, measure.

    With `warm_up_guilds`, another streamer tracked by that many guilds goes live first and the
    measured go-live follows as soon as it is delivered: the workers are then warm, as in a
    running service (a fresh process's first POST leaves ~65-150 ms after its token was granted:
    httpx imports its transport stack lazily, and connections are new). Only the measured
    go-live's requests are counted.
    """
    database.reset()
    discord.reset(**fake_config)
    twitch.add_user(BROADCASTER_ID, f"login{BROADCASTER_ID}")
    twitch.add_stream(BROADCASTER_ID, f"login{BROADCASTER_ID}", STREAM_ID, "Bench stream")
    channels = seed_guilds(database, discord, broadcaster_id=BROADCASTER_ID, count=guilds)
    if warm_up_guilds:
        twitch.add_user(WARM_UP_BROADCASTER_ID, f"login{WARM_UP_BROADCASTER_ID}")
        twitch.add_stream(
            WARM_UP_BROADCASTER_ID, f"login{WARM_UP_BROADCASTER_ID}", WARM_UP_STREAM_ID, "Warm-up"
        )
        seed_guilds(
            database,
            discord,
            broadcaster_id=WARM_UP_BROADCASTER_ID,
            count=warm_up_guilds,
            first=guilds,
        )
    env = service_env(database, discord, twitch, **extra_env)
    run_dir = workdir / f"run-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir()
    with (
        ingest(env, run_dir) as ingest_url,
        workers(database, env, run_dir, worker_count) as procs,
        httpx.Client(timeout=10) as client,
    ):

        def delivered(count: int) -> Callable[[], bool]:
            def check() -> bool:
                for process in procs:
                    if not process.alive():
                        raise BenchError(f"{process.name} died:\n{process.log_tail()}")
                return int(discord.stats()["messages"]) >= count

            return check

        time.sleep(1.0)  # let the workers finish starting (LISTEN, periodic deferrer)
        if warm_up_guilds:
            send_online(
                client,
                ingest_url,
                broadcaster_id=WARM_UP_BROADCASTER_ID,
                stream_id=WARM_UP_STREAM_ID,
            )
            wait_until(delivered(warm_up_guilds), timeout=timeout, what="the warm-up messages")
            wait_until(lambda: pending_rows(database) == 0, timeout=30, what="no pending rows")
        limited_before = dict(discord.stats()["rate_limited"])
        cpu_before = [p.cpu_seconds() for p in procs]
        pg_before = backend_cpu(database)
        fake_before = discord.process.cpu_seconds()
        accepted = send_online(
            client, ingest_url, broadcaster_id=BROADCASTER_ID, stream_id=STREAM_ID
        )
        wait_until(
            delivered(warm_up_guilds + guilds), timeout=timeout, interval=0.1, what="the messages"
        )
        wait_until(lambda: pending_rows(database) == 0, timeout=30, what="no pending rows")
        rss = [round(p.memory_kib().get("VmHWM", 0) / 1024, 1) for p in procs]
        cpu = [round(p.cpu_seconds() - c, 2) for p, c in zip(procs, cpu_before, strict=True)]
        pg_after = backend_cpu(database)
        pg_cpu = sum(v - pg_before.get(pid, 0.0) for pid, v in pg_after.items())
        fake_cpu = discord.process.cpu_seconds() - fake_before
    measured = set(channels)
    posts = [r for r in message_posts(discord) if r["path"].split("/")[4] in measured]
    created = [r for r in posts if r["status"] == 200]
    messages = [m for m in discord.messages() if m["channel_id"] in measured]
    per_channel: dict[str, int] = {}
    for message in messages:
        per_channel[message["channel_id"]] = per_channel.get(message["channel_id"], 0) + 1
    if set(per_channel) != measured or max(per_channel.values()) != 1:
        raise BenchError(
            f"expected one message in each of {len(channels)} channels, got {len(messages)} "
            f"in {len(per_channel)} channels"
        )
    sent = database.sql(
        "SELECT count(*) FROM notification_log WHERE status = 'sent' AND event_id = %s",
        (STREAM_ID,),
    )[0][0]
    if sent != guilds:
        raise BenchError(f"{sent} rows marked sent for {guilds} guilds")
    if not created:
        raise BenchError("the fake created no message")
    times = sorted(r["time"] for r in created)
    limited_after = dict(discord.stats()["rate_limited"])
    return FanoutRun(
        workers=worker_count,
        guilds=guilds,
        messages=len(messages),
        wall_seconds=times[-1] - accepted,
        first_post_seconds=times[0] - accepted,
        delivery_seconds=times[-1] - times[0],
        posts=len(posts),
        post_times=tuple(r["time"] for r in posts),
        post_statuses=tuple(r["status"] for r in posts),
        rate_limited={
            scope: n - limited_before.get(scope, 0)
            for scope, n in limited_after.items()
            if n > limited_before.get(scope, 0)
        },
        worker_peak_rss_mib=rss,
        worker_cpu_seconds=cpu,
        postgres_cpu_seconds=pg_cpu,
        discord_fake_cpu_seconds=fake_cpu,
    )
