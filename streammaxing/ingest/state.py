"""What the ingest app's handlers need, built once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from streammaxing.ingest.enqueue import GroupCommitter
from streammaxing.ingest.request_log import RequestLog
from streammaxing.metrics import Metrics


@dataclass
class IngestState:
    pool: AsyncConnectionPool[AsyncConnection[object]]
    metrics: Metrics
    committer: GroupCommitter
    eventsub_secrets: list[bytes]
    max_body_bytes: int = 1024 * 1024
    replay_window_seconds: int = 600
    request_log: RequestLog = field(default_factory=RequestLog)
    # Closed in the app's lifespan, on its event loop (e.g. the admin API's Helix client).
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def ingest_state(request: Request) -> IngestState:
    state: IngestState = request.state.ingest
    return state
