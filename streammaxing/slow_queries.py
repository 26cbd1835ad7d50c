"""Slow-query events: every statement a pool's connections run is timed; one slower than the
threshold is logged as ONE `slow_query` event and counted.

`create_pool` gives each pool a `SlowQueries` and makes its cursor class the connections'
`cursor_factory`, so `conn.execute(...)`, `conn.cursor()` and procrastinate's queries are all
timed. The fast path is two `perf_counter_ns()` calls and a comparison; only a slow statement
pays for its name, which is read off the call stack: the first frame outside psycopg,
contextlib, this module, `streammaxing.schema.direct` and procrastinate's connector, e.g.
`streammaxing.schema.fanout.claim_announcements` or `procrastinate.manager.JobManager.fetch_job`
(the timing costs about 1 µs per statement, measured by `bench/query_timing.py`). The event
carries that name, the duration in ms, the row count and the pool — never the statement's
parameters, which can hold personal data.

A server-side cursor (`conn.cursor(name=...)`) is not of the pool's cursor class: code that
pages with one times its fetches itself (`schema.fanout.guilds_tracking_pages`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from time import perf_counter_ns
from types import FrameType
from typing import Any, ClassVar, Final, Self

import structlog
from psycopg import AsyncConnection, AsyncCursor
from psycopg.abc import Params, Query, QueryNoTemplate
from psycopg_pool import AsyncConnectionPool

log = structlog.get_logger(__name__)

#: Modules whose frames are the machinery between a caller and the server, not the caller.
_MACHINERY: Final = (
    "psycopg",
    "contextlib",
    "streammaxing.slow_queries",
    "streammaxing.schema.direct",
    "procrastinate.psycopg_connector",
)


class SlowQueries:
    """The threshold and the count of slow statements, for one pool's connections."""

    def __init__(self, pool: str, threshold_ms: float) -> None:
        self.pool = pool
        self.threshold_ms = threshold_ms
        self.threshold_ns = int(threshold_ms * 1_000_000)
        self.count = 0
        self.cursor_class: type[TimedCursor] = type(
            "TimedCursor", (TimedCursor,), {"__slots__": (), "slow_queries": self}
        )

    def report_since(self, started_ns: int, rows: int) -> None:
        """Report the statement begun at `started_ns` (`perf_counter_ns()`) if it was slow."""
        elapsed = perf_counter_ns() - started_ns
        if elapsed > self.threshold_ns:
            self.record(elapsed, rows)

    def record(self, elapsed_ns: int, rows: int) -> None:
        """Count a slow statement and log it, named after the code that ran it."""
        self.count += 1
        log.warning(
            "slow_query",
            query=caller_name(sys._getframe(1)),
            ms=round(elapsed_ns / 1_000_000, 1),
            rows=rows,
            pool=self.pool,
            threshold_ms=self.threshold_ms,
        )


def caller_name(frame: FrameType | None) -> str:
    """`module.qualname` of the first frame from `frame` outwards that is not database
    machinery (psycopg, contextlib's wrappers, this module, `schema.direct`, procrastinate's
    connector)."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith(_MACHINERY):
            return f"{module}.{frame.f_code.co_qualname}"
        frame = frame.f_back
    return "unknown"


class TimedCursor(AsyncCursor[Any]):
    """An `AsyncCursor` that reports its statements slower than its pool's threshold.

    `SlowQueries` makes one subclass per pool with `slow_queries` set: the cursor reads its
    threshold and counter from its class, at no cost per statement.
    """

    __slots__ = ()
    slow_queries: ClassVar[SlowQueries]

    # One signature instead of psycopg's two overloads: the code base passes no t-string
    # templates (Python 3.14), which would reach psycopg unchanged all the same.
    async def execute(  # type: ignore[override]
        self,
        query: QueryNoTemplate,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        started = perf_counter_ns()
        try:
            return await super().execute(query, params, prepare=prepare, binary=binary)
        finally:
            self.slow_queries.report_since(started, self.rowcount)

    async def executemany(
        self, query: Query, params_seq: Iterable[Params], *, returning: bool = False
    ) -> None:
        started = perf_counter_ns()
        try:
            await super().executemany(query, params_seq, returning=returning)
        finally:
            self.slow_queries.report_since(started, self.rowcount)


def slow_queries_of(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> SlowQueries | None:
    """The `SlowQueries` of a pool built by `create_pool` (None for any other pool)."""
    kwargs = pool.kwargs
    return _of_factory(kwargs.get("cursor_factory") if isinstance(kwargs, dict) else None)


def slow_queries_of_connection(conn: AsyncConnection[Any]) -> SlowQueries | None:
    """The `SlowQueries` timing `conn`'s statements: set for a connection of a `create_pool`
    pool (None for any other connection). For code that sends statements without a cursor."""
    return _of_factory(conn.cursor_factory)


def _of_factory(factory: object) -> SlowQueries | None:
    if isinstance(factory, type) and issubclass(factory, TimedCursor):
        return factory.slow_queries
    return None
