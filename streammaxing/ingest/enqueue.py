"""Group commit: concurrent webhook requests share one transaction, and one round trip.

Each request hands its `JobRequest` to `GroupCommitter.submit()` and awaits the future it gets.
A commit task takes everything waiting (up to `max_batch`), runs one statement that records
the message ids and defers the jobs, wakes every request with its own outcome — new, duplicate,
or the database error (so the handler answers 503 and Twitch retries) — and repeats while
requests wait. A request is answered only after the statement holding it has committed.
A commit that has not finished within `deadline` seconds (connection included) fails its
batch: behind a pooler, an outage shows up as a statement that waits for a server
connection, not as a refused connection, and the webhook must still get its 503 quickly (if
that commit did land, Twitch's redelivery is answered as a duplicate).

How many commits are in flight adapts to the database. Each statement costs the event loop ~100
µs whatever its size (the round trip, see `schema.direct`), and the loop's CPU is what limits
the ingest, so big batches are cheapest: while one commit is in flight, requests wait and form
the next batch. But a slow commit (a remote database, a slow fsync) would then hold everyone
back, so a new request starts another commit — up to `committers` — once every commit in flight
has run for `overlap_after` seconds. Measured with bench/ingest.py: ~10 % less server CPU per
request than with 4 commits always allowed, and 1.7× the throughput of a single committer when
every commit takes 10 ms longer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, NamedTuple

import structlog
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from streammaxing.schema.webhooks import JobRequest, accept_messages

log = structlog.get_logger(__name__)


#: Seconds a webhook's store may take, waiting for a connection included, before it is a 503.
ENQUEUE_DEADLINE = 3.0


class EnqueueUnavailableError(Exception):
    """The database could not store the message; the webhook must not be acknowledged."""


class _Pending(NamedTuple):
    request: JobRequest
    future: asyncio.Future[bool]


class GroupCommitter:
    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        *,
        committers: int = 4,
        overlap_after: float = 0.005,
        max_batch: int = 256,
        connect_timeout: float = 2.0,
        deadline: float = ENQUEUE_DEADLINE,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._deadline = deadline
        self._pool = pool
        self._committers = committers
        self._overlap_after = overlap_after
        self._max_batch = max_batch
        self._waiting: list[_Pending] = []
        self._draining = 0  # commit tasks started and not finished; counted synchronously
        self._last_start = 0.0  # loop time at which the newest commit started
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = False

    async def start(self) -> None:
        self._open = True

    async def stop(self) -> None:
        """Fail whatever is waiting or in flight with `EnqueueUnavailableError` (→ 503)."""
        self._open = False
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._draining = 0
        waiting, self._waiting = self._waiting, []
        _fail(waiting, EnqueueUnavailableError("ingest is shutting down"))

    def submit(self, request: JobRequest) -> asyncio.Future[bool]:
        """Store the message and its job; resolves True if new, False if the id was seen before.

        The future fails with `EnqueueUnavailableError` when the database could not store it.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if not self._open:
            future.set_exception(EnqueueUnavailableError("ingest is not running"))
            return future
        self._waiting.append(_Pending(request, future))
        if self._draining == 0 or (
            self._draining < self._committers
            and loop.time() - self._last_start >= self._overlap_after
        ):
            self._draining += 1
            self._last_start = loop.time()
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _drain(self) -> None:
        # Takes the batch when it first runs, not when created: requests that arrive in the
        # meantime (same event-loop turn) join it. The count drops in the same step that sees
        # the list empty, so a later `submit` always finds a slot to start a new task.
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                self._last_start = loop.time()
                try:
                    await self._commit(batch)
                except asyncio.CancelledError:
                    _fail(batch, EnqueueUnavailableError("ingest is shutting down"))
                    raise
        finally:
            self._draining -= 1

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            async with (
                asyncio.timeout(self._deadline),
                self._pool.connection(timeout=self._connect_timeout) as conn,
            ):
                new_ids = await accept_messages(conn, [item.request for item in batch])
        except Exception as error:  # noqa: BLE001 - every waiting request gets the failure
            log.warning("enqueue_failed", batch_size=len(batch), error=type(error).__name__)
            failure = EnqueueUnavailableError(type(error).__name__)
            failure.__cause__ = error
            _fail(batch, failure)
            return
        for request, future in batch:
            message_id = request.message_id
            # The same id twice in one batch: the first one is the new message.
            is_new = message_id in new_ids
            new_ids.discard(message_id)
            if not future.done():
                future.set_result(is_new)


def _fail(batch: list[_Pending], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
