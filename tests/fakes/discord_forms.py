"""Message bodies as Discord checks them (50035 errors tree) and who a message pings (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

ALLOWED_MESSAGE_FLAGS = 4 | 4096 | 8192 | 32768
MENTION_KINDS = ("roles", "users", "everyone")

_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_USER_MENTION = re.compile(r"<@!?([0-9]{1,20})>")
_ROLE_MENTION = re.compile(r"<@&([0-9]{1,20})>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)")
_URL_FORBIDDEN = re.compile(r"[\s{}<>\"\\^`|]")
_HTTP = ("http", "https")
_IMAGE = ("http", "https", "attachment")
MAX_LENGTH = "BASE_TYPE_MAX_LENGTH"
REQUIRED = "BASE_TYPE_REQUIRED"
INVALID_URL = "URL_TYPE_INVALID_URL"
CHOICES = "BASE_TYPE_CHOICES"

# ---------------------------------------------------------------------------------------------
# Form validation of message bodies (pure)
# ---------------------------------------------------------------------------------------------


class FormErrors:
    """The nested `errors` tree of a 50035 Invalid Form Body."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)


Path = tuple[str | int, ...]


def _string(
    errors: FormErrors,
    path: Path,
    value: Any,
    *,
    max_len: int,
    required: bool = False,
    strip: bool = False,
) -> str:
    if value is None:
        if required:
            errors.add(path, REQUIRED, "This field is required")
        return ""
    if not isinstance(value, str):
        errors.add(path, "STRING_TYPE_CONVERT", f"Could not interpret {value!r} as string.")
        return ""
    text = value.strip() if strip else value
    if required and not text:
        errors.add(path, REQUIRED, "This field is required")
    elif len(text) > max_len:
        errors.add(path, MAX_LENGTH, f"Must be {max_len} or fewer in length.")
    return text


def _url(errors: FormErrors, path: Path, value: Any, *, schemes: tuple[str, ...]) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        errors.add(path, "STRING_TYPE_CONVERT", f"Could not interpret {value!r} as string.")
        return
    try:
        parts = urlsplit(value)
    except ValueError:
        errors.add(path, INVALID_URL, "Not a well formed URL.")
        return
    scheme = parts.scheme.lower()
    if scheme and scheme not in schemes:
        errors.add(path, INVALID_URL, f"Scheme must be one of {schemes!r}.")
    elif not scheme or not parts.netloc or _URL_FORBIDDEN.search(value):
        errors.add(path, INVALID_URL, "Not a well formed URL.")


def _dict(errors: FormErrors, path: Path, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return None
    return value


def _list(errors: FormErrors, path: Path, value: Any, *, max_len: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Must be an array.")
        return []
    if len(value) > max_len:
        errors.add(path, MAX_LENGTH, f"Must be {max_len} or fewer in length.")
    return value


def _boolean(errors: FormErrors, path: Path, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        errors.add(path, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")


def _integer(errors: FormErrors, path: Path, value: Any, *, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "NUMBER_TYPE_COERCE", f"Value {value!r} is not int.")
    elif value < low:
        errors.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
    elif value > high:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")


def _timestamp(errors: FormErrors, path: Path, value: Any) -> None:
    if value is None:
        return
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        errors.add(path, "DATE_TYPE_PARSE", f"Could not parse {value!r}. Should be ISO8601.")


def _text(
    errors: FormErrors, path: Path, parent: Mapping[str, Any], key: str, *, max_len: int
) -> str:
    """A required text child of an embed part, trimmed, length-checked."""
    return _string(
        errors, (*path, key), parent.get(key), max_len=max_len, required=True, strip=True
    )


def _validate_embed(errors: FormErrors, index: int, raw: Any) -> tuple[dict[str, Any], int]:
    """Check one embed; return its normalised form (settable fields, trimmed) and its size."""
    path: Path = ("embeds", index)
    embed = _dict(errors, path, raw)
    if embed is None:
        return {}, 0
    clean: dict[str, Any] = {"type": "rich"}
    for key, max_len in (("title", 256), ("description", 4096)):
        if embed.get(key) is not None:
            clean[key] = _string(errors, (*path, key), embed[key], max_len=max_len, strip=True)
    if embed.get("url") is not None:
        _url(errors, (*path, "url"), embed["url"], schemes=_HTTP)
        clean["url"] = embed["url"]
    if embed.get("timestamp") is not None:
        _timestamp(errors, (*path, "timestamp"), embed["timestamp"])
        clean["timestamp"] = embed["timestamp"]
    if embed.get("color") is not None:
        _integer(errors, (*path, "color"), embed["color"], low=0, high=0xFFFFFF)
        clean["color"] = embed["color"]
    if (footer := _dict(errors, (*path, "footer"), embed.get("footer"))) is not None:
        footer_path: Path = (*path, "footer")
        text = _text(errors, footer_path, footer, "text", max_len=2048)
        _url(errors, (*footer_path, "icon_url"), footer.get("icon_url"), schemes=_IMAGE)
        clean["footer"] = {"text": text, **_present(footer, "icon_url")}
    for key in ("image", "thumbnail"):
        if (media := _dict(errors, (*path, key), embed.get(key))) is not None:
            if media.get("url") is None:
                errors.add((*path, key, "url"), REQUIRED, "This field is required")
            _url(errors, (*path, key, "url"), media.get("url"), schemes=_IMAGE)
            clean[key] = {"url": media.get("url")}
    if (author := _dict(errors, (*path, "author"), embed.get("author"))) is not None:
        author_path: Path = (*path, "author")
        name = _text(errors, author_path, author, "name", max_len=256)
        _url(errors, (*author_path, "url"), author.get("url"), schemes=_HTTP)
        _url(errors, (*author_path, "icon_url"), author.get("icon_url"), schemes=_IMAGE)
        clean["author"] = {"name": name, **_present(author, "url", "icon_url")}
    fields = _list(errors, (*path, "fields"), embed.get("fields"), max_len=25)
    for number, raw_field in enumerate(fields):
        field_path: Path = (*path, "fields", number)
        if (embed_field := _dict(errors, field_path, raw_field)) is None:
            continue
        _boolean(errors, (*field_path, "inline"), embed_field.get("inline"))
        clean.setdefault("fields", []).append(
            {
                "name": _text(errors, field_path, embed_field, "name", max_len=256),
                "value": _text(errors, field_path, embed_field, "value", max_len=1024),
                "inline": bool(embed_field.get("inline", False)),
            }
        )
    return clean, _embed_size(clean)


def _embed_size(embed: Mapping[str, Any]) -> int:
    """The characters that count toward the 6000 total: title, description, field names and
    values, footer text and author name."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += sum(len(item["name"]) + len(item["value"]) for item in embed.get("fields", []))
    size += len(embed.get("footer", {}).get("text", ""))
    return size + len(embed.get("author", {}).get("name", ""))


def _present(source: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def _validate_allowed_mentions(errors: FormErrors, raw: Any) -> None:
    path: Path = ("allowed_mentions",)
    mentions = _dict(errors, path, raw)
    if mentions is None:
        return
    parse = _list(errors, (*path, "parse"), mentions.get("parse"), max_len=len(MENTION_KINDS))
    for index, kind in enumerate(parse):
        if kind not in MENTION_KINDS:
            errors.add((*path, "parse", index), CHOICES, f"Value must be one of {MENTION_KINDS!r}.")
    for kind in ("roles", "users"):
        ids = _list(errors, (*path, kind), mentions.get(kind), max_len=100)
        for index, snowflake in enumerate(ids):
            if not is_snowflake(snowflake):
                errors.add(
                    (*path, kind, index),
                    "NUMBER_TYPE_COERCE",
                    f"Value {snowflake!r} is not snowflake.",
                )
        if ids and kind in parse:
            errors.add(
                path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
    _boolean(errors, (*path, "replied_user"), mentions.get("replied_user"))


def is_snowflake(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and _SNOWFLAKE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ValidatedMessage:
    """The parts of a valid create/edit body the fake acts on (`None` = not in the body)."""

    content: str | None
    embeds: tuple[dict[str, Any], ...] | None
    has_components: bool


def validate_message_body(
    body: Mapping[str, Any], *, edit: bool
) -> tuple[ValidatedMessage, FormErrors]:
    """Check a create (or, with `edit`, an edit) body against Discord's schema and limits."""
    errors = FormErrors()
    content: str | None = None
    if "content" in body:
        content = _string(errors, ("content",), body["content"], max_len=2000)
    embeds: tuple[dict[str, Any], ...] | None = None
    if "embeds" in body:
        raw_embeds = _list(errors, ("embeds",), body["embeds"], max_len=10)
        checked = [_validate_embed(errors, index, raw) for index, raw in enumerate(raw_embeds)]
        if sum(size for _, size in checked) > 6000:
            errors.add(("embeds",), MAX_LENGTH, "Embed size exceeds maximum size of 6000")
        embeds = tuple(clean for clean, _ in checked)
    _boolean(errors, ("tts",), body.get("tts"))
    _boolean(errors, ("enforce_nonce",), body.get("enforce_nonce"))
    if not edit:
        nonce = body.get("nonce")
        if isinstance(nonce, bool) or (nonce is not None and not isinstance(nonce, str | int)):
            errors.add(
                ("nonce",), "STRING_TYPE_CONVERT", f"Could not interpret {nonce!r} as string."
            )
        elif nonce is not None and len(str(nonce)) > 25:
            errors.add(("nonce",), MAX_LENGTH, "Must be 25 or fewer in length.")
    flags = body.get("flags")
    _integer(errors, ("flags",), flags, low=0, high=2**31)
    if isinstance(flags, int) and not isinstance(flags, bool) and flags & ~ALLOWED_MESSAGE_FLAGS:
        errors.add(("flags",), CHOICES, "Value must be a combination of 4, 4096, 8192, 32768.")
    _validate_allowed_mentions(errors, body.get("allowed_mentions"))
    _list(errors, ("sticker_ids",), body.get("sticker_ids"), max_len=3)
    components = _list(errors, ("components",), body.get("components"), max_len=40)
    has_components = bool(components) or bool(body.get("sticker_ids"))
    return ValidatedMessage(content, embeds, has_components), errors


@dataclass(frozen=True, slots=True)
class Mentions:
    users: tuple[str, ...]
    roles: tuple[str, ...]
    everyone: bool
    pinged_roles: tuple[str, ...]


def compute_mentions(
    content: str,
    allowed_mentions: Mapping[str, Any] | None,
    *,
    known_users: Iterable[str],
    guild_roles: Mapping[str, bool],
    can_mention_everyone: bool,
) -> Mentions:
    """Who a message pings, from `content` only, under `allowed_mentions` (None = Discord's
    default for bot messages: users, roles and everyone). `guild_roles` maps role id →
    mentionable."""
    if allowed_mentions is None:
        parse = set(MENTION_KINDS)
        allowed_users: set[str] = set()
        allowed_roles: set[str] = set()
    else:
        parse = set(allowed_mentions.get("parse") or ())
        allowed_users = {str(value) for value in allowed_mentions.get("users") or ()}
        allowed_roles = {str(value) for value in allowed_mentions.get("roles") or ()}
    users_present = set(known_users)
    users = tuple(
        user_id
        for user_id in dict.fromkeys(_USER_MENTION.findall(content))
        if ("users" in parse or user_id in allowed_users) and user_id in users_present
    )
    roles = tuple(
        role_id
        for role_id in dict.fromkeys(_ROLE_MENTION.findall(content))
        if ("roles" in parse or role_id in allowed_roles) and role_id in guild_roles
    )
    everyone = (
        "everyone" in parse
        and can_mention_everyone
        and _EVERYONE_MENTION.search(content) is not None
    )
    pinged = tuple(role_id for role_id in roles if guild_roles[role_id] or can_mention_everyone)
    return Mentions(users, roles, everyone, pinged)
