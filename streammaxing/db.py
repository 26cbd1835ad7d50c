"""The process's one psycopg connection pool, built by the composition root (never at import)."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from streammaxing.slow_queries import SlowQueries

#: Statements slower than this are logged as `slow_query` (the `SLOW_QUERY_MS` default).
DEFAULT_SLOW_QUERY_MS = 100


async def _autocommit(conn: AsyncConnection[object]) -> None:
    # Set here rather than in `kwargs`: procrastinate opens its LISTEN connection with the pool's
    # kwargs plus its own autocommit=True, and a duplicate keyword breaks that.
    await conn.set_autocommit(True)


def create_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "streammaxing",
    slow_query_ms: float = DEFAULT_SLOW_QUERY_MS,
    pooled: bool = False,
) -> AsyncConnectionPool[AsyncConnection[object]]:
    """A closed pool of autocommit connections; open it with `await pool.open()` at startup.

    Autocommit: each query function's statement commits on its own unless the caller (the edge)
    opens `conn.transaction()`. Every statement slower than `slow_query_ms` is logged as one
    `slow_query` event and counted (`streammaxing.slow_queries`).

    `pooled`: `conninfo` is a transaction-mode pooler, where consecutive transactions of one
    client connection run on different server connections. No statement is prepared then:
    psycopg names its prepared statements `_pg3_0`, `_pg3_1`, … per client connection, so on a
    pooler they collide ("already exists") or run another connection's statement.
    """
    slow = SlowQueries(name, slow_query_ms)
    kwargs: dict[str, object] = {"cursor_factory": slow.cursor_class}
    if pooled:
        kwargs["prepare_threshold"] = None
    return AsyncConnectionPool(
        conninfo,
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        timeout=5.0,
        configure=_autocommit,
    )
