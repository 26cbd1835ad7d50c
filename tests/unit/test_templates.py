"""Message templates: rendering Discord payloads and validating templates (SPEC §6)."""

from __future__ import annotations

import copy
import dataclasses
import json
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streammaxing.templating import (
    DEFAULT_TEMPLATE,
    SAMPLE_STREAM,
    TEMPLATE_VARIABLES,
    StreamInfo,
    TemplateIssue,
    allowed_mentions,
    render_announcement,
    validate_custom_content,
    validate_template,
)
from streammaxing.templating.limits import embed_text_length, fit_embed_total, truncate

STARTED_AT = datetime(2026, 5, 1, 18, 4, 5, tzinfo=UTC)
AVATAR = "https://static-cdn.jtvnw.net/jtv_user_pictures/shroud-profile_image-300x300.png"
THUMBNAIL = "https://static-cdn.jtvnw.net/previews-ttv/live_user_shroud-{width}x{height}.jpg"
THUMBNAIL_SIZED = "https://static-cdn.jtvnw.net/previews-ttv/live_user_shroud-1280x720.jpg"
ROLE = "987654321098765432"
MENTION = f"<@&{ROLE}>"

STREAM = StreamInfo(
    streamer_login="shroud",
    streamer_display_name="Shroud",
    streamer_avatar_url=AVATAR,
    stream_title="Ranked grind",
    game_name="VALORANT",
    viewer_count=12345,
    stream_thumbnail_url=THUMBNAIL,
    started_at=STARTED_AT,
)

# The seed's default template, copied from the seed schema document by hand.
SEED_DEFAULT_TEMPLATE = {
    "content": "{streamer_display_name} is now live!",
    "embed": {
        "title": "{streamer_display_name} is streaming {game_name}",
        "description": "{stream_title}",
        "url": "https://twitch.tv/{streamer_login}",
        "color": 6570404,
        "thumbnail": {"url": "{streamer_avatar_url}"},
        "image": {"url": "{stream_thumbnail_url}"},
        "fields": [
            {"name": "Viewers", "value": "{viewer_count}", "inline": True},
            {"name": "Game", "value": "{game_name}", "inline": True},
        ],
        "footer": {"text": "Twitch Notification"},
        "timestamp": True,
    },
}

# Every variable in every kind of position.
EVERY_PART_TEMPLATE: dict[str, Any] = {
    "content": "{mention_role} {streamer_display_name} ({streamer_login}) is live: {stream_title}",
    "embed": {
        "title": "{stream_title}",
        "description": "{stream_title}\n{game_name}\n{viewer_count} viewers since {started_at}",
        "url": "https://twitch.tv/{streamer_login}",
        "color": 0,
        "timestamp": True,
        "author": {
            "name": "{streamer_display_name}",
            "url": "https://twitch.tv/{streamer_login}",
            "icon_url": "{streamer_avatar_url}",
        },
        "thumbnail": {"url": "{streamer_avatar_url}"},
        "image": {"url": "{stream_thumbnail_url}"},
        "fields": [
            {"name": "{game_name}", "value": "{stream_title}", "inline": False},
            {"name": "Viewers", "value": "{viewer_count}"},
        ],
        "footer": {"text": "{streamer_display_name} · {game_name}", "icon_url": AVATAR},
    },
}

# Far over every limit once variables are long: only rendering's truncation keeps it sendable.
HEAVY_TEMPLATE: dict[str, Any] = {
    "content": "{stream_title} " * 20 + "{mention_role}",
    "embed": {
        "title": "{stream_title}" * 3,
        "description": "{stream_title}" * 40,
        "fields": [{"name": "{game_name}" * 3, "value": "{stream_title}" * 10} for _ in range(30)],
        "footer": {"text": "{stream_title}" * 20},
        "author": {"name": "{streamer_display_name}" * 3},
    },
}

EMBED_KEYS = {
    "title",
    "description",
    "url",
    "color",
    "timestamp",
    "author",
    "thumbnail",
    "image",
    "fields",
    "footer",
}


def stream(**changes: Any) -> StreamInfo:
    """STREAM with some attributes replaced."""
    return dataclasses.replace(STREAM, **changes)


def render(
    template: Any,
    info: StreamInfo = STREAM,
    *,
    role: str | None = None,
    cache_buster: str = "cb1",
) -> dict[str, Any]:
    """Render and check the payload against every Discord rule before returning it."""
    payload = render_announcement(template, info, mention_role_id=role, cache_buster=cache_buster)
    assert_valid_discord_message(payload, role)
    return payload


def only_embed(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload's single embed."""
    assert len(payload["embeds"]) == 1
    embed: dict[str, Any] = payload["embeds"][0]
    return embed


def is_discord_url(url: object) -> bool:
    """An http(s) URL with a host and no whitespace, as Discord requires for embed URLs."""
    if not isinstance(url, str) or not url or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def assert_text(value: object, limit: int) -> None:
    """A trimmed, non-empty text within ``limit`` code points."""
    assert isinstance(value, str)
    assert value == value.strip()
    assert 0 < len(value) <= limit


def assert_valid_discord_embed(embed: dict[str, Any]) -> None:
    """Every rule Discord (and our fake) applies to one rich embed."""
    assert set(embed) <= EMBED_KEYS
    assert set(embed) & {"title", "description", "fields", "footer", "author", "image", "thumbnail"}
    if "title" in embed:
        assert_text(embed["title"], 256)
    if "description" in embed:
        assert_text(embed["description"], 4096)
    if "url" in embed:
        assert is_discord_url(embed["url"])
    if "color" in embed:
        assert type(embed["color"]) is int
        assert 0 <= embed["color"] <= 0xFFFFFF
    if "timestamp" in embed:
        assert datetime.fromisoformat(embed["timestamp"]).utcoffset() == timedelta(0)
    for key in ("thumbnail", "image"):
        if key in embed:
            assert set(embed[key]) == {"url"}
            assert is_discord_url(embed[key]["url"])
    if "footer" in embed:
        assert set(embed["footer"]) <= {"text", "icon_url"}
        assert_text(embed["footer"]["text"], 2048)
        if "icon_url" in embed["footer"]:
            assert is_discord_url(embed["footer"]["icon_url"])
    if "author" in embed:
        assert set(embed["author"]) <= {"name", "url", "icon_url"}
        assert_text(embed["author"]["name"], 256)
        for key in ("url", "icon_url"):
            if key in embed["author"]:
                assert is_discord_url(embed["author"][key])
    if "fields" in embed:
        assert 0 < len(embed["fields"]) <= 25
        for field in embed["fields"]:
            assert set(field) <= {"name", "value", "inline"}
            assert_text(field["name"], 256)
            assert_text(field["value"], 1024)
            if "inline" in field:
                assert type(field["inline"]) is bool
    assert embed_text_length(embed) <= 6000


def assert_valid_discord_message(payload: dict[str, Any], role: str | None) -> None:
    """Every rule Discord applies to a create-message body, plus our mention policy."""
    assert set(payload) == {"content", "embeds", "allowed_mentions"}
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # encodable: no lone surrogates
    assert isinstance(payload["content"], str)
    assert len(payload["content"]) <= 2000
    assert len(payload["embeds"]) <= 1
    assert payload["content"].strip() or payload["embeds"]
    for embed in payload["embeds"]:
        assert_valid_discord_embed(embed)
    if role is None:
        assert payload["allowed_mentions"] == {"parse": []}
    else:
        assert payload["allowed_mentions"] == {"parse": [], "roles": [role]}
        assert f"<@&{role}>" in payload["content"]


class TestStreamInfo:
    def test_rejects_a_naive_start_time(self) -> None:
        """started_at without a timezone is refused: it would render an ambiguous timestamp."""
        with pytest.raises(ValueError, match="timezone-aware"):
            stream(started_at=datetime(2026, 5, 1, 18, 4, 5))

    def test_is_immutable(self) -> None:
        """A StreamInfo is a frozen value."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            STREAM.stream_title = "changed"  # type: ignore[misc]


class TestDefaults:
    def test_default_template_is_the_seeds(self) -> None:
        """DEFAULT_TEMPLATE is exactly the seed's default template."""
        assert DEFAULT_TEMPLATE == SEED_DEFAULT_TEMPLATE

    def test_template_variables_are_the_seeds_nine(self) -> None:
        """TEMPLATE_VARIABLES names the seed's nine variables, in the seed's order."""
        assert TEMPLATE_VARIABLES == (
            "streamer_login",
            "streamer_display_name",
            "streamer_avatar_url",
            "stream_title",
            "game_name",
            "viewer_count",
            "stream_thumbnail_url",
            "started_at",
            "mention_role",
        )

    def test_default_template_is_valid(self) -> None:
        """The seed's default template passes validation."""
        assert validate_template(DEFAULT_TEMPLATE) == []

    def test_sample_stream_renders_every_part_of_the_default_template(self) -> None:
        """The preview sample fills every variable, so a preview shows the whole template."""
        embed = only_embed(render(DEFAULT_TEMPLATE, SAMPLE_STREAM))
        assert {"thumbnail", "image", "description"} <= set(embed)
        assert len(embed["fields"]) == 2


class TestRenderAnnouncementDefaultTemplate:
    def test_renders_the_expected_payload(self) -> None:
        """The default template and sample data give exactly this Discord payload."""
        assert render(DEFAULT_TEMPLATE) == {
            "content": "Shroud is now live!",
            "embeds": [
                {
                    "title": "Shroud is streaming VALORANT",
                    "description": "Ranked grind",
                    "url": "https://twitch.tv/shroud",
                    "color": 6570404,
                    "thumbnail": {"url": AVATAR},
                    "image": {"url": THUMBNAIL_SIZED + "?t=cb1"},
                    "fields": [
                        {"name": "Viewers", "value": "12345", "inline": True},
                        {"name": "Game", "value": "VALORANT", "inline": True},
                    ],
                    "footer": {"text": "Twitch Notification"},
                    "timestamp": "2026-05-01T18:04:05+00:00",
                }
            ],
            "allowed_mentions": {"parse": []},
        }

    def test_with_a_role_pings_it_in_front(self) -> None:
        """With a role configured, the default template's content is prefixed by its mention."""
        payload = render(DEFAULT_TEMPLATE, role=ROLE)
        assert payload["content"] == f"{MENTION} Shroud is now live!"
        assert payload["allowed_mentions"] == {"parse": [], "roles": [ROLE]}

    def test_does_not_change_the_template(self) -> None:
        """Rendering leaves the template object untouched, even when it has to truncate."""
        before = copy.deepcopy(HEAVY_TEMPLATE)
        render(HEAVY_TEMPLATE, stream(stream_title="x" * 500), role=ROLE)
        assert before == HEAVY_TEMPLATE


class TestRenderAnnouncementVariables:
    @pytest.mark.parametrize(
        ("variable", "expected"),
        [
            ("streamer_login", "shroud"),
            ("streamer_display_name", "Shroud"),
            ("streamer_avatar_url", AVATAR),
            ("stream_title", "Ranked grind"),
            ("game_name", "VALORANT"),
            ("viewer_count", "12345"),
            ("stream_thumbnail_url", THUMBNAIL_SIZED + "?t=cb1"),
            ("started_at", "2026-05-01T18:04:05+00:00"),
            ("mention_role", MENTION),
        ],
    )
    def test_each_variable_renders_its_value(self, variable: str, expected: str) -> None:
        """Each of the nine variables is replaced by the stream's value."""
        payload = render({"content": f"[{{{variable}}}]"}, role=ROLE)
        assert payload["content"].endswith(f"[{expected}]")

    def test_missing_optional_values_render_empty(self) -> None:
        """No avatar, no thumbnail and no viewer count render as empty text, not "None"."""
        info = stream(streamer_avatar_url=None, stream_thumbnail_url=None, viewer_count=None)
        payload = render(
            {"content": "a{streamer_avatar_url}b{stream_thumbnail_url}c{viewer_count}d"}, info
        )
        assert payload["content"] == "abcd"

    def test_zero_viewers_is_shown(self) -> None:
        """A viewer count of 0 is a value, rendered as "0"."""
        assert render({"content": "{viewer_count}"}, stream(viewer_count=0))["content"] == "0"

    def test_variables_fill_every_string_of_the_embed(self) -> None:
        """Substitution reaches titles, descriptions, URLs, author, footer and field texts."""
        embed = only_embed(render(EVERY_PART_TEMPLATE))
        assert embed["title"] == "Ranked grind"
        assert embed["description"] == (
            "Ranked grind\nVALORANT\n12345 viewers since 2026-05-01T18:04:05+00:00"
        )
        assert embed["url"] == "https://twitch.tv/shroud"
        assert embed["author"] == {
            "name": "Shroud",
            "url": "https://twitch.tv/shroud",
            "icon_url": AVATAR,
        }
        assert embed["fields"][0] == {"name": "VALORANT", "value": "Ranked grind", "inline": False}
        assert embed["footer"] == {"text": "Shroud · VALORANT", "icon_url": AVATAR}

    def test_non_string_values_are_kept_as_they_are(self) -> None:
        """Colours, inline flags and the like pass through with their JSON types."""
        embed = only_embed(render(EVERY_PART_TEMPLATE))
        assert embed["color"] == 0
        assert embed["fields"][0]["inline"] is False

    def test_values_are_not_expanded_again(self) -> None:
        """A title that itself contains ``{variable}`` text is shown literally."""
        info = stream(stream_title="{streamer_login} {mention_role} {width}x{height}")
        payload = render({"content": "{stream_title}"}, info, role=ROLE)
        assert (
            payload["content"]
            == f"{MENTION} {{streamer_login}} {{mention_role}} {{width}}x{{height}}"
        )

    def test_text_values_are_percent_encoded_inside_urls(self) -> None:
        """A game name with spaces still makes a well-formed URL."""
        template = {
            "embed": {"title": "t", "url": "https://twitch.tv/directory/category/{game_name}"}
        }
        embed = only_embed(render(template, stream(game_name="Just Chatting & Co/2")))
        assert embed["url"] == "https://twitch.tv/directory/category/Just%20Chatting%20%26%20Co%2F2"

    def test_url_values_are_inserted_unencoded_inside_urls(self) -> None:
        """The avatar and thumbnail variables are URLs already and go in as they are."""
        embed = only_embed(render({"embed": {"thumbnail": {"url": "{streamer_avatar_url}"}}}))
        assert embed["thumbnail"] == {"url": AVATAR}


class TestRenderAnnouncementRolePing:
    def test_without_a_role_nobody_is_pinged(self) -> None:
        """No role: allowed_mentions parses nothing and the content carries no mention."""
        payload = render(DEFAULT_TEMPLATE)
        assert payload["allowed_mentions"] == {"parse": []}
        assert "<@&" not in payload["content"]

    def test_role_goes_in_front_when_the_template_does_not_place_it(self) -> None:
        """A configured role is always pinged: ``<@&id> `` is put before the content."""
        payload = render({"content": "Live now"}, role=ROLE)
        assert payload["content"] == f"{MENTION} Live now"

    def test_role_goes_where_the_template_places_it(self) -> None:
        """With ``{mention_role}`` in the content the mention is rendered there, once."""
        payload = render({"content": "Live now {mention_role}!"}, role=ROLE)
        assert payload["content"] == f"Live now {MENTION}!"

    def test_placeholder_without_a_role_renders_empty(self) -> None:
        """``{mention_role}`` with no role configured renders nothing and leaves no stray spaces."""
        assert render({"content": "{mention_role} Live now"})["content"] == "Live now"

    def test_role_alone_when_the_content_is_empty(self) -> None:
        """An embed-only template still pings the role, with the mention as the whole content."""
        payload = render({"embed": {"title": "Live"}}, role=ROLE)
        assert payload["content"] == MENTION

    def test_role_survives_content_truncation(self) -> None:
        """If truncating the content would cut off the mention, the mention is put in front."""
        payload = render(
            {"content": "{stream_title} {mention_role}"}, stream(stream_title="a" * 3000), role=ROLE
        )
        assert payload["content"].startswith(f"{MENTION} aaa")
        assert payload["content"].endswith("…")
        assert len(payload["content"]) == 2000

    def test_role_in_the_embed_alone_is_still_pinged_in_the_content(self) -> None:
        """Mentions in embeds never ping, so ``{mention_role}`` only there still gets a prefix."""
        payload = render({"content": "Live", "embed": {"title": "{mention_role}"}}, role=ROLE)
        assert payload["content"] == f"{MENTION} Live"
        assert only_embed(payload)["title"] == MENTION

    @pytest.mark.parametrize("role", ["", "abc", "<@&1>", "1" * 21, "12 34"])
    def test_a_role_id_that_is_not_a_snowflake_is_refused(self, role: str) -> None:
        """A malformed role id is a configuration error, not something to send to Discord."""
        with pytest.raises(ValueError, match="snowflake"):
            render_announcement(DEFAULT_TEMPLATE, STREAM, mention_role_id=role, cache_buster="x")

    def test_allowed_mentions_helper_matches_the_recipe(self) -> None:
        """allowed_mentions() is the recipe for every POST and PATCH."""
        assert allowed_mentions(None) == {"parse": []}
        assert allowed_mentions(ROLE) == {"parse": [], "roles": [ROLE]}


class TestRenderAnnouncementMentionSafety:
    @pytest.mark.parametrize(
        "hostile",
        ["@everyone", "@here", "<@&1>", "<@2>", "<@!3>", "@everyone <@&1> <@2> @here"],
    )
    @pytest.mark.parametrize("role", [None, ROLE])
    def test_untrusted_mentions_stay_text_and_ping_nobody(
        self, hostile: str, role: str | None
    ) -> None:
        """Mentions in titles, names and games are kept as text; allowed_mentions stays strict."""
        info = stream(stream_title=hostile, streamer_display_name=hostile, game_name=hostile)
        template = {"content": "{streamer_display_name}: {stream_title} ({game_name})"}
        payload = render({**DEFAULT_TEMPLATE, **template}, info, role=role)
        assert hostile in payload["content"]
        assert hostile in only_embed(payload)["description"]
        expected = {"parse": []} if role is None else {"parse": [], "roles": [role]}
        assert payload["allowed_mentions"] == expected


class TestRenderAnnouncementUnknownVariables:
    def test_unknown_variables_are_left_as_they_are(self) -> None:
        """An old template's unknown ``{name}`` renders literally, in content and embed alike."""
        payload = render({"content": "{foo} live", "embed": {"title": "{bar} {stream_title}"}})
        assert payload["content"] == "{foo} live"
        assert only_embed(payload)["title"] == "{bar} Ranked grind"

    def test_text_that_only_looks_like_a_variable_is_left_alone(self) -> None:
        """Braces that are not a ``{name}`` placeholder are ordinary text."""
        payload = render({"content": "{} { stream_title } {{stream_title}} {1a}"})
        assert payload["content"] == "{} { stream_title } {Ranked grind} {1a}"

    def test_a_url_left_with_an_unknown_variable_is_dropped(self) -> None:
        """A URL still holding ``{width}`` is not well formed, so that image is left out."""
        template = {"embed": {"title": "t", "image": {"url": "https://x.test/{width}.jpg"}}}
        assert "image" not in only_embed(render(template))


class TestRenderAnnouncementEmptyValues:
    def test_missing_game_never_gives_an_empty_field(self) -> None:
        """Without a game the Game field is dropped, and the title loses its trailing space."""
        embed = only_embed(render(DEFAULT_TEMPLATE, stream(game_name="")))
        assert embed["fields"] == [{"name": "Viewers", "value": "12345", "inline": True}]
        assert embed["title"] == "Shroud is streaming"

    def test_whitespace_only_values_count_as_empty(self) -> None:
        """A game or viewer count that is only whitespace drops its field too."""
        info = stream(game_name=" \t\u3000\n", viewer_count=None)
        assert "fields" not in only_embed(render(DEFAULT_TEMPLATE, info))

    def test_field_with_empty_name_is_dropped(self) -> None:
        """A field whose name renders empty is dropped even if its value is fine."""
        template = {"embed": {"fields": [{"name": "{game_name}", "value": "v"}]}}
        payload = render({"content": "c", **template}, stream(game_name=""))
        assert payload["embeds"] == []

    def test_missing_images_are_dropped_not_sent_empty(self) -> None:
        """No avatar or thumbnail: no ``{"url": ""}`` objects (Discord rejects them)."""
        info = stream(streamer_avatar_url=None, stream_thumbnail_url=None)
        embed = only_embed(render(EVERY_PART_TEMPLATE, info))
        assert "thumbnail" not in embed
        assert "image" not in embed
        assert "icon_url" not in embed["author"]

    def test_empty_title_and_description_are_dropped(self) -> None:
        """An empty stream title removes the title and description keys altogether."""
        embed = only_embed(render(EVERY_PART_TEMPLATE, stream(stream_title="   ")))
        assert "title" not in embed
        assert embed["description"].startswith("VALORANT")

    def test_footer_and_author_without_text_are_dropped(self) -> None:
        """A footer without text or an author without name is removed with its icons."""
        template = {
            "embed": {
                "title": "t",
                "footer": {"text": "{game_name}", "icon_url": AVATAR},
                "author": {"name": "{game_name}", "icon_url": AVATAR},
            }
        }
        assert only_embed(render(template, stream(game_name=""))) == {"title": "t"}

    def test_embed_with_nothing_visible_is_not_sent(self) -> None:
        """An embed left with only colour, URL or timestamp is omitted; the content remains."""
        template = {
            "content": "Live",
            "embed": {
                "description": "{game_name}",
                "color": 1,
                "url": "https://x.test",
                "timestamp": True,
            },
        }
        payload = render(template, stream(game_name=""))
        assert payload == {"content": "Live", "embeds": [], "allowed_mentions": {"parse": []}}


class TestRenderAnnouncementFallback:
    def test_empty_template_gets_fallback_content(self) -> None:
        """A template rendering no content and no embed still sends a sensible message."""
        assert render({})["content"] == "Shroud is now live!"

    def test_content_that_renders_empty_gets_fallback_content(self) -> None:
        """Content of only an empty variable falls back too: Discord refuses empty messages."""
        assert render({"content": "{stream_title}"}, stream(stream_title=""))["content"] == (
            "Shroud is now live!"
        )

    def test_fallback_keeps_the_role_ping(self) -> None:
        """The fallback content still starts with the configured role's mention."""
        assert render({}, role=ROLE)["content"] == f"{MENTION} Shroud is now live!"

    def test_fallback_uses_the_login_without_a_display_name(self) -> None:
        """A blank display name falls back to the login."""
        assert render({}, stream(streamer_display_name=" "))["content"] == "shroud is now live!"

    def test_fallback_stays_within_the_content_limit(self) -> None:
        """A huge display name is truncated in the fallback too."""
        payload = render({}, stream(streamer_display_name="n" * 5000), role=ROLE)
        assert len(payload["content"]) == 2000


class TestRenderAnnouncementLimits:
    def test_content_is_truncated_to_2000_with_an_ellipsis(self) -> None:
        """Content over 2000 code points is cut to exactly 2000, ending in ``…``."""
        content = render({"content": "{stream_title}"}, stream(stream_title="a" * 2500))["content"]
        assert len(content) == 2000
        assert content == "a" * 1999 + "…"

    def test_static_content_over_the_limit_is_truncated_too(self) -> None:
        """Even a legacy template's static text is cut to fit."""
        assert len(render({"content": "b" * 3000})["content"]) == 2000

    @pytest.mark.parametrize(
        ("template", "get", "limit"),
        [
            ({"title": "{stream_title}"}, lambda e: e["title"], 256),
            ({"description": "{stream_title}"}, lambda e: e["description"], 4096),
            (
                {"fields": [{"name": "{stream_title}", "value": "v"}]},
                lambda e: e["fields"][0]["name"],
                256,
            ),
            (
                {"fields": [{"name": "n", "value": "{stream_title}"}]},
                lambda e: e["fields"][0]["value"],
                1024,
            ),
            ({"footer": {"text": "{stream_title}"}}, lambda e: e["footer"]["text"], 2048),
            ({"author": {"name": "{stream_title}"}}, lambda e: e["author"]["name"], 256),
        ],
        ids=["title", "description", "field-name", "field-value", "footer", "author-name"],
    )
    def test_each_embed_text_is_truncated_to_its_limit(
        self, template: dict[str, Any], get: Callable[[dict[str, Any]], str], limit: int
    ) -> None:
        """Every embed text over its Discord limit is cut to exactly the limit, ending in ``…``."""
        text = get(only_embed(render({"embed": template}, stream(stream_title="x" * 5000))))
        assert text == "x" * (limit - 1) + "…"

    def test_limits_count_code_points(self) -> None:
        """Astral characters (emoji) count as one each, as Discord counts them."""
        title = only_embed(
            render({"embed": {"title": "{stream_title}"}}, stream(stream_title="😀" * 300))
        )["title"]
        assert title == "😀" * 255 + "…"

    def test_no_whitespace_before_the_ellipsis(self) -> None:
        """Truncation does not leave a dangling space before ``…``."""
        info = stream(stream_title="a" * 254 + " " + "b" * 10)
        assert (
            only_embed(render({"embed": {"title": "{stream_title}"}}, info))["title"]
            == "a" * 254 + "…"
        )

    def test_at_most_25_fields_are_sent(self) -> None:
        """Beyond 25 fields the rest are dropped, keeping the first 25."""
        fields = [{"name": f"n{i}", "value": "v"} for i in range(30)]
        sent = only_embed(render({"embed": {"fields": fields}}))["fields"]
        assert [f["name"] for f in sent] == [f"n{i}" for i in range(25)]

    def test_empty_fields_do_not_count_towards_the_25(self) -> None:
        """Fields that render empty are dropped before the 25-field cut."""
        empty = [{"name": "g", "value": "{game_name}"}] * 10
        fields = empty + [{"name": f"n{i}", "value": "v"} for i in range(25)]
        sent = only_embed(render({"embed": {"fields": fields}}, stream(game_name="")))["fields"]
        assert [f["name"] for f in sent] == [f"n{i}" for i in range(25)]

    def test_total_over_6000_shrinks_the_description_first(self) -> None:
        """Over the 6000 total, the description gives way first and the fields stay whole."""
        template = {
            "embed": {
                "title": "{stream_title}",
                "description": "{stream_title}",
                "fields": [{"name": "{stream_title}", "value": "{stream_title}"}] * 2,
            }
        }
        embed = only_embed(render(template, stream(stream_title="x" * 5000)))
        # 256 + 2 × (256 + 1024) = 2816 left for the description out of 6000.
        assert embed["description"] == "x" * (6000 - 2816 - 1) + "…"
        assert all(f["value"] == "x" * 1023 + "…" for f in embed["fields"])
        assert embed_text_length(embed) == 6000

    def test_total_over_6000_then_shrinks_field_values_from_the_last(self) -> None:
        """With the description gone, the last fields' values shrink first; the first stay whole."""
        template = {"embed": {"fields": [{"name": "n", "value": "{stream_title}"}] * 25}}
        embed = only_embed(render(template, stream(stream_title="x" * 1024)))
        values = [f["value"] for f in embed["fields"]]
        assert values[:5] == ["x" * 1024] * 5
        assert values[-1] == "…"
        assert embed_text_length(embed) <= 6000

    def test_heavy_template_fits_every_limit(self) -> None:
        """A template far over every limit still renders a payload Discord accepts."""
        render(HEAVY_TEMPLATE, stream(stream_title="t" * 300, game_name="g" * 200), role=ROLE)


class TestTruncate:
    def test_short_text_is_unchanged(self) -> None:
        """Text within the limit comes back as it is."""
        assert truncate("abc", 3) == "abc"

    def test_long_text_ends_in_an_ellipsis_at_the_limit(self) -> None:
        """Text over the limit is cut so that, with ``…``, it is exactly the limit."""
        assert truncate("abcdef", 4) == "abc…"

    def test_tiny_limits(self) -> None:
        """A limit of 1 leaves only ``…``; a limit below 1 leaves nothing."""
        assert truncate("abc", 1) == "…"
        assert truncate("abc", 0) == ""
        assert truncate("abc", -5) == ""


class TestFitEmbedTotal:
    @staticmethod
    def embed(
        description: int, fields: int, footer: int, author: int, title: int
    ) -> dict[str, Any]:
        """An embed of given text sizes, with 25 fields of name and value ``fields`` long."""
        built: dict[str, Any] = {
            "title": "t" * title,
            "description": "d" * description,
            "fields": [{"name": "n" * fields, "value": "v" * fields} for _ in range(25)],
            "footer": {"text": "f" * footer},
            "author": {"name": "a" * author},
        }
        sizes = {"title": title, "description": description, "footer": footer, "author": author}
        return {key: value for key, value in built.items() if sizes.get(key) != 0}

    def test_leaves_an_embed_within_6000_alone(self) -> None:
        """An embed at exactly 6000 is not touched."""
        embed = self.embed(description=1000, fields=100, footer=0, author=0, title=0)
        before = copy.deepcopy(embed)
        fit_embed_total(embed)
        assert embed == before

    def test_removes_a_description_shrunk_to_nothing(self) -> None:
        """Description first: when all of it must go, the key goes too."""
        embed = self.embed(description=500, fields=120, footer=0, author=0, title=0)
        fit_embed_total(embed)
        assert "description" not in embed
        assert embed_text_length(embed) <= 6000

    def test_shrinks_field_values_then_names_then_the_rest(self) -> None:
        """Order: description, values (last field first), names (last field first), footer…"""
        embed = self.embed(description=10, fields=256, footer=100, author=100, title=100)
        fit_embed_total(embed)
        assert "description" not in embed
        assert all(f["value"] == "…" for f in embed["fields"])
        names = [f["name"] for f in embed["fields"]]
        # 13110 in all: the description (10) and the values (25 × 255) free 6385; the last two
        # names free 255 each and the third-last gives the remaining 215.
        assert names == ["n" * 256] * 22 + ["n" * 40 + "…", "…", "…"]
        assert (embed["footer"], embed["author"], embed["title"]) == (
            {"text": "f" * 100},
            {"name": "a" * 100},
            "t" * 100,
        )
        assert embed_text_length(embed) == 6000

    def test_is_deterministic(self) -> None:
        """The same embed always shrinks to the same result."""
        first = self.embed(description=4096, fields=700, footer=2048, author=256, title=256)
        second = copy.deepcopy(first)
        fit_embed_total(first)
        fit_embed_total(second)
        assert first == second
        assert embed_text_length(first) <= 6000


class TestRenderAnnouncementThumbnail:
    def test_twitch_size_is_filled_and_cache_busted(self) -> None:
        """``{width}x{height}`` becomes 1280x720 and ``?t=<cache_buster>`` is added."""
        embed = only_embed(render(DEFAULT_TEMPLATE, cache_buster="evt42"))
        assert embed["image"] == {"url": THUMBNAIL_SIZED + "?t=evt42"}

    def test_existing_query_gets_an_ampersand(self) -> None:
        """A thumbnail URL that has a query already gets ``&t=…``."""
        info = stream(stream_thumbnail_url="https://x.test/a-{width}x{height}.jpg?v=1#frag")
        embed = only_embed(render(DEFAULT_TEMPLATE, info, cache_buster="z"))
        assert embed["image"]["url"] == "https://x.test/a-1280x720.jpg?v=1&t=z#frag"

    def test_cache_buster_is_percent_encoded(self) -> None:
        """A cache buster with URL-significant characters cannot break the URL."""
        embed = only_embed(render(DEFAULT_TEMPLATE, cache_buster="a b&c/d"))
        assert embed["image"]["url"] == THUMBNAIL_SIZED + "?t=a%20b%26c%2Fd"

    def test_already_sized_url_only_gets_the_cache_buster(self) -> None:
        """A URL without the size placeholder keeps its size."""
        info = stream(stream_thumbnail_url="https://x.test/a-640x360.jpg")
        embed = only_embed(render(DEFAULT_TEMPLATE, info, cache_buster="z"))
        assert embed["image"]["url"] == "https://x.test/a-640x360.jpg?t=z"

    def test_empty_cache_buster_adds_no_query(self) -> None:
        """No cache buster, no ``t`` parameter."""
        embed = only_embed(render(DEFAULT_TEMPLATE, cache_buster=""))
        assert embed["image"]["url"] == THUMBNAIL_SIZED

    def test_garbage_thumbnail_is_dropped(self) -> None:
        """A thumbnail value that is not a URL is left out rather than rejected by Discord."""
        info = stream(stream_thumbnail_url="not a url {width}")
        assert "image" not in only_embed(render(DEFAULT_TEMPLATE, info))


class TestRenderAnnouncementTimestamp:
    def test_true_gives_started_at_in_utc(self) -> None:
        """``"timestamp": true`` renders started_at as ISO 8601 in UTC with ``+00:00``."""
        info = stream(
            started_at=datetime(2026, 5, 1, 20, 4, 5, tzinfo=timezone(timedelta(hours=2)))
        )
        assert (
            only_embed(render(DEFAULT_TEMPLATE, info))["timestamp"] == "2026-05-01T18:04:05+00:00"
        )

    @pytest.mark.parametrize("value", [False, None, "yes", 1])
    def test_anything_but_true_gives_no_timestamp(self, value: object) -> None:
        """Only the boolean ``true`` turns the timestamp on."""
        assert "timestamp" not in only_embed(render({"embed": {"title": "t", "timestamp": value}}))

    def test_started_at_variable_matches_the_timestamp(self) -> None:
        """``{started_at}`` renders the same UTC ISO string."""
        assert render({"content": "{started_at}"})["content"] == "2026-05-01T18:04:05+00:00"


class TestRenderAnnouncementLegacyTemplates:
    @pytest.mark.parametrize(
        "embed",
        [
            {"title": 5, "description": ["x"], "url": 3},
            {"color": "red"},
            {"color": 0x1000000},
            {"color": -1},
            {"color": True},
            {"fields": "x"},
            {"fields": [1, "a", None, {"name": 1, "value": 2}]},
            {"thumbnail": "https://x.test/a.png", "image": {"url": 5}, "footer": "f", "author": 1},
            {"url": "twitch.tv/shroud"},
            {"url": "javascript:alert(1)"},
            {"url": "ftp://x.test/a"},
            {"url": "https://x.test:port/a"},
            {"url": "https://[::1/a"},
            {"url": "https://x.test/{stream_title}", "foo": "bar"},
        ],
    )
    def test_wrong_shapes_are_skipped_not_sent(self, embed: dict[str, Any]) -> None:
        """Anything of the wrong type or an invalid URL is left out; the rest is still sent."""
        payload = render({"content": "c", "embed": {**embed, "description": "d"}})
        assert only_embed(payload)["description"] == "d"

    @pytest.mark.parametrize("template", [{"content": 5, "embed": "x"}, {"embed": []}, {"x": 1}])
    def test_a_template_of_the_wrong_shape_gets_the_fallback(
        self, template: dict[str, Any]
    ) -> None:
        """A template with no usable part still yields a valid message."""
        assert render(template)["content"] == "Shroud is now live!"

    def test_colour_zero_is_kept(self) -> None:
        """Black (0) is a real colour, not a missing one."""
        assert only_embed(render({"embed": {"title": "t", "color": 0}}))["color"] == 0

    def test_lone_surrogates_are_replaced(self) -> None:
        """Text that cannot be encoded as UTF-8 is repaired, so the body can be sent."""
        info = stream(stream_title="bad \ud800 title", game_name="\udfff")
        embed = only_embed(render(DEFAULT_TEMPLATE, info))
        assert embed["description"] == "bad \ufffd title"
        assert embed["fields"][1]["value"] == "\ufffd"


class TestValidateTemplateShape:
    @pytest.mark.parametrize("template", [None, [], "x", 3, True])
    def test_a_template_must_be_an_object(self, template: object) -> None:
        """Anything but a JSON object is one issue at the root path."""
        assert validate_template(template) == [TemplateIssue("", "template must be a JSON object")]

    @pytest.mark.parametrize(
        ("template", "path"),
        [
            ({"content": "c", "embeds": []}, "embeds"),
            ({"content": 1}, "content"),
            ({"content": "c", "embed": "x"}, "embed"),
            ({"embed": {"title": "t", "video": {}}}, "embed.video"),
            ({"embed": {"title": 1}}, "embed.title"),
            ({"embed": {"title": "t", "description": []}}, "embed.description"),
            ({"embed": {"title": "t", "url": 1}}, "embed.url"),
            ({"embed": {"title": "t", "timestamp": "yes"}}, "embed.timestamp"),
            ({"embed": {"title": "t", "thumbnail": "x"}}, "embed.thumbnail"),
            (
                {"embed": {"title": "t", "thumbnail": {"url": "https://x.test", "w": 1}}},
                "embed.thumbnail.w",
            ),
            ({"embed": {"title": "t", "image": {}}}, "embed.image.url"),
            ({"embed": {"title": "t", "footer": {}}}, "embed.footer.text"),
            ({"embed": {"title": "t", "footer": {"text": "f", "icon": "x"}}}, "embed.footer.icon"),
            ({"embed": {"title": "t", "author": {"url": "https://x.test"}}}, "embed.author.name"),
            (
                {"embed": {"title": "t", "author": {"name": "a", "icon_url": 1}}},
                "embed.author.icon_url",
            ),
            ({"embed": {"title": "t", "fields": {}}}, "embed.fields"),
            ({"embed": {"title": "t", "fields": [1]}}, "embed.fields[0]"),
            ({"embed": {"fields": [{"name": "a"}]}}, "embed.fields[0].value"),
            ({"embed": {"fields": [{"name": "a", "value": 2}]}}, "embed.fields[0].value"),
            (
                {"embed": {"fields": [{"name": "a", "value": "b", "inline": "yes"}]}},
                "embed.fields[0].inline",
            ),
            (
                {"embed": {"fields": [{"name": "a", "value": "b", "emoji": "x"}]}},
                "embed.fields[0].emoji",
            ),
        ],
    )
    def test_wrong_shape_is_reported_at_its_path(self, template: object, path: str) -> None:
        """A wrong type, missing required key or unknown key is reported where it is."""
        assert [issue.path for issue in validate_template(template)] == [path]

    def test_null_optional_values_count_as_absent(self) -> None:
        """``null`` for an optional key means the key is absent."""
        template = {"content": "c", "embed": {"title": None, "fields": None, "footer": None}}
        assert validate_template(template) == []
        assert validate_template({"content": "c", "embed": None}) == []

    def test_every_embed_key_is_accepted(self) -> None:
        """A template using every supported key correctly has no issues."""
        assert validate_template(EVERY_PART_TEMPLATE) == []

    def test_every_issue_is_reported_at_once(self) -> None:
        """Several problems give several issues, in template order."""
        issues = validate_template(
            {"content": 1, "embed": {"color": -1, "fields": [{"name": "", "value": "{x}"}]}}
        )
        assert [issue.path for issue in issues] == [
            "content",
            "embed.color",
            "embed.fields[0].name",
            "embed.fields[0].value",
        ]

    def test_issue_reads_as_path_and_message(self) -> None:
        """str(issue) is ``path: message``, or the message alone at the root."""
        assert (
            str(TemplateIssue("embed.title", "must be a string")) == "embed.title: must be a string"
        )
        assert str(TemplateIssue("", "template must be a JSON object")) == (
            "template must be a JSON object"
        )


class TestValidateTemplateVariables:
    def test_unknown_variable_is_reported_with_path_and_name(self) -> None:
        """An unknown ``{name}`` is reported at its path, naming the variable."""
        template = {
            "content": "c",
            "embed": {
                "fields": [
                    {"name": "a", "value": "1"},
                    {"name": "b", "value": "2"},
                    {"name": "c", "value": "{viewers}"},
                ]
            },
        }
        [issue] = validate_template(template)
        assert issue.path == "embed.fields[2].value"
        assert "{viewers}" in issue.message

    def test_each_unknown_variable_is_reported(self) -> None:
        """Every unknown variable gets its own issue."""
        issues = validate_template({"content": "{a} {b} {stream_title} {width}x{height}"})
        assert [i.message.split(";")[0] for i in issues] == [
            "unknown variable {a}",
            "unknown variable {b}",
            "unknown variable {width}",
            "unknown variable {height}",
        ]
        assert {i.path for i in issues} == {"content"}

    def test_all_known_variables_are_accepted(self) -> None:
        """The nine known variables are valid anywhere in a text."""
        content = "Live: " + " ".join(f"{{{name}}}" for name in TEMPLATE_VARIABLES)
        assert validate_template({"content": content}) == []

    def test_urls_must_render_to_http_urls(self) -> None:
        """A URL that cannot render to http(s) (with sample data) is reported."""
        bad = [
            "twitch.tv/{streamer_login}",
            "{game_name}",
            "",
            "ftp://x.test",
            "https://x.test/{a}",
        ]
        for url in bad:
            paths = [i.path for i in validate_template({"content": "c", "embed": {"url": url}})]
            assert "embed.url" in paths, url

    def test_url_variables_and_http_urls_are_accepted(self) -> None:
        """URL variables and http(s) URLs with variables are fine in URL fields."""
        template = {
            "content": "c",
            "embed": {
                "url": "https://twitch.tv/{streamer_login}?g={game_name}",
                "thumbnail": {"url": "{streamer_avatar_url}"},
                "image": {"url": "{stream_thumbnail_url}"},
                "author": {
                    "name": "a",
                    "url": "http://x.test",
                    "icon_url": "{streamer_avatar_url}",
                },
                "footer": {"text": "f", "icon_url": "https://x.test/i.png"},
            },
        }
        assert validate_template(template) == []


class TestValidateTemplateLimits:
    @pytest.mark.parametrize(
        ("color", "valid"),
        [
            (0, True),
            (0xFFFFFF, True),
            (-1, False),
            (0x1000000, False),
            (True, False),
            (1.5, False),
            ("0x1", False),
        ],
    )
    def test_color_must_be_a_24_bit_integer(self, color: object, valid: bool) -> None:
        """``color`` is an integer from 0 to 0xFFFFFF."""
        issues = validate_template({"embed": {"title": "t", "color": color}})
        assert [i.path for i in issues] == ([] if valid else ["embed.color"])

    def test_more_than_25_fields_is_reported(self) -> None:
        """26 fields is one issue at ``embed.fields``."""
        fields = [{"name": "n", "value": "v"}] * 26
        assert [i.path for i in validate_template({"embed": {"fields": fields}})] == [
            "embed.fields"
        ]
        assert validate_template({"embed": {"fields": fields[:25]}}) == []

    @pytest.mark.parametrize(
        ("template", "path"),
        [
            ({"content": "c" * 2001}, "content"),
            ({"embed": {"title": "t" * 257}}, "embed.title"),
            ({"embed": {"description": "d" * 4097}}, "embed.description"),
            ({"embed": {"fields": [{"name": "n" * 257, "value": "v"}]}}, "embed.fields[0].name"),
            ({"embed": {"fields": [{"name": "n", "value": "v" * 1025}]}}, "embed.fields[0].value"),
            ({"embed": {"footer": {"text": "f" * 2049}}}, "embed.footer.text"),
            ({"embed": {"author": {"name": "a" * 257}}}, "embed.author.name"),
            ({"embed": {"description": "d" * 4000, "footer": {"text": "f" * 2001}}}, "embed"),
        ],
    )
    def test_static_text_over_a_limit_is_reported(self, template: object, path: str) -> None:
        """Text that is over a Discord limit before any variable is filled in is reported."""
        assert [i.path for i in validate_template(template)] == [path]

    def test_static_text_at_the_limits_is_accepted(self) -> None:
        """Exactly at each limit is fine."""
        template = {
            "content": "c" * 2000,
            "embed": {
                "title": "t" * 256,
                "description": "d" * 3696,
                "footer": {"text": "f" * 2048},
            },
        }
        assert validate_template(template) == []

    def test_variables_do_not_count_towards_static_length(self) -> None:
        """Only the text outside variables is measured; rendering truncates the rest."""
        assert validate_template({"content": "{stream_title}" * 200 + " live"}) == []

    @pytest.mark.parametrize("text", ["", "   "])
    def test_empty_static_field_texts_are_reported(self, text: str) -> None:
        """A field name that can never render non-empty is reported."""
        issues = validate_template(
            {"content": "c", "embed": {"fields": [{"name": text, "value": "v"}]}}
        )
        assert [(i.path, i.message) for i in issues] == [
            ("embed.fields[0].name", "must not be empty")
        ]


class TestValidateTemplateEmptyMessages:
    @pytest.mark.parametrize(
        "template",
        [
            {},
            {"content": ""},
            {"content": "{stream_title}"},
            {"content": "{mention_role}"},
            {"content": "{game_name}", "embed": {"image": {"url": "{stream_thumbnail_url}"}}},
            {"embed": {"fields": [{"name": "Game", "value": "{game_name}"}]}},
            {"embed": {"color": 5, "timestamp": True, "url": "https://x.test"}},
        ],
    )
    def test_a_template_that_can_render_nothing_is_reported(self, template: object) -> None:
        """If the message is empty whenever title, game, viewers and images are missing, say so."""
        [issue] = validate_template(template)
        assert issue.path == ""
        assert "empty message" in issue.message

    @pytest.mark.parametrize(
        "template",
        [
            {"content": "{streamer_display_name}"},
            {"content": "{stream_title}", "embed": {"title": "Live"}},
            {"embed": {"image": {"url": "https://x.test/banner.png"}}},
            {"embed": {"footer": {"text": "Twitch"}}},
        ],
    )
    def test_a_template_with_something_always_there_is_accepted(self, template: object) -> None:
        """Static text, an always-present variable or a fixed image is enough."""
        assert validate_template(template) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
template_texts = st.lists(
    st.sampled_from(
        [*(f"{{{name}}}" for name in TEMPLATE_VARIABLES), "{x}", " ", "a", "https://", "x.test/"]
    ),
    max_size=6,
).map("".join)
json_templates = st.fixed_dictionaries(
    {},
    optional={
        "content": template_texts | json_values,
        "embed": st.fixed_dictionaries(
            {},
            optional={
                "title": template_texts,
                "description": template_texts,
                "url": template_texts,
                "color": st.integers(-5, 0x1000005) | json_values,
                "timestamp": st.booleans() | json_values,
                "thumbnail": st.fixed_dictionaries({"url": template_texts}) | json_values,
                "image": st.fixed_dictionaries({"url": template_texts}),
                "footer": st.fixed_dictionaries(
                    {"text": template_texts}, optional={"icon_url": template_texts}
                ),
                "author": st.fixed_dictionaries(
                    {"name": template_texts},
                    optional={"url": template_texts, "icon_url": template_texts},
                ),
                "fields": st.lists(
                    st.fixed_dictionaries(
                        {"name": template_texts, "value": template_texts},
                        optional={"inline": json_values},
                    )
                    | json_values,
                    max_size=30,
                ),
            },
        )
        | json_values,
    },
)
hostile_pieces = st.sampled_from(
    [
        "@everyone",
        "@here",
        "<@&1>",
        "<@2>",
        "<@!3>",
        "{stream_title}",
        "{mention_role}",
        "{width}x{height}",
        "{",
        "}",
        " ",
        "\u200b",
        "\n",
        "\ud800",
        "😀",
        "",
    ]
)
untrusted_text = st.one_of(
    st.text(),
    st.text(st.characters(exclude_categories=())),
    st.lists(hostile_pieces | st.text(max_size=3), max_size=12).map("".join),
    st.builds(operator.mul, st.text(min_size=1, max_size=8), st.integers(100, 800)),
)
maybe_url = st.none() | st.just(THUMBNAIL) | st.just(AVATAR) | untrusted_text
streams = st.builds(
    StreamInfo,
    streamer_login=untrusted_text,
    streamer_display_name=untrusted_text,
    streamer_avatar_url=maybe_url,
    stream_title=untrusted_text,
    game_name=untrusted_text,
    viewer_count=st.none() | st.integers(min_value=0),
    stream_thumbnail_url=maybe_url,
    started_at=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    ),
)
roles = st.none() | st.from_regex(r"[1-9][0-9]{16,19}", fullmatch=True)
known_templates = st.sampled_from(
    [DEFAULT_TEMPLATE, EVERY_PART_TEMPLATE, HEAVY_TEMPLATE, {}, {"content": "{stream_title}"}]
)


class TestRenderAnnouncementCustomContent:
    TEMPLATE: Final = {"content": "template says {stream_title}", "embed": {"title": "{game_name}"}}

    def test_custom_content_replaces_the_template_content(self) -> None:
        """A streamer's custom message is the content; the template's embed stays."""
        payload = render_announcement(
            self.TEMPLATE,
            STREAM,
            mention_role_id=None,
            cache_buster="cb1",
            custom_content="{streamer_display_name} plays {game_name}!",
        )
        assert payload["content"] == "Shroud plays VALORANT!"
        assert payload["embeds"][0]["title"] == "VALORANT"

    def test_none_keeps_the_template_content(self) -> None:
        """Without a custom message the template's content renders as before."""
        payload = render_announcement(
            self.TEMPLATE, STREAM, mention_role_id=None, cache_buster="cb1", custom_content=None
        )
        assert payload["content"] == "template says Ranked grind"

    def test_the_role_is_still_pinged_and_limits_hold(self) -> None:
        """The configured role goes in front and the content stays within 2000 code points."""
        payload = render_announcement(
            self.TEMPLATE,
            STREAM,
            mention_role_id=ROLE,
            cache_buster="cb1",
            custom_content="x" * 1990 + "{stream_title}",
        )
        assert_valid_discord_message(payload, ROLE)
        assert payload["content"].startswith(MENTION)
        assert len(payload["content"]) <= 2000

    def test_an_empty_custom_message_without_embed_falls_back(self) -> None:
        """A custom message that renders to nothing, with no embed, still says who is live."""
        payload = render_announcement(
            {"content": "x"}, STREAM, mention_role_id=None, cache_buster="cb1", custom_content=""
        )
        assert payload["content"] == "Shroud is now live!"


class TestValidateCustomContent:
    def test_known_variables_are_valid(self) -> None:
        """A message using only known variables has no issues."""
        assert validate_custom_content("{streamer_display_name} is live: {stream_title}") == []

    def test_an_unknown_variable_is_reported(self) -> None:
        """An unknown variable is reported at `content`, naming the known ones."""
        issues = validate_custom_content("{streamer} is live")
        assert [i.path for i in issues] == ["content"]
        assert "unknown variable {streamer}" in issues[0].message

    def test_static_text_over_the_content_limit_is_reported(self) -> None:
        """More than 2000 characters without variables cannot be sent."""
        issues = validate_custom_content("x" * 2001)
        assert [i.path for i in issues] == ["content"]
        assert "Discord allows 2000" in issues[0].message

    def test_an_empty_message_is_allowed(self) -> None:
        """Empty text is valid: the embed or the fallback line still announces the stream."""
        assert validate_custom_content("") == []


class TestRenderAnnouncementProperties:
    @settings(max_examples=300, deadline=None)
    @given(template=known_templates, info=streams, role=roles, cache_buster=untrusted_text)
    def test_untrusted_stream_data_always_gives_a_valid_payload(
        self, template: dict[str, Any], info: StreamInfo, role: str | None, cache_buster: str
    ) -> None:
        """Any unicode title, name or game (long, empty, braces, mentions) fits every limit."""
        render(template, info, role=role, cache_buster=cache_buster)

    @settings(max_examples=300, deadline=None)
    @given(template=json_templates, info=streams, role=roles)
    def test_any_stored_template_gives_a_valid_payload(
        self, template: dict[str, Any], info: StreamInfo, role: str | None
    ) -> None:
        """Even a malformed or legacy template renders a payload Discord accepts."""
        render(template, info, role=role)


class TestValidateTemplateProperties:
    @settings(max_examples=300, deadline=None)
    @given(template=json_templates | json_values)
    def test_validation_never_raises_and_paths_are_strings(self, template: object) -> None:
        """Any JSON value gets a list of issues, never an exception."""
        issues = validate_template(template)
        assert all(isinstance(i, TemplateIssue) and isinstance(i.path, str) for i in issues)

    @settings(max_examples=300, deadline=None)
    @given(template=json_templates, role=roles)
    def test_a_valid_template_renders_with_no_placeholder_left(
        self, template: dict[str, Any], role: str | None
    ) -> None:
        """Whatever passes validation renders sample data with every ``{name}`` filled in."""
        if validate_template(template):
            return
        payload = render(template, SAMPLE_STREAM, role=role)
        assert not re.search(r"\{[A-Za-z_][A-Za-z0-9_]*\}", json.dumps(payload))
