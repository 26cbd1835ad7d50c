"""Ingest throughput: signed EventSub notifications → committed jobs, against a bare floor.

Starts the real ingest (`bench/_ingest_server.py`: the `streammaxing ingest` command) as a
subprocess on a real, freshly migrated database, and the floor (`bench/_bare_floor.py`: a bare
Starlette app that reads the body, verifies the HMAC and answers 204, with no project code,
middleware or logging) as another, both under the ingest's uvicorn options. This process is the
load generator: it fires `--unique` signed notifications plus a
`--duplicates` share of redeliveries (same message id, re-signed), shuffled, over
`--concurrency` keep-alive HTTP/1.1 connections, each sending its next request as soon as the
previous answer arrived. Every request is built and signed before the clock starts; sending and
parsing use raw asyncio protocols (uvloop), so the generator takes little of the shared CPUs.

Each repetition runs the same load (fresh notifications, same shape) against the ingest and
against the floor, in alternating order. After every webhook run the jobs table must hold
exactly one job per unique message id, every request must have been answered 204, and the
server must have logged one record per request (in its `webhooks` events). The ingest answers
only after the job committed, so every 204 is a durable job. Prints ONE JSON line: medians
over the repetitions, every run's numbers (with the server's and the database backends' CPU
time per request, requests per commit, and how busy the machine was just before the run:
other processes on this 2-core machine add noise), the ingest/floor ratio and the targets.
Before each run it waits (up to `--quiet-wait` seconds) for other load to drop below 25 %.

Database: `BENCH_DATABASE_URL` (a database used as is: migrated, queue emptied between runs),
else a fresh database on `postgresql://postgres@127.0.0.1:5432/postgres` (the embedded server
when none answers), dropped at the end.

    uv run python bench/ingest.py [--unique 20000] [--concurrency 64] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from _stack import (
    BenchError,
    Database,
    Process,
    backend_cpu,
    bench_database,
    free_port,
    median,
    percentile,
    progress,
    quiet_library_logs,
    spawn,
    wait_until,
)

from streammaxing.twitch.eventsub import (
    MESSAGE_ID,
    MESSAGE_RETRY,
    MESSAGE_SIGNATURE,
    MESSAGE_TIMESTAMP,
    signature_for,
)
from streammaxing.twitch.trigger import TriggerOptions, TriggerType, build_message, format_timestamp

SECRET = "bench-secret-0123456789abcdef"
WEBHOOK_PATH = "/webhooks/twitch"
SERVER_SCRIPT = Path(__file__).with_name("_ingest_server.py")
FLOOR_SCRIPT = Path(__file__).with_name("_bare_floor.py")
INGEST, FLOOR = "ingest", "floor"
# Notification types and their shares, as twitch-cli lays them out.
KINDS: tuple[tuple[TriggerType, float], ...] = (
    ("stream.online", 0.5),
    ("stream.offline", 0.25),
    ("channel.update", 0.25),
)
TARGETS = {"accepted_per_s": 2500, "p99_ms": 50.0, "ratio_to_floor": 0.6}
QUIET_BELOW = 0.25

Runner = Callable[[Coroutine[Any, Any, "RunResult"]], "RunResult"]


# --- server -------------------------------------------------------------------------------------


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@dataclass(frozen=True)
class Server:
    process: Process
    port: int

    def webhook_log_records(self) -> int:
        """How many request records the server's `webhooks` events hold (one per request)."""
        records = 0
        with self.process.log_path.open("rb") as log:
            for line in log:
                if b'"webhooks"' not in line:
                    continue
                record = json.loads(line)
                if record.get("event") == "webhooks":
                    records += len(record["requests"])
        return records


@contextmanager
def _server(name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Iterator[Server]:
    """Start `argv` (which gets `--port`); yields once its /readyz answers 200."""
    port = free_port()
    process = spawn(name, [*argv, "--port", str(port)], env, workdir)
    try:
        wait_until(
            lambda: not process.alive() or _http_status(f"http://127.0.0.1:{port}/readyz") == 200,
            timeout=60,
            what=f"the {name}",
        )
        if not process.alive():
            raise BenchError(f"the {name} died:\n{process.log_tail()}")
        yield Server(process, port)
    finally:
        process.stop()


def ingest_server(
    database: Database, workdir: Path, *, dashboard: bool
) -> AbstractContextManager[Server]:
    """The ingest on `database`. Without `dashboard`, built without the web dashboard's Mount."""
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "TWITCH_EVENTSUB_SECRET": SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    argv = [str(SERVER_SCRIPT), *([] if dashboard else ["--without-dashboard"])]
    return _server("ingest", argv, env, workdir)


def floor_server(workdir: Path) -> AbstractContextManager[Server]:
    """The bare floor app, in its own process."""
    env = {**os.environ, "TWITCH_EVENTSUB_SECRET": SECRET}
    return _server("floor", [str(FLOOR_SCRIPT)], env, workdir)


# --- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    requests: list[bytes]  # complete HTTP/1.1 requests, headers and body
    unique_ids: frozenset[str]


def build_load(port: int, path: str, unique: int, duplicates: float, rng: random.Random) -> Load:
    """Signed notifications (new ids, current timestamps) plus re-signed redeliveries, shuffled."""
    kinds = [kind for kind, _ in KINDS]
    weights = [share for _, share in KINDS]
    messages = [
        build_message(TriggerOptions(kind=kind, secret=SECRET))
        for kind in rng.choices(kinds, weights, k=unique)
    ]
    requests = [_raw_request(port, path, m.headers, m.body) for m in messages]
    for original in rng.choices(messages, k=round(unique * duplicates)):
        # Twitch redelivers with the same message id and a new timestamp, hence a new signature.
        timestamp = format_timestamp(time.time_ns())
        headers = {
            **original.headers,
            MESSAGE_TIMESTAMP: timestamp,
            MESSAGE_RETRY: "1",
            MESSAGE_SIGNATURE: signature_for(
                SECRET.encode(), original.message_id, timestamp, original.body
            ),
        }
        requests.append(_raw_request(port, path, headers, original.body))
    rng.shuffle(requests)
    return Load(requests, frozenset(m.headers[MESSAGE_ID] for m in messages))


def _raw_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight.

    Parses just enough of each response: the status code and the Content-Length-delimited end.
    """

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        if b"\r\ntransfer-encoding:" in head:
            self._fail(BenchError("a chunked response: the ingest never sends one"))
            return
        length = 0
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            value_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : value_end if value_end >= 0 else None])
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        del self._buffer[:total]
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"the server closed the connection: {exc}"))

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self._transport is not None
        assert self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@dataclass(frozen=True)
class RunResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    latencies: list[float]


async def fire(port: int, requests: list[bytes], concurrency: int) -> RunResult:
    """Send every request over `concurrency` connections, one in flight each; time the whole."""
    loop = asyncio.get_running_loop()
    connections: list[_Connection] = []
    for _ in range(concurrency):
        _, protocol = await loop.create_connection(_Connection, "127.0.0.1", port)
        connections.append(protocol)
    pending = iter(requests)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    clock = time.perf_counter

    async def drive(connection: _Connection) -> None:
        for request in pending:
            sent = clock()
            status = await connection.send(request)
            latencies.append(clock() - sent)
            statuses[status] += 1

    started = clock()
    try:
        await asyncio.gather(*(drive(c) for c in connections))
    finally:
        elapsed = clock() - started
        for connection in connections:
            connection.close()
    return RunResult(len(requests), elapsed, dict(statuses), latencies)


def event_loop_runner() -> Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


# --- measurement --------------------------------------------------------------------------------


def machine_busy(seconds: float = 0.5) -> float:
    """Share of all CPUs busy over `seconds`, from /proc/stat."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total, idle = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    return 1 - (idle_after - idle) / max(1, total_after - total)


def wait_for_quiet(limit: float) -> float:
    """Wait up to `limit` seconds for other load to drop below `QUIET_BELOW`; the last reading."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    while busy > QUIET_BELOW and time.monotonic() < deadline:
        busy = machine_busy()
    return busy


def measured_run(
    server: Server, load: Load, args: argparse.Namespace, run: Runner, database: Database | None
) -> dict[str, Any]:
    """Fire `load` once (after waiting for a quiet machine) and describe the run. With
    `database` (the ingest's), also the CPU its backends spent and the transactions committed."""
    busy = wait_for_quiet(args.quiet_wait)
    backends = backend_cpu(database) if database is not None else {}
    commits = _commits(database) if database is not None else 0
    server_cpu = server.process.cpu_seconds()
    own_cpu = time.process_time()
    result = run(fire(server.port, load.requests, args.concurrency))
    own_cpu = time.process_time() - own_cpu
    server_cpu = server.process.cpu_seconds() - server_cpu
    if set(result.statuses) != {204}:
        raise BenchError(f"answers {result.statuses}:\n{server.process.log_tail()}")
    summary: dict[str, Any] = {
        "per_s": round(result.requests / result.seconds, 1),
        "p50_ms": round(percentile(result.latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(result.latencies, 0.99) * 1000, 2),
        "seconds": round(result.seconds, 3),
        "requests": result.requests,
        "server_cpu_us_per_request": round(server_cpu / result.requests * 1e6, 1),
        "loadgen_cpu_us_per_request": round(own_cpu / result.requests * 1e6, 1),
        "machine_busy_before": round(busy, 2),
    }
    if database is not None:
        time.sleep(1.2)  # the backends' statistics reach pg_stat_database within a second idle
        postgres_cpu = sum(
            cpu - backends.get(pid, 0.0) for pid, cpu in backend_cpu(database).items()
        )
        summary["postgres_cpu_us_per_request"] = round(postgres_cpu / result.requests * 1e6, 1)
        summary["requests_per_commit"] = round(
            result.requests / max(1, _commits(database) - commits), 1
        )
    return summary


def _commits(database: Database) -> int:
    """Transactions committed in `database` so far (each backend reports within a second of
    going idle)."""
    ((count,),) = database.sql(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(count)


def empty_queue(database: Database) -> None:
    """Forget every message id and job, so each run starts alike.

    TRUNCATE alone, deliberately without `Database.reset()`'s VACUUM ANALYZE: analysed while
    empty, procrastinate_jobs gets planned as a one-page table, and the foreign-key check of
    every procrastinate_events row becomes a sequential scan of the growing jobs table —
    quadratic, ~300 µs of Postgres CPU per job by the end of a 20,000-job run instead of ~40.
    """
    database.sql("TRUNCATE procrastinate_jobs, eventsub_messages CASCADE")


def check_jobs(database: Database, unique_ids: frozenset[str]) -> dict[str, int]:
    """Exactly one job per unique message id and nothing else, every id stored; raise otherwise."""
    rows = database.sql("SELECT args->>'message_id' FROM procrastinate_jobs")
    ((stored,),) = database.sql("SELECT count(*) FROM eventsub_messages")
    counts = Counter(str(row[0]) for row in rows)
    repeated = sum(1 for n in counts.values() if n > 1)
    missing = len(unique_ids - counts.keys())
    unexpected = len(counts.keys() - unique_ids)
    if repeated or missing or unexpected or stored != len(unique_ids):
        raise BenchError(
            f"jobs table wrong: {len(rows)} jobs for {len(unique_ids)} unique messages; "
            f"{missing} missing, {repeated} with several jobs, {unexpected} unexpected; "
            f"{stored} message ids stored"
        )
    return {"jobs": len(rows)}


def _summarise(runs: list[dict[str, Any]], rate_key: str) -> dict[str, Any]:
    return {
        rate_key: median([r["per_s"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "server_cpu_us_per_request": median([r["server_cpu_us_per_request"] for r in runs]),
        **{
            key: median([r[key] for r in runs])
            for key in ("postgres_cpu_us_per_request", "requests_per_commit")
            if all(key in r for r in runs)
        },
        "runs": runs,
    }


# --- benchmark ----------------------------------------------------------------------------------


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    run = event_loop_runner()
    runs: dict[str, list[dict[str, Any]]] = {INGEST: [], FLOOR: []}
    webhook_requests = 0
    with (
        bench_database("bench_ingest") as database,
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
        ingest_server(database, Path(tmp), dashboard=args.dashboard) as ingest_at,
        floor_server(Path(tmp)) as floor_at,
    ):
        servers = {INGEST: ingest_at, FLOOR: floor_at}
        # Warm-up: connections in the pool, the prepared statement, the code paths.
        for name, server in servers.items():
            load = build_load(
                server.port, WEBHOOK_PATH, args.concurrency * 16, args.duplicates, rng
            )
            warm = run(fire(server.port, load.requests, args.concurrency))
            if set(warm.statuses) != {204}:
                raise BenchError(f"warm-up of the {name}: answers {warm.statuses}")
            webhook_requests += len(load.requests) if name == INGEST else 0

        order = (INGEST, FLOOR)
        for repetition in range(args.repetitions):
            for name in order if repetition % 2 == 0 else reversed(order):
                server = servers[name]
                if name == INGEST:
                    empty_queue(database)
                load = build_load(server.port, WEBHOOK_PATH, args.unique, args.duplicates, rng)
                summary = measured_run(
                    server, load, args, run, database if name == INGEST else None
                )
                if name == INGEST:
                    webhook_requests += len(load.requests)
                    summary |= check_jobs(database, load.unique_ids)
                runs[name].append(summary)
                progress(f"repetition {repetition + 1}, {name}: {json.dumps(summary)}")

        logged = ingest_at.webhook_log_records()
        if logged != webhook_requests:
            raise BenchError(f"{logged} `webhooks` log records for {webhook_requests} requests")

    ingest = _summarise(runs[INGEST], "accepted_per_s")
    floor = _summarise(runs[FLOOR], "per_s")
    ratio = round(ingest["accepted_per_s"] / floor["per_s"], 3)
    # Each repetition runs the two back to back: its own ratio is less exposed to the machine's
    # speed drifting over the whole benchmark than the ratio of the two medians.
    pair_ratios = [
        round(i["per_s"] / f["per_s"], 3) for i, f in zip(runs[INGEST], runs[FLOOR], strict=True)
    ]
    return {
        "bench": "ingest",
        "cpu_count": os.cpu_count(),
        "noise": "server, Postgres and this load generator share the CPUs with whatever else "
        "runs on the machine (see machine_busy_before); numbers are medians of the repetitions",
        "repetitions": args.repetitions,
        "unique": args.unique,
        "duplicates": round(args.unique * args.duplicates),
        "concurrency": args.concurrency,
        "database": database.source,
        "dashboard_mounted": args.dashboard,
        "ingest": ingest,
        "floor": floor,
        "floor_app": "bench/_bare_floor.py: bare Starlette, body + HMAC, 204; own process",
        "ratio_to_floor": ratio,
        "ratio_per_repetition": pair_ratios,
        "ratio_per_repetition_median": median(pair_ratios),
        "checks": "every answer 204; one job per unique message id; one log record per request",
        "targets": TARGETS,
        "targets_met": ingest["accepted_per_s"] >= TARGETS["accepted_per_s"]
        and ingest["p99_ms"] < TARGETS["p99_ms"]
        and ratio >= TARGETS["ratio_to_floor"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--unique", type=int, default=20_000, help="unique notifications per run")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share of redeliveries")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20_240_504)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait before each run for other load to drop below 25%% (0: don't)",
    )
    parser.add_argument(
        "--without-dashboard",
        dest="dashboard",
        action="store_false",
        help="serve the ingest without the web dashboard (the default mounts it, as `up` does)",
    )
    args = parser.parse_args()
    quiet_library_logs()
    try:
        report = run_benchmark(args)
    except BenchError as error:
        print(json.dumps({"bench": "ingest", "error": str(error)}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
