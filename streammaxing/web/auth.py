"""Signing in and out, and adding the bot: /login, /auth/discord/callback, /logout, /install,
and the loopback-only local operator sign-in when no Discord application is configured."""

from __future__ import annotations

import hmac
import secrets

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from streammaxing.discord.errors import DiscordError
from streammaxing.manage import guilds, members
from streammaxing.manage.actor import DiscordUser, Surface
from streammaxing.manage.errors import ManageError
from streammaxing.manage.models import GuildUpsert, UserUpsert
from streammaxing.schema import user_guilds as cache
from streammaxing.schema import web_sessions as queries
from streammaxing.web import oauth, sessions
from streammaxing.web.account import SignInAgain, actor_for, cached
from streammaxing.web.deps import deps_of
from streammaxing.web.forms import read_form
from streammaxing.web.loopback import is_local
from streammaxing.web.render import Viewer, problem, viewer

log = structlog.get_logger(__name__)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def login(request: Request) -> Response:
    """A fresh anonymous session holding ``state`` and the PKCE verifier, then Discord."""
    deps = deps_of(request)
    if deps.config.oauth is None:
        return _see_other("/")
    auth = await oauth.authorization(deps.config.oauth, deps.config.redirect_uri)
    new = sessions.opened(oauth_state=auth.state, oauth_verifier=auth.verifier)
    async with deps.services.pool.connection() as conn, conn.transaction():
        old = sessions.raw_id(request, deps.config)
        if old:
            await queries.delete_session(conn, sessions.hash_id(old))
        await queries.insert_session(conn, new.row)
    response = RedirectResponse(auth.url, status_code=302)
    sessions.set_cookie(response, deps.config, new.raw_id)
    return response


def _state_matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def callback(request: Request) -> Response:
    """Discord's redirect back: a sign-in (``code``) or a bot install (``guild_id``)."""
    deps = deps_of(request)
    session = await sessions.current_session(request, deps)
    who = Viewer(session)
    params = request.query_params
    if deps.config.oauth is None:
        return problem(deps, request, who, 404, "Not here", "Discord sign-in is not configured.")
    if session is None or not _state_matches(session.oauth_state, params.get("state")):
        log.warning("oauth_state_rejected", has_session=session is not None)
        return problem(
            deps, request, who, 400, "Sign-in link expired",
            "This sign-in did not start here or was already used. Please sign in again.",
        )  # fmt: skip
    if params.get("error"):
        async with deps.services.pool.connection() as conn:
            await queries.set_oauth_state(conn, session.id_hash, None)
        return problem(
            deps, request, await viewer(deps, session), 200, "Nothing was changed",
            "You declined on Discord's page. You can try again whenever you like.",
        )  # fmt: skip
    if "code" not in params and params.get("guild_id") and session.user_id is not None:
        return await _installed(request, session, params["guild_id"])
    code = params.get("code")
    if not code or session.oauth_verifier is None:
        return problem(deps, request, who, 400, "Bad request", "Discord sent no sign-in code.")
    return await _signed_in(request, session, code)


async def _signed_in(request: Request, session: queries.SessionRow, code: str) -> Response:
    deps = deps_of(request)
    config = deps.config
    assert config.oauth is not None  # noqa: S101 - checked by the caller
    assert session.oauth_verifier is not None  # noqa: S101 - checked by the caller
    try:
        token = await oauth.exchange(
            config.oauth, config.redirect_uri, code, session.oauth_verifier
        )
        me = await oauth.profile(config.oauth, token.access_token)
        listed = await oauth.guild_list(config.oauth, token.access_token)
    except oauth.OAuthFailed as error:
        log.warning("oauth_sign_in_failed", reason=str(error))
        async with deps.services.pool.connection() as conn:
            await queries.delete_session(conn, session.id_hash)
        return problem(
            deps, request, Viewer(None), 400, "Sign-in failed",
            "Discord did not accept this sign-in (the link may have been used already). "
            "Please sign in again.",
        )  # fmt: skip
    actor = DiscordUser(me.user_id, Surface.DASHBOARD)
    await members.record_sign_in(
        deps.services, actor, me.user_id, UserUpsert(username=me.username, avatar=me.avatar)
    )
    sealed = deps.box.seal(token.access_token) if deps.box is not None else None
    new = sessions.opened(
        user_id=me.user_id, access_token=sealed, access_expires_at=token.expires_at
    )
    async with deps.services.pool.connection() as conn, conn.transaction():
        await cache.replace_guild_list(conn, me.user_id, cached(listed))
        await queries.delete_session(conn, session.id_hash)
        await queries.insert_session(conn, new.row)
    log.info("dashboard_signed_in", user_id=me.user_id, guilds=len(listed))
    response = _see_other("/")
    sessions.set_cookie(response, config, new.raw_id)
    return response


async def _installed(request: Request, session: queries.SessionRow, guild_id: str) -> Response:
    deps = deps_of(request)
    async with deps.services.pool.connection() as conn:
        await queries.set_oauth_state(conn, session.id_hash, None)
    who = await viewer(deps, session)
    if deps.bot is None:
        return problem(deps, request, who, 503, "No bot token", "DISCORD_BOT_TOKEN is not set.")
    try:
        actor = await actor_for(deps, session, for_write=True)
        info = await deps.bot.get_guild(guild_id)
        await guilds.register_install(
            deps.services,
            actor,
            guild_id,
            GuildUpsert(name=info.name or guild_id, icon=info.icon, owner_id=info.owner_id),
        )
    except SignInAgain:
        return _see_other("/login")
    except DiscordError:
        return problem(
            deps, request, who, 403, "The bot is not in that server",
            "Discord says the bot was not added to that server. Please try adding it again.",
        )  # fmt: skip
    except ManageError as error:
        return problem(deps, request, who, 403, "Not allowed", str(error))
    return _see_other(f"/guilds/{guild_id}")


async def install(request: Request) -> Response:
    """Discord's "add the bot" page for the signed-in user (state bound to their session)."""
    deps = deps_of(request)
    if deps.config.oauth is None:
        return _see_other("/")
    session = await sessions.current_session(request, deps)
    if session is None or session.user_id is None:
        return _see_other("/login")
    guild_id = request.query_params.get("guild_id")
    if guild_id is not None and not (guild_id.isdigit() and len(guild_id) <= 20):
        return problem(deps, request, Viewer(session), 400, "Bad request", "Unknown server id.")
    state = secrets.token_urlsafe(32)
    async with deps.services.pool.connection() as conn:
        await queries.set_oauth_state(conn, session.id_hash, state)
    url = oauth.install_url(deps.config.oauth, deps.config.redirect_uri, guild_id)
    return RedirectResponse(f"{url}&state={state}", status_code=302)


async def logout(request: Request) -> Response:
    deps = deps_of(request)
    session = await sessions.current_session(request, deps)
    form = await read_form(request)
    if not sessions.csrf_ok(session, form.get(sessions.CSRF_FIELD)):
        return problem(deps, request, Viewer(session), 403, "Forbidden", "Missing form token.")
    assert session is not None  # noqa: S101 - csrf_ok is False without a session
    async with deps.services.pool.connection() as conn:
        await queries.delete_session(conn, session.id_hash)
    response = _see_other("/")
    sessions.clear_cookie(response, deps.config)
    return response


async def operator_login(request: Request) -> Response:
    """The local operator: only without Discord credentials, only from this machine."""
    deps = deps_of(request)
    if not deps.config.local_operator or not is_local(request):
        return problem(
            deps, request, Viewer(None), 403, "Forbidden",
            "The local operator sign-in exists only on this machine without a Discord app.",
        )  # fmt: skip
    new = sessions.opened(operator=True)
    async with deps.services.pool.connection() as conn, conn.transaction():
        old = sessions.raw_id(request, deps.config)
        if old:
            await queries.delete_session(conn, sessions.hash_id(old))
        await queries.insert_session(conn, new.row)
    log.warning("dashboard_local_operator_signed_in")
    response = _see_other("/")
    sessions.set_cookie(response, deps.config, new.raw_id)
    return response
