"""Check a message template before it is saved, reporting every problem with its path."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

from streammaxing.templating import limits
from streammaxing.templating.defaults import SAMPLE_STREAM
from streammaxing.templating.embed import is_web_url, render_embed
from streammaxing.templating.model import TemplateIssue
from streammaxing.templating.render import render_content
from streammaxing.templating.variables import (
    TEMPLATE_VARIABLES,
    find_variables,
    substitute,
    variable_values,
)

_TEMPLATE_KEYS: Final = ("content", "embed")
_EMBED_KEYS: Final = (
    "title",
    "description",
    "url",
    "color",
    "thumbnail",
    "image",
    "footer",
    "author",
    "fields",
    "timestamp",
)
_KNOWN: Final = ", ".join(f"{{{name}}}" for name in TEMPLATE_VARIABLES)
_ALL_EMPTY: Final = dict.fromkeys(TEMPLATE_VARIABLES, "")
_SAMPLE_VALUES: Final = variable_values(SAMPLE_STREAM, mention="<@&1>", cache_buster="preview")
# The stream a template must still say something about: everything that can be missing is.
_SPARSE_VALUES: Final = variable_values(
    dataclasses.replace(
        SAMPLE_STREAM,
        streamer_avatar_url=None,
        stream_title="",
        game_name="",
        viewer_count=None,
        stream_thumbnail_url=None,
    ),
    mention="",
    cache_buster="preview",
)


_Object = Mapping[str, object]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Checker:
    """Collects issues while walking one template."""

    def __init__(self) -> None:
        self.issues: list[TemplateIssue] = []
        self.static_total = 0

    def add(self, path: str, message: str) -> None:
        self.issues.append(TemplateIssue(path, message))

    def known_keys(self, obj: _Object, allowed: tuple[str, ...], path: str) -> None:
        for key in obj:
            if key not in allowed:
                expected = ", ".join(allowed)
                self.add(_join(path, str(key)), f"unknown key; expected one of: {expected}")

    def mapping(self, obj: _Object, key: str, path: str) -> _Object | None:
        """``obj[key]`` if it is an object; None (after reporting) if it is anything else."""
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.add(_join(path, key), "must be an object")
            return None
        return value

    def string(self, obj: _Object, key: str, path: str, *, required: bool) -> str | None:
        value, where = obj.get(key), _join(path, key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.add(where, "is required" if key not in obj else "must be a string")
            return None
        for name in find_variables(value):
            if name not in TEMPLATE_VARIABLES:
                self.add(where, f"unknown variable {{{name}}}; known variables: {_KNOWN}")
        return value

    def text(
        self, obj: _Object, key: str, path: str, *, limit: int, required: bool = False
    ) -> None:
        """A text value: its static part (variables rendered empty) must fit Discord's limit."""
        value = self.string(obj, key, path, required=required)
        if value is None:
            return
        static = substitute(value, _ALL_EMPTY).strip()
        if len(static) > limit:
            self.add(
                _join(path, key),
                f"text without variables is {len(static)} characters; Discord allows {limit}",
            )
        if required and not static and not any(find_variables(value)):
            self.add(_join(path, key), "must not be empty")
        if path:  # every text except the message content counts towards the embed total
            self.static_total += len(static)

    def url(self, obj: _Object, key: str, path: str, *, required: bool = False) -> None:
        value = self.string(obj, key, path, required=required)
        if value is not None and not is_web_url(substitute(value, _SAMPLE_VALUES, in_url=True)):
            self.add(_join(path, key), "must be an http(s) URL (after filling in variables)")


def _check_fields(checker: _Checker, raw: object, path: str) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        checker.add(path, "must be a list of fields")
        return
    if len(raw) > limits.FIELDS_MAX:
        checker.add(path, f"has {len(raw)} fields; Discord allows {limits.FIELDS_MAX}")
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            checker.add(where, "must be an object with name, value and optional inline")
            continue
        checker.known_keys(item, ("name", "value", "inline"), where)
        checker.text(item, "name", where, limit=limits.FIELD_NAME_MAX, required=True)
        checker.text(item, "value", where, limit=limits.FIELD_VALUE_MAX, required=True)
        if item.get("inline") is not None and not isinstance(item["inline"], bool):
            checker.add(f"{where}.inline", "must be true or false")


def _check_color(checker: _Checker, raw: object) -> None:
    in_range = isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= limits.COLOR_MAX
    if raw is not None and not in_range:
        checker.add("embed.color", f"must be an integer from 0 to {limits.COLOR_MAX} (0xFFFFFF)")


def _check_embed(checker: _Checker, embed: _Object) -> None:
    checker.known_keys(embed, _EMBED_KEYS, "embed")
    checker.text(embed, "title", "embed", limit=limits.TITLE_MAX)
    checker.text(embed, "description", "embed", limit=limits.DESCRIPTION_MAX)
    checker.url(embed, "url", "embed")
    _check_color(checker, embed.get("color"))
    if embed.get("timestamp") is not None and not isinstance(embed["timestamp"], bool):
        checker.add("embed.timestamp", "must be true or false")
    for key in ("thumbnail", "image"):
        image = checker.mapping(embed, key, "embed")
        if image is not None:
            checker.known_keys(image, ("url",), f"embed.{key}")
            checker.url(image, "url", f"embed.{key}", required=True)
    footer = checker.mapping(embed, "footer", "embed")
    if footer is not None:
        checker.known_keys(footer, ("text", "icon_url"), "embed.footer")
        checker.text(footer, "text", "embed.footer", limit=limits.FOOTER_TEXT_MAX, required=True)
        checker.url(footer, "icon_url", "embed.footer")
    author = checker.mapping(embed, "author", "embed")
    if author is not None:
        checker.known_keys(author, ("name", "url", "icon_url"), "embed.author")
        checker.text(author, "name", "embed.author", limit=limits.AUTHOR_NAME_MAX, required=True)
        checker.url(author, "url", "embed.author")
        checker.url(author, "icon_url", "embed.author")
    _check_fields(checker, embed.get("fields"), "embed.fields")
    if checker.static_total > limits.EMBED_TOTAL_MAX:
        checker.add(
            "embed",
            f"texts without variables total {checker.static_total} characters; "
            f"Discord allows {limits.EMBED_TOTAL_MAX} across an embed",
        )


def validate_template(template: object) -> list[TemplateIssue]:
    """Every problem with ``template``; an empty list means it is valid and safe to save.

    A template is a JSON object with an optional ``content`` string and an optional ``embed``
    object of Discord's embed keys (``timestamp`` being a boolean). Reported: wrong shapes and
    types, unknown keys, unknown ``{variables}``, a colour outside 0..0xFFFFFF, more than 25
    fields, URLs that cannot render to http(s), static text already over a Discord limit, and a
    template that renders an empty message when the stream has no title, game, viewers or images.
    """
    if not isinstance(template, Mapping):
        return [TemplateIssue("", "template must be a JSON object")]
    checker = _Checker()
    checker.known_keys(template, _TEMPLATE_KEYS, "")
    checker.text(template, "content", "", limit=limits.CONTENT_MAX)
    embed = checker.mapping(template, "embed", "")
    if embed is not None:
        _check_embed(checker, embed)
    if not checker.issues:
        content = render_content(template.get("content"), _SPARSE_VALUES, "")
        if not content and render_embed(embed, _SPARSE_VALUES) is None:
            checker.add(
                "",
                "renders an empty message when the stream has no title, game, viewer count or "
                "images; add static text to content or the embed",
            )
    return checker.issues


def validate_custom_content(text: str) -> list[TemplateIssue]:
    """Every problem with a per-streamer message that replaces a template's ``content``.

    The same checks as a template's ``content``: known ``{variables}`` only, and the text
    without variables within Discord's 2000-character content limit. Issues have the path
    ``content``. An empty message is allowed: the template's embed or the fallback text remains.
    """
    checker = _Checker()
    checker.text({"content": text}, "content", "", limit=limits.CONTENT_MAX)
    return checker.issues
