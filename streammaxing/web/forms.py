"""Reading the dashboard's HTML form posts (``application/x-www-form-urlencoded``).

Every form of the dashboard is URL-encoded text; parsing it with the standard library avoids
Starlette's multipart dependency. Bodies over `MAX_FORM_BYTES` are read as empty forms, which
every handler then refuses for the missing CSRF token.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request

from streammaxing.manage.errors import FieldIssue
from streammaxing.request_body import BodyTooLargeError, read_capped

#: The largest form accepted: a message template (a few KB) with room to spare.
MAX_FORM_BYTES = 64 * 1024

Form = Mapping[str, str]


async def read_form(request: Request) -> Form:
    """The posted fields (the first value of each); empty for other content types."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        body = await read_capped(request, MAX_FORM_BYTES)
    except BodyTooLargeError:
        return {}
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


def whole_number(form: Form, name: str, issues: list[FieldIssue]) -> int | None:
    """The field as a whole number; None when it is empty, or when it is not one (then an
    issue for it is appended to ``issues``)."""
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit():
        issues.append(FieldIssue(name, "must be a whole number"))
        return None
    return int(text)
