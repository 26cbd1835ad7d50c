"""The dashboard's streamer-linking parts. On the guild page: its invites (create, list,
revoke) and the notice naming the streamers the EventSub budget left out, both a manager's
view. On /me: the Twitch accounts the user linked, and whether linking is offered.

Every read and write goes through `streammaxing.manage` with the session's actor, which
refuses anyone else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from streammaxing.manage import invites, links
from streammaxing.manage.actor import Actor
from streammaxing.manage.errors import FieldIssue, Invalid, issues_from_validation
from streammaxing.manage.invites import InviteCreate, InviteStatus
from streammaxing.manage.rules import may_manage
from streammaxing.web.deps import WebDeps
from streammaxing.web.forms import Form, whole_number

#: The lifetimes a manager picks from (hours, label); the default is the operation's.
LIFETIMES: Final = ((1, "1 hour"), (24, "1 day"), (7 * 24, "7 days"), (30 * 24, "30 days"))

_STATUS_LABELS: Final = {
    InviteStatus.ACTIVE: "active",
    InviteStatus.EXPIRED: "expired",
    InviteStatus.USED_UP: "used up",
    InviteStatus.REVOKED: "revoked",
}


async def guild_link_parts(deps: WebDeps, actor: Actor, guild_id: str) -> dict[str, Any]:
    """The invites and left-out streamers of the guild page (nothing for a non-manager)."""
    if not may_manage(actor, guild_id):
        return {}
    linking = await links.guild_linking(deps.services, actor, guild_id)
    now = datetime.now(UTC)
    base = deps.config.public_url.rstrip("/")
    shown = []
    for invite in linking.invites:
        status = invites.invite_status(invite, now)
        shown.append(
            {
                "invite": invite,
                "url": base + invite.path,
                "active": status is InviteStatus.ACTIVE,
                "status": _STATUS_LABELS[status],
            }
        )
    return {
        "invites": shown,
        "invite_lifetimes": LIFETIMES,
        "invite_default_hours": invites.DEFAULT_LIFETIME_HOURS,
        "invite_max_uses": invites.MAX_USES,
        "left_out": linking.left_out,
    }


async def create_invite(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    issues: list[FieldIssue] = []
    fields = {
        name: value
        for name in ("expires_in_hours", "max_uses")
        if (value := whole_number(form, name, issues)) is not None
    }
    if issues:
        raise Invalid(issues)
    try:
        body = InviteCreate.model_validate(fields)
    except ValidationError as error:
        raise Invalid(issues_from_validation(error)) from error
    await invites.create_invite(deps.services, actor, guild_id, body)


async def revoke_invite(deps: WebDeps, actor: Actor, guild_id: str, form: Form) -> None:
    await invites.revoke_invite(deps.services, actor, guild_id, str(form.get("invite") or ""))


async def me_link_parts(deps: WebDeps, actor: Actor, user_id: str) -> dict[str, Any]:
    """/me's Twitch part: the accounts the user linked and whether linking is configured."""
    return {
        "twitch_linking": deps.start_twitch_link is not None,
        "twitch_links": await links.user_links(deps.services, actor, user_id),
    }
