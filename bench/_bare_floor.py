"""The ingest's floor: a bare Starlette app that reads the body, verifies the HMAC, answers 204.

No project code on the request path, no middleware, no logging: what any Python webhook
receiver on this stack pays before doing its own work. It runs in its own process under the
ingest's uvicorn options (`streammaxing.commands.ingest_server_config`), so `bench/ingest.py`
can put the same load on both and take the ratio.

Twitch signs `message id + timestamp + raw body` with HMAC-SHA256 (`Twitch-Eventsub-Message-
Signature: sha256=<hex>`); a request without a valid signature is answered 403.

Usage: python bench/_bare_floor.py --port PORT   (TWITCH_EVENTSUB_SECRET set)
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streammaxing.commands import ingest_server_config


def build_app(secret: bytes) -> Starlette:
    async def webhook(request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        message = (
            headers.get("twitch-eventsub-message-id", "").encode()
            + headers.get("twitch-eventsub-message-timestamp", "").encode()
            + body
        )
        expected = "sha256=" + hmac.new(secret, message, hashlib.sha256).hexdigest()
        provided = headers.get("twitch-eventsub-message-signature", "")
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            return Response(status_code=403)
        return Response(status_code=204)

    async def ready(_request: Request) -> Response:
        return Response(status_code=200)

    return Starlette(
        routes=[
            Route("/webhooks/twitch", webhook, methods=["POST"]),
            Route("/readyz", ready, methods=["GET"]),
        ]
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = build_app(os.environ["TWITCH_EVENTSUB_SECRET"].encode())
    uvicorn.Server(ingest_server_config(app, "127.0.0.1", args.port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
