"""EventSub request verification: signatures, required headers, timestamps, rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from streammaxing.twitch.eventsub import (
    MESSAGE_ID,
    MESSAGE_RETRY,
    MESSAGE_SIGNATURE,
    MESSAGE_TIMESTAMP,
    MESSAGE_TYPE,
    SUBSCRIPTION_TYPE,
    SUBSCRIPTION_VERSION,
    VerificationError,
    VerifiedHeaders,
    parse_timestamp,
    signature_for,
    verify_request,
)

# The published vectors (shared/reference/twitch.md §1.3): secret, message id, timestamp, body,
# signature.
CLI_FOLLOW = (
    b"secretabcd",
    "ae2ff348-e102-16be-a3eb-6830c1bf38d2",
    "2021-02-19T23:47:00.8091512Z",
    b'{"subscription":{"id":"ae2ff348-e102-16be-a3eb-6830c1bf38d2","status":"enabled",'
    b'"type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"44429626"},'
    b'"transport":{"method":"webhook","callback":"null"},'
    b'"created_at":"2021-02-19T23:47:00.7621315Z"},"event":{"user_id":"28408015",'
    b'"user_login":"testFromUser","user_name":"testFromUser","broadcaster_user_id":"44429626",'
    b'"broadcaster_user_login":"44429626","broadcaster_user_name":"testBroadcaster"}}',
    "sha256=d10f5bd9474b7ac7bd7105eb79c2d52768b4d0cd2a135982c3bf5a1d59a78823",
)
TWITCH_CHALLENGE = (
    b"HELLOabc2321",
    "8d8fa82b-9792-79da-4e11-a6fa58a7a582",
    "2022-02-06T04:03:24.2726598Z",
    b'{"challenge":"11535768-497e-14ec-8197-ba2cb5341a01","subscription":'
    b'{"id":"8d8fa82b-9792-79da-4e11-a6fa58a7a582",'
    b'"status":"webhook_callback_verification_pending","type":"channel.subscribe",'
    b'"version":"1","condition":{"broadcaster_user_id":"88525095"},'
    b'"transport":{"method":"webhook","callback":"http://localhost:80/twitch/eventsub"},'
    b'"created_at":"2022-02-06T04:03:24.2706497Z","cost":0}}',
    "sha256=091f6a5c74fba820f2d50e9d0c5e7650556ee009375af2cc662e610e670bc412",
)
STREAM_ONLINE_BODY = (
    b'{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled",'
    b'"type":"stream.online","version":"1","condition":{"broadcaster_user_id":"1337"},'
    b'"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},'
    b'"created_at":"2019-11-16T10:11:12.634234626Z","cost":0},"event":{"id":"9001",'
    b'"broadcaster_user_id":"1337","broadcaster_user_login":"cool_user",'
    b'"broadcaster_user_name":"Cool_User","type":"live","started_at":"2024-05-04T18:22:29Z"}}'
)
STREAM_ONLINE = (
    b"test-secret-0123456789",
    "7b9b6f1e-3c6a-4d5e-9f4b-2a1c8e0d5f61",
    "2024-05-04T18:22:31.123456789Z",
    STREAM_ONLINE_BODY,
    "sha256=767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c287",
)
TAMPERED = (
    *STREAM_ONLINE[:3],
    STREAM_ONLINE_BODY.replace(b'"9001"', b'"9002"'),
    "sha256=32ed0968946fe82d5b9d01c578d33bf738015e4ca1ac576c774da1d9b6484a88",
)
VECTORS = pytest.mark.parametrize(
    ("secret", "message_id", "timestamp", "body", "signature"),
    [CLI_FOLLOW, TWITCH_CHALLENGE, STREAM_ONLINE],
    ids=["twitch-cli-follow", "twitch-challenge", "stream-online"],
)

REQUIRED_HEADERS = [MESSAGE_ID, MESSAGE_TIMESTAMP, MESSAGE_SIGNATURE, MESSAGE_TYPE]
SECRET = STREAM_ONLINE[0]
SENT_AT = datetime(2024, 5, 4, 18, 22, 31, 123456, tzinfo=UTC)


def headers_for(
    secret: bytes = SECRET,
    message_id: str = STREAM_ONLINE[1],
    timestamp: str = STREAM_ONLINE[2],
    body: bytes = STREAM_ONLINE_BODY,
    message_type: str = "notification",
) -> dict[str, str]:
    """Lowercase headers of a correctly signed request, as a plain dict."""
    return {
        MESSAGE_ID.lower(): message_id,
        MESSAGE_TIMESTAMP.lower(): timestamp,
        MESSAGE_SIGNATURE.lower(): signature_for(secret, message_id, timestamp, body),
        MESSAGE_TYPE.lower(): message_type,
        MESSAGE_RETRY.lower(): "0",
        SUBSCRIPTION_TYPE.lower(): "stream.online",
        SUBSCRIPTION_VERSION.lower(): "1",
    }


def reason_of(
    headers: dict[str, str] | Headers,
    body: bytes = STREAM_ONLINE_BODY,
    secrets: tuple[bytes, ...] = (SECRET,),
    now: datetime = SENT_AT,
) -> str:
    """The reason code `verify_request` rejects with (fails the test if it accepts)."""
    with pytest.raises(VerificationError) as caught:
        verify_request(headers, body, secrets, now=now)
    return caught.value.reason


class TestSignatureFor:
    @VECTORS
    def test_reproduces_published_vectors(
        self, secret: bytes, message_id: str, timestamp: str, body: bytes, signature: str
    ) -> None:
        """The signature is sha256= + lowercase hex HMAC over id + timestamp + raw body."""
        assert signature_for(secret, message_id, timestamp, body) == signature

    def test_tampered_body_changes_the_signature(self) -> None:
        """One changed byte in the body gives the published tampered signature."""
        secret, message_id, timestamp, body, signature = TAMPERED
        assert signature_for(secret, message_id, timestamp, body) == signature
        assert signature != STREAM_ONLINE[4]


class TestVerifyRequest:
    @VECTORS
    def test_accepts_published_vectors(
        self, secret: bytes, message_id: str, timestamp: str, body: bytes, signature: str
    ) -> None:
        """A request carrying a published vector's headers verifies against its secret."""
        headers = {
            MESSAGE_ID.lower(): message_id,
            MESSAGE_TIMESTAMP.lower(): timestamp,
            MESSAGE_SIGNATURE.lower(): signature,
            MESSAGE_TYPE.lower(): "notification",
        }
        now = parse_timestamp(timestamp) + timedelta(seconds=1)
        verified = verify_request(headers, body, [secret], now=now)
        assert verified.message_id == message_id

    def test_rejects_the_tampered_vector(self) -> None:
        """The original signature does not verify a body with one changed byte."""
        headers = headers_for()
        assert reason_of(headers, body=TAMPERED[3]) == "bad_signature"

    def test_returns_the_verified_headers(self) -> None:
        """All header fields are returned, the timestamp parsed to aware UTC."""
        verified = verify_request(headers_for(), STREAM_ONLINE_BODY, [SECRET], now=SENT_AT)
        assert verified == VerifiedHeaders(
            message_id=STREAM_ONLINE[1],
            message_type="notification",
            timestamp=SENT_AT,
            subscription_type="stream.online",
            subscription_version="1",
            retry=0,
        )

    def test_optional_headers_may_be_absent(self) -> None:
        """Subscription type, version and retry are informational: absent means None."""
        headers = headers_for()
        for name in (SUBSCRIPTION_TYPE, SUBSCRIPTION_VERSION, MESSAGE_RETRY):
            del headers[name.lower()]
        verified = verify_request(headers, STREAM_ONLINE_BODY, [SECRET], now=SENT_AT)
        assert (verified.subscription_type, verified.subscription_version) == (None, None)
        assert verified.retry is None

    @pytest.mark.parametrize("retry", ["x", "-1", "1.5", "", "٣", "1" * 50])
    def test_unparseable_retry_is_none_not_an_error(self, retry: str) -> None:
        """The retry counter is informational; junk in it never rejects a message."""
        headers = headers_for() | {MESSAGE_RETRY.lower(): retry}
        assert verify_request(headers, STREAM_ONLINE_BODY, [SECRET], now=SENT_AT).retry is None

    def test_unknown_message_type_verifies(self) -> None:
        """Twitch adds message types; a signed one verifies and the caller decides (2xx, ignore)."""
        headers = headers_for(message_type="something_new")
        verified = verify_request(headers, STREAM_ONLINE_BODY, [SECRET], now=SENT_AT)
        assert verified.message_type == "something_new"

    @pytest.mark.parametrize("name", REQUIRED_HEADERS)
    def test_missing_required_header(self, name: str) -> None:
        """Each of id, timestamp, signature and message type is required."""
        headers = headers_for()
        del headers[name.lower()]
        assert reason_of(headers) == "missing_header"

    @pytest.mark.parametrize("name", REQUIRED_HEADERS)
    def test_empty_required_header(self, name: str) -> None:
        """An empty required header counts as missing."""
        assert reason_of(headers_for() | {name.lower(): ""}) == "missing_header"

    @pytest.mark.parametrize(
        "signature",
        [
            "767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c287",
            "SHA256=767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c287",
            "sha1=767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c287",
            " sha256=767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c287",
        ],
    )
    def test_signature_needs_the_sha256_prefix(self, signature: str) -> None:
        """The `sha256=` prefix is checked, not sliced off blindly."""
        headers = headers_for() | {MESSAGE_SIGNATURE.lower(): signature}
        assert reason_of(headers) == "malformed_signature"

    @pytest.mark.parametrize(
        "signature",
        [
            "sha256=",
            "sha256=767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c28",
            "sha256=767D65E975B5A4106D251DC8EBFEE2AF4A88E4393DA9CC729CD41E7EE564C287",
            "sha256=767d65e975b5a4106d251dc8ebfee2af4a88e4393da9cc729cd41e7ee564c287 ",
            "sha256=not-hex",
        ],
    )
    def test_wrong_digest_is_a_bad_signature(self, signature: str) -> None:
        """Anything but the exact lowercase hex digest is rejected."""
        headers = headers_for() | {MESSAGE_SIGNATURE.lower(): signature}
        assert reason_of(headers) == "bad_signature"

    def test_wrong_secret_is_a_bad_signature(self) -> None:
        """A request signed with another secret does not verify."""
        assert reason_of(headers_for(secret=b"some-other-secret")) == "bad_signature"

    def test_signature_covers_the_message_id(self) -> None:
        """Swapping the message id (to dodge deduplication) breaks the signature."""
        headers = headers_for() | {MESSAGE_ID.lower(): "another-id"}
        assert reason_of(headers) == "bad_signature"

    def test_signature_covers_the_timestamp_verbatim(self) -> None:
        """An equivalent but differently written timestamp breaks the signature."""
        headers = headers_for() | {MESSAGE_TIMESTAMP.lower(): "2024-05-04T18:22:31.1234567890Z"}
        assert reason_of(headers) == "bad_signature"
        headers = headers_for() | {MESSAGE_TIMESTAMP.lower(): "2024-05-04T18:22:31.123456789+00:00"}
        assert reason_of(headers) == "bad_signature"

    def test_plain_lowercase_dict(self) -> None:
        """A plain dict with lowercase keys works (e.g. an ASGI scope turned into a dict)."""
        verified = verify_request(headers_for(), STREAM_ONLINE_BODY, [SECRET], now=SENT_AT)
        assert verified.message_id == STREAM_ONLINE[1]

    def test_case_insensitive_mappings(self) -> None:
        """Starlette's and httpx's Headers answer the lowercase lookups whatever the wire case."""
        wire = {name.title(): value for name, value in headers_for().items()}
        for headers in (Headers(headers=wire), httpx.Headers(wire)):
            verified = verify_request(headers, STREAM_ONLINE_BODY, [SECRET], now=SENT_AT)
            assert verified.subscription_type == "stream.online"

    @pytest.mark.parametrize("name", REQUIRED_HEADERS)
    def test_non_ascii_header_is_rejected_not_a_crash(self, name: str) -> None:
        """Latin-1 bytes in a header (Starlette decodes them) give a VerificationError."""
        raw = [
            (key.encode(), "é".encode("latin-1") if key == name.lower() else value.encode())
            for key, value in headers_for().items()
        ]
        assert reason_of(Headers(raw=raw)) == "non_ascii_header"

    def test_rotation_accepts_any_configured_secret(self) -> None:
        """During rotation a request signed with the old (second) secret still verifies."""
        secrets = (b"the-new-secret-0001", SECRET, b"an-extra-secret-02")
        verified = verify_request(headers_for(), STREAM_ONLINE_BODY, secrets, now=SENT_AT)
        assert verified.message_id == STREAM_ONLINE[1]

    def test_rotation_rejects_when_no_secret_matches(self) -> None:
        """Several secrets, none of them the signer's: rejected."""
        secrets = (b"the-new-secret-0001", b"an-extra-secret-02")
        assert reason_of(headers_for(), secrets=secrets) == "bad_signature"

    def test_malformed_timestamp_with_a_valid_signature(self) -> None:
        """A correctly signed but unparseable timestamp is reported as such."""
        headers = headers_for(timestamp="yesterday")
        assert reason_of(headers) == "malformed_timestamp"

    def test_forgery_reports_bad_signature_before_the_timestamp(self) -> None:
        """An unsigned request is a bad signature even when its timestamp is also stale."""
        headers = headers_for(secret=b"not-our-secret-at-all")
        assert reason_of(headers, now=SENT_AT + timedelta(hours=1)) == "bad_signature"

    def test_window_edges(self) -> None:
        """Exactly 10 minutes old or ahead is accepted; one microsecond more is not."""
        window = timedelta(minutes=10)
        tick = timedelta(microseconds=1)
        for now in (SENT_AT + window, SENT_AT - window):
            verify_request(headers_for(), STREAM_ONLINE_BODY, [SECRET], now=now)
        assert reason_of(headers_for(), now=SENT_AT + window + tick) == "stale_timestamp"
        assert reason_of(headers_for(), now=SENT_AT - window - tick) == "future_timestamp"

    def test_custom_window(self) -> None:
        """The window is a parameter."""
        now = SENT_AT + timedelta(seconds=61)
        with pytest.raises(VerificationError, match="stale_timestamp"):
            verify_request(
                headers_for(), STREAM_ONLINE_BODY, [SECRET], now=now, window=timedelta(minutes=1)
            )

    def test_now_in_another_zone_compares_correctly(self) -> None:
        """`now` may carry any UTC offset; the comparison is between instants."""
        now = SENT_AT.astimezone(timezone(timedelta(hours=-7)))
        verify_request(headers_for(), STREAM_ONLINE_BODY, [SECRET], now=now)

    def test_caller_mistakes_are_value_errors(self) -> None:
        """No secrets or a naive `now` are programming errors, not a 403."""
        with pytest.raises(ValueError, match="secret"):
            verify_request(headers_for(), STREAM_ONLINE_BODY, [], now=SENT_AT)
        with pytest.raises(ValueError, match="timezone"):
            verify_request(
                headers_for(), STREAM_ONLINE_BODY, [SECRET], now=SENT_AT.replace(tzinfo=None)
            )


class TestParseTimestamp:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2021-01-23T23:03:27Z", datetime(2021, 1, 23, 23, 3, 27, tzinfo=UTC)),
            ("2021-04-11T09:49:55.813Z", datetime(2021, 4, 11, 9, 49, 55, 813000, tzinfo=UTC)),
            ("2021-02-19T23:47:00.8091512Z", datetime(2021, 2, 19, 23, 47, 0, 809151, tzinfo=UTC)),
            (
                "2021-03-19T23:51:24.637747359Z",
                datetime(2021, 3, 19, 23, 51, 24, 637747, tzinfo=UTC),
            ),
            ("2021-03-19T23:51:24.9999999Z", datetime(2021, 3, 19, 23, 51, 24, 999999, tzinfo=UTC)),
            ("2021-03-19T23:51:24.5+05:30", datetime(2021, 3, 19, 18, 21, 24, 500000, tzinfo=UTC)),
            ("2021-03-19T20:51:24-03:00", datetime(2021, 3, 19, 23, 51, 24, tzinfo=UTC)),
            ("2021-03-19T23:51:24+00:00", datetime(2021, 3, 19, 23, 51, 24, tzinfo=UTC)),
            ("2021-03-19t23:51:24z", datetime(2021, 3, 19, 23, 51, 24, tzinfo=UTC)),
        ],
    )
    def test_accepts_rfc3339(self, value: str, expected: datetime) -> None:
        """0–9 fractional digits (truncated to µs), Z or offsets; the result is aware UTC."""
        parsed = parse_timestamp(value)
        assert parsed == expected
        assert parsed.utcoffset() == timedelta(0)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "2021-03-19T23:51:24",  # no zone
            "2021-03-19 23:51:24Z",  # space separator
            "2021-03-19T23:51:24.Z",  # empty fraction
            "2021-03-19T23:51:24.1234567890Z",  # 10 fractional digits
            "2021-03-19T23:51:24+0530",  # offset without colon
            "2021-03-19T23:51:24+24:00",  # offset out of range
            "2021-03-19T23:51:24+05:60",
            "2021-02-30T00:00:00Z",  # no such day
            "2021-03-19T24:00:00Z",
            "2021-12-31T23:59:60Z",  # leap seconds are not representable
            "0001-01-01T00:00:00+01:00",  # before datetime.min in UTC
            "9999-12-31T23:59:59-01:00",  # after datetime.max in UTC
            "2021-03-19T23:51:24Z\n",
            "２０２１-03-19T23:51:24Z",  # fullwidth digits
            "1616197884",
        ],
    )
    def test_rejects_everything_else(self, value: str) -> None:
        """Anything that is not an RFC 3339 date-time is a malformed_timestamp."""
        with pytest.raises(VerificationError) as caught:
            parse_timestamp(value)
        assert caught.value.reason == "malformed_timestamp"

    @given(st.text())
    def test_never_raises_anything_else(self, value: str) -> None:
        """Arbitrary text parses or raises VerificationError, nothing else."""
        try:
            parsed = parse_timestamp(value)
        except VerificationError:
            return
        assert parsed.tzinfo is UTC


HEADER_NAMES = [
    name.lower()
    for name in (*REQUIRED_HEADERS, MESSAGE_RETRY, SUBSCRIPTION_TYPE, SUBSCRIPTION_VERSION)
]


class TestVerifyRequestProperties:
    @given(
        headers=st.dictionaries(
            st.sampled_from(HEADER_NAMES), st.text(), max_size=len(HEADER_NAMES)
        ),
        body=st.binary(max_size=256),
    )
    def test_random_requests_never_verify(self, headers: dict[str, str], body: bytes) -> None:
        """Random headers and bodies are rejected with VerificationError, never anything else."""
        with pytest.raises(VerificationError):
            verify_request(headers, body, [SECRET], now=SENT_AT)

    @given(
        message_id=st.text(),
        timestamp=st.one_of(
            st.text(),
            st.datetimes(timezones=st.just(UTC)).map(
                lambda d: d.isoformat().replace("+00:00", "Z")
            ),
        ),
        signature=st.one_of(
            st.text(),
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("sha256=".__add__),
        ),
        message_type=st.sampled_from(["notification", "revocation", "x", "é"]),
        body=st.binary(max_size=256),
    )
    def test_well_formed_forgeries_never_verify(
        self, message_id: str, timestamp: str, signature: str, message_type: str, body: bytes
    ) -> None:
        """All headers present and plausible but unsigned: only VerificationError comes out."""
        headers = {
            MESSAGE_ID.lower(): message_id,
            MESSAGE_TIMESTAMP.lower(): timestamp,
            MESSAGE_SIGNATURE.lower(): signature,
            MESSAGE_TYPE.lower(): message_type,
        }
        with pytest.raises(VerificationError):
            verify_request(headers, body, [SECRET], now=SENT_AT)

    @given(
        message_id=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
        body=st.binary(max_size=256),
        signer=st.binary(min_size=10, max_size=100),
    )
    def test_only_the_right_secret_verifies(
        self, message_id: str, body: bytes, signer: bytes
    ) -> None:
        """A well-formed request verifies exactly when it was signed with an accepted secret."""
        headers = headers_for(secret=signer, message_id=message_id, body=body)
        verify_request(headers, body, [b"unrelated-secret", signer], now=SENT_AT)
        if signer != SECRET:
            with pytest.raises(VerificationError, match="bad_signature"):
                verify_request(headers, body, [SECRET], now=SENT_AT)
