"""Typed values for what Helix returns, and tolerant parsers from its JSON objects.

Twitch adds fields over time and sometimes sends `null` or `""` where a value is documented
(`tags: null`, `type: ""` on error, `game_name: ""` without a category), so the parsers read
only the fields we use, default whatever is missing or of the wrong type, and ignore the rest.
A missing `id` is the one thing they refuse (`ValueError`): an object without it is unusable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ACTIVE_STATUSES",
    "EventSubSubscription",
    "HelixStream",
    "HelixUser",
    "SubscriptionBudget",
    "SubscriptionListing",
    "SubscriptionPage",
    "parse_budget",
    "parse_stream",
    "parse_subscription",
    "parse_subscription_page",
    "parse_user",
]

#: Subscription statuses under which Twitch delivers (or is about to deliver) events.
ACTIVE_STATUSES = frozenset({"enabled", "webhook_callback_verification_pending"})


@dataclass(frozen=True, slots=True)
class HelixStream:
    """One live stream from `GET /streams` (`id` is the stream id = stream.online `event.id`)."""

    id: str
    user_id: str
    user_login: str
    user_name: str
    game_id: str
    game_name: str
    type: str
    title: str
    viewer_count: int
    started_at: datetime | None
    language: str
    thumbnail_url: str
    tags: tuple[str, ...]

    @property
    def is_live(self) -> bool:
        """True for a plain live stream (not a rerun or an errored `""` type)."""
        return self.type == "live"

    def thumbnail(self, width: int = 1280, height: int = 720) -> str:
        """The thumbnail URL with its `{width}x{height}` placeholder filled in."""
        return self.thumbnail_url.replace("{width}", str(width)).replace("{height}", str(height))


@dataclass(frozen=True, slots=True)
class HelixUser:
    """One user from `GET /users`."""

    id: str
    login: str
    display_name: str
    type: str
    broadcaster_type: str
    description: str
    profile_image_url: str
    offline_image_url: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventSubSubscription:
    """One EventSub subscription as Twitch reports it (the secret is never returned)."""

    id: str
    type: str
    version: str
    status: str
    broadcaster_user_id: str | None
    transport_method: str
    callback: str | None
    created_at: datetime | None
    cost: int

    @property
    def is_active(self) -> bool:
        """True when Twitch delivers events for it or is verifying the callback."""
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class SubscriptionBudget:
    """EventSub cost accounting: subscriptions cost points out of `max_total_cost`."""

    total_cost: int
    max_total_cost: int

    @property
    def remaining(self) -> int:
        return max(0, self.max_total_cost - self.total_cost)


@dataclass(frozen=True, slots=True)
class SubscriptionPage:
    """One page of `GET /eventsub/subscriptions`; `cursor` is None on the last page."""

    subscriptions: tuple[EventSubSubscription, ...]
    total: int
    budget: SubscriptionBudget
    cursor: str | None


@dataclass(frozen=True, slots=True)
class SubscriptionListing:
    """All pages of `GET /eventsub/subscriptions`, with the budget from the last page."""

    subscriptions: tuple[EventSubSubscription, ...]
    total: int
    budget: SubscriptionBudget


def _str(obj: Mapping[str, object], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _opt_str(obj: Mapping[str, object], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _int(obj: Mapping[str, object], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(obj: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _datetime(obj: Mapping[str, object], key: str) -> datetime | None:
    """RFC 3339 with 0–9 fractional digits and `Z`; None when missing or unparsable."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _required_id(obj: Mapping[str, object], what: str) -> str:
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} without an id")
    return value


def parse_stream(obj: Mapping[str, object]) -> HelixStream:
    tags = obj.get("tags")
    return HelixStream(
        id=_required_id(obj, "stream"),
        user_id=_str(obj, "user_id"),
        user_login=_str(obj, "user_login"),
        user_name=_str(obj, "user_name"),
        game_id=_str(obj, "game_id"),
        game_name=_str(obj, "game_name"),
        type=_str(obj, "type"),
        title=_str(obj, "title"),
        viewer_count=_int(obj, "viewer_count"),
        started_at=_datetime(obj, "started_at"),
        language=_str(obj, "language"),
        thumbnail_url=_str(obj, "thumbnail_url"),
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )


def parse_user(obj: Mapping[str, object]) -> HelixUser:
    return HelixUser(
        id=_required_id(obj, "user"),
        login=_str(obj, "login"),
        display_name=_str(obj, "display_name"),
        type=_str(obj, "type"),
        broadcaster_type=_str(obj, "broadcaster_type"),
        description=_str(obj, "description"),
        profile_image_url=_str(obj, "profile_image_url"),
        offline_image_url=_str(obj, "offline_image_url"),
        created_at=_datetime(obj, "created_at"),
    )


def parse_subscription(obj: Mapping[str, object]) -> EventSubSubscription:
    condition = _mapping(obj, "condition")
    transport = _mapping(obj, "transport")
    return EventSubSubscription(
        id=_required_id(obj, "subscription"),
        type=_str(obj, "type"),
        version=_str(obj, "version"),
        status=_str(obj, "status"),
        broadcaster_user_id=_opt_str(condition, "broadcaster_user_id")
        or _opt_str(condition, "user_id"),
        transport_method=_str(transport, "method"),
        callback=_opt_str(transport, "callback"),
        created_at=_datetime(obj, "created_at"),
        cost=_int(obj, "cost"),
    )


def parse_budget(obj: Mapping[str, object]) -> SubscriptionBudget:
    return SubscriptionBudget(
        total_cost=_int(obj, "total_cost"), max_total_cost=_int(obj, "max_total_cost")
    )


def parse_subscription_page(obj: Mapping[str, object]) -> SubscriptionPage:
    """Parse a list or create response body (`data`, `total`, costs, `pagination.cursor`)."""
    data = obj.get("data")
    items = data if isinstance(data, list) else []
    return SubscriptionPage(
        subscriptions=tuple(parse_subscription(i) for i in items if isinstance(i, Mapping)),
        total=_int(obj, "total"),
        budget=parse_budget(obj),
        cursor=_opt_str(_mapping(obj, "pagination"), "cursor"),
    )
