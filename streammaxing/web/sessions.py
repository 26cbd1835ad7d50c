"""Server-side sessions: an opaque random cookie, the row in Postgres, CSRF tokens.

The cookie holds 32 random bytes (url-safe base64); the table keeps only their SHA-256. A
session is created anonymous at /login (holding the OAuth ``state`` and PKCE verifier) or at
the local operator sign-in, and replaced by a new id when the user signs in (rotation). Idle
and absolute expiry are checked on every read; logout deletes the row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from streammaxing.schema import web_sessions as queries
from streammaxing.web.config import WebConfig
from streammaxing.web.deps import WebDeps

CSRF_FIELD = "csrf_token"


def cookie_name(config: WebConfig) -> str:
    """``__Host-`` pins the cookie to this origin over https (path /, no Domain)."""
    return "__Host-sm_session" if config.secure_cookies else "sm_session"


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def hash_id(raw: str) -> bytes:
    return hashlib.sha256(raw.encode("ascii", "replace")).digest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Opened:
    """A new session: the cookie value to set and its row's values."""

    raw_id: str
    row: queries.NewSession


def opened(
    *,
    user_id: str | None = None,
    operator: bool = False,
    oauth_state: str | None = None,
    oauth_verifier: str | None = None,
    access_token: str | None = None,
    access_expires_at: datetime | None = None,
) -> Opened:
    raw = new_session_id()
    row = queries.NewSession(
        id_hash=hash_id(raw),
        csrf_token=new_csrf_token(),
        user_id=user_id,
        operator=operator,
        oauth_state=oauth_state,
        oauth_verifier=oauth_verifier,
        access_token=access_token,
        access_expires_at=access_expires_at,
    )
    return Opened(raw, row)


def raw_id(request: Request, config: WebConfig) -> str | None:
    return request.cookies.get(cookie_name(config))


async def current_session(request: Request, deps: WebDeps) -> queries.SessionRow | None:
    """The request's live session (its idle clock restarted), or None."""
    raw = raw_id(request, deps.config)
    if not raw:
        return None
    async with deps.services.pool.connection() as conn:
        return await queries.touch_session(
            conn,
            hash_id(raw),
            idle=deps.config.session_idle,
            absolute=deps.config.session_absolute,
        )


def set_cookie(response: Response, config: WebConfig, raw: str) -> None:
    response.set_cookie(
        cookie_name(config),
        raw,
        max_age=int(config.session_absolute.total_seconds()),
        path="/",
        httponly=True,
        secure=config.secure_cookies,
        samesite="lax",
    )


def clear_cookie(response: Response, config: WebConfig) -> None:
    response.delete_cookie(
        cookie_name(config),
        path="/",
        httponly=True,
        secure=config.secure_cookies,
        samesite="lax",
    )


def csrf_ok(session: queries.SessionRow | None, submitted: object) -> bool:
    """Whether the form's token is the session's (constant-time)."""
    if session is None or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())
