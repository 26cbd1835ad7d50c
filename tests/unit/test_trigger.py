"""`streammaxing trigger`: twitch-cli-shaped EventSub messages, sent to a real local server."""

from __future__ import annotations

import argparse
import json
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from streammaxing.twitch.eventsub import (
    MESSAGE_ID,
    MESSAGE_TIMESTAMP,
    VerificationError,
    parse_timestamp,
    signature_for,
    verify_request,
)
from streammaxing.twitch.trigger import (
    TRIGGER_TYPES,
    DeliveryError,
    TriggerInputError,
    TriggerMessage,
    TriggerOptions,
    TriggerType,
    add_trigger_arguments,
    build_message,
    format_timestamp,
    run_trigger,
    send_message,
)
from tests.fakes.server import ServerThread, free_port

SECRET = "s3cret-for-trigger-tests"
TIMESTAMP = "2024-05-04T18:22:31.5Z"
FIXED = {
    "secret": SECRET,
    "broadcaster_id": "1337",
    "message_id": "7b9b6f1e-3c6a-4d5e-9f4b-2a1c8e0d5f61",
    "timestamp": TIMESTAMP,
    "subscription_id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
    "stream_id": "9001",
    "challenge": "11535768-497e-14ec-8197-ba2cb5341a01",
}
SUBSCRIPTION = (
    '"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"{type}",'
    '"version":"{version}","condition":{{"broadcaster_user_id":"1337"}},'
    '"transport":{{"method":"webhook","callback":"null"}},'
    '"created_at":"2024-05-04T18:22:31.5Z","cost":0'
)
BROADCASTER = (
    '"broadcaster_user_id":"1337","broadcaster_user_login":"testBroadcaster",'
    '"broadcaster_user_name":"testBroadcaster"'
)


def fixed(kind: TriggerType, **overrides: Any) -> TriggerMessage:
    """A message with every random or time-dependent field pinned."""
    return build_message(TriggerOptions(kind=kind, **(FIXED | overrides)))


def subscription(type_: str, version: str = "1") -> str:
    return "{" + SUBSCRIPTION.format(type=type_, version=version) + "}"


def received_headers(message: TriggerMessage) -> httpx.Headers:
    """The message's headers as a receiver sees them: case-insensitive."""
    return httpx.Headers(message.headers)


def verify(message: TriggerMessage) -> None:
    verify_request(
        received_headers(message),
        message.body,
        [SECRET.encode()],
        now=parse_timestamp(message.headers[MESSAGE_TIMESTAMP]),
    )


class TestBuildMessage:
    def test_stream_online_matches_twitch_cli(self) -> None:
        """stream.online v1: compact JSON, callback "null", cost 0, id, type live, started_at."""
        message = fixed("stream.online")
        assert message.body.decode() == (
            '{"subscription":'
            + subscription("stream.online")
            + ',"event":{"id":"9001",'
            + BROADCASTER
            + ',"type":"live","started_at":"2024-05-04T18:22:31.5Z"}}'
        )
        assert message.challenge is None

    def test_stream_online_headers(self) -> None:
        """The headers twitch-cli sends with a secret, signed over the exact body bytes."""
        message = fixed("stream.online")
        signature = signature_for(SECRET.encode(), FIXED["message_id"], TIMESTAMP, message.body)
        assert message.headers == {
            "Content-Type": "application/json",
            "Twitch-Eventsub-Message-Retry": "0",
            "Twitch-Eventsub-Message-Id": FIXED["message_id"],
            "Twitch-Eventsub-Subscription-Type": "stream.online",
            "Twitch-Eventsub-Subscription-Version": "1",
            "Twitch-Eventsub-Message-Type": "notification",
            "Twitch-Eventsub-Message-Timestamp": TIMESTAMP,
            "Twitch-Eventsub-Message-Signature": signature,
        }

    def test_stream_offline_has_no_stream_id(self) -> None:
        """stream.offline's event is the three broadcaster fields only."""
        message = fixed("stream.offline")
        assert message.body.decode() == (
            '{"subscription":' + subscription("stream.offline") + ',"event":{' + BROADCASTER + "}}"
        )
        assert message.headers["Twitch-Eventsub-Subscription-Type"] == "stream.offline"

    def test_channel_update_is_version_2(self) -> None:
        """channel.update v2: title, language, category and content labels, version 2 everywhere."""
        message = fixed("channel.update", title="Speedrun", category_id="1", category_name="Chess")
        assert message.body.decode() == (
            '{"subscription":'
            + subscription("channel.update", "2")
            + ',"event":{'
            + BROADCASTER
            + ',"title":"Speedrun","language":"en","category_id":"1",'
            '"category_name":"Chess","content_classification_labels":["MatureGame","ViolentGraphic"]}}'
        )
        assert message.headers["Twitch-Eventsub-Subscription-Version"] == "2"

    def test_channel_update_defaults(self) -> None:
        """Without title and category, twitch-cli's defaults are used."""
        event = json.loads(fixed("channel.update").body)["event"]
        assert event["title"] == "Example title from the CLI!"
        assert (event["category_id"], event["category_name"]) == ("509658", "Just Chatting")

    def test_verification_carries_the_challenge(self) -> None:
        """A challenge: pending status, callback = the target, no event, verification type."""
        message = fixed(
            "verification", subscription_type="channel.update", callback="https://x.test/hook"
        )
        body = json.loads(message.body)
        assert message.challenge == FIXED["challenge"]
        assert body["challenge"] == FIXED["challenge"]
        assert body["subscription"]["status"] == "webhook_callback_verification_pending"
        assert body["subscription"]["type"] == "channel.update"
        assert body["subscription"]["version"] == "2"
        assert body["subscription"]["transport"] == {
            "method": "webhook",
            "callback": "https://x.test/hook",
        }
        assert "event" not in body
        assert message.headers["Twitch-Eventsub-Message-Type"] == "webhook_callback_verification"
        assert message.headers["Twitch-Eventsub-Subscription-Type"] == "channel.update"
        assert message.headers["Twitch-Eventsub-Subscription-Version"] == "2"

    def test_verification_challenge_defaults_to_a_fresh_uuid(self) -> None:
        """Each challenge is new unless one is given."""
        first = build_message(TriggerOptions(kind="verification", secret=SECRET))
        second = build_message(TriggerOptions(kind="verification", secret=SECRET))
        assert first.challenge is not None
        assert second.challenge not in (None, first.challenge)

    def test_revocation_has_no_event(self) -> None:
        """A revocation: subscription only, with its status, keys sorted as twitch-cli's Go map."""
        message = fixed("revocation", subscription_type="stream.offline")
        assert message.body.decode() == (
            '{"subscription":{"condition":{"broadcaster_user_id":"1337"},"cost":0,'
            '"created_at":"2024-05-04T18:22:31.5Z","id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4",'
            '"status":"authorization_revoked","transport":{"callback":"null","method":"webhook"},'
            '"type":"stream.offline","version":"1"}}'
        )
        assert message.headers["Twitch-Eventsub-Message-Type"] == "revocation"
        assert message.headers["Twitch-Eventsub-Subscription-Type"] == "stream.offline"

    def test_revocation_status_is_configurable(self) -> None:
        """Any status other than enabled can be revoked with."""
        message = fixed("revocation", status="user_removed")
        assert json.loads(message.body)["subscription"]["status"] == "user_removed"

    @pytest.mark.parametrize("kind", TRIGGER_TYPES)
    def test_signature_verifies(self, kind: TriggerType) -> None:
        """Every type's signature verifies with the ingest's own verification."""
        verify(fixed(kind))
        verify(build_message(TriggerOptions(kind=kind, secret=SECRET)))

    @pytest.mark.parametrize("timestamp", ["2024-05-04T18:22:31.500Z", "2024-05-04T20:22:31+02:00"])
    def test_signature_uses_the_timestamp_verbatim(self, timestamp: str) -> None:
        """Unlike twitch-cli, a custom timestamp is signed exactly as sent in the header."""
        message = fixed("stream.online", timestamp=timestamp)
        assert message.headers[MESSAGE_TIMESTAMP] == timestamp
        verify(message)

    @pytest.mark.parametrize("kind", TRIGGER_TYPES)
    def test_body_is_compact_json(self, kind: TriggerType) -> None:
        """No whitespace between tokens, like Go's encoding/json."""
        body = fixed(kind).body
        assert (
            body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
        )

    def test_strings_are_escaped_like_go(self) -> None:
        """<, > and & are \\u-escaped as Go does; non-ASCII stays UTF-8; the JSON round-trips."""
        message = fixed("channel.update", title="Q&A <live> — ünïcode")
        assert b'"title":"Q\\u0026A \\u003clive\\u003e \xe2\x80\x94 \xc3\xbcn\xc3\xafcode"' in (
            message.body
        )
        assert json.loads(message.body)["event"]["title"] == "Q&A <live> — ünïcode"

    def test_defaults_are_fresh_and_twitch_cli_shaped(self) -> None:
        """Unset ids are random (UUIDs, digit strings), login and name default to testBroadcaster,
        and the timestamp is now in RFC3339Nano with Z."""
        before = datetime.now(UTC)
        first = build_message(TriggerOptions(kind="stream.online", secret=SECRET))
        second = build_message(TriggerOptions(kind="stream.online", secret=SECRET))
        one, two = json.loads(first.body), json.loads(second.body)
        assert first.message_id != second.message_id
        assert one["subscription"]["id"] != two["subscription"]["id"]
        assert one["event"]["id"].isdigit()
        assert one["event"]["broadcaster_user_id"].isdigit()
        assert (
            one["event"]["broadcaster_user_id"]
            == one["subscription"]["condition"]["broadcaster_user_id"]
        )
        assert one["event"]["broadcaster_user_login"] == "testBroadcaster"
        assert one["event"]["broadcaster_user_name"] == "testBroadcaster"
        timestamp = first.headers[MESSAGE_TIMESTAMP]
        assert timestamp.endswith("Z")
        assert one["subscription"]["created_at"] == one["event"]["started_at"] == timestamp
        assert before - timedelta(seconds=1) <= parse_timestamp(timestamp) <= datetime.now(UTC)

    def test_broadcaster_fields(self) -> None:
        """Broadcaster id, login and display name are settable; the name defaults to the login."""
        event = json.loads(fixed("stream.offline", broadcaster_login="cool_user").body)["event"]
        assert event["broadcaster_user_name"] == "cool_user"
        event = json.loads(
            fixed(
                "stream.offline", broadcaster_login="cool_user", broadcaster_name="Cool_User"
            ).body
        )["event"]
        assert (event["broadcaster_user_login"], event["broadcaster_user_name"]) == (
            "cool_user",
            "Cool_User",
        )

    def test_same_message_id_resends_the_same_message(self) -> None:
        """Reusing the message id (a redelivery) keeps the Message-Id header."""
        assert fixed("stream.online").message_id == FIXED["message_id"]
        assert fixed("stream.online").headers[MESSAGE_ID] == FIXED["message_id"]


class TestTriggerOptionsValidation:
    @pytest.mark.parametrize("secret", ["short", "x" * 101, "ünïcode-secret", ""])
    def test_secret_must_be_10_to_100_ascii(self, secret: str) -> None:
        """Twitch's rule for secrets; the error never repeats the secret."""
        with pytest.raises(TriggerInputError) as caught:
            TriggerOptions(kind="stream.online", secret=secret)
        assert str(caught.value) == "the secret must be 10 to 100 ASCII characters"

    def test_secret_is_not_in_the_repr(self) -> None:
        """Options can be logged without leaking the secret."""
        assert SECRET not in repr(TriggerOptions(kind="stream.online", secret=SECRET))

    @pytest.mark.parametrize("timestamp", ["now", "2024-05-04 18:22:31Z", "2024-05-04T18:22:31"])
    def test_timestamp_must_be_rfc3339(self, timestamp: str) -> None:
        """A custom timestamp is validated like the ingest parses it."""
        with pytest.raises(TriggerInputError, match="RFC 3339"):
            TriggerOptions(kind="stream.online", secret=SECRET, timestamp=timestamp)

    @pytest.mark.parametrize("message_id", ["", "two\nlines", "ünïcode"])
    def test_message_id_must_be_a_valid_header(self, message_id: str) -> None:
        """The message id goes in a header: printable ASCII, non-empty."""
        with pytest.raises(TriggerInputError, match="message id"):
            TriggerOptions(kind="stream.online", secret=SECRET, message_id=message_id)

    def test_status_only_for_revocation(self) -> None:
        """A status on a notification is a mistake (twitch-cli would silently revoke)."""
        with pytest.raises(TriggerInputError, match="revocation"):
            TriggerOptions(kind="stream.online", secret=SECRET, status="authorization_revoked")

    @pytest.mark.parametrize("status", ["enabled", "Enabled", ""])
    def test_revocation_status_cannot_be_enabled(self, status: str) -> None:
        """An enabled subscription is not revoked."""
        with pytest.raises(TriggerInputError, match="other than 'enabled'"):
            TriggerOptions(kind="revocation", secret=SECRET, status=status)

    def test_unknown_types_are_rejected(self) -> None:
        """Only the five supported types and three subscription types are accepted."""
        with pytest.raises(TriggerInputError, match="unknown type"):
            TriggerOptions(kind="channel.follow", secret=SECRET)  # type: ignore[arg-type]
        with pytest.raises(TriggerInputError, match="unknown subscription type"):
            TriggerOptions(
                kind="revocation",
                secret=SECRET,
                subscription_type="channel.follow",  # type: ignore[arg-type]
            )

    def test_empty_ids_are_rejected(self) -> None:
        """An empty id is never what the user meant."""
        with pytest.raises(TriggerInputError, match="broadcaster id"):
            TriggerOptions(kind="stream.online", secret=SECRET, broadcaster_id="")


class TestFormatTimestamp:
    @pytest.mark.parametrize(
        ("epoch_ns", "expected"),
        [
            (1_714_846_951_000_000_000, "2024-05-04T18:22:31Z"),
            (1_714_846_951_500_000_000, "2024-05-04T18:22:31.5Z"),
            (1_714_846_951_123_456_789, "2024-05-04T18:22:31.123456789Z"),
            (1_714_846_951_000_000_010, "2024-05-04T18:22:31.00000001Z"),
        ],
    )
    def test_formats_like_go_rfc3339nano(self, epoch_ns: int, expected: str) -> None:
        """Nanoseconds with trailing zeros dropped, no fraction on whole seconds, Z suffix."""
        assert format_timestamp(epoch_ns) == expected
        assert parse_timestamp(expected).timestamp() == pytest.approx(epoch_ns / 1e9, abs=1e-6)


# --- a real webhook receiver on 127.0.0.1 -------------------------------------------------


async def webhook(request: Request) -> Response:
    """Verify like the ingest, then answer as Twitch expects."""
    body = await request.body()
    try:
        verified = verify_request(request.headers, body, [SECRET.encode()], now=datetime.now(UTC))
    except VerificationError as exc:
        return PlainTextResponse(exc.reason, status_code=403)
    request.app.state.received.append((dict(request.headers), body))
    if verified.message_type == "webhook_callback_verification":
        return PlainTextResponse(json.loads(body)["challenge"])
    return Response(status_code=204)


async def challenge_echo(request: Request) -> Response:
    """Echo the challenge in various right and wrong ways, chosen by the path."""
    challenge = json.loads(await request.body())["challenge"]
    match request.path_params["how"]:
        case "bare-text-plain":
            return Response(challenge, headers={"Content-Type": "text/plain"})
        case "wrong-body":
            return PlainTextResponse("not-the-challenge")
        case "trailing-newline":
            return PlainTextResponse(challenge + "\n")
        case "no-content-type":
            return Response(challenge.encode())
        case "json":
            return JSONResponse(challenge)
        case _:
            return PlainTextResponse(challenge, status_code=500)


async def reject(request: Request) -> Response:
    return PlainTextResponse("signature rejected\nsecond line", status_code=403)


async def redirect(request: Request) -> Response:
    return RedirectResponse("/webhook", status_code=307)


def receiver_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/echo/{how}", challenge_echo, methods=["POST"]),
            Route("/reject", reject, methods=["POST"]),
            Route("/redirect", redirect, methods=["POST"]),
        ]
    )
    app.state.received = []
    return app


@dataclass(frozen=True)
class Receiver:
    """The running receiver: its base URL and the requests it accepted (headers, body)."""

    url: str
    accepted: list[tuple[dict[str, str], bytes]]

    def body_of(self, message_id: str) -> Any:
        """The parsed body of the accepted request with this message id."""
        return json.loads(
            next(b for h, b in self.accepted if h["twitch-eventsub-message-id"] == message_id)
        )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    app = receiver_app()
    with ServerThread(app) as server:
        yield Receiver(url=server.url, accepted=app.state.received)


class TestSendMessage:
    async def test_notification_is_delivered_verbatim(self, receiver: Receiver) -> None:
        """The receiver gets exactly the built headers and body, and verifies them."""
        message = build_message(TriggerOptions(kind="stream.online", secret=SECRET))
        result = await send_message(message, f"{receiver.url}/webhook")
        assert (result.status_code, result.ok, result.challenge_ok) == (204, True, None)
        assert result.reason == "accepted"
        assert result.elapsed > 0
        headers, body = next(
            (h, b)
            for h, b in receiver.accepted
            if h["twitch-eventsub-message-id"] == message.message_id
        )
        assert body == message.body
        for name, value in message.headers.items():
            assert headers[name.lower()] == value

    async def test_correct_challenge_echo(self, receiver: Receiver) -> None:
        """200, text/plain (with a charset) and the challenge as the body: a pass."""
        message = build_message(TriggerOptions(kind="verification", secret=SECRET))
        result = await send_message(message, f"{receiver.url}/webhook")
        assert result.challenge_ok is True
        assert result.ok
        assert result.content_type == "text/plain; charset=utf-8"
        assert result.body == message.challenge
        assert result.reason == "challenge echoed correctly"

    async def test_bare_text_plain_passes(self, receiver: Receiver) -> None:
        """text/plain without a charset is fine too."""
        message = build_message(TriggerOptions(kind="verification", secret=SECRET))
        result = await send_message(message, f"{receiver.url}/echo/bare-text-plain")
        assert result.challenge_ok is True

    @pytest.mark.parametrize(
        ("how", "complaint"),
        [
            ("wrong-body", "is not the challenge"),
            ("trailing-newline", "is not the challenge"),
            ("no-content-type", "no Content-Type"),
            ("json", "is not text/plain"),
            ("server-error", "status 500 is not 2xx"),
        ],
    )
    async def test_incorrect_challenge_echo_fails(
        self, receiver: Receiver, how: str, complaint: str
    ) -> None:
        """Wrong body, missing or wrong Content-Type, or a non-2xx status all fail the check."""
        message = build_message(TriggerOptions(kind="verification", secret=SECRET))
        result = await send_message(message, f"{receiver.url}/echo/{how}")
        assert result.challenge_ok is False
        assert not result.ok
        assert complaint in result.reason

    async def test_rejection_is_reported(self, receiver: Receiver) -> None:
        """A non-2xx answer to a notification is a failed delivery with the server's body."""
        message = build_message(TriggerOptions(kind="stream.offline", secret=SECRET))
        result = await send_message(message, f"{receiver.url}/reject")
        assert (result.status_code, result.ok, result.reason) == (403, False, "rejected")
        assert result.body.startswith("signature rejected")

    async def test_wrong_secret_is_rejected_by_the_receiver(self, receiver: Receiver) -> None:
        """The receiver really checks: another secret gets a 403."""
        message = build_message(TriggerOptions(kind="stream.online", secret="another-secret-1"))
        result = await send_message(message, f"{receiver.url}/webhook")
        assert (result.status_code, result.body) == (403, "bad_signature")

    async def test_redirects_are_not_followed(self, receiver: Receiver) -> None:
        """Like Twitch, a redirect is an answer, not a hop."""
        message = build_message(TriggerOptions(kind="stream.online", secret=SECRET))
        result = await send_message(message, f"{receiver.url}/redirect")
        assert (result.status_code, result.ok) == (307, False)

    async def test_injected_client_is_used(self, receiver: Receiver) -> None:
        """A caller's client (and its base URL) can be passed in."""
        message = build_message(TriggerOptions(kind="stream.online", secret=SECRET))
        async with httpx.AsyncClient(base_url=receiver.url) as client:
            result = await send_message(message, "/webhook", client=client)
        assert result.status_code == 204

    async def test_unreachable_url_is_a_delivery_error(self) -> None:
        """No server listening: DeliveryError keeping the httpx error as its cause."""
        message = build_message(TriggerOptions(kind="stream.online", secret=SECRET))
        with pytest.raises(DeliveryError) as caught:
            await send_message(message, f"http://127.0.0.1:{free_port()}/webhook", timeout=5)
        assert isinstance(caught.value.__cause__, httpx.ConnectError)


def parse(command_line: str) -> argparse.Namespace:
    """Parse `streammaxing trigger`'s arguments, written as on a shell command line."""
    parser = argparse.ArgumentParser(prog="streammaxing trigger")
    add_trigger_arguments(parser)
    return parser.parse_args(shlex.split(command_line))


class TestRunTrigger:
    async def test_success_exits_0_with_one_line(
        self, receiver: Receiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A delivered notification prints one line with the status and exits 0."""
        args = parse(
            f"stream.online --url {receiver.url}/webhook --secret {SECRET}"
            " --broadcaster-id 1337 --message-id cli-message-1"
        )
        assert await run_trigger(args) == 0
        out, err = capsys.readouterr()
        assert out.count("\n") == 1
        assert out.startswith("ok: stream.online (message id cli-message-1)")
        assert "204" in out
        assert SECRET not in out + err

    async def test_every_type_is_accepted_by_a_verifying_receiver(
        self, receiver: Receiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """All five types reach a receiver that verifies like the ingest."""
        for kind in TRIGGER_TYPES:
            args = parse(f"{kind} --url {receiver.url}/webhook --secret {SECRET}")
            assert await run_trigger(args) == 0, capsys.readouterr().out

    async def test_options_reach_the_body(self, receiver: Receiver) -> None:
        """Flags end up in the payload: ids, login, title, category, subscription, status."""
        url = f"{receiver.url}/webhook"
        args = parse(
            f"channel.update --url {url} --secret {SECRET} --broadcaster-id 42"
            " --broadcaster-login cool_user --broadcaster-name Cool_User --title 'New title'"
            " --category-id 33214 --category-name Fortnite --subscription-id sub-cli-1"
            f" --message-id cli-update-1 --timestamp {format_timestamp(time.time_ns())}"
        )
        assert await run_trigger(args) == 0
        body = receiver.body_of("cli-update-1")
        assert body["subscription"]["id"] == "sub-cli-1"
        assert body["event"] == {
            "broadcaster_user_id": "42",
            "broadcaster_user_login": "cool_user",
            "broadcaster_user_name": "Cool_User",
            "title": "New title",
            "language": "en",
            "category_id": "33214",
            "category_name": "Fortnite",
            "content_classification_labels": ["MatureGame", "ViolentGraphic"],
        }

    async def test_verification_reports_the_echo(
        self, receiver: Receiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A verification says whether the challenge was echoed; a wrong echo exits 1."""
        args = parse(f"verification --url {receiver.url}/webhook --secret {SECRET}")
        assert await run_trigger(args) == 0
        assert "challenge echoed correctly" in capsys.readouterr().out
        args = parse(f"verification --url {receiver.url}/echo/wrong-body --secret {SECRET}")
        assert await run_trigger(args) == 1
        assert "is not the challenge" in capsys.readouterr().out

    async def test_verification_callback_is_the_url(self, receiver: Receiver) -> None:
        """Like twitch-cli verify-subscription, the challenge's callback is the target URL."""
        url = f"{receiver.url}/webhook"
        args = parse(f"verification --url {url} --secret {SECRET} --message-id cli-v-1")
        assert await run_trigger(args) == 0
        body = receiver.body_of("cli-v-1")
        assert body["subscription"]["transport"]["callback"] == url

    async def test_rejection_exits_1_with_the_server_answer(
        self, receiver: Receiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A non-2xx answer exits 1 and shows the (single-line) body."""
        args = parse(f"revocation --url {receiver.url}/reject --secret {SECRET}")
        assert await run_trigger(args) == 1
        out = capsys.readouterr().out
        assert out.count("\n") == 1
        assert out.startswith("failed: revocation")
        assert "403" in out
        assert "signature rejected" in out

    async def test_unreachable_exits_1(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Nothing listening: exit 1 with the connection error."""
        url = f"http://127.0.0.1:{free_port()}/webhook"
        assert await run_trigger(parse(f"stream.online --url {url!r} --secret {SECRET}")) == 1
        assert "ConnectError" in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("options", "complaint"),
        [
            ("--secret short", "10 to 100 ASCII"),
            (f"--secret {SECRET} --timestamp yesterday", "RFC 3339"),
            (f"--secret {SECRET} --status user_removed", "revocation type only"),
        ],
    )
    async def test_bad_input_exits_2(
        self,
        receiver: Receiver,
        capsys: pytest.CaptureFixture[str],
        options: str,
        complaint: str,
    ) -> None:
        """Invalid options exit 2 with a clear message on stderr and send nothing."""
        before = len(receiver.accepted)
        args = parse(f"stream.online --url {receiver.url}/webhook {options}")
        assert await run_trigger(args) == 2
        out, err = capsys.readouterr()
        assert complaint in err
        assert out == ""
        assert len(receiver.accepted) == before

    @pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1:8080/webhooks", "http://"])
    async def test_bad_url_exits_2(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        """Only http(s) URLs with a host are accepted."""
        assert await run_trigger(parse(f"stream.online --url {url!r} --secret {SECRET}")) == 2
        assert "http(s) URL" in capsys.readouterr().err

    async def test_secret_from_environment(
        self,
        receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Without --secret, the first of TWITCH_EVENTSUB_SECRET's comma-separated secrets signs."""
        monkeypatch.setenv("TWITCH_EVENTSUB_SECRET", f"{SECRET},an-older-secret-1")
        assert await run_trigger(parse(f"stream.online --url {receiver.url}/webhook")) == 0
        monkeypatch.delenv("TWITCH_EVENTSUB_SECRET")
        assert await run_trigger(parse(f"stream.online --url {receiver.url}/webhook")) == 2
        out, err = capsys.readouterr()
        assert "TWITCH_EVENTSUB_SECRET" in err
        assert SECRET not in out + err

    def test_parser_rejects_unknown_types(self, capsys: pytest.CaptureFixture[str]) -> None:
        """argparse itself refuses a TYPE outside the five (exit status 2)."""
        with pytest.raises(SystemExit) as caught:
            parse(f"channel.follow --url http://127.0.0.1/ --secret {SECRET}")
        assert caught.value.code == 2
        capsys.readouterr()
