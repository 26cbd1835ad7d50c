"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from streammaxing.ingest.state import ingest_state
from streammaxing.schema.health import database_answers
from streammaxing.schema.queue import queue_depths
from streammaxing.schema.ratelimit_status import active_halts, invalid_requests_in_window


async def healthz(_request: Request) -> Response:
    """Liveness: the process answers; no I/O."""
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Readiness: 200 only when the database answers, 503 otherwise."""
    if await database_answers(ingest_state(request).pool):
        return PlainTextResponse("ready")
    return PlainTextResponse("database unavailable", status_code=503)


async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's metrics, with what the database holds read
    now: the queue depth and the Discord limiter's halts and invalid-request count."""
    state = ingest_state(request)
    metrics = state.metrics
    try:
        async with state.pool.connection(timeout=1.0) as conn:
            depths = await queue_depths(conn)
            halts = await active_halts(conn)
            invalid = await invalid_requests_in_window(conn)
    except Exception:  # noqa: BLE001 - metrics must answer even while the database does not
        depths, halts, invalid = {}, {}, None
    metrics.queue_depth.clear()
    for queue, depth in depths.items():
        metrics.queue_depth.labels(queue).set(depth)
    metrics.discord_sending_halted.clear()
    for reason, tokens in halts.items():
        metrics.discord_sending_halted.labels(reason).set(tokens)
    if invalid is not None:
        metrics.discord_invalid_requests.set(invalid)
    body = state.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
