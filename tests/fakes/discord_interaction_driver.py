"""Sends interactions to the app under test the way Discord does: a realistic payload, signed
over `timestamp + body` with the application's Ed25519 key, and the answer measured.

Each interaction is registered with the fake first, so the app's callback, `@original` and
follow-up calls are checked against the 3 s deadline and 15 min token lifetime. Channel and
role option values are resolved from the fake's world, with `app_permissions` (the bot's
permissions in the channel) on resolved channels.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fakes.discord_interactions import APPLICATION_COMMAND, AUTOCOMPLETE, PING
from tests.fakes.discord_model import World
from tests.fakes.discord_signing import Delivery, SigningKey, post_signed
from tests.fakes.discord_state import DiscordFakeState

SUB_COMMAND, SUB_COMMAND_GROUP, STRING, CHANNEL, ROLE = 1, 2, 3, 7, 8
DEADLINE_S = 3.0


def option(name: str, type: int, value: Any, *, focused: bool = False) -> dict[str, Any]:
    """A filled option as Discord sends it (`focused` marks the one being typed)."""
    filled: dict[str, Any] = {"name": name, "type": type, "value": value}
    if focused:
        filled["focused"] = True
    return filled


def subcommand(name: str, *options: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": SUB_COMMAND, "options": [dict(item) for item in options]}


def group(name: str, *subcommands: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "type": SUB_COMMAND_GROUP, "options": [dict(s) for s in subcommands]}


@dataclass(frozen=True, slots=True)
class InteractionResult:
    """The interaction sent and what the app answered (Delivery: status, body, latency)."""

    interaction_id: str
    token: str
    payload: dict[str, Any]
    delivery: Delivery

    @property
    def in_time(self) -> bool:
        """Discord drops answers that take longer than 3 s."""
        return self.delivery.latency_s <= DEADLINE_S


class InteractionDriver:
    """Builds, signs and POSTs interactions to the app's interactions URL."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        state: DiscordFakeState,
        *,
        application_id: str,
        guild_id: str,
        channel_id: str,
        user_id: str,
        key: SigningKey | None = None,
    ) -> None:
        self._client = client
        self._url = url
        self._state = state
        self._application_id = application_id
        self._guild_id = guild_id
        self._channel_id = channel_id
        self._user_id = user_id
        self._key = key or SigningKey()

    # -- payloads --------------------------------------------------------------------------------

    def build(
        self,
        type: int,
        data: Mapping[str, Any] | None = None,
        *,
        member_permissions: int | None = None,
    ) -> dict[str, Any]:
        """A full interaction payload of `type` (1 PING, 2 command, 4 autocomplete)."""
        callbacks = self._state.interactions
        interaction_id, token = callbacks.new_id(), callbacks.new_token()
        payload: dict[str, Any] = {
            "id": interaction_id, "application_id": self._application_id, "type": type,
            "token": token, "version": 1,
        }  # fmt: skip
        if type == PING:
            return payload
        with self._state.lock:
            world = self._state.world
            permissions = member_permissions
            if permissions is None:
                permissions = world.member_permissions(self._guild_id, self._user_id) or 0
            channel = world.channels.get(self._channel_id)
            app_permissions = channel.permissions if channel else 0
            user = world.users[self._user_id]
            command = dict(data or {})
            resolved = _resolve(world, command.get("options", []), permissions)
            if resolved:
                command["resolved"] = resolved
            member: dict[str, Any] = {
                "user": world.user_json(user), "roles": [], "nick": None, "avatar": None,
                "joined_at": world.iso(world.clock()), "deaf": False, "mute": False,
                "flags": 0, "pending": False, "permissions": str(permissions),
            }  # fmt: skip
            payload |= {
                "data": {"id": world.new_id(world.clock()), "type": 1, **command},
                "guild_id": self._guild_id,
                "guild": {"id": self._guild_id, "locale": "en-US", "features": []},
                "channel_id": self._channel_id,
                "channel": {"id": self._channel_id, "type": channel.type if channel else 0},
                "member": member,
                "app_permissions": str(app_permissions),
                "locale": "en-US",
                "guild_locale": "en-US",
                "entitlements": [],
                "authorizing_integration_owners": {"0": self._guild_id},
                "context": 0,
                "attachment_size_limit": 10_485_760,
            }
        return payload

    def command(
        self, name: str, *options: Mapping[str, Any], member_permissions: int | None = None
    ) -> dict[str, Any]:
        """An APPLICATION_COMMAND (type 2) for a CHAT_INPUT command with these options."""
        data = {"name": name, "options": [dict(item) for item in options]}
        return self.build(APPLICATION_COMMAND, data, member_permissions=member_permissions)

    def autocomplete(self, name: str, *options: Mapping[str, Any]) -> dict[str, Any]:
        """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4); one option should be `focused`."""
        return self.build(AUTOCOMPLETE, {"name": name, "options": [dict(o) for o in options]})

    # -- sending -------------------------------------------------------------------------------

    async def send(
        self,
        payload: Mapping[str, Any],
        *,
        bad_signature: bool = False,
        timestamp: str | None = None,
    ) -> InteractionResult:
        """Register the interaction with the fake (its deadline starts now), POST it signed,
        and record an inline 200 answer as the initial response."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        callbacks = self._state.interactions
        callbacks.dispatch(
            payload["id"], payload["token"], self._application_id, payload["type"],
            payload.get("channel_id"),
        )  # fmt: skip
        delivery = await post_signed(
            self._client, self._url, body, self._key, timestamp=timestamp,
            bad_signature=bad_signature,
        )  # fmt: skip
        if delivery.status == 200 and delivery.body and payload["type"] != PING:
            answer = delivery.json()
            if isinstance(answer, dict) and "type" in answer:
                callbacks.record_inline(payload["id"], answer)
        return InteractionResult(payload["id"], payload["token"], dict(payload), delivery)

    async def ping(self) -> InteractionResult:
        return await self.send(self.build(PING))


def _walk(options: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for item in options:
        yield item
        yield from _walk(item.get("options", []))


def _resolve(
    world: World, options: Iterable[Mapping[str, Any]], member_permissions: int
) -> dict[str, Any]:
    """`data.resolved` for the channel and role options, from the seeded world."""
    channels: dict[str, Any] = {}
    roles: dict[str, Any] = {}
    for item in _walk(options):
        value = str(item.get("value", ""))
        if item.get("type") == CHANNEL and value in world.channels:
            channel = world.channels[value]
            channels[value] = {
                "id": channel.id, "name": channel.name, "type": channel.type,
                "guild_id": channel.guild_id, "parent_id": channel.parent_id,
                "position": channel.position, "nsfw": False, "topic": None, "flags": 0,
                "rate_limit_per_user": 0, "last_message_id": None,
                "permissions": str(member_permissions),
                "app_permissions": str(channel.permissions),
            }  # fmt: skip
        elif item.get("type") == ROLE and value in world.roles:
            roles[value] = world.role_json(world.roles[value])
    resolved: dict[str, Any] = {}
    if channels:
        resolved["channels"] = channels
    if roles:
        resolved["roles"] = roles
    return resolved
