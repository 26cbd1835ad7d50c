"""Cost of timing every statement (`streammaxing.slow_queries.TimedCursor`) on a fast query.

Two figures:

- **wrapper**: the timing code alone, in ns per statement. `TimedCursor.execute` runs over a
  cursor whose own `execute` returns at once (no I/O), against that cursor alone, each driven
  without an event loop; the difference is exactly what timing adds to a statement.
- **round trip**: one autocommit connection runs `SELECT 1` through psycopg's plain
  `AsyncCursor` and through the `TimedCursor` a `create_pool` pool installs, in alternating
  blocks, counting this process's CPU time (`time.process_time`) per statement. The round trip
  costs ~100x the wrapper, so this difference is within the noise: it shows the order only.

Prints ONE JSON line.

    uv run python bench/query_timing.py [--statements 5000] [--blocks 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import uvloop
from _stack import bench_database, median
from psycopg import AsyncConnection, AsyncCursor

from streammaxing.slow_queries import SlowQueries


async def cpu_per_statement(conn: AsyncConnection[Any], statements: int) -> float:
    """CPU µs this process spends per `SELECT 1` on `conn`."""
    started = time.process_time()
    for _ in range(statements):
        await conn.execute("SELECT 1")
    return (time.process_time() - started) / statements * 1e6


class _NoIOCursor(AsyncCursor[Any]):
    __slots__ = ()

    async def execute(self, *_args: Any, **_kwargs: Any) -> Any:  # type: ignore[override]
        return self


def _drive(cursor: AsyncCursor[Any], calls: int) -> float:
    """ns per `cursor.execute("SELECT 1")`, each coroutine run to completion by hand."""
    started = time.perf_counter_ns()
    for _ in range(calls):
        try:  # noqa: SIM105 - contextlib.suppress would add its own cost to both figures
            cursor.execute("SELECT 1").send(None)
        except StopIteration:
            pass
    return (time.perf_counter_ns() - started) / calls


def wrapper_ns(conn: AsyncConnection[Any], timed_cursor: type[Any], blocks: int) -> float:
    """Median ns that `TimedCursor.execute` adds to a statement that costs nothing itself."""
    timed_no_io = type("TimedNoIO", (timed_cursor, _NoIOCursor), {"__slots__": ()})
    bare, timed = _NoIOCursor(conn), timed_no_io(conn)
    differences = [_drive(timed, 200_000) - _drive(bare, 200_000) for _ in range(blocks)]
    return median(differences)


async def measure(url: str, statements: int, blocks: int) -> dict[str, Any]:
    timed_cursor = SlowQueries("bench", threshold_ms=100).cursor_class
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        wrapper = wrapper_ns(conn, timed_cursor, blocks)
        plain: list[float] = []
        timed: list[float] = []
        await cpu_per_statement(conn, statements)  # warm-up: caches, prepared paths
        for block in range(blocks):
            print(f"block {block + 1}/{blocks}", file=sys.stderr)
            conn.cursor_factory = AsyncCursor
            plain.append(await cpu_per_statement(conn, statements))
            conn.cursor_factory = timed_cursor
            timed.append(await cpu_per_statement(conn, statements))
    differences = [t - p for t, p in zip(timed, plain, strict=True)]
    return {
        "bench": "query_timing",
        "statements_per_block": statements,
        "blocks": blocks,
        "wrapper_overhead_ns_per_statement": wrapper,
        "plain_cpu_us_per_statement": median(plain),
        "timed_cpu_us_per_statement": median(timed),
        "overhead_cpu_us_per_statement": median(differences),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--blocks", type=int, default=20)
    args = parser.parse_args()
    with bench_database("query_timing") as database:
        result = uvloop.run(measure(database.url, args.statements, args.blocks))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
