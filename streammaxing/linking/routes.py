"""The browser side of linking a Twitch account.

- ``GET /invite/{token}``: which server invites the streamer, and a "Link with Twitch" button
  (or why the invite can no longer be used).
- ``GET /auth/twitch/login[?invite=TOKEN]``: a fresh single-use ``state`` stored server-side,
  bound to this browser by an HttpOnly SameSite=Lax cookie, then 302 to Twitch's consent page.
  The dashboard starts the same way for a signed-in Discord user (`dashboard_start`, called
  with their id from its own CSRF-checked POST), and the callback records them as the linker.
- ``GET /auth/twitch/callback``: the state is consumed first (whatever follows); then Twitch's
  ``error`` or the code exchange, the token's user from Helix, the tokens sealed with the
  configured keys, and the link stored (and the streamer tracked through a usable invite).

Twitch sends a ``redirect_mismatch`` error to the first registered redirect URI without any
``state``: that, like every failure, is a page saying what happened, never a stack trace.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from streammaxing.crypto import TokenBox
from streammaxing.linking.pages import Pages
from streammaxing.manage import links
from streammaxing.manage.invites import InviteStatus, token_hint
from streammaxing.manage.services import ManageServices
from streammaxing.schema import twitch_links
from streammaxing.twitch.errors import TwitchError
from streammaxing.twitch.user_oauth import LINK_SCOPES, TwitchUserOAuth

log = structlog.get_logger(__name__)

COOKIE: Final = "sm_twitch_link"
#: How long a started authorization stays valid.
STATE_TTL_S: Final = 600
CALLBACK_PATH: Final = "/auth/twitch/callback"
#: The dashboard page a signed-in user links from.
ME_PATH: Final = "/me"

_UNUSABLE: Final = {
    InviteStatus.EXPIRED: "This invite has expired.",
    InviteStatus.USED_UP: "This invite has been used as many times as it allows.",
    InviteStatus.REVOKED: "This invite was withdrawn by the server's admins.",
}


@dataclass(frozen=True)
class Linking:
    """What the linking routes need, built by the composition root."""

    services: ManageServices
    oauth: TwitchUserOAuth
    box: TokenBox
    public_url: str

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + CALLBACK_PATH

    @property
    def secure_cookie(self) -> bool:
        return self.public_url.startswith("https://")


def linking_routes(linking: Linking) -> list[BaseRoute]:
    pages = Pages()

    async def invite_page(request: Request) -> Response:
        token = request.path_params["token"]
        preview = await links.preview_invite(linking.services, token)
        if preview is None:
            return pages.render(
                "invite.html",
                404,
                title="Invite not found",
                usable=False,
                reason="This invite link is not valid. Check that it was copied whole.",
            )
        usable = preview.status is InviteStatus.ACTIVE
        return pages.render(
            "invite.html",
            200 if usable else 410,
            title=f"{preview.guild_name} invites you" if usable else "Invite unavailable",
            usable=usable,
            guild_name=preview.guild_name,
            reason=_UNUSABLE.get(preview.status, ""),
            login_url="/auth/twitch/login?" + urlencode({"invite": token}),
        )

    async def login(request: Request) -> Response:
        invite = request.query_params.get("invite") or None
        return await start_authorization(linking, request, invite=invite, discord_user_id=None)

    async def callback(request: Request) -> Response:
        params = request.query_params
        state, error = params.get("state"), params.get("error")
        if state is None:
            log.warning("twitch_link_failed", reason="no_state", error=error)
            if error is not None:
                return pages.message(
                    "Twitch could not complete the link",
                    [
                        f"Twitch answered: {params.get('error_description') or error}.",
                        "The service's Twitch application is not set up to return here; "
                        "tell the service's operator.",
                    ],
                    status=400,
                )
            return _start_again(pages, "This page was opened without a link request.")
        browser = request.cookies.get(COOKIE)
        async with linking.services.pool.connection() as conn, conn.transaction():
            taken = (
                None
                if browser is None
                else await twitch_links.take_state(
                    conn, state=state, browser=browser, max_age_s=STATE_TTL_S
                )
            )
        if taken is None:
            log.warning("twitch_link_failed", reason="bad_state")
            return _start_again(pages, "This link request expired or was started elsewhere.")
        response = await _finish(
            linking, pages, params.get("code"), error, taken.invite_token, taken.discord_user_id
        )
        response.delete_cookie(COOKIE, path="/", secure=linking.secure_cookie, httponly=True)
        return response

    return [
        Route("/invite/{token}", invite_page, methods=["GET"]),
        Route("/auth/twitch/login", login, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]


async def start_authorization(
    linking: Linking,
    request: Request,
    *,
    invite: str | None,
    discord_user_id: str | None,
    status_code: int = 302,
) -> Response:
    """Store a fresh state for this browser (with the invite, or the signed-in Discord user
    who starts from the dashboard) and redirect to Twitch's consent page."""
    browser = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    async with linking.services.pool.connection() as conn, conn.transaction():
        await twitch_links.sweep_states(conn, max_age_s=STATE_TTL_S)
        await twitch_links.insert_state(
            conn,
            state=state,
            browser=browser,
            invite_token=invite,
            discord_user_id=discord_user_id,
        )
    target = linking.oauth.authorize_url(
        redirect_uri=linking.redirect_uri, state=state, scopes=LINK_SCOPES
    )
    response = RedirectResponse(target, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        COOKIE,
        browser,
        max_age=STATE_TTL_S,
        path="/",
        secure=linking.secure_cookie,
        httponly=True,
        samesite="lax",
    )
    return response


def dashboard_start(linking: Linking) -> Callable[[Request, str], Awaitable[Response]]:
    """What the dashboard's CSRF-checked "Link with Twitch" form calls with the signed-in
    Discord user's id: a 303 to Twitch's consent page, that user recorded as the linker."""

    async def start(request: Request, discord_user_id: str) -> Response:
        return await start_authorization(
            linking, request, invite=None, discord_user_id=discord_user_id, status_code=303
        )

    return start


def _start_again(pages: Pages, why: str) -> Response:
    return pages.message(
        "Link not completed",
        [why, "Nothing was linked. Start again from your invite link."],
        status=400,
    )


async def _finish(
    linking: Linking,
    pages: Pages,
    code: str | None,
    error: str | None,
    invite: str | None,
    discord_user_id: str | None,
) -> Response:
    if discord_user_id is not None:
        retry = ME_PATH  # the dashboard starts a link with a CSRF-checked POST
    else:
        retry = "/auth/twitch/login" + ("?" + urlencode({"invite": invite}) if invite else "")
    if error is not None or code is None:
        log.info("twitch_link_declined", error=error)
        return pages.message(
            "Nothing was linked",
            ["You did not allow StreamMaxing to see your Twitch account, so nothing changed."],
            retry_url=retry,
        )
    try:
        tokens = await linking.oauth.exchange_code(code, redirect_uri=linking.redirect_uri)
        user = await linking.oauth.current_user(tokens.access_token)
    except TwitchError as exc:
        log.warning("twitch_link_failed", reason="twitch", error=str(exc))
        return pages.message(
            "Twitch did not answer as expected",
            ["Nothing was linked. Please try again in a moment."],
            status=502,
            retry_url=retry,
        )
    result = await links.complete_link(
        linking.services,
        links.TwitchIdentity(
            broadcaster_id=user.id,
            login=user.login.lower(),
            display_name=user.display_name or None,
            avatar_url=user.profile_image_url or None,
        ),
        links.SealedTokens(
            access=linking.box.seal(tokens.access_token.get_secret_value()),
            refresh=linking.box.seal(tokens.refresh_token.get_secret_value()),
            expires_in=tokens.expires_in,
        ),
        invite,
        linked_by=discord_user_id,
    )
    if invite is not None and result.outcome is links.LinkOutcome.INVITE_UNUSABLE:
        log.info("twitch_link_invite_unusable", invite=token_hint(invite))
    back = ME_PATH if discord_user_id is not None else None
    return _result_page(pages, user.display_name or user.login, result, back)


def _result_page(
    pages: Pages, name: str, result: links.LinkResult, back_url: str | None = None
) -> Response:
    linked = f"Your Twitch account {name} is linked."
    match result.outcome:
        case links.LinkOutcome.TRACKED:
            return pages.message(
                "You're all set",
                [linked, f"{result.guild_name} will announce your streams from now on."],
            )
        case links.LinkOutcome.ALREADY_TRACKED:
            return pages.message(
                "Already announced",
                [linked, f"{result.guild_name} already announces your streams."],
            )
        case links.LinkOutcome.INVITE_UNUSABLE:
            reason = _UNUSABLE.get(
                result.invite_status or InviteStatus.REVOKED, _UNUSABLE[InviteStatus.REVOKED]
            )
            return pages.message(
                "Linked, but the invite could not be used",
                [linked, reason, "Ask the server's admins for a new invite."],
            )
        case links.LinkOutcome.LINKED:
            return pages.message("You're all set", [linked], back_url=back_url)
