"""Reading a request body under a size cap, for the JSON API, interactions and form posts.

A body declared (Content-Length) or streamed past the cap raises `BodyTooLargeError` as soon as
that is known, so an oversized request is never buffered whole. The EventSub webhook keeps a
receive loop of its own, tuned for its hot path.
"""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(Exception):
    """The request body is over the cap."""


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body; `BodyTooLargeError` past `limit` bytes, declared or streamed."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLargeError
    return bytes(body)
