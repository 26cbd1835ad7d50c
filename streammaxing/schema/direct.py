"""A hot statement sent with libpq's own calls, on a psycopg connection.

`cursor.execute` spends CPU on work a fixed statement does not need: a cursor, adapters for
the parameters, the prepared-statement cache, the result's loaders. The ingest's accept
statement runs once per group commit, takes one text parameter and answers one text column;
sent this way it costs the ingest's event loop 182–228 instead of 320–375 µs of CPU per
32-job statement (bench/accept_cost.py, the two ways alternating on one machine).

`DirectStatement` sends through `psycopg.pq` (psycopg's libpq wrapper), under the connection's
lock, so it never overlaps psycopg's own use of the connection:

- prepared once per connection under its own name (psycopg names its own `_pg3_<n>`), or sent
  unprepared where the connection prepares nothing (`prepare_threshold` None: a transaction-mode
  pooler, see `streammaxing.db.create_pool`);
- the socket is waited on through the running event loop;
- an error result raises psycopg's exception class for its SQLSTATE, as `cursor.execute` does;
- a statement slower than the pool's threshold is reported like any other
  (`streammaxing.slow_queries`).

An interrupted wait (a deadline) asks the server to cancel the statement and reads what it
answers before going on, so the connection goes back to its pool idle; when even that fails,
the connection stays busy and the pool closes it instead of reusing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import weakref
from collections.abc import Sequence
from time import perf_counter_ns
from typing import Any, ClassVar, Final

import structlog
from psycopg import AsyncConnection, errors, pq

from streammaxing.slow_queries import slow_queries_of_connection

log = structlog.get_logger(__name__)

_OK: Final = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
#: Seconds an interrupted statement's cancel request and its answer may take together.
_CANCEL_TIMEOUT: Final = 5.0


_PERCENT: Final = re.compile(r"%(.?)", re.DOTALL)


def _numbered(sql: str) -> str:
    """psycopg's placeholders as libpq's: `%s` -> `$1`, `$2`, …; `%%` -> `%`."""
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        if match.group(1) != "s":
            raise ValueError(f"only %s placeholders (and %% for %) are supported: {match[0]!r}")
        count += 1
        return f"${count}"

    return _PERCENT.sub(replace, sql)


class DirectStatement:
    """One SQL statement with `%s` placeholders (`%%` for a `%`), run on any psycopg async
    connection."""

    #: Every name given out, with its statement: a name is one statement in every session.
    _statements: ClassVar[dict[bytes, bytes]] = {}

    def __init__(self, name: str, sql: str) -> None:
        self._name = name.encode("ascii")
        self._sql = _numbered(sql).encode("utf-8")
        if self._statements.setdefault(self._name, self._sql) != self._sql:
            raise ValueError(f"{name!r} already names another statement")
        self._prepared_on: weakref.WeakSet[AsyncConnection[Any]] = weakref.WeakSet()

    async def first_column(
        self, conn: AsyncConnection[Any], params: Sequence[bytes | None]
    ) -> list[str | None]:
        """Run the statement with text-format `params`; return its first column as text."""
        async with conn.lock:
            started = perf_counter_ns()
            pgconn = conn.pgconn
            if conn.prepare_threshold is None:
                pgconn.send_query_params(self._sql, params)
            else:
                if conn not in self._prepared_on:
                    pgconn.send_prepare(self._name, self._sql)
                    # Already there (this session prepared it before we lost track): use it.
                    with contextlib.suppress(errors.DuplicatePreparedStatement):
                        _raise_for(await _results(conn), conn)
                    self._prepared_on.add(conn)
                pgconn.send_query_prepared(self._name, params)
            results = await _results(conn)
            try:
                _raise_for(results, conn)
            except errors.InvalidSqlStatementName:
                # Deallocated behind our back (DISCARD ALL, say): prepared again next time.
                self._prepared_on.discard(conn)
                raise
            encoding = conn.info.encoding
            column = [
                None if (value := result.get_value(row, 0)) is None else value.decode(encoding)
                for result in results
                for row in range(result.ntuples)
            ]
            slow = slow_queries_of_connection(conn)
            if slow is not None:
                slow.report_since(started, len(column))
            return column


def _raise_for(results: list[pq.abc.PGresult], conn: AsyncConnection[Any]) -> None:
    for result in results:
        if result.status not in _OK:
            encoding = conn.info.encoding
            sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
            message = (result.error_message or b"no message").decode(encoding, "replace")
            error_class = errors.lookup(sqlstate.decode("ascii")) if sqlstate else errors.Error
            raise error_class(message.strip())


async def _results(conn: AsyncConnection[Any]) -> list[pq.abc.PGresult]:
    """Every result of the command just sent. Interrupted (a deadline, a shutdown), it asks the
    server to cancel the command and reads its results before the interruption goes on, as
    psycopg does, so the connection goes back to its pool idle."""
    try:
        return await _collect(conn.pgconn)
    except BaseException:
        if conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            try:
                async with asyncio.timeout(_CANCEL_TIMEOUT):
                    await conn.cancel_safe(timeout=_CANCEL_TIMEOUT)
                    await _collect(conn.pgconn)
            except Exception as error:  # noqa: BLE001 - the pool then closes the connection
                log.warning("direct_statement_cancel_failed", error=type(error).__name__)
        raise


async def _collect(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Flush what was sent, then collect every result of the command (libpq's async protocol)."""
    loop = asyncio.get_running_loop()
    fileno = pgconn.socket
    while pgconn.flush():
        await _ready(loop, fileno, write=True)
        pgconn.consume_input()
    results: list[pq.abc.PGresult] = []
    while True:
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                return results
            results.append(result)
        await _ready(loop, fileno, write=False)


async def _ready(loop: asyncio.AbstractEventLoop, fileno: int, *, write: bool) -> None:
    """Wait until the socket is readable (or, with `write`, readable or writable)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fileno, wake)
    if write:
        loop.add_writer(fileno, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fileno)
        if write:
            loop.remove_writer(fileno)
