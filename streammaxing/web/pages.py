"""The pages: `/` (landing or my servers), `/guilds/{guild_id}` and `/me`, and their forms.

Every read and write is an operation of `streammaxing.manage` called with the session's actor;
a refusal is the 403 page, invalid input is shown next to its field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from streammaxing.manage import guilds, links, members, streamers
from streammaxing.manage.actor import Actor
from streammaxing.manage.errors import (
    Conflict,
    FieldIssue,
    Forbidden,
    Invalid,
    ManageError,
    NotFound,
    UpstreamUnavailable,
    issues_from_validation,
)
from streammaxing.manage.models import (
    GuildConfigUpdate,
    PageQuery,
    PreferenceSet,
    PreviewRequest,
    StreamerAdd,
    StreamerUpdate,
)
from streammaxing.manage.rules import may_manage
from streammaxing.schema.web_sessions import SessionRow
from streammaxing.web import sessions
from streammaxing.web.account import SignInAgain, actor_for, listed_guilds
from streammaxing.web.deps import WebDeps, deps_of
from streammaxing.web.forms import Form, read_form, whole_number
from streammaxing.web.guild_view import guild_context
from streammaxing.web.link_parts import create_invite, me_link_parts, revoke_invite
from streammaxing.web.paging import PAGE_SIZE, Paged, page_number
from streammaxing.web.render import Viewer, page, problem, viewer

Errors = dict[str, str]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _issues(issues: tuple[FieldIssue, ...] | list[FieldIssue]) -> Errors:
    errors: Errors = {}
    for issue in issues:
        errors.setdefault(issue.path.split(".")[0] or "form", str(issue.message))
        errors.setdefault(issue.path or "form", str(issue.message))
    return errors


async def home(request: Request) -> Response:
    deps = deps_of(request)
    session = await sessions.current_session(request, deps)
    who = await viewer(deps, session)
    if session is None or not who.signed_in:
        return page(deps, request, "landing.html", who)
    servers: list[dict[str, Any]] = []
    operator_guilds: list[Any] = []
    if session.operator:
        actor = await actor_for(deps, session)
        operator_guilds = (
            await guilds.list_guilds(deps.services, actor, PageQuery.model_validate({"limit": 200}))
        ).items
    if session.user_id is not None:
        actor = await actor_for(deps, session)
        for row in await listed_guilds(deps, session.user_id):
            servers.append(
                {
                    "guild_id": row.guild_id,
                    "name": row.name,
                    "installed": row.installed,
                    "manage": may_manage(actor, row.guild_id),
                }
            )
    return page(
        deps, request, "home.html", who, {"servers": servers, "operator_guilds": operator_guilds}
    )


async def _signed_in(request: Request) -> tuple[WebDeps, SessionRow, Viewer] | Response:
    deps = deps_of(request)
    session = await sessions.current_session(request, deps)
    if session is None or not (session.operator or session.user_id):
        return _see_other("/login" if deps.config.oauth is not None else "/")
    return deps, session, await viewer(deps, session)


async def _signed_form(
    request: Request,
) -> tuple[WebDeps, SessionRow, Viewer, Form] | Response:
    """`_signed_in` for a posted form: the form read, and 403 unless it carries the session's
    form token."""
    state = await _signed_in(request)
    if isinstance(state, Response):
        return state
    deps, session, who = state
    form = await read_form(request)
    if not sessions.csrf_ok(session, form.get(sessions.CSRF_FIELD)):
        return problem(deps, request, who, 403, "Forbidden", "The form token is missing or old.")
    return deps, session, who, form


async def _reader(request: Request) -> tuple[WebDeps, SessionRow, Viewer, Actor] | Response:
    """`_signed_in` for a page that only reads: the viewer's name and the actor (the cached
    guild list) are read concurrently, on two pooled connections."""
    deps = deps_of(request)
    session = await sessions.current_session(request, deps)
    if session is None or not (session.operator or session.user_id):
        return _see_other("/login" if deps.config.oauth is not None else "/")
    who, actor = await asyncio.gather(viewer(deps, session), actor_for(deps, session))
    return deps, session, who, actor


async def _refused(deps: WebDeps, request: Request, who: Viewer, error: ManageError) -> Response:
    if isinstance(error, Forbidden):
        return problem(deps, request, who, 403, "Not allowed", str(error))
    if isinstance(error, NotFound):
        return problem(deps, request, who, 404, "Not found", str(error))
    if isinstance(error, Conflict):
        return problem(deps, request, who, 409, "Changed meanwhile", str(error))
    return problem(deps, request, who, 422, "Could not do that", str(error))


async def guild_page(request: Request) -> Response:
    state = await _reader(request)
    if isinstance(state, Response):
        return state
    deps, _session, who, actor = state
    guild_id = request.path_params["guild_id"]
    shown = page_number(request.query_params.get("page"))
    refresh = request.query_params.get("refresh") == "1"
    try:
        context = await guild_context(deps, actor, guild_id, page=shown, refresh=refresh)
    except ManageError as error:
        return await _refused(deps, request, who, error)
    return page(deps, request, "guild.html", who, context)


# -- forms -----------------------------------------------------------------------------------

FormAction = Callable[[WebDeps, Actor, str, Form], Awaitable[None]]


def _checked(form: Form, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


async def _save_config(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    fields: dict[str, Any] = {
        "enabled": _checked(form, "enabled"),
        "dm_enabled": _checked(form, "dm_enabled"),
    }
    channel = str(form.get("channel_id") or "").strip()
    if channel:
        fields["channel_id"] = channel
    role = str(form.get("mention_role_id") or "").strip()
    fields["mention_role_id"] = role or None
    issues: list[FieldIssue] = []
    fields["restart_cooldown_seconds"] = whole_number(form, "restart_cooldown_seconds", issues)
    text = str(form.get("message_template") or "").strip()
    if text:
        try:
            fields["message_template"] = json.loads(text)
        except json.JSONDecodeError as error:
            issues.append(FieldIssue("message_template", f"is not valid JSON: {error.msg}"))
    if issues:
        raise Invalid(issues)
    try:
        body = GuildConfigUpdate.model_validate(fields)
    except ValidationError as error:
        raise Invalid(issues_from_validation(error)) from error
    await guilds.set_config(deps.services, actor, guild_id, body)


async def _reenable(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    await guilds.set_config(
        deps.services, actor, guild_id, GuildConfigUpdate.model_validate({"enabled": True})
    )


async def _add_streamer(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    fields: dict[str, Any] = {"login": str(form.get("login") or "").strip().lower()}
    broadcaster = str(form.get("broadcaster_id") or "").strip()
    if broadcaster:
        fields["broadcaster_id"] = broadcaster
    try:
        body = StreamerAdd.model_validate(fields)
    except ValidationError as error:
        raise Invalid(issues_from_validation(error)) from error
    await streamers.track_streamer(deps.services, actor, guild_id, body)


async def _toggle_streamer(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    body = StreamerUpdate(enabled=_checked(form, "enabled"))
    await streamers.update_streamer(
        deps.services, actor, guild_id, str(form.get("streamer") or ""), body
    )


async def _custom_message(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    await streamers.set_custom_content(
        deps.services,
        actor,
        guild_id,
        str(form.get("streamer") or ""),
        str(form.get("custom_content") or "").strip() or None,
    )


async def _remove_streamer(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    await streamers.untrack_streamer(
        deps.services, actor, guild_id, str(form.get("streamer") or "")
    )


GUILD_FORMS: dict[str, FormAction] = {
    "config": _save_config,
    "reenable": _reenable,
    "streamer-add": _add_streamer,
    "streamer-toggle": _toggle_streamer,
    "streamer-message": _custom_message,
    "streamer-remove": _remove_streamer,
    "invite-create": create_invite,
    "invite-revoke": revoke_invite,
}


async def guild_form(request: Request) -> Response:
    """A guild form. The viewer's name is read only for a page shown (a refusal, an invalid
    form): a successful post answers a redirect without it."""
    deps = deps_of(request)
    session = await sessions.current_session(request, deps)
    if session is None or not (session.operator or session.user_id):
        return _see_other("/login" if deps.config.oauth is not None else "/")
    guild_id = request.path_params["guild_id"]
    action = GUILD_FORMS.get(request.path_params["action"])
    form = await read_form(request)
    if not sessions.csrf_ok(session, form.get(sessions.CSRF_FIELD)):
        who = await viewer(deps, session)
        return problem(deps, request, who, 403, "Forbidden", "The form token is missing or old.")
    if action is None:
        who = await viewer(deps, session)
        return problem(deps, request, who, 404, "Not found", "No such form.")
    try:
        actor = await actor_for(deps, session, for_write=True)
    except SignInAgain:
        return _see_other("/login")
    try:
        await action(deps, actor, guild_id, form)
    except (Invalid, UpstreamUnavailable, Conflict) as error:
        who = await viewer(deps, session)
        errors = _issues(error.issues) if isinstance(error, Invalid) else {"form": str(error)}
        try:
            context = await guild_context(deps, actor, guild_id, dict(form))
        except ManageError as refused:
            return await _refused(deps, request, who, refused)
        status = 422 if isinstance(error, Invalid) else 409
        return page(deps, request, "guild.html", who, context | {"errors": errors}, status=status)
    except ManageError as error:
        return await _refused(deps, request, await viewer(deps, session), error)
    if action is _save_config:
        deps.pickers.forget(guild_id)  # the next view reads channels and roles anew
    return _see_other(f"/guilds/{guild_id}")


async def preview_api(request: Request) -> Response:
    """The live preview: the posted template rendered by the workers' renderer (JSON)."""
    from starlette.responses import JSONResponse

    state = await _signed_in(request)
    if isinstance(state, Response):
        return state
    deps, session, _who = state
    guild_id = request.path_params["guild_id"]
    form = await read_form(request)
    if not sessions.csrf_ok(session, form.get(sessions.CSRF_FIELD)):
        return JSONResponse({"errors": {"form": "missing form token"}}, status_code=403)
    actor = await actor_for(deps, session)
    try:
        template = json.loads(str(form.get("message_template") or ""))
    except json.JSONDecodeError as error:
        return JSONResponse(
            {"errors": {"message_template": f"is not valid JSON: {error.msg}"}}, status_code=422
        )
    try:
        body = PreviewRequest.model_validate({"message_template": template})
        out = await guilds.preview(deps.services, actor, guild_id, body)
    except ValidationError as error:
        return JSONResponse({"errors": _issues(issues_from_validation(error))}, status_code=422)
    except Invalid as error:
        return JSONResponse({"errors": _issues(error.issues)}, status_code=422)
    except ManageError as error:
        status = 403 if isinstance(error, Forbidden) else 422
        return JSONResponse({"errors": {"form": str(error)}}, status_code=status)
    return JSONResponse({"payload": out.payload})


# -- /me -------------------------------------------------------------------------------------


async def me_page(request: Request) -> Response:
    state = await _reader(request)
    if isinstance(state, Response):
        return state
    deps, session, who, actor = state
    if session.user_id is None:
        return page(deps, request, "me.html", who, {"overview": None})
    only = request.query_params.get("guild")
    overview = await members.member_overview(
        deps.services,
        actor,
        session.user_id,
        page=page_number(request.query_params.get("guilds")),
        only=only,
        streamer_page=page_number(request.query_params.get("page")),
        streamers_per_page=PAGE_SIZE,
    )
    shown = [
        {"guild": g, "streamers": Paged(g.streamers, g.page, g.pages, g.total)}
        for g in overview.guilds
    ]
    twitch = await me_link_parts(deps, actor, session.user_id)
    return page(deps, request, "me.html", who, {"overview": overview, "shown": shown} | twitch)


async def me_form(request: Request) -> Response:
    state = await _signed_form(request)
    if isinstance(state, Response):
        return state
    deps, session, who, form = state
    user_id = session.user_id
    if user_id is None:
        return problem(deps, request, who, 403, "Not allowed", "The operator has no member data.")
    action = request.path_params["action"]
    guild_id = str(form.get("guild_id") or "")
    try:
        actor = await actor_for(deps, session, for_write=True)
        if action == "mute":
            await members.set_preference(
                deps.services, actor, user_id, guild_id, str(form.get("streamer") or ""),
                PreferenceSet(enabled=not _checked(form, "muted")),
            )  # fmt: skip
        elif action == "dm":
            if _checked(form, "subscribed"):
                await members.subscribe(deps.services, actor, guild_id, user_id)
            else:
                await members.unsubscribe(deps.services, actor, guild_id, user_id)
        elif action == "erase":
            await members.erase_user(deps.services, actor, user_id)
            response = _see_other("/")
            sessions.clear_cookie(response, deps.config)
            return response
        else:
            return problem(deps, request, who, 404, "Not found", "No such form.")
    except SignInAgain:
        return _see_other("/login")
    except ManageError as error:
        return await _refused(deps, request, who, error)
    return _see_other("/me")


# -- /me: Twitch link ------------------------------------------------------------------------


async def twitch_link(request: Request) -> Response:
    """Start linking the signed-in user's Twitch account (POST with the form token)."""
    state = await _signed_form(request)
    if isinstance(state, Response):
        return state
    deps, session, who, _form = state
    if session.user_id is None:
        return problem(deps, request, who, 403, "Not allowed", "Sign in with Discord to link.")
    if deps.start_twitch_link is None:
        return problem(deps, request, who, 404, "Not found", "Twitch linking is not set up.")
    return await deps.start_twitch_link(request, session.user_id)


async def twitch_unlink(request: Request) -> Response:
    """Unlink a Twitch account: its tokens are deleted and revoked at Twitch (the user who
    linked it, or the operator)."""
    state = await _signed_form(request)
    if isinstance(state, Response):
        return state
    deps, session, who, form = state
    try:
        actor = await actor_for(deps, session, for_write=True)
        await links.unlink_streamer(deps.services, actor, str(form.get("streamer") or ""))
    except SignInAgain:
        return _see_other("/login")
    except ManageError as error:
        return await _refused(deps, request, who, error)
    return _see_other("/me")
