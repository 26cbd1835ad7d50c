"""The interaction side of the fake: the initial-response callback and the interaction webhook
(`@original` and follow-ups) the app calls after Discord delivered an interaction to it.

The driver (`discord_interaction_driver`) registers each interaction it sends. The initial
response must come within `interaction_deadline_s` (3 s) of dispatch, else 404 Unknown
interaction (10062); only one is accepted, a second gets 400 code 40060. Inline answers (the
200 body of the app's reply to the POST) count as the initial response too. The webhook token
lives `interaction_token_ttl_s` (15 min); afterwards, or for an unknown token, 404 Unknown
Webhook (10015). These routes need no Authorization and skip the global rate limit.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_forms import CHOICES, FormErrors, validate_message_body
from tests.fakes.discord_http import (
    UNKNOWN_MESSAGE,
    BodyKind,
    Call,
    Outcome,
    RouteSpec,
    error_outcome,
    json_outcome,
    query_value,
)
from tests.fakes.discord_model import World

EPHEMERAL = 1 << 6
LOADING = 1 << 7
INTERACTION_MESSAGE_FLAGS = 4 | EPHEMERAL | 4096 | 32768
PING, APPLICATION_COMMAND, AUTOCOMPLETE = 1, 2, 4
MESSAGE_RESPONSES = frozenset({4, 5})
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")
ALREADY_ACKNOWLEDGED = (400, 40060, "Interaction has already been acknowledged.")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")

_HOOK = r"/webhooks/(?P<application_id>[0-9]{1,20})/(?P<token>[A-Za-z0-9_.\-]+)"
_CALLBACK = r"/interactions/(?P<interaction_id>[0-9]{1,20})/(?P<token>[A-Za-z0-9_.\-]+)/callback"
_ORIGINAL = _HOOK + "/messages/@original"
_FOLLOWUP = _HOOK + r"/messages/(?P<message_id>[0-9]{1,20})"


def _route(method: str, pattern: str, handler: str, body: BodyKind = "none") -> RouteSpec:
    return RouteSpec(method, pattern, handler, None, None, "interaction", body, auth="none",
                     global_limited=False)  # fmt: skip


INTERACTION_ROUTES = (
    _route("POST", _CALLBACK, "interaction_callback", "json"),
    _route("GET", _ORIGINAL, "original_get"),
    _route("PATCH", _ORIGINAL, "original_edit", "json"),
    _route("DELETE", _ORIGINAL, "original_delete"),
    _route("POST", _HOOK, "followup_create", "json"),
    _route("PATCH", _FOLLOWUP, "followup_edit", "json"),
    _route("DELETE", _FOLLOWUP, "followup_delete"),
)


@dataclass(slots=True)
class InteractionRecord:
    """One interaction Discord delivered, and everything the app answered to it."""

    id: str
    token: str
    application_id: str
    type: int
    channel_id: str | None
    dispatched_at: float
    response: dict[str, Any] | None = None
    responded_at: float | None = None
    responded_via: str | None = None
    original: dict[str, Any] | None = None
    followups: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected_callbacks: int = 0

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and bool(self.original["flags"] & EPHEMERAL)


def _validate_response_message(data: Any, *, edit: bool) -> tuple[dict[str, Any], FormErrors]:
    """A message body of an interaction response or follow-up; EPHEMERAL is allowed here."""
    body = dict(data) if isinstance(data, Mapping) else {}
    flags = body.pop("flags", None)
    validated, errors = validate_message_body(body, edit=edit)
    if flags is not None and (
        not isinstance(flags, int) or isinstance(flags, bool) or flags & ~INTERACTION_MESSAGE_FLAGS
    ):
        errors.add(("flags",), CHOICES, "Value must be a combination of 4, 64, 4096, 32768.")
    clean: dict[str, Any] = {}
    if validated.content is not None:
        clean["content"] = validated.content
    if validated.embeds is not None:
        clean["embeds"] = list(validated.embeds)
    if flags is not None:
        clean["flags"] = flags
    return clean, errors


def _validate_choices(data: Any) -> FormErrors:
    errors = FormErrors()
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list):
        errors.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return errors
    if len(choices) > 25:
        errors.add(("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for index, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, Mapping) else None
        value = choice.get("value") if isinstance(choice, Mapping) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors.add(("data", "choices", index, "name"), "BASE_TYPE_BAD_LENGTH",
                       "Must be between 1 and 100 in length.")  # fmt: skip
        if value is None or (isinstance(value, str) and len(value) > 100):
            errors.add(("data", "choices", index, "value"), "BASE_TYPE_BAD_LENGTH",
                       "Must be between 1 and 100 in length.")  # fmt: skip
    return errors


class InteractionCallbacks:
    """Dispatched interactions and the app's answers to them."""

    def __init__(self, world: World, lock: threading.RLock) -> None:
        self._world = world
        self._lock = lock
        self._records: dict[str, InteractionRecord] = {}

    # -- driver side and reading ---------------------------------------------------------------

    def dispatch(
        self, interaction_id: str, token: str, application_id: str, type: int,
        channel_id: str | None,
    ) -> InteractionRecord:  # fmt: skip
        """Record that Discord sent this interaction now (the deadline starts here)."""
        with self._lock:
            record = InteractionRecord(
                interaction_id, token, application_id, type, channel_id, self._world.clock()
            )
            self._records[interaction_id] = record
            return record

    def record_inline(self, interaction_id: str, response: Mapping[str, Any]) -> None:
        """The app answered in the body of its 200 reply; that is its initial response."""
        with self._lock:
            record = self._records[interaction_id]
            if record.response is None:
                self._accept(record, dict(response), self._world.clock(), "inline")

    def new_token(self) -> str:
        with self._lock:
            return "aW50ZXJhY3Rpb246" + self._world.new_id(self._world.clock())

    def new_id(self) -> str:
        with self._lock:
            return self._world.new_id(self._world.clock())

    def get(self, interaction_id: str) -> InteractionRecord:
        with self._lock:
            return dataclasses.replace(self._records[interaction_id])

    @property
    def records(self) -> tuple[InteractionRecord, ...]:
        with self._lock:
            return tuple(self._records.values())

    def handlers(self) -> dict[str, Callable[[Call], Outcome]]:
        return {
            "interaction_callback": self._callback,
            "original_get": self._original_get,
            "original_edit": self._original_edit,
            "original_delete": self._original_delete,
            "followup_create": self._followup_create,
            "followup_edit": self._followup_edit,
            "followup_delete": self._followup_delete,
        }

    # -- the initial response ------------------------------------------------------------------

    def _callback(self, call: Call) -> Outcome:
        record = self._records.get(call.params["interaction_id"])
        if record is None or record.token != call.params["token"]:
            return error_outcome(*UNKNOWN_INTERACTION)
        if record.response is not None:
            record.rejected_callbacks += 1
            return error_outcome(*ALREADY_ACKNOWLEDGED)
        if call.now - record.dispatched_at > self._world.config.interaction_deadline_s:
            record.rejected_callbacks += 1
            return error_outcome(*UNKNOWN_INTERACTION)
        body: dict[str, Any] = call.body
        kind = body.get("type")
        allowed = {8} if record.type == AUTOCOMPLETE else {4, 5, 6, 7, 9}
        errors = FormErrors()
        if kind not in allowed:
            errors.add(("type",), CHOICES, f"Value must be one of {sorted(allowed)!r}.")
        elif kind == 8:
            errors = _validate_choices(body.get("data"))
        elif kind == 4:
            _, errors = _validate_response_message(body.get("data") or {}, edit=False)
        elif kind == 5:
            flags = (body.get("data") or {}).get("flags") or 0
            if not isinstance(flags, int) or flags & ~EPHEMERAL:
                errors.add(("data", "flags"), CHOICES, "Only EPHEMERAL (64) is valid here.")
        if errors:
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        self._accept(record, body, call.now, "callback")
        if (query_value(call.query, "with_response") or "").lower() not in ("true", "1"):
            return Outcome(204, b"", {"via": "1.1 google"})
        payload: dict[str, Any] = {
            "interaction": {"id": record.id, "type": record.type},
            "resource": {"type": kind},
        }
        if record.original is not None:
            payload["resource"]["message"] = record.original
            payload["interaction"] |= {
                "response_message_id": record.original["id"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": record.ephemeral,
            }
        return json_outcome(200, payload)

    def _accept(
        self, record: InteractionRecord, response: dict[str, Any], now: float, via: str
    ) -> None:
        record.response = response
        record.responded_at = now
        record.responded_via = via
        kind = response.get("type")
        if kind not in MESSAGE_RESPONSES:
            return
        data = response.get("data") or {}
        flags = int(data.get("flags") or 0)
        if kind == 5:
            flags |= LOADING
        record.original = self._message(record, data, flags, now)

    def _message(
        self, record: InteractionRecord, data: Mapping[str, Any], flags: int, now: float
    ) -> dict[str, Any]:
        return {
            "id": self._world.new_id(now),
            "type": 20,
            "channel_id": record.channel_id,
            "application_id": record.application_id,
            "webhook_id": record.application_id,
            "author": {"id": record.application_id, "username": "StreamMaxing", "bot": True,
                       "discriminator": "0", "global_name": None, "avatar": None},
            "content": data.get("content", ""),
            "embeds": list(data.get("embeds") or []),
            "flags": flags,
            "timestamp": self._world.iso(now),
            "edited_timestamp": None,
            "interaction_metadata": {"id": record.id, "type": record.type},
        }  # fmt: skip

    # -- the interaction webhook ---------------------------------------------------------------

    def _hook(self, call: Call) -> InteractionRecord | Outcome:
        token = call.params["token"]
        record = next((r for r in self._records.values() if r.token == token), None)
        if record is None or record.application_id != call.params["application_id"]:
            return error_outcome(*UNKNOWN_WEBHOOK)
        if call.now - record.dispatched_at > self._world.config.interaction_token_ttl_s:
            return error_outcome(*UNKNOWN_WEBHOOK)
        return record

    def _original(self, call: Call) -> tuple[InteractionRecord, dict[str, Any]] | Outcome:
        record = self._hook(call)
        if isinstance(record, Outcome):
            return record
        if record.original is None:
            return error_outcome(*UNKNOWN_MESSAGE)
        return record, record.original

    def _original_get(self, call: Call) -> Outcome:
        found = self._original(call)
        return found if isinstance(found, Outcome) else json_outcome(200, found[1])

    def _original_edit(self, call: Call) -> Outcome:
        found = self._original(call)
        if isinstance(found, Outcome):
            return found
        record, message = found
        updated = self._edited(message, call)
        if isinstance(updated, Outcome):
            return updated
        record.original = updated
        return json_outcome(200, updated)

    def _edited(self, message: dict[str, Any], call: Call) -> dict[str, Any] | Outcome:
        """The message after a PATCH (a deferred reply stops loading; EPHEMERAL stays)."""
        clean, errors = _validate_response_message(call.body, edit=True)
        if errors:
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        flags = (message["flags"] & ~LOADING) | (clean.pop("flags", 0) & 4)
        updated = {
            **message,
            **clean,
            "flags": flags,
            "edited_timestamp": self._world.iso(call.now),
        }
        if not updated["content"].strip() and not updated["embeds"]:
            return error_outcome(400, 50006, "Cannot send an empty message")
        return updated

    def _original_delete(self, call: Call) -> Outcome:
        found = self._original(call)
        if isinstance(found, Outcome):
            return found
        found[0].original = None
        return Outcome(204, b"", {"via": "1.1 google"})

    def _followup_create(self, call: Call) -> Outcome:
        record = self._hook(call)
        if isinstance(record, Outcome):
            return record
        if record.response is None:
            return error_outcome(*UNKNOWN_WEBHOOK)
        clean, errors = _validate_response_message(call.body, edit=False)
        if errors:
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        if not clean.get("content", "").strip() and not clean.get("embeds"):
            return error_outcome(400, 50006, "Cannot send an empty message")
        message = self._message(record, clean, int(clean.get("flags", 0)), call.now)
        record.followups[message["id"]] = message
        return json_outcome(200, message)

    def _followup_edit(self, call: Call) -> Outcome:
        record = self._hook(call)
        if isinstance(record, Outcome):
            return record
        message = record.followups.get(call.params["message_id"])
        if message is None:
            return error_outcome(*UNKNOWN_MESSAGE)
        updated = self._edited(message, call)
        if isinstance(updated, Outcome):
            return updated
        record.followups[message["id"]] = updated
        return json_outcome(200, updated)

    def _followup_delete(self, call: Call) -> Outcome:
        record = self._hook(call)
        if isinstance(record, Outcome):
            return record
        if record.followups.pop(call.params["message_id"], None) is None:
            return error_outcome(*UNKNOWN_MESSAGE)
        return Outcome(204, b"", {"via": "1.1 google"})
