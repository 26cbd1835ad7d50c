"""The Helix client and the app-token auth, against the Twitch fake over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr

from streammaxing.twitch.auth import AppTokenAuth
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from streammaxing.twitch.errors import (
    SubscriptionConflict,
    SubscriptionLimitExceeded,
    TwitchAuthError,
    TwitchPermanentError,
    TwitchRateLimited,
    TwitchTransientError,
)
from streammaxing.twitch.models import parse_stream, parse_subscription, parse_user
from tests.fakes.server import ServerThread, free_port
from tests.fakes.twitch_fake import TwitchFakeState, create_app

SUBS = "/helix/eventsub/subscriptions"
CALLBACK = "https://example.com/webhooks/twitch"
SECRET = SecretStr("s3cret-0123456789")


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TwitchFakeState, str]]:
    state = TwitchFakeState()
    with ServerThread(create_app(state)) as server:
        yield state, server.url


@pytest.fixture
def fake(served: tuple[TwitchFakeState, str]) -> TwitchFakeState:
    state = served[0]
    state.reset()
    return state


@pytest.fixture
def url(served: tuple[TwitchFakeState, str]) -> str:
    return served[1]


@pytest.fixture
async def http(fake: TwitchFakeState, url: str) -> AsyncIterator[httpx.AsyncClient]:
    client = build_helix_http_client(
        f"{url}/helix", f"{url}/oauth2", fake.client_id, SecretStr(fake.client_secret)
    )
    async with client:
        yield client


@pytest.fixture
def helix(fake: TwitchFakeState, http: httpx.AsyncClient) -> HelixClient:
    return HelixClient(http, fake.client_id)


def statuses(fake: TwitchFakeState, method: str, path: str) -> list[int]:
    return [r.status for r in fake.requests(method, path)]


class TestAppTokenAuth:
    async def test_the_token_is_fetched_once_and_reused(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Consecutive calls share one cached app token."""
        for _ in range(3):
            await helix.get_users(ids=["1"])
        assert fake.tokens_issued == 1
        assert fake.count("POST", "/oauth2/token") == 1

    async def test_concurrent_first_calls_share_one_fetch(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Ten calls racing on a cold cache cause exactly one token request."""
        await asyncio.gather(*(helix.get_users(ids=[str(i)]) for i in range(10)))
        assert fake.tokens_issued == 1

    async def test_warm_up_fetches_the_token_the_first_call_then_uses(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """warm_up takes the token before any Helix call; the call then needs no token request."""
        await helix.warm_up()
        assert fake.tokens_issued == 1
        assert fake.count("GET", "/helix/users") == 0
        await helix.get_users(ids=["1"])
        assert fake.tokens_issued == 1

    async def test_a_failed_warm_up_is_logged_and_the_first_call_retries(
        self, fake: TwitchFakeState, url: str
    ) -> None:
        """Refused credentials make warm_up log a warning (no secret), not raise."""
        http = build_helix_http_client(
            f"{url}/helix", f"{url}/oauth2", fake.client_id, SecretStr("wrong-secret-0123456789")
        )
        async with http:
            helix = HelixClient(http, fake.client_id)
            with structlog.testing.capture_logs() as logs:
                await helix.warm_up()
            with pytest.raises(TwitchAuthError):
                await helix.get_users(ids=["1"])
        assert [e["event"] for e in logs] == ["twitch_app_token_warm_up_failed"]
        assert "wrong-secret" not in repr(logs)
        assert fake.count("POST", "/oauth2/token") == 2

    async def test_the_token_is_renewed_at_90_percent_of_its_lifetime(
        self, fake: TwitchFakeState, url: str
    ) -> None:
        """With expires_in=100 s the token is kept at 89 s and replaced at 91 s."""
        fake.configure(token_expires_in=100)
        clock = ManualClock()
        auth = AppTokenAuth(
            fake.client_id, SecretStr(fake.client_secret), f"{url}/oauth2", clock=clock
        )
        async with httpx.AsyncClient(base_url=f"{url}/helix", auth=auth) as http:
            helix = HelixClient(http, fake.client_id)
            await helix.get_users(ids=["1"])
            clock.now += 89
            await helix.get_users(ids=["1"])
            assert fake.tokens_issued == 1
            clock.now += 2
            await helix.get_users(ids=["1"])
            assert fake.tokens_issued == 2
        assert statuses(fake, "GET", "/helix/users") == [200, 200, 200]

    async def test_a_failed_early_renewal_keeps_the_still_valid_token(
        self, fake: TwitchFakeState, url: str
    ) -> None:
        """If the token endpoint fails at 91 % of the lifetime, the old token still serves."""
        fake.configure(token_expires_in=100)
        clock = ManualClock()
        auth = AppTokenAuth(
            fake.client_id, SecretStr(fake.client_secret), f"{url}/oauth2", clock=clock
        )
        async with httpx.AsyncClient(base_url=f"{url}/helix", auth=auth) as http:
            helix = HelixClient(http, fake.client_id)
            await helix.get_users(ids=["1"])
            clock.now += 91
            fake.add_fault("POST", "/oauth2/token", status=503)
            await helix.get_users(ids=["1"])
            assert fake.tokens_issued == 1
            await helix.get_users(ids=["1"])
            assert fake.tokens_issued == 2
            clock.now += 200
            fake.add_fault("POST", "/oauth2/token", status=503)
            with pytest.raises(TwitchTransientError):
                await helix.get_users(ids=["1"])
        assert statuses(fake, "GET", "/helix/users") == [200, 200, 200]

    async def test_a_401_renews_the_token_and_retries_once(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """A revoked token is replaced on the 401 and the request succeeds on its retry."""
        fake.add_user("1", "one")
        await helix.get_users(ids=["1"])
        fake.revoke_tokens()
        users = await helix.get_users(ids=["1"])
        assert [u.login for u in users] == ["one"]
        assert fake.tokens_issued == 2
        assert statuses(fake, "GET", "/helix/users") == [200, 401, 200]

    async def test_a_second_401_is_an_auth_error(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """If Helix refuses the fresh token too, the call fails without looping."""
        fake.add_fault("GET", "/helix/users", status=401, times=2)
        with pytest.raises(TwitchAuthError):
            await helix.get_users(ids=["1"])
        assert statuses(fake, "GET", "/helix/users") == [401, 401]
        assert fake.tokens_issued == 2

    async def test_a_wrong_client_secret_is_an_auth_error(
        self, fake: TwitchFakeState, url: str
    ) -> None:
        """The token endpoint's 403 becomes TwitchAuthError before any Helix call."""
        http = build_helix_http_client(
            f"{url}/helix", f"{url}/oauth2", fake.client_id, SecretStr("not-the-secret")
        )
        async with http:
            with pytest.raises(TwitchAuthError, match="invalid client secret"):
                await HelixClient(http, fake.client_id).get_streams(["1"])
        assert fake.count("GET", "/helix/streams") == 0

    async def test_a_failing_token_endpoint_is_transient(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """5xx from the token endpoint → TwitchTransientError; the next call fetches again."""
        fake.add_fault("POST", "/oauth2/token", status=500)
        with pytest.raises(TwitchTransientError):
            await helix.get_users(ids=["1"])
        await helix.get_users(ids=["1"])
        assert fake.tokens_issued == 1

    async def test_the_token_and_secret_are_never_logged(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Log events around token fetch and 401 renewal carry neither token nor secret."""
        with structlog.testing.capture_logs() as events:
            await helix.get_users(ids=["1"])
            fake.revoke_tokens()
            await helix.get_users(ids=["1"])
        assert {e["event"] for e in events} >= {
            "twitch_app_token_issued",
            "twitch_app_token_rejected",
        }
        text = repr(events)
        [token] = fake.issued_tokens()
        assert token not in text
        assert fake.client_secret not in text
        assert "Bearer" not in text

    async def test_validate_forgets_a_token_twitch_no_longer_accepts(
        self, fake: TwitchFakeState, url: str
    ) -> None:
        """validate() is True for a live token; after revocation False, then a new fetch."""
        auth = AppTokenAuth(fake.client_id, SecretStr(fake.client_secret), f"{url}/oauth2")
        async with httpx.AsyncClient(base_url=f"{url}/helix", auth=auth) as http:
            helix = HelixClient(http, fake.client_id)
            assert not await auth.validate()
            await helix.get_users(ids=["1"])
            assert await auth.validate()
            fake.revoke_tokens()
            assert not await auth.validate()
            await helix.get_users(ids=["1"])
        assert fake.tokens_issued == 2
        assert statuses(fake, "GET", "/helix/users") == [200, 200]

    def test_the_auth_refuses_synchronous_clients(self, fake: TwitchFakeState, url: str) -> None:
        """Async-only: a sync httpx.Client cannot silently send unauthenticated requests."""
        auth = AppTokenAuth(fake.client_id, SecretStr(fake.client_secret), f"{url}/oauth2")
        with httpx.Client(base_url=f"{url}/helix", auth=auth) as http, pytest.raises(TypeError):
            http.get("/streams")


class TestStreamsAndUsers:
    async def test_250_ids_go_out_in_3_batches(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Ids are sent 100 per request (repeated `user_id`) and the results merged."""
        for user_id in ("5", "150", "249"):
            fake.add_stream(user_id, f"user{user_id}")
        streams = await helix.get_streams([str(i) for i in range(250)])
        assert sorted(s.user_id for s in streams) == ["150", "249", "5"]
        calls = fake.requests("GET", "/helix/streams")
        assert len(calls) == 3
        assert [sum(1 for k, _ in c.params if k == "user_id") for c in calls] == [100, 100, 50]
        assert all(("first", "100") in c.params for c in calls)

    async def test_ids_are_deduplicated_and_empty_input_sends_nothing(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Duplicate ids cost nothing; no ids, no request."""
        assert await helix.get_streams([]) == []
        await helix.get_streams(["1", "1", "2"])
        [call] = fake.requests("GET", "/helix/streams")
        assert [v for k, v in call.params if k == "user_id"] == ["1", "2"]

    async def test_pagination_within_a_batch_is_followed(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Short pages with a cursor are followed to the end."""
        fake.configure(stream_page_limit=2)
        for i in range(5):
            fake.add_stream(str(i), f"user{i}")
        streams = await helix.get_streams([str(i) for i in range(5)])
        assert sorted(s.user_id for s in streams) == ["0", "1", "2", "3", "4"]
        assert fake.count("GET", "/helix/streams") == 3

    async def test_streams_are_parsed_into_typed_values(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Fields arrive typed; the thumbnail placeholder can be filled in."""
        fake.add_stream(
            "1337",
            "cool_user",
            user_name="Cool_User",
            id="9001",
            title="Best Stream Ever",
            game_name="Just Chatting",
            viewer_count=7,
            started_at="2024-05-04T18:22:29Z",
            tags=None,
        )
        [stream] = await helix.get_streams(["1337"])
        assert stream.id == "9001"
        assert stream.is_live
        assert stream.viewer_count == 7
        assert stream.started_at == datetime(2024, 5, 4, 18, 22, 29, tzinfo=UTC)
        assert stream.tags == ()
        assert stream.thumbnail() == (
            "https://static-cdn.jtvnw.net/previews-ttv/live_user_cool_user-1280x720.jpg"
        )

    async def test_users_by_ids_and_logins_in_batches_of_100(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Ids and logins share the 100-per-request limit."""
        fake.add_user("1", "one")
        fake.add_user("2", "two")
        users = await helix.get_users(
            ids=[str(i) for i in range(1, 121)], logins=["two", "ghost"] * 20
        )
        assert sorted(u.id for u in users) == ["1", "2", "2"]
        assert [len(c.params) for c in fake.requests("GET", "/helix/users")] == [100, 22]
        assert await helix.get_users() == []


class TestSubscriptions:
    async def test_create_returns_the_pending_subscription_and_budget(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """202 → EventSubSubscription; total_cost/max_total_cost kept in `budget`."""
        sub = await helix.create_subscription("stream.online", "1", "1337", CALLBACK, SECRET)
        assert sub.status == "webhook_callback_verification_pending"
        assert sub.is_active
        assert (sub.type, sub.version, sub.broadcaster_user_id) == ("stream.online", "1", "1337")
        assert sub.callback == CALLBACK
        assert sub.cost == 1
        assert sub.created_at is not None
        assert helix.budget is not None
        assert (helix.budget.total_cost, helix.budget.max_total_cost) == (1, 10000)
        stored = fake.subscription(sub.id)
        assert stored is not None
        assert stored.secret == SECRET.get_secret_value()

    async def test_a_duplicate_raises_conflict(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """409 → SubscriptionConflict (a permanent error with status 409)."""
        await helix.create_subscription("stream.online", "1", "1337", CALLBACK, SECRET)
        with pytest.raises(SubscriptionConflict) as caught:
            await helix.create_subscription("stream.online", "1", "1337", CALLBACK, SECRET)
        assert isinstance(caught.value, TwitchPermanentError)
        assert caught.value.status == 409

    async def test_a_per_condition_429_is_a_limit_not_a_rate(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """429 with Ratelimit-Remaining > 0 on create → SubscriptionLimitExceeded, no retry."""
        for _ in range(3):
            fake.add_subscription("1337", status="notification_failures_exceeded")
        with pytest.raises(SubscriptionLimitExceeded):
            await helix.create_subscription("stream.online", "1", "1337", CALLBACK, SECRET)
        assert statuses(fake, "POST", SUBS) == [429]

    async def test_an_invalid_request_is_permanent(self, helix: HelixClient) -> None:
        """A 400 carries Twitch's status and message."""
        with pytest.raises(TwitchPermanentError) as caught:
            await helix.create_subscription("stream.online", "1", "1337", CALLBACK, "short")
        assert caught.value.status == 400
        assert "secret" in caught.value.message

    async def test_list_follows_every_page(self, fake: TwitchFakeState, helix: HelixClient) -> None:
        """All pages are read; the listing keeps total and budget."""
        fake.configure(subscription_page_size=2)
        created = [fake.add_subscription(str(i)).id for i in range(5)]
        fake.add_subscription("9", status="user_removed")
        listing = await helix.list_subscriptions()
        assert [s.id for s in listing.subscriptions][:5] == created
        assert listing.total == 6
        assert (listing.budget.total_cost, listing.budget.max_total_cost) == (5, 10000)
        assert helix.budget == listing.budget
        assert fake.count("GET", SUBS) == 3

    async def test_list_with_one_filter(self, fake: TwitchFakeState, helix: HelixClient) -> None:
        """A filter goes to Twitch as a query parameter."""
        fake.add_subscription("1")
        failed = fake.add_subscription("2", status="notification_failures_exceeded").id
        listing = await helix.list_subscriptions(status="notification_failures_exceeded")
        assert [s.id for s in listing.subscriptions] == [failed]
        by_user = await helix.list_subscriptions(user_id="1")
        assert [s.broadcaster_user_id for s in by_user.subscriptions] == ["1"]

    async def test_two_filters_are_refused_before_any_request(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Twitch would answer 400, so the client does not even ask."""
        with pytest.raises(ValueError, match="at most one filter"):
            await helix.list_subscriptions(status="enabled", type="stream.online")
        assert fake.count("GET", SUBS) == 0

    async def test_delete_reports_whether_it_existed(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """204 → True; 404 → False."""
        sub_id = fake.add_subscription("1").id
        assert await helix.delete_subscription(sub_id) is True
        assert await helix.delete_subscription(sub_id) is False


class TestRateLimitPolicy:
    async def test_an_empty_bucket_is_waited_out_instead_of_hitting_429(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """When Ratelimit-Remaining reaches 0 the next call waits for Ratelimit-Reset."""
        fake.configure(ratelimit_limit=3, ratelimit_window_s=0.5)
        started = time.monotonic()
        for _ in range(4):
            await helix.get_users(ids=["1"])
        assert statuses(fake, "GET", "/helix/users") == [200] * 4
        assert time.monotonic() - started > 0.1

    async def test_a_429_with_an_empty_bucket_waits_for_the_reset_and_retries(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """429 + Remaining 0 → sleep until Reset, then the same request succeeds."""
        reset = int(time.time()) + 1
        fake.add_fault(
            "GET",
            "/helix/users",
            status=429,
            headers={"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(reset)},
        )
        await helix.get_users(ids=["1"])
        calls = fake.requests("GET", "/helix/users")
        assert [c.status for c in calls] == [429, 200]
        assert calls[1].at >= reset

    async def test_429s_beyond_the_retry_bound_raise_rate_limited(
        self, fake: TwitchFakeState, http: httpx.AsyncClient
    ) -> None:
        """The 429 retries are bounded; then TwitchRateLimited carries the reset time."""
        helix = HelixClient(http, fake.client_id, max_rate_limit_retries=1)
        headers = {"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(int(time.time()) - 1)}
        fake.add_fault("GET", "/helix/users", status=429, headers=headers, times=2)
        with pytest.raises(TwitchRateLimited):
            await helix.get_users(ids=["1"])
        assert statuses(fake, "GET", "/helix/users") == [429, 429]

    async def test_a_reset_too_far_away_is_not_waited_for(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """A reset beyond max_rate_limit_wait raises at once, with the reset time."""
        reset = int(time.time()) + 3600
        headers = {"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(reset)}
        fake.add_fault("GET", "/helix/users", status=429, headers=headers)
        with pytest.raises(TwitchRateLimited) as caught:
            await helix.get_users(ids=["1"])
        assert caught.value.reset_at == reset
        with pytest.raises(TwitchRateLimited):
            await helix.get_users(ids=["1"])
        assert statuses(fake, "GET", "/helix/users") == [429]

    async def test_a_429_with_points_left_outside_create_is_not_retried(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """A 429 unrelated to the bucket raises TwitchRateLimited without a retry."""
        headers = {"Ratelimit-Remaining": "500", "Ratelimit-Reset": str(int(time.time()))}
        fake.add_fault("GET", "/helix/streams", status=429, headers=headers)
        with pytest.raises(TwitchRateLimited):
            await helix.get_streams(["1"])
        assert statuses(fake, "GET", "/helix/streams") == [429]


class TestServerErrors:
    async def test_a_503_is_retried_once(self, fake: TwitchFakeState, helix: HelixClient) -> None:
        """Twitch's advice: on 503 retry once."""
        fake.add_fault("GET", "/helix/streams", status=503)
        assert await helix.get_streams(["1"]) == []
        assert statuses(fake, "GET", "/helix/streams") == [503, 200]

    async def test_a_second_503_is_transient(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Two 503s in a row → TwitchTransientError(status=503)."""
        fake.add_fault("GET", "/helix/streams", status=503, times=2)
        with pytest.raises(TwitchTransientError) as caught:
            await helix.get_streams(["1"])
        assert caught.value.status == 503
        assert statuses(fake, "GET", "/helix/streams") == [503, 503]

    async def test_a_500_is_transient_without_retry(
        self, fake: TwitchFakeState, helix: HelixClient
    ) -> None:
        """Other 5xx are not retried in-line: the caller's backoff decides."""
        fake.add_fault("DELETE", SUBS, status=500)
        with pytest.raises(TwitchTransientError) as caught:
            await helix.delete_subscription("x")
        assert caught.value.status == 500
        assert statuses(fake, "DELETE", SUBS) == [500]

    async def test_a_timeout_is_transient_and_keeps_its_cause(
        self, fake: TwitchFakeState, url: str
    ) -> None:
        """A slow answer past the client timeout → TwitchTransientError from httpx's error."""
        fake.add_fault("GET", "/helix/streams", delay_s=1.0)
        http = build_helix_http_client(
            f"{url}/helix",
            f"{url}/oauth2",
            fake.client_id,
            SecretStr(fake.client_secret),
            timeout=0.2,
        )
        async with http:
            with pytest.raises(TwitchTransientError) as caught:
                await HelixClient(http, fake.client_id).get_streams(["1"])
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)

    async def test_an_unreachable_twitch_is_transient(self) -> None:
        """Connection refused (token endpoint included) → TwitchTransientError."""
        dead = f"http://127.0.0.1:{free_port()}"
        http = build_helix_http_client(
            f"{dead}/helix", f"{dead}/oauth2", "id", SecretStr("secret-secret")
        )
        async with http:
            with pytest.raises(TwitchTransientError):
                await HelixClient(http, "id").get_streams(["1"])


class TestParsing:
    def test_a_stream_with_nulls_and_unknown_fields_parses(self) -> None:
        """`tags: null`, empty `type`, missing fields and new fields are all tolerated."""
        raw: dict[str, Any] = {
            "id": "1",
            "user_id": "2",
            "type": "",
            "tags": None,
            "viewer_count": None,
            "started_at": "not a date",
            "brand_new_field": {"x": 1},
        }
        stream = parse_stream(raw)
        assert (stream.type, stream.tags, stream.viewer_count) == ("", (), 0)
        assert stream.started_at is None
        assert not stream.is_live
        assert stream.game_name == ""

    def test_a_subscription_with_nanosecond_timestamps_parses(self) -> None:
        """EventSub timestamps carry nine fractional digits."""
        sub = parse_subscription(
            {
                "id": "a",
                "status": "enabled",
                "type": "user.update",
                "version": "1",
                "condition": {"user_id": "1234"},
                "created_at": "2020-11-10T14:32:18.730260295Z",
                "transport": {"method": "webhook", "callback": CALLBACK},
                "cost": 1,
            }
        )
        assert sub.broadcaster_user_id == "1234"
        assert sub.created_at == datetime(2020, 11, 10, 14, 32, 18, 730260, tzinfo=UTC)

    def test_a_conduit_subscription_has_no_callback(self) -> None:
        """Conduit transports carry no callback; the method says so."""
        sub = parse_subscription(
            {"id": "a", "transport": {"method": "conduit", "conduit_id": "c"}, "condition": {}}
        )
        assert (sub.transport_method, sub.callback, sub.broadcaster_user_id) == (
            "conduit",
            None,
            None,
        )

    @pytest.mark.parametrize("parse", [parse_stream, parse_user, parse_subscription])
    def test_an_object_without_an_id_is_refused(self, parse: Any) -> None:
        """Without `id` nothing can be done with the object."""
        with pytest.raises(ValueError, match="without an id"):
            parse({"login": "x"})
