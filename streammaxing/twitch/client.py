"""Helix API client: streams, users and EventSub subscription management.

`HelixClient` wraps one injected `httpx.AsyncClient` (built by the composition root with
`build_helix_http_client`: base URL from settings, explicit timeouts, `AppTokenAuth`). It
turns every failure into `streammaxing.twitch.errors` and applies Twitch's published policy:

- `Client-Id` on every call; the app token comes from the client's `auth`.
- Rate limit: when `Ratelimit-Remaining` reaches 0, the next call waits until `Ratelimit-Reset`;
  a 429 with an empty bucket waits until the reset and retries (bounded). A 429 on create while
  the bucket still has points is a subscription limit → `SubscriptionLimitExceeded`, no retry.
- 503 is retried once; other 5xx, timeouts and connection errors → `TwitchTransientError`.
- 409 on create → `SubscriptionConflict`; other 4xx → `TwitchPermanentError`.

The EventSub cost budget from the latest create/list answer is kept in `budget` so callers can
export it as a metric.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Final, TypeVar

import httpx
import structlog
from pydantic import SecretStr

from streammaxing.twitch.auth import AppTokenAuth
from streammaxing.twitch.errors import (
    SubscriptionConflict,
    SubscriptionLimitExceeded,
    TwitchAuthError,
    TwitchError,
    TwitchPermanentError,
    TwitchRateLimited,
    TwitchTransientError,
    twitch_message,
)
from streammaxing.twitch.models import (
    EventSubSubscription,
    HelixStream,
    HelixUser,
    SubscriptionBudget,
    SubscriptionListing,
    parse_stream,
    parse_subscription_page,
    parse_user,
)

__all__ = ["HelixClient", "build_helix_http_client"]

log = structlog.get_logger(__name__)

#: Helix accepts at most this many ids (or ids + logins) per request and items per page.
MAX_BATCH: Final = 100
#: Twitch's `Ratelimit-Reset` is whole seconds; a little slack avoids landing just before it.
_RESET_SLACK_S: Final = 0.1
#: Without `Ratelimit-Reset` on a 429, wait this long before the retry.
_DEFAULT_RATE_LIMIT_WAIT_S: Final = 1.0

Params = list[tuple[str, str]]
T = TypeVar("T")


def build_helix_http_client(
    api_url: str,
    auth_url: str,
    client_id: str,
    client_secret: SecretStr,
    *,
    timeout: float = 10.0,
) -> httpx.AsyncClient:
    """The one Helix `httpx.AsyncClient` of a process, authenticated with an app token."""
    return httpx.AsyncClient(
        base_url=api_url,
        auth=AppTokenAuth(client_id, client_secret, auth_url, timeout=timeout),
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"Client-Id": client_id, "User-Agent": "streammaxing"},
    )


class HelixClient:
    """Typed calls to Helix through `http` (base URL = `TWITCH_API_URL`, auth = app token).

    `max_rate_limit_wait` bounds how long one call waits in-line for the bucket to refill
    (longer → `TwitchRateLimited`); `max_rate_limit_retries` bounds the 429 retries per call.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        *,
        max_rate_limit_wait: float = 60.0,
        max_rate_limit_retries: int = 3,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._max_wait = max_rate_limit_wait
        self._max_retries = max_rate_limit_retries
        #: Unix time before which no request is sent (the bucket was reported empty).
        self._resume_at = 0.0
        #: EventSub cost budget: the latest list answer, raised by create answers since;
        #: None until then.
        self.budget: SubscriptionBudget | None = None

    async def warm_up(self) -> None:
        """Fetch the app token now, so that the first go-live does not wait for it.

        A failure is logged and otherwise ignored: the first request fetches the token again.
        """
        auth = self._http.auth
        if not isinstance(auth, AppTokenAuth):
            return
        try:
            await auth.token()
        except TwitchError as error:
            log.warning("twitch_app_token_warm_up_failed", error=str(error))

    async def aclose(self) -> None:
        """Close the underlying HTTP client (the process is shutting down)."""
        await self._http.aclose()

    # -- streams and users ----------------------------------------------------------------

    async def get_streams(self, user_ids: Iterable[str]) -> list[HelixStream]:
        """Live streams of these broadcasters (offline ones are simply absent).

        Ids are deduplicated and sent 100 per request, following each batch's pagination.
        """
        streams: list[HelixStream] = []
        for batch in _batches(_unique(user_ids)):
            params: Params = [("user_id", user_id) for user_id in batch]
            params.append(("first", str(MAX_BATCH)))
            async for page in self._pages("/streams", params):
                streams.extend(parse_stream(item) for item in _data(page))
        return streams

    async def get_users(
        self, *, ids: Iterable[str] = (), logins: Iterable[str] = ()
    ) -> list[HelixUser]:
        """Users by id and/or login, 100 keys per request; unknown ones are absent."""
        keys = [("id", i) for i in _unique(ids)] + [("login", name) for name in _unique(logins)]
        users: list[HelixUser] = []
        for batch in _batches(keys):
            body = _json(await self._request("GET", "/users", params=list(batch)))
            users.extend(parse_user(item) for item in _data(body))
        return users

    # -- EventSub subscriptions ------------------------------------------------------------

    async def create_subscription(
        self,
        type: str,  # shadows the builtin on purpose: it is Twitch's field name
        version: str,
        broadcaster_id: str,
        callback: str,
        secret: SecretStr | str,
        *,
        condition: Mapping[str, str] | None = None,
    ) -> EventSubSubscription:
        """Create a webhook subscription; usually `webhook_callback_verification_pending`.

        The condition is ``{"broadcaster_user_id": broadcaster_id}`` unless ``condition`` is
        given (``{"client_id": …}`` for the types about our app rather than a broadcaster).
        Raises `SubscriptionConflict` when it already exists and `SubscriptionLimitExceeded`
        when Twitch refuses more subscriptions for this type + condition or budget.
        """
        raw_secret = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        response = await self._request(
            "POST",
            "/eventsub/subscriptions",
            json={
                "type": type,
                "version": version,
                "condition": dict(condition or {"broadcaster_user_id": broadcaster_id}),
                "transport": {"method": "webhook", "callback": callback, "secret": raw_secret},
            },
            creating=True,
        )
        page = parse_subscription_page(_json(response))
        if not page.subscriptions:
            raise TwitchTransientError("create answered without a subscription")
        # Creates run concurrently and their answers arrive in any order; each one only adds
        # cost, so the highest total seen is the latest state (a list answer resets it).
        if self.budget is None or page.budget.total_cost >= self.budget.total_cost:
            self.budget = page.budget
        created = page.subscriptions[0]
        log.info(
            "twitch_subscription_created",
            subscription_id=created.id,
            subscription_type=created.type,
            broadcaster_id=broadcaster_id,
            status=created.status,
        )
        return created

    async def list_subscriptions(
        self,
        *,
        status: str | None = None,
        type: str | None = None,  # Twitch's filter name
        user_id: str | None = None,
    ) -> SubscriptionListing:
        """Every subscription of this client (all pages), optionally with ONE filter."""
        filters = [
            (name, value)
            for name, value in (("status", status), ("type", type), ("user_id", user_id))
            if value is not None
        ]
        if len(filters) > 1:
            raise ValueError("Twitch accepts at most one filter among status, type and user_id")
        seen: dict[str, EventSubSubscription] = {}
        total = 0
        budget = SubscriptionBudget(total_cost=0, max_total_cost=0)
        async for body in self._pages("/eventsub/subscriptions", filters):
            page = parse_subscription_page(body)
            seen.update((sub.id, sub) for sub in page.subscriptions)
            total, budget = page.total, page.budget
        self.budget = budget
        return SubscriptionListing(subscriptions=tuple(seen.values()), total=total, budget=budget)

    async def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription; False when Twitch does not know it (404)."""
        response = await self._request(
            "DELETE",
            "/eventsub/subscriptions",
            params=[("id", subscription_id)],
            accept=frozenset({httpx.codes.NOT_FOUND}),
        )
        deleted = response.status_code != httpx.codes.NOT_FOUND
        log.info("twitch_subscription_deleted", subscription_id=subscription_id, found=deleted)
        return deleted

    # -- transport and policy --------------------------------------------------------------

    async def _pages(self, path: str, params: Params) -> AsyncIterator[Mapping[str, object]]:
        """Yield each page's body, following `pagination.cursor` until it is absent."""
        cursors: set[str] = set()
        cursor: str | None = None
        while True:
            page_params = params if cursor is None else [*params, ("after", cursor)]
            body = _json(await self._request("GET", path, params=page_params))
            yield body
            pagination = body.get("pagination")
            cursor = pagination.get("cursor") if isinstance(pagination, Mapping) else None
            if not isinstance(cursor, str) or not cursor or cursor in cursors:
                return
            cursors.add(cursor)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: object = None,
        accept: frozenset[int] = frozenset(),
        creating: bool = False,
    ) -> httpx.Response:
        """One call under the rate-limit and 503 policy; returns a 2xx or `accept` answer."""
        rate_limited = 0
        retried_503 = False
        while True:
            await self._wait_for_bucket()
            response = await self._send(method, path, params, json)
            self._note_bucket(response)
            status = response.status_code
            if status < httpx.codes.MULTIPLE_CHOICES or status in accept:
                return response
            if status == httpx.codes.TOO_MANY_REQUESTS:
                self._on_too_many_requests(response, creating=creating)
                rate_limited += 1
                if rate_limited > self._max_retries:
                    raise TwitchRateLimited(self._resume_at)
                continue
            if status == httpx.codes.SERVICE_UNAVAILABLE and not retried_503:
                retried_503 = True
                log.info("helix_retrying_503", method=method, path=path)
                continue
            raise _error_for(response, creating=creating)

    async def _send(
        self, method: str, path: str, params: Params | None, json: object
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                path,
                params=tuple(params or ()),
                json=json,
                headers={"Client-Id": self._client_id},
            )
        except httpx.TimeoutException as exc:
            raise TwitchTransientError(f"Helix {method} {path} timed out") from exc
        except httpx.HTTPError as exc:
            raise TwitchTransientError(
                f"Helix {method} {path} failed: {type(exc).__name__}"
            ) from exc

    def _note_bucket(self, response: httpx.Response) -> None:
        """Remember the reset time when the response says the bucket is now empty."""
        remaining = _header_number(response, "Ratelimit-Remaining")
        reset = _header_number(response, "Ratelimit-Reset")
        if remaining is not None and remaining <= 0 and reset is not None:
            self._resume_at = max(self._resume_at, reset)

    def _on_too_many_requests(self, response: httpx.Response, *, creating: bool) -> None:
        """Classify a 429: another limit raises; an empty bucket schedules a wait."""
        remaining = _header_number(response, "Ratelimit-Remaining")
        reset = _header_number(response, "Ratelimit-Reset")
        if remaining is not None and remaining > 0:
            if creating:
                raise SubscriptionLimitExceeded(response.status_code, twitch_message(response))
            raise TwitchRateLimited(
                reset if reset is not None else time.time(), twitch_message(response)
            )
        if reset is None:
            reset = time.time() + _DEFAULT_RATE_LIMIT_WAIT_S
        self._resume_at = max(self._resume_at, reset)
        log.warning("helix_rate_limited", reset_at=reset, wait_s=round(reset - time.time(), 3))

    async def _wait_for_bucket(self) -> None:
        delay = self._resume_at - time.time()
        if delay <= 0:
            return
        if delay > self._max_wait:
            raise TwitchRateLimited(self._resume_at)
        await asyncio.sleep(delay + _RESET_SLACK_S)


def _error_for(response: httpx.Response, *, creating: bool) -> Exception:
    status = response.status_code
    message = twitch_message(response)
    if status >= httpx.codes.INTERNAL_SERVER_ERROR:
        return TwitchTransientError(f"Helix answered {status}: {message}", status=status)
    if status == httpx.codes.UNAUTHORIZED:
        return TwitchAuthError(f"Helix refused a freshly issued app token: {message}")
    if status == httpx.codes.CONFLICT and creating:
        return SubscriptionConflict(status, message)
    return TwitchPermanentError(status, message)


def _json(response: httpx.Response) -> Mapping[str, object]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TwitchTransientError("Helix answered with malformed JSON") from exc
    if not isinstance(body, dict):
        raise TwitchTransientError("Helix answered with a non-object JSON body")
    return body


def _data(body: Mapping[str, object]) -> list[Mapping[str, object]]:
    data = body.get("data")
    return [item for item in data if isinstance(item, Mapping)] if isinstance(data, list) else []


def _header_number(response: httpx.Response, name: str) -> float | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _batches(items: Sequence[T]) -> Iterable[Sequence[T]]:
    return (items[start : start + MAX_BATCH] for start in range(0, len(items), MAX_BATCH))
