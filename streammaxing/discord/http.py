"""The HTTP side of the Discord client: one aiohttp session per process, bot auth, timeouts.

Discord's REST API is the service's hot path (one request per announcement and per DM), so it
goes through aiohttp, as discord.py and hikari do: per request it costs about an eighth of the
CPU of an `httpx.AsyncClient` (0.17 ms against 1.46 ms on this project's 2-core machine,
`bench/http_client.py`), and httpx was half of a worker's CPU in a fan-out. Twitch's low-volume
Helix calls stay on httpx.

`DiscordHttp.request` sends one JSON request and returns the raw answer whatever its status;
a transport failure becomes `TransientError`, whose `maybe_sent` says whether Discord can have
acted on the request (the caller resends with the same nonce either way), with the aiohttp
exception as `__cause__`. No retries, no redirects, no cookies (a bot needs none; Cloudflare's
would only cost a cookie-jar pass per answer).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from streammaxing.discord.errors import SlotMissed, TransientError

#: Requests one process has in flight to Discord at once, and its pool's connections. At 50
#: req/s and 300 ms per answer ~15 are busy; more would not send faster. The rest wait in
#: `DiscordClient`.
MAX_CONCURRENT_REQUESTS = 16
#: Idle connections are kept a minute: a new TLS handshake would delay the first request after
#: a lull past the limiter's slot.
KEEPALIVE_SECONDS = 60.0
MAX_CONNECT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Discord's answer to one request: status, headers (case-insensitive) and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json_or_none(self) -> Any:
        """The decoded JSON body, or None when the body is not JSON (an HTML error page)."""
        if "json" not in self.headers.get("Content-Type", "").lower():
            return None
        try:
            return json.loads(self.body)
        except ValueError:  # includes UnicodeDecodeError
            return None


def env_proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`/`HTTP_PROXY`, unless `NO_PROXY`
    covers its host), as httpx and aiohttp's `trust_env` read them; None for no proxy."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class DiscordHttp:
    """Sends requests to `api_url` (e.g. `https://discord.com/api/v10`) as the bot.

    `token` is the bare bot token: this is the only place it is handled in plain text, and it
    is never logged. The aiohttp session is made on first use, inside the running event loop.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        user_agent: str,
        *,
        timeout: float = 10.0,
        max_connections: int = MAX_CONCURRENT_REQUESTS,
    ) -> None:
        self.base_url = api_url.rstrip("/")
        # Every write carries a JSON body, so its Content-Type is a session default (reads send
        # no body, and Discord ignores the header there).
        self.headers = {
            "Authorization": f"Bot {token}",
            "User-Agent": user_agent,
            "Content-Type": "application/json",
        }
        connect = min(timeout, MAX_CONNECT_SECONDS)
        # Per phase: connecting (refused, unreachable) and reading (no answer in time) fail
        # differently for `maybe_sent`. The total is a backstop for a write that never drains
        # (aiohttp has no write timeout).
        self.timeout = aiohttp.ClientTimeout(
            total=connect + timeout, connect=connect, sock_connect=connect, sock_read=timeout
        )
        self._max_connections = max_connections
        self.proxy = env_proxy_for(self.base_url)
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, keepalive_timeout=KEEPALIVE_SECONDS
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                # Not trust_env: that re-reads the environment and ~/.netrc (in a thread) on
                # every request; the proxy is looked up once, in __init__.
                trust_env=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | Sequence[Any] | None,
        *,
        on_time: Callable[[], bool] | None = None,
    ) -> HttpAnswer:
        """Send `body` as JSON to `path` (under `api_url`), or no body for None (reads); the
        answer of any status.

        `on_time` is asked last thing before the request is handed to aiohttp (after the body
        is encoded, and after the client's cap on requests in flight let it through): False
        raises SlotMissed and sends nothing.
        Raises TransientError when no answer came (connection refused or dropped, timeout).
        """
        data = (
            None
            if body is None
            else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        )
        session = self._open_session()
        if on_time is not None and not on_time():
            raise SlotMissed(f"{method} {path}: its rate-limit slot passed before it was sent")
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                allow_redirects=False,
                proxy=self.proxy,
            ) as response:
                return HttpAnswer(response.status, response.headers, await response.read())
        except aiohttp.InvalidURL:
            raise  # a misconfigured DISCORD_API_URL, not a failed request
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise TransientError(f"could not reach Discord: {exc!r}", maybe_sent=False) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Read timeouts, dropped connections, resets, malformed answers: the request was
            # (at least partly) sent and may have been acted on.
            raise TransientError(f"no answer from Discord: {exc!r}", maybe_sent=True) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> DiscordHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
