"""What one group commit of the ingest costs: a fixed part per commit and a part per job.

Runs the ingest's accept statement (`streammaxing.schema.webhooks.accept_messages`, the one
statement each group commit sends) on one autocommit connection, with batches of `--sizes`
fresh notifications (half `stream.online`, numbered under the go-live lock, half
`stream.offline`), and measures per statement:

- `backend_cpu_us`: CPU time of the Postgres backend running it (read from /proc, so the
  server must run on this machine), which includes the commit's WAL flush;
- `client_cpu_us`: this process's CPU time (building the batch, psycopg's round trip);
- `wall_ms`: the median statement time.

Each size runs twice per block: durable (`synchronous_commit = on`, as the ingest runs) and with
`synchronous_commit = off`, set on this connection only to split the WAL flush out of the
commit's cost; the ingest never runs that way. A least-squares line `fixed + per_job × size`
over the sizes gives the fixed cost of a commit and the cost of each job, for the backend and the
client. Tables are emptied between blocks. Prints ONE JSON line (medians over `--blocks`).

    uv run python bench/accept_cost.py [--sizes 1,8,32,64,128] [--blocks 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import uvloop
from _stack import Database, _proc_cpu_seconds, bench_database, median, quiet_library_logs
from psycopg import AsyncConnection

from streammaxing.queues import Queue, Task
from streammaxing.schema.webhooks import JobRequest, accept_messages

#: CPU seconds of backend time each measurement aims at: /proc counts in 10 ms ticks.
_TARGET_BACKEND_SECONDS = 0.4
_MODES = {"durable": "on", "no_wal_flush": "off"}


def _requests(size: int) -> list[JobRequest]:
    requests = []
    for n in range(size):
        message_id = str(uuid.uuid4())
        online = n % 2 == 0
        event = {
            "id": str(n),
            "broadcaster_user_id": str(100_000 + n),
            "broadcaster_user_login": f"streamer{n}",
            "broadcaster_user_name": f"Streamer{n}",
            "type": "live",
            "started_at": "2026-01-01T00:00:00.123456Z",
        }
        requests.append(
            JobRequest(
                message_id=message_id,
                task_name=Task.STREAM_ONLINE if online else Task.STREAM_OFFLINE,
                queue=Queue.EVENTS,
                args={
                    "message_id": message_id,
                    "subscription_id": str(uuid.uuid4()),
                    "event": event,
                },
            )
        )
    return requests


async def _measure(conn: AsyncConnection[Any], size: int, statements: int) -> dict[str, float]:
    pid = conn.info.backend_pid
    batches = [_requests(size) for _ in range(statements)]
    walls: list[float] = []
    backend = _proc_cpu_seconds(pid)
    client = time.process_time()
    for batch in batches:
        started = time.perf_counter()
        new_ids = await accept_messages(conn, batch)
        walls.append((time.perf_counter() - started) * 1e3)
        if len(new_ids) != size:
            raise RuntimeError(f"{len(new_ids)} new ids for {size} fresh messages")
    client = time.process_time() - client
    backend = _proc_cpu_seconds(pid) - backend
    return {
        "backend_cpu_us": backend / statements * 1e6,
        "client_cpu_us": client / statements * 1e6,
        "wall_ms": median(walls),
    }


def _line(sizes: list[int], costs: list[float]) -> dict[str, float]:
    """Least-squares `fixed + per_job × size` through (size, cost per statement)."""
    count = len(sizes)
    mean_x, mean_y = sum(sizes) / count, sum(costs) / count
    spread = sum((x - mean_x) ** 2 for x in sizes)
    per_job = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes, costs, strict=True)) / spread
    return {"fixed_us": round(mean_y - per_job * mean_x, 1), "per_job_us": round(per_job, 1)}


async def run(database: Database, sizes: list[int], blocks: int) -> dict[str, Any]:
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    async with await AsyncConnection.connect(database.url, autocommit=True) as conn:
        # Warm-up: the prepared statement and its generic plan, the caches.
        for _ in range(10):
            await accept_messages(conn, _requests(8))
        for block in range(blocks):
            database.reset()
            for size in sizes:
                # ~400 µs + ~45 µs per job of backend CPU per statement on a 2-core VM.
                statements = max(20, int(_TARGET_BACKEND_SECONDS / ((400 + 45 * size) * 1e-6)))
                for mode, setting in _MODES.items():
                    await conn.execute(f"SET synchronous_commit = {setting}")
                    result = await _measure(conn, size, statements)
                    samples.setdefault((mode, size), []).append(result)
                    print(f"block {block + 1}, {mode}, size {size}: {result}", file=sys.stderr)
        await conn.execute("RESET synchronous_commit")
    database.reset()
    modes: dict[str, Any] = {}
    for mode in _MODES:
        per_size = {
            size: {
                key: round(median([s[key] for s in samples[(mode, size)]]), 2)
                for key in ("backend_cpu_us", "client_cpu_us", "wall_ms")
            }
            for size in sizes
        }
        modes[mode] = {
            "per_statement": {str(size): per_size[size] for size in sizes},
            "backend": _line(sizes, [per_size[s]["backend_cpu_us"] for s in sizes]),
            "client": _line(sizes, [per_size[s]["client_cpu_us"] for s in sizes]),
        }
    return {
        "bench": "accept_cost",
        "sizes": sizes,
        "blocks": blocks,
        "database": database.source,
        **modes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="1,8,32,64,128")
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if len(sizes) < 2:
        parser.error("--sizes needs at least two sizes")
    quiet_library_logs()
    with bench_database("accept_cost") as database:
        result = uvloop.run(run(database, sizes, args.blocks))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
