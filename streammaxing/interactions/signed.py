"""Reading a Discord-signed request: the raw body under a size cap, verified before anything.

Both Discord endpoints start here. Nothing about a request that fails is logged beyond the
reason (never its body or headers), and nothing is read from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from streammaxing.discord.signature import DiscordVerifier, SignatureError
from streammaxing.request_body import BodyTooLargeError, read_capped

log = structlog.get_logger(__name__)

#: Interactions and webhook events are a few KiB; anything near this is not Discord.
MAX_BODY_BYTES: Final = 256 * 1024


@dataclass(frozen=True)
class Refusal:
    """The answer to a request that is not Discord's (401), too large (413) or cut off (400)."""

    response: Response
    reason: str


async def verified_body(request: Request, verifier: DiscordVerifier) -> bytes | Refusal:
    """The raw body Discord signed, or the refusal to answer with."""
    try:
        body = await read_capped(request, MAX_BODY_BYTES)
    except BodyTooLargeError:
        return Refusal(Response(status_code=413), "too_large")
    except ClientDisconnect:
        return Refusal(Response(status_code=400), "client_disconnected")
    try:
        verifier.verify(request.headers, body, now=time.time())
    except SignatureError as error:
        log.info("discord_signature_rejected", path=request.url.path, reason=str(error))
        return Refusal(
            PlainTextResponse("invalid request signature", status_code=401), "bad_signature"
        )
    return body
