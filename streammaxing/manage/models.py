"""Request and response models of the operations.

The admin API validates requests with these models, the CLI builds the same requests from its
arguments, the operations return the response models, and the OpenAPI document is generated from
their JSON schemas: one definition of every shape.

Request bodies are strict (no type coercion) and refuse unknown keys. A field that may be left
out but not set to null (``Omittable``) is absent from the request when the client omits it: the
service reads ``model_fields_set`` to tell "keep the current value" from "clear it".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from streammaxing.templating import (
    DEFAULT_TEMPLATE,
    SAMPLE_STREAM,
    TEMPLATE_VARIABLES,
    StreamInfo,
    format_duration,
)

_T = TypeVar("_T")

# PostgreSQL text and jsonb cannot store U+0000, so no input string may contain it.
_NO_NUL = r"^[^\x00]*$"
# The largest value of a PostgreSQL INTEGER and BIGINT column.
_MAX_INT4 = 2_147_483_647
_MAX_INT8 = 9_223_372_036_854_775_807


def _reject_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null; leave the field out instead")
    return value


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


if TYPE_CHECKING:
    Omittable = Annotated[_T | None, Field(default=None)]
else:
    #: A field the client may leave out (then it reads as None), but not set to null. At run
    #: time the type stays non-nullable, so the schema says so and null is refused.
    Omittable = Annotated[
        _T,
        BeforeValidator(_reject_null),
        Field(default=None, json_schema_extra=_drop_default),
    ]

Snowflake = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,20}$"),
    Field(description="A Discord id (snowflake): 1 to 20 digits.", examples=["1234567890123456"]),
]
BroadcasterId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,20}$"),
    Field(description="A Twitch user id (the broadcaster id).", examples=["141981764"]),
]
TwitchLogin = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_]{1,25}$"),
    AfterValidator(str.lower),
    Field(
        description="A Twitch login (user name); compared in lower case.", examples=["twitchdev"]
    ),
]
StreamerRef = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_]{1,25}$"),
    Field(
        description="A tracked streamer's Twitch broadcaster id or login.", examples=["twitchdev"]
    ),
]


def _text(max_length: int, *, min_length: int = 0) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=_NO_NUL)


def _check_no_nul(value: object, path: str = "") -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'value'} contains a NUL character (U+0000)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_no_nul(str(key), path)
            _check_no_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_no_nul(item, f"{path}[{index}]")


def _no_nul_json(value: dict[str, Any]) -> dict[str, Any]:
    _check_no_nul(value)
    return value


MessageTemplate = Annotated[
    dict[str, Any],
    AfterValidator(_no_nul_json),
    Field(
        description=(
            "A message template: an object with an optional `content` string and an optional "
            "`embed` object (Discord's embed fields). These variables are filled in per "
            "stream: " + ", ".join(f"`{{{name}}}`" for name in TEMPLATE_VARIABLES) + "."
        ),
        examples=[copy.deepcopy(dict(DEFAULT_TEMPLATE))],
    ),
]

CooldownSeconds = Annotated[
    int,
    Field(
        ge=0,
        le=_MAX_INT4,
        description="A whole number of seconds (0: no cooldown).",
        examples=[600],
    ),
]

#: Which form of an announcement to render: as posted, or as edited when the stream ended.
PreviewForm = Literal["live", "ended"]
#: How long the stream lasted in a preview of the "ended" form.
PREVIEW_ENDED_AFTER = timedelta(hours=2, minutes=5)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Query(BaseModel):
    # Query strings are text, so numbers are parsed from it (lax mode); an unknown parameter
    # (a typo such as `limt`) is an error rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- requests --------------------------------------------------------------------------------


class GuildUpsert(_Body):
    name: Annotated[str, _text(100, min_length=1)]
    icon: Annotated[str, _text(200)] | None = None
    owner_id: Snowflake | None = None


class GuildConfigUpdate(_Body):
    """Fields left out keep their value; a guild's first config needs ``channel_id``."""

    channel_id: Omittable[Snowflake]
    mention_role_id: Snowflake | None = Field(
        default=None, description="The role pinged by announcements; null for no ping."
    )
    message_template: Omittable[MessageTemplate]
    enabled: Omittable[bool]
    dm_enabled: Omittable[bool]
    restart_cooldown_seconds: CooldownSeconds | None = Field(
        default=None,
        description=(
            "A stream that restarts within this many seconds of going offline edits its "
            "previous announcement back to live instead of posting a new one; null: the "
            "service-wide RESTART_COOLDOWN_SECONDS."
        ),
    )
    offline_template: MessageTemplate | None = Field(
        default=None,
        description=(
            "The template an announcement is edited to when its stream ends (same variables "
            "as `message_template`); null: the default ended form, which keeps the "
            "announcement and marks it ended with the stream's duration."
        ),
    )


class StreamSample(_Body):
    """Stream data for a preview; every field left out takes the sample stream's value."""

    streamer_login: Annotated[str, _text(100)] = SAMPLE_STREAM.streamer_login
    streamer_display_name: Annotated[str, _text(100)] = SAMPLE_STREAM.streamer_display_name
    streamer_avatar_url: Annotated[str, _text(2048)] | None = SAMPLE_STREAM.streamer_avatar_url
    stream_title: Annotated[str, _text(1000)] = SAMPLE_STREAM.stream_title
    game_name: Annotated[str, _text(1000)] = SAMPLE_STREAM.game_name
    viewer_count: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = SAMPLE_STREAM.viewer_count
    stream_thumbnail_url: Annotated[str, _text(2048)] | None = SAMPLE_STREAM.stream_thumbnail_url
    started_at: AwareDatetime = SAMPLE_STREAM.started_at

    @field_validator("started_at")
    @classmethod
    def _representable_in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError as error:
            raise ValueError("is out of range once converted to UTC") from error

    def stream_info(self) -> StreamInfo:
        return StreamInfo(**self.model_dump())


class PreviewRequest(_Body):
    """What to preview; by default the guild's saved templates, role and the sample stream."""

    form: PreviewForm = Field(
        default="live",
        description=(
            "`live`: the announcement as posted; `ended`: as edited when the stream ends "
            f"(rendered for a stream that lasted {format_duration(PREVIEW_ENDED_AFTER)})."
        ),
    )
    stream: Omittable[StreamSample]
    message_template: Omittable[MessageTemplate]
    mention_role_id: Snowflake | None = Field(
        default=None, description="Preview with this role (null: none); left out: the config's."
    )
    offline_template: MessageTemplate | None = Field(
        default=None,
        description=(
            "Only with form `ended`: preview this offline template (null: the default ended "
            "form); left out: the config's."
        ),
    )


class StreamerAdd(_Body):
    login: TwitchLogin
    broadcaster_id: Omittable[BroadcasterId]
    added_by: Omittable[Snowflake]


class StreamerUpdate(_Body):
    enabled: bool


class UserUpsert(_Body):
    username: Annotated[str, _text(100, min_length=1)]
    avatar: Annotated[str, _text(200)] | None = None


class PreferenceSet(_Body):
    enabled: bool = Field(description="false mutes the streamer's DMs from that guild")


class PageQuery(_Query):
    limit: int = Field(default=50, ge=1, le=200)
    after: Omittable[Snowflake]


class HistoryQuery(_Query):
    limit: int = Field(default=50, ge=1, le=200)


class AuditQuery(_Query):
    limit: int = Field(default=50, ge=1, le=200)
    before: Omittable[Annotated[int, Field(ge=1, le=_MAX_INT8)]] = Field(
        default=None, description="Continue below this entry id (`next_cursor`)."
    )


# -- responses -------------------------------------------------------------------------------


class GuildOut(_Out):
    guild_id: str
    name: str
    icon: str | None
    owner_id: str | None
    created_at: datetime | None
    configured: bool
    streamer_count: int
    dm_subscriber_count: int


class GuildPage(_Out):
    items: list[GuildOut]
    next_cursor: str | None = Field(
        description="Pass as `after` for the next page; null at the end."
    )


class GuildConfigOut(_Out):
    guild_id: str
    channel_id: str
    mention_role_id: str | None
    message_template: dict[str, Any]
    enabled: bool
    dm_enabled: bool
    disabled_reason: str | None = Field(
        description="Why delivery stopped (set when Discord refused the channel); "
        "cleared when `enabled` is set again."
    )
    restart_cooldown_seconds: int | None = Field(
        description="Seconds within which a restart resumes the previous announcement; "
        "null: the service-wide RESTART_COOLDOWN_SECONDS."
    )
    offline_template: dict[str, Any] | None = Field(
        description="The template rendered when a stream ends; null: the default ended form."
    )
    updated_at: datetime | None


class PreviewOut(_Out):
    payload: dict[str, Any] = Field(
        description="The exact JSON body of Discord's Create Message request (form `live`) "
        "or Edit Message request (form `ended`)."
    )


class GuildStreamerOut(_Out):
    streamer_id: UUID
    broadcaster_id: str
    login: str
    display_name: str | None
    avatar_url: str | None
    enabled: bool
    added_by: str | None
    added_at: datetime | None
    custom_content: str | None = Field(
        default=None,
        description="Replaces the template's content for this streamer's announcements.",
    )


class GuildStreamerList(_Out):
    items: list[GuildStreamerOut]


class UserOut(_Out):
    user_id: str
    username: str
    avatar: str | None
    created_at: datetime | None
    last_login: datetime | None
    dm_disabled_reason: str | None


class DmSubscriberOut(_Out):
    guild_id: str
    user_id: str
    username: str
    subscribed_at: datetime


class DmSubscriberPage(_Out):
    items: list[DmSubscriberOut]
    next_cursor: str | None


class PreferenceOut(_Out):
    guild_id: str
    guild_name: str
    broadcaster_id: str
    streamer_login: str
    streamer_display_name: str | None
    enabled: bool = Field(description="Effective: the user's choice, or true when never set.")
    explicit: bool = Field(description="Whether the user set a preference (else the default).")


class PreferenceList(_Out):
    items: list[PreferenceOut]


class DeliveryOut(_Out):
    id: UUID
    broadcaster_id: str | None
    streamer_login: str | None
    streamer_display_name: str | None
    event_id: str = Field(description="The Twitch stream id (stream.online `event.id`).")
    status: Literal["pending", "sent", "failed", "dry_run", "resumed"] = Field(
        description="`resumed`: a restart within the cooldown edited the previous stream's "
        "announcement back to live instead of posting."
    )
    channel_id: str | None
    message_id: str | None
    failure_reason: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    stream_started_at: datetime | None
    latency_seconds: float | None = Field(description="From the stream's start to delivery.")


class HistoryOut(_Out):
    items: list[DeliveryOut]


class AuditEntryOut(_Out):
    id: int
    occurred_at: datetime
    actor_kind: Literal["operator", "user"]
    actor_user_id: str | None = Field(
        description="The acting Discord user; null for the operator, and once the user's data "
        "was erased."
    )
    actor_name: str | None = Field(
        default=None,
        description="The acting user's Discord username as of their last sign-in; null for the "
        "operator, an erased user, or a user who never signed in to the dashboard.",
    )
    surface: Literal["api", "cli", "dashboard", "discord", "system"]
    guild_id: str | None
    subject_user_id: str | None = Field(
        description="The user the action is about (a DM subscriber, a preference's owner)."
    )
    action: str = Field(examples=["config.set", "streamer.track"])
    detail: dict[str, Any]


class AuditPage(_Out):
    items: list[AuditEntryOut]
    next_cursor: int | None = Field(
        description="Pass as `before` for the next (older) page; null at the end."
    )
