"""Client CPU per Discord request: `DiscordHttp` (aiohttp) against a plain `httpx.AsyncClient`.

Why the Discord client is on aiohttp: a fan-out sends one request per guild, so the client's
own CPU per request bounds announcements/s on a small machine. A minimal HTTP/1.1 server in its
own process (uvloop, canned 200 answer with Discord's rate-limit headers and a `Set-Cookie`, as
Cloudflare adds) answers `--requests` message POSTs per client, `--concurrency` in flight, over
keep-alive connections. Measured in this process: CPU time (`time.process_time`) per request,
and requests/s. Prints ONE JSON line with medians over `--repetitions` and the ratio.

    uv run python bench/http_client.py [--requests 4000] [--concurrency 8] [--repetitions 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import uvloop
from _stack import median

from streammaxing.discord.client import build_http_client, user_agent
from streammaxing.discord.http import KEEPALIVE_SECONDS, MAX_CONCURRENT_REQUESTS

_BODY = (
    b'{"id":"1234567890123456789","channel_id":"223456789012345678","content":"live",'
    b'"embeds":[],"nonce":"abc","type":0}'
)
_ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
    b"x-ratelimit-bucket: 80c17d2f203122d936070c88c8d10f33\r\nx-ratelimit-limit: 5\r\n"
    b"x-ratelimit-remaining: 4\r\nx-ratelimit-reset: 1700000000.123\r\n"
    b"x-ratelimit-reset-after: 5.000\r\nvia: 1.1 google\r\n"
    b"set-cookie: __dcfduid=0123456789abcdef; Path=/; HttpOnly\r\n\r\n" % len(_BODY)
) + _BODY
PAYLOAD: dict[str, Any] = {
    "content": "<@&323456789012345678> someone is live!",
    "embeds": [{"title": "t" * 80, "description": "d" * 300, "url": "https://twitch.tv/x"}],
    "allowed_mentions": {"parse": [], "roles": ["323456789012345678"]},
    "nonce": "abcdefghijabcdefghij12345",
    "enforce_nonce": True,
}


class _CannedServer(asyncio.Protocol):
    """Answers every complete request (headers + Content-Length body) with `_ANSWER`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.WriteTransport without subclassing it.
        self._transport = cast(asyncio.WriteTransport, transport)
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self._buffer[:end].split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            self._transport.write(_ANSWER)


def _serve(sock: socket.socket) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_CannedServer, sock=sock)
        await server.serve_forever()

    uvloop.run(main())


async def _measure(
    send: Callable[[int], Awaitable[None]], requests: int, concurrency: int
) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await send(i)

    await asyncio.gather(*(one(i) for i in range(200)))  # connections open, code paths warm
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us_per_request": round(cpu / requests * 1e6, 1), "per_s": round(requests / wall)}


async def _httpx_run(url: str, requests: int, concurrency: int) -> dict[str, float]:
    limits = httpx.Limits(
        max_connections=MAX_CONCURRENT_REQUESTS,
        max_keepalive_connections=MAX_CONCURRENT_REQUESTS,
        keepalive_expiry=KEEPALIVE_SECONDS,
    )
    headers = {"Authorization": "Bot bench-token", "User-Agent": user_agent("bench")}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def send(i: int) -> None:
            response = await client.post(f"/channels/{100 + i}/messages", json=PAYLOAD)
            assert response.status_code == 200, response.status_code
            response.json()

        return await _measure(send, requests, concurrency)


async def _discord_http_run(url: str, requests: int, concurrency: int) -> dict[str, float]:
    async with build_http_client(url, "bench-token", "bench") as http:

        async def send(i: int) -> None:
            answer = await http.request("POST", f"/channels/{100 + i}/messages", PAYLOAD)
            assert answer.status == 200, answer.status
            answer.json_or_none()

        return await _measure(send, requests, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()

    sock = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/v10"
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(sock,), daemon=True)
    server.start()
    sock.close()
    runs: dict[str, list[dict[str, float]]] = {"httpx": [], "discord_http": []}
    try:
        for _ in range(args.repetitions):
            runs["httpx"].append(uvloop.run(_httpx_run(url, args.requests, args.concurrency)))
            runs["discord_http"].append(
                uvloop.run(_discord_http_run(url, args.requests, args.concurrency))
            )
    finally:
        server.terminate()
        server.join()
    results = {
        name: {
            "cpu_us_per_request": median([r["cpu_us_per_request"] for r in measured]),
            "per_s": median([r["per_s"] for r in measured]),
            "runs": measured,
        }
        for name, measured in runs.items()
    }
    ratio = results["httpx"]["cpu_us_per_request"] / results["discord_http"]["cpu_us_per_request"]
    print(
        json.dumps(
            {
                "bench": "http_client",
                "requests": args.requests,
                "concurrency": args.concurrency,
                "repetitions": args.repetitions,
                "results": results,
                "httpx_cpu_per_request_over_discord_http": round(ratio, 2),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
