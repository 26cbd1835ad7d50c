"""`POST /webhooks/twitch` served by uvicorn on a real database: the SPEC §5.1 contract."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from streammaxing.db import create_pool
from streammaxing.ingest.app import create_app
from streammaxing.ingest.enqueue import ENQUEUE_DEADLINE, GroupCommitter
from streammaxing.ingest.state import IngestState
from streammaxing.metrics import Metrics
from streammaxing.twitch.eventsub import signature_for
from streammaxing.twitch.trigger import TriggerOptions, build_message, format_timestamp
from tests.fakes.server import ServerThread
from tests.support import wait_for

SECRET = "test-secret-0123456789"
OLD_SECRET = "previous-secret-abcdef"


@dataclass
class Ingest:
    url: str
    database_url: str
    state: IngestState

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/twitch"

    def jobs(self, task_name: str | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT task_name, queue_name, args FROM procrastinate_jobs"
                " WHERE %(t)s::text IS NULL OR task_name = %(t)s ORDER BY id",
                {"t": task_name},
            ).fetchall()
        return [{"task_name": r[0], "queue": r[1], "args": r[2]} for r in rows]


@pytest.fixture
def ingest(database_url: str) -> Iterator[Ingest]:
    pool = create_pool(database_url, min_size=1, max_size=8, name="test-ingest")
    state = IngestState(
        pool=pool,
        metrics=Metrics(pools=[pool]),
        committer=GroupCommitter(pool),
        eventsub_secrets=[SECRET.encode(), OLD_SECRET.encode()],
    )
    with ServerThread(create_app(state), lifespan="on") as server:
        yield Ingest(url=server.url, database_url=database_url, state=state)


def now_timestamp(offset: timedelta = timedelta(0)) -> str:
    moment = datetime.now(UTC) + offset
    return format_timestamp(int(moment.timestamp() * 1_000_000_000))


def online(**overrides: Any) -> tuple[dict[str, str], bytes]:
    options = TriggerOptions(
        kind="stream.online", secret=SECRET, broadcaster_id="1337", **overrides
    )
    message = build_message(options)
    return message.headers, message.body


def signed(
    body: bytes,
    *,
    message_type: str = "notification",
    message_id: str | None = None,
    timestamp: str | None = None,
    secret: str = SECRET,
) -> dict[str, str]:
    message_id = message_id or str(uuid.uuid4())
    timestamp = timestamp or now_timestamp()
    return {
        "Content-Type": "application/json",
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Message-Signature": signature_for(
            secret.encode(), message_id, timestamp, body
        ),
        "Twitch-Eventsub-Message-Type": message_type,
        "Twitch-Eventsub-Message-Retry": "0",
    }


def online_with_event_field(name: str, value: Any) -> bytes:
    """A stream.online body whose event carries `name`: `value`."""
    _, body = online()
    payload = json.loads(body)
    payload["event"][name] = value
    return json.dumps(payload).encode()


async def one_job_each_in_one_burst(
    ingest: Ingest, ordinary: int, odd: bytes
) -> list[dict[str, Any]]:
    """Send `ordinary` fresh go-lives and the `odd` body at once (so they share group commits);
    assert every answer is 204 and every message is one job; return the jobs."""
    messages = [online() for _ in range(ordinary)] + [(signed(odd), odd)]
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(
            *(client.post(ingest.webhook, headers=h, content=b) for h, b in messages)
        )
    assert [r.status_code for r in responses] == [204] * len(messages)
    jobs = ingest.jobs()
    assert len(jobs) == len(messages)
    return jobs


def post(ingest: Ingest, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(ingest.webhook, headers=headers, content=body, timeout=10)


class TestChallenge:
    def test_echoes_the_challenge_as_plain_text(self, ingest: Ingest) -> None:
        """A verification gets 200, text/plain, the challenge bytes exactly and Content-Length."""
        message = build_message(
            TriggerOptions(kind="verification", secret=SECRET, challenge="pogchamp-kappa-360")
        )
        response = post(ingest, message.headers, message.body)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.content == b"pogchamp-kappa-360"
        assert response.headers["content-length"] == str(len(b"pogchamp-kappa-360"))
        assert ingest.jobs() == []

    def test_repeated_message_id_and_unknown_subscription_still_answered(
        self, ingest: Ingest
    ) -> None:
        """The same challenge twice, for a subscription we never stored, is echoed both times."""
        body = json.dumps(
            {
                "challenge": "abc-123",
                "subscription": {"id": "not-in-db", "type": "stream.online", "version": "1"},
            }
        ).encode()
        headers = signed(body, message_type="webhook_callback_verification", message_id="same")
        for _ in range(2):
            response = post(ingest, headers, body)
            assert (response.status_code, response.text) == (200, "abc-123")

    def test_conduit_shard_challenge(self, ingest: Ingest) -> None:
        """A conduit-shard challenge carries no subscription and is answered all the same."""
        body = b'{"challenge":"shard-ok","conduit_shard":{"conduit_id":"c1","shard":"0"}}'
        response = post(ingest, signed(body, message_type="webhook_callback_verification"), body)
        assert (response.status_code, response.text) == (200, "shard-ok")

    def test_known_subscription_is_recorded_enabled(self, ingest: Ingest) -> None:
        """A challenge for a stored subscription marks it enabled."""
        with psycopg.connect(ingest.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO streamers (id, twitch_broadcaster_id, twitch_login)"
                " VALUES ('00000000-0000-0000-0000-000000000001', '1337', 'cool_user');"
                "INSERT INTO eventsub_subscriptions (streamer_id, subscription_id, status)"
                " VALUES ('00000000-0000-0000-0000-000000000001', 'sub-1',"
                " 'webhook_callback_verification_pending')"
            )
        message = build_message(
            TriggerOptions(kind="verification", secret=SECRET, subscription_id="sub-1")
        )
        assert post(ingest, message.headers, message.body).status_code == 200
        with psycopg.connect(ingest.database_url) as conn:
            row = conn.execute(
                "SELECT status FROM eventsub_subscriptions WHERE subscription_id = 'sub-1'"
            ).fetchone()
        assert row == ("enabled",)


class TestNotification:
    def test_stream_online_becomes_one_job(self, ingest: Ingest) -> None:
        """A signed stream.online is answered 2xx after its job is stored."""
        headers, body = online(stream_id="9001")
        response = post(ingest, headers, body)
        assert response.status_code == 204
        jobs = ingest.jobs()
        assert len(jobs) == 1
        assert jobs[0]["task_name"] == "stream_online"
        assert jobs[0]["queue"] == "events"
        assert jobs[0]["args"]["event"]["id"] == "9001"
        assert jobs[0]["args"]["message_id"] == headers["Twitch-Eventsub-Message-Id"]

    def test_go_lives_are_numbered_in_acceptance_order(self, ingest: Ingest) -> None:
        """Each accepted stream.online job carries an increasing `accepted_seq`, recorded as
        unclaimed until its fan-out claims; a duplicate and other types get no number."""
        for n in range(3):
            headers, body = online(stream_id=str(9100 + n), message_id=f"order-{n}")
            assert post(ingest, headers, body).status_code == 204
        duplicate_headers, duplicate_body = online(stream_id="9100", message_id="order-0")
        assert post(ingest, duplicate_headers, duplicate_body).status_code == 204
        update = build_message(TriggerOptions(kind="channel.update", secret=SECRET))
        assert post(ingest, update.headers, update.body).status_code == 204
        numbers = [job["args"].get("accepted_seq") for job in ingest.jobs()]
        assert numbers[3] is None
        assert numbers[:3] == sorted(numbers[:3])
        assert len(set(numbers[:3])) == 3
        with psycopg.connect(ingest.database_url) as conn:
            recorded = [r[0] for r in conn.execute("SELECT seq FROM golive_acceptances ORDER BY 1")]
        assert recorded == numbers[:3]

    @pytest.mark.parametrize(
        ("kind", "task"),
        [("stream.offline", "stream_offline"), ("channel.update", "channel_update")],
    )
    def test_other_types_map_to_their_jobs(self, ingest: Ingest, kind: str, task: str) -> None:
        """stream.offline (no event.id) and channel.update v2 become their named jobs."""
        message = build_message(TriggerOptions(kind=kind, secret=SECRET, broadcaster_id="7"))  # type: ignore[arg-type]
        assert post(ingest, message.headers, message.body).status_code == 204
        assert [j["task_name"] for j in ingest.jobs()] == [task]

    def test_authorization_revoke_becomes_its_job(self, ingest: Ingest) -> None:
        """A `user.authorization.revoke` (the event names a user, not a broadcaster) becomes an
        `user_authorization_revoked` job carrying the event."""
        event = {"client_id": "cid", "user_id": "1337", "user_login": None, "user_name": None}
        body = json.dumps(
            {
                "subscription": {
                    "id": str(uuid.uuid4()),
                    "type": "user.authorization.revoke",
                    "version": "1",
                    "status": "enabled",
                    "cost": 0,
                    "condition": {"client_id": "cid"},
                    "transport": {"method": "webhook", "callback": "https://x.example/w"},
                    "created_at": "2026-12-01T00:00:00Z",
                },
                "event": event,
            }
        ).encode()
        assert post(ingest, signed(body), body).status_code == 204
        (job,) = ingest.jobs()
        assert job["task_name"] == "user_authorization_revoked"
        assert job["args"]["event"] == event

    def test_redelivery_with_the_same_id_makes_no_second_job(self, ingest: Ingest) -> None:
        """Twitch resends with the same message id (fresh timestamp): 2xx, still one job."""
        headers, body = online(message_id="redelivered-1")
        assert post(ingest, headers, body).status_code == 204
        later = now_timestamp(timedelta(seconds=5))
        resent = signed(body, message_id="redelivered-1", timestamp=later)
        assert post(ingest, resent, body).status_code == 204
        assert len(ingest.jobs()) == 1

    async def test_concurrent_duplicates_make_exactly_one_job(self, ingest: Ingest) -> None:
        """Forty copies of one message at once: every answer 2xx, exactly one job."""
        headers, body = online(message_id="burst-1")
        async with httpx.AsyncClient(timeout=10) as client:
            responses = await asyncio.gather(
                *(client.post(ingest.webhook, headers=headers, content=body) for _ in range(40))
            )
        assert {r.status_code for r in responses} == {204}
        assert len(ingest.jobs()) == 1

    async def test_concurrent_distinct_messages_each_make_a_job(self, ingest: Ingest) -> None:
        """Many different messages at once (grouped commits) each get their own job."""
        messages = [online() for _ in range(60)]
        async with httpx.AsyncClient(timeout=10) as client:
            responses = await asyncio.gather(
                *(client.post(ingest.webhook, headers=h, content=b) for h, b in messages)
            )
        assert {r.status_code for r in responses} == {204}
        ids = sorted(j["args"]["message_id"] for j in ingest.jobs())
        assert ids == sorted(h["Twitch-Eventsub-Message-Id"] for h, _ in messages)

    def test_unknown_subscription_type_is_acknowledged_without_a_job(self, ingest: Ingest) -> None:
        """A signed notification of a type we don't handle: 2xx, logged, no job."""
        body = b'{"subscription":{"id":"s","type":"channel.follow","version":"2"},"event":{}}'
        assert post(ingest, signed(body), body).status_code == 204
        assert ingest.jobs() == []

    def test_unknown_message_type_is_acknowledged_without_a_job(self, ingest: Ingest) -> None:
        """A message type Twitch may add later: 2xx, no job."""
        headers, body = online()
        headers = signed(body, message_type="something_new")
        assert post(ingest, headers, body).status_code == 204
        assert ingest.jobs() == []

    def test_lowercase_header_names(self, ingest: Ingest) -> None:
        """Header names are case-insensitive."""
        headers, body = online()
        lowered = {name.lower(): value for name, value in headers.items()}
        assert post(ingest, lowered, body).status_code == 204
        assert len(ingest.jobs()) == 1

    def test_previous_secret_is_accepted_during_rotation(self, ingest: Ingest) -> None:
        """A message signed with the second configured secret verifies."""
        _, body = online()
        assert post(ingest, signed(body, secret=OLD_SECRET), body).status_code == 204

    def test_invalid_json_after_a_valid_signature(self, ingest: Ingest) -> None:
        """Correctly signed garbage is a 400, not a 5xx, and makes no job."""
        body = b'{"subscription": nope'
        assert post(ingest, signed(body), body).status_code == 400
        assert post(ingest, signed(b"[1,2]"), b"[1,2]").status_code == 400
        assert ingest.jobs() == []

    @pytest.mark.parametrize("number", [b"NaN", b"1e400"])
    def test_numbers_jsonb_cannot_store_are_refused(self, ingest: Ingest, number: bytes) -> None:
        """`NaN` parses in Python but is not JSON, and `1e400` parses as infinity; neither can
        be stored (one would fail its whole group commit): 400, no job."""
        _, valid = online()
        body = valid[: valid.rindex(b"}")] + b',"n":' + number + b"}"
        assert post(ingest, signed(body), body).status_code == 400
        assert ingest.jobs() == []

    async def test_an_unstorable_title_neither_fails_its_batch_nor_is_lost(
        self, ingest: Ingest
    ) -> None:
        """A title with `\\u0000` and a lone surrogate, sent at once with ordinary messages:
        every answer is 204, every message is one job, and the title keeps U+FFFD in their
        place (jsonb refuses both, which used to fail the whole group commit with 503)."""
        odd = online_with_event_field("title", "night\x00stream \ud800!")
        assert b"\\u0000" in odd
        jobs = await one_job_each_in_one_burst(ingest, 20, odd)
        titles = [j["args"]["event"].get("title") for j in jobs]
        assert "night\ufffdstream \ufffd!" in titles

    async def test_an_integer_beyond_64_bits_is_stored_exactly_with_its_batch(
        self, ingest: Ingest
    ) -> None:
        """JSON numbers have no size limit and jsonb stores them exactly; the batch encoder
        must not refuse one (orjson does, above 64 bits) or round it."""
        big = online_with_event_field("viewer_milestone", 2**70 + 1)
        jobs = await one_job_each_in_one_burst(ingest, 10, big)
        assert [j["args"]["event"].get("viewer_milestone") for j in jobs].count(2**70 + 1) == 1

    def test_notification_without_broadcaster_is_rejected(self, ingest: Ingest) -> None:
        """A known type whose event lacks broadcaster_user_id is malformed: 400, no job."""
        body = b'{"subscription":{"id":"s","type":"stream.online","version":"1"},"event":{}}'
        assert post(ingest, signed(body), body).status_code == 400
        assert ingest.jobs() == []


class TestRejections:
    @pytest.mark.parametrize(
        "header",
        [
            "Twitch-Eventsub-Message-Id",
            "Twitch-Eventsub-Message-Timestamp",
            "Twitch-Eventsub-Message-Signature",
            "Twitch-Eventsub-Message-Type",
        ],
    )
    def test_missing_header_is_403(self, ingest: Ingest, header: str) -> None:
        """Each required header missing → 403, never a 5xx, no job."""
        headers, body = online()
        del headers[header]
        assert post(ingest, headers, body).status_code == 403
        assert ingest.jobs() == []

    def test_tampered_body_is_403(self, ingest: Ingest) -> None:
        """Changing one byte of a signed body fails verification."""
        headers, body = online(stream_id="9001")
        assert post(ingest, headers, body.replace(b"9001", b"9002")).status_code == 403
        assert ingest.jobs() == []

    def test_wrong_secret_and_malformed_signature_are_403(self, ingest: Ingest) -> None:
        """A signature made with another secret, or without the sha256= prefix, is refused."""
        _, body = online()
        assert post(ingest, signed(body, secret="someone-elses-secret"), body).status_code == 403
        headers = signed(body)
        headers["Twitch-Eventsub-Message-Signature"] = headers[
            "Twitch-Eventsub-Message-Signature"
        ].removeprefix("sha256=")
        assert post(ingest, headers, body).status_code == 403

    @pytest.mark.parametrize("minutes", [-11, 11])
    def test_stale_and_future_timestamps_are_403(self, ingest: Ingest, minutes: int) -> None:
        """Older than 10 minutes, or more than 10 minutes ahead: replay guard → 403."""
        _, body = online()
        headers = signed(body, timestamp=now_timestamp(timedelta(minutes=minutes)))
        assert post(ingest, headers, body).status_code == 403
        assert ingest.jobs() == []

    @pytest.mark.parametrize("digits", [0, 3, 7, 9])
    def test_fractional_seconds_of_any_precision(self, ingest: Ingest, digits: int) -> None:
        """Timestamps with 0, 3, 7 or 9 fractional digits are accepted."""
        moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        timestamp = f"{moment}.{'1' * digits}Z" if digits else f"{moment}Z"
        _, body = online()
        assert post(ingest, signed(body, timestamp=timestamp), body).status_code == 204

    def test_oversize_body_is_413(self, ingest: Ingest) -> None:
        """A body over 1 MiB is refused with 413, declared or streamed."""
        big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
        assert post(ingest, signed(big), big).status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b" " * 65536

        response = httpx.post(ingest.webhook, headers=signed(b"x"), content=chunks(), timeout=10)
        assert response.status_code == 413

    def test_other_methods_are_405(self, ingest: Ingest) -> None:
        """Only POST is routed."""
        for method in ("GET", "PUT", "DELETE"):
            assert httpx.request(method, ingest.webhook, timeout=5).status_code == 405

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        headers=st.dictionaries(
            st.sampled_from(
                [
                    "Twitch-Eventsub-Message-Id",
                    "Twitch-Eventsub-Message-Timestamp",
                    "Twitch-Eventsub-Message-Signature",
                    "Twitch-Eventsub-Message-Type",
                    "twitch-eventsub-message-type",
                    "Content-Type",
                ]
            ),
            # HTTP clients refuse values with surrounding whitespace, so strip them.
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(
                str.strip
            ),
        ),
        body=st.binary(max_size=2048),
    )
    def test_random_requests_never_5xx_and_never_enqueue(
        self, ingest: Ingest, headers: dict[str, str], body: bytes
    ) -> None:
        """Arbitrary headers and bodies: never a 5xx, never a job without a valid signature."""
        response = post(ingest, headers, body)
        assert response.status_code < 500
        assert response.status_code in (403, 413)
        assert ingest.jobs() == []


class TestAnswers:
    """The webhook is a plain ASGI app ahead of the app's middleware: its answers are whole
    HTTP responses of their own."""

    def test_accepted_notification_is_204_without_body(self, ingest: Ingest) -> None:
        """A stored notification: 204, no body, no content type."""
        headers, body = online()
        response = post(ingest, headers, body)
        assert response.status_code == 204
        assert response.content == b""
        assert "content-type" not in response.headers

    def test_refusals_are_empty_with_content_length_zero(self, ingest: Ingest) -> None:
        """Bad signature 403, stale timestamp 403, invalid JSON 400, oversized body 413: each
        with `Content-Length: 0` and an empty body, and the connection stays usable."""
        headers, body = online()
        stale = signed(body, timestamp=now_timestamp(timedelta(minutes=-11)))
        forged = signed(body, secret="someone-elses-secret")
        big = b"{" + b" " * (1024 * 1024) + b"}"
        with httpx.Client(timeout=10) as client:
            for request_headers, request_body, status in (
                (forged, body, 403),
                (stale, body, 403),
                (signed(b"{not json"), b"{not json", 400),
                (signed(big), big, 413),
                (headers, body, 204),
            ):
                response = client.post(
                    ingest.webhook, headers=request_headers, content=request_body
                )
                assert response.status_code == status
                assert response.content == b""
                if status != 204:
                    assert response.headers["content-length"] == "0"
        assert len(ingest.jobs()) == 1

    def test_wrong_method_is_405_naming_post(self, ingest: Ingest) -> None:
        """GET, PUT, DELETE and PATCH: 405 with `Allow: POST`, as Starlette's router answers."""
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            response = httpx.request(method, ingest.webhook, timeout=5)
            assert response.status_code == 405
            assert response.headers["allow"] == "POST"
            assert response.text == "Method Not Allowed"

    def test_other_paths_still_go_through_the_router(self, ingest: Ingest) -> None:
        """Only the exact webhook path takes the short cut: a near miss is the router's 404."""
        headers, body = online()
        response = post_to(ingest, "/webhooks/twitch/extra", headers, body)
        assert response.status_code == 404
        assert ingest.jobs() == []


def post_to(ingest: Ingest, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{ingest.url}{path}", headers=headers, content=body, timeout=10)


class TestRevocation:
    def test_revocation_records_status_and_defers_the_job(self, ingest: Ingest) -> None:
        """A revocation is 2xx, its status is stored, and subscription_revoked is queued once."""
        with psycopg.connect(ingest.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO streamers (id, twitch_broadcaster_id, twitch_login)"
                " VALUES ('00000000-0000-0000-0000-000000000002', '55', 'x');"
                "INSERT INTO eventsub_subscriptions (streamer_id, subscription_id, status)"
                " VALUES ('00000000-0000-0000-0000-000000000002', 'sub-r', 'enabled')"
            )
        message = build_message(
            TriggerOptions(
                kind="revocation",
                secret=SECRET,
                subscription_id="sub-r",
                status="authorization_revoked",
            )
        )
        for _ in range(2):
            assert post(ingest, message.headers, message.body).status_code == 204
        with psycopg.connect(ingest.database_url) as conn:
            row = conn.execute(
                "SELECT status FROM eventsub_subscriptions WHERE subscription_id = 'sub-r'"
            ).fetchone()
        assert row == ("authorization_revoked",)
        jobs = ingest.jobs()
        assert [j["task_name"] for j in jobs] == ["subscription_revoked"]
        assert jobs[0]["args"]["subscription"]["status"] == "authorization_revoked"


class TestDatabaseDown:
    def test_unavailable_database_is_503_then_redelivery_makes_one_job(
        self, ingest: Ingest, pg_server_url: str
    ) -> None:
        """While the database refuses connections → 503 (never 2xx); Twitch's retry → one job."""
        dbname = psycopg.conninfo.conninfo_to_dict(ingest.database_url)["dbname"]
        headers, body = online(message_id="during-outage")
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )
            try:
                for _ in range(3):
                    assert post(ingest, headers, body).status_code == 503
                ready = httpx.get(f"{ingest.url}/readyz", timeout=10)
                assert ready.status_code == 503
            finally:
                admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        # Twitch keeps redelivering; once the pool has reconnected one of them is stored.
        assert wait_for(
            lambda: post(ingest, signed(body, message_id="during-outage"), body).status_code == 204,
            timeout=60,
            interval=0.5,
        )
        assert post(ingest, signed(body, message_id="during-outage"), body).status_code == 204
        assert len(ingest.jobs()) == 1
        assert httpx.get(f"{ingest.url}/readyz", timeout=10).status_code == 200

    def test_a_stalled_database_is_503_within_the_deadline(self, ingest: Ingest) -> None:
        """A store that waits (as behind a pooler with no server to give) fails after the
        enqueue deadline → 503, not a late 2xx; once the database answers, redelivery → 1 job."""
        headers, body = online(message_id="stalled")
        with psycopg.connect(ingest.database_url) as blocker:
            blocker.execute("LOCK TABLE eventsub_messages IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            answer = post(ingest, headers, body)
            waited = time.monotonic() - started
            blocker.rollback()
        assert answer.status_code == 503
        assert ENQUEUE_DEADLINE <= waited < ENQUEUE_DEADLINE + 1.5
        assert wait_for(
            lambda: post(ingest, signed(body, message_id="stalled"), body).status_code == 204,
            timeout=30,
            interval=0.2,
        )
        assert len(ingest.jobs()) == 1


class TestObservability:
    def test_metrics_count_outcomes(self, ingest: Ingest) -> None:
        """/metrics exposes webhooks_total by type and outcome, and the latency histogram."""
        headers, body = online()
        post(ingest, headers, body)
        post(ingest, headers, body)
        text = httpx.get(f"{ingest.url}/metrics", timeout=5).text
        assert 'webhooks_total{outcome="accepted",type="notification"} 1.0' in text
        assert 'webhooks_total{outcome="duplicate",type="notification"} 1.0' in text
        assert "webhook_latency_seconds_bucket" in text
        assert 'queue_depth{queue="events"} 1.0' in text

    def test_metrics_show_the_pool(self, ingest: Ingest) -> None:
        """/metrics exposes the ingest pool's statistics, labelled with its name."""
        text = httpx.get(f"{ingest.url}/metrics", timeout=5).text
        assert 'db_pool_max_size{pool="test-ingest"} 8.0' in text
        assert 'db_pool_requests_waiting{pool="test-ingest"} 0.0' in text
        assert 'db_slow_queries_total{pool="test-ingest"} 0.0' in text

    def test_metrics_show_discord_halts_and_invalid_requests(self, ingest: Ingest) -> None:
        """/metrics reads the limiter's shared state: halts in force by reason (a lapsed one is
        gone) and the invalid requests in the breaker's window, for the busiest token."""
        with psycopg.connect(ingest.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO discord_rl_halts (token_key, reason, halted_until) VALUES"
                " ('a', 'unauthorized', NULL),"
                " ('b', 'invalid_request_breaker', now() + interval '10 minutes'),"
                " ('c', 'cloudflare_ban', now() - interval '1 minute')"
            )
            conn.execute(
                "INSERT INTO discord_rl_invalid (token_key, minute, hits) VALUES"
                " ('a', date_trunc('minute', now()), 30),"
                " ('a', date_trunc('minute', now()) - interval '1 minute', 12),"
                " ('a', date_trunc('minute', now()) - interval '11 minutes', 500),"
                " ('b', date_trunc('minute', now()), 7)"
            )
        text = httpx.get(f"{ingest.url}/metrics", timeout=5).text
        assert 'discord_sending_halted{reason="unauthorized"} 1.0' in text
        assert 'discord_sending_halted{reason="invalid_request_breaker"} 1.0' in text
        assert 'reason="cloudflare_ban"' not in text
        assert "discord_invalid_requests 42.0" in text

    def test_one_log_record_per_request_without_secrets(self, ingest: Ingest) -> None:
        """Each request adds one record, with its id, type and outcome, to a `webhooks` event —
        never the signature, the secret or the body."""
        headers, body = online()
        with capture_logs() as logs:
            post(ingest, headers, body)
            # Written on the event loop's next turn after the answer went out.
            assert wait_for(lambda: any(e["event"] == "webhooks" for e in logs), timeout=5)
        records = [r for e in logs if e["event"] == "webhooks" for r in e["requests"]]
        assert len(records) == 1
        record = records[0]
        assert record["message_id"] == headers["Twitch-Eventsub-Message-Id"]
        assert (record["message_type"], record["outcome"], record["status"]) == (
            "notification",
            "accepted",
            204,
        )
        text = repr(logs)
        assert headers["Twitch-Eventsub-Message-Signature"] not in text
        assert SECRET not in text
        assert body.decode() not in text

    def test_requests_answered_together_share_one_event(self, ingest: Ingest) -> None:
        """Concurrent requests answered in one event-loop turn are written as one `webhooks`
        event holding a record each, and no request is left out."""
        messages = [online() for _ in range(20)]

        async def send_all() -> None:
            async with httpx.AsyncClient(timeout=10) as client:
                await asyncio.gather(
                    *(client.post(ingest.webhook, headers=h, content=b) for h, b in messages)
                )

        with capture_logs() as logs:
            asyncio.run(send_all())

            def logged() -> int:
                return sum(e["count"] for e in logs if e["event"] == "webhooks")

            assert wait_for(lambda: logged() == len(messages), timeout=5)
        events = [e for e in logs if e["event"] == "webhooks"]
        assert len(events) < len(messages)
        ids = {r["message_id"] for e in events for r in e["requests"]}
        assert ids == {h["Twitch-Eventsub-Message-Id"] for h, _ in messages}


class TestProbes:
    def test_healthz_and_readyz(self, ingest: Ingest) -> None:
        """Liveness answers without I/O; readiness answers 200 while the database does."""
        assert httpx.get(f"{ingest.url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{ingest.url}/readyz", timeout=5).status_code == 200
