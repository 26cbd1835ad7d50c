"""The dashboard's dependencies, built once by the composition root and shared by its routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from streammaxing.crypto import TokenBox
from streammaxing.discord.client import DiscordClient
from streammaxing.manage.services import ManageServices
from streammaxing.web.bot_user import BotUser
from streammaxing.web.config import WebConfig
from streammaxing.web.picker_cache import PickerCache

if TYPE_CHECKING:
    from streammaxing.web.pickers import Pickers

HERE = Path(__file__).parent

#: Starts linking a signed-in Discord user's Twitch account (the user id): the redirect to
#: Twitch's consent page. Built by the composition root from the linking routes.
StartTwitchLink = Callable[[Request, str], Awaitable[Response]]


@dataclass(frozen=True)
class WebDeps:
    """``bot`` reads guilds, channels and roles with the bot token (None without one);
    ``box`` seals users' OAuth tokens (None without TOKEN_ENCRYPTION_KEYS: tokens are then
    not kept, and a stale guild list asks the user to sign in again); ``start_twitch_link``
    lets a signed-in user link their Twitch account from /me (None without Twitch
    credentials).
    ``pickers`` remembers each guild's channel and role pickers for a few seconds
    (`streammaxing.web.picker_cache`)."""

    services: ManageServices
    config: WebConfig
    templates: Jinja2Templates
    bot: DiscordClient | None = None
    box: TokenBox | None = None
    bot_user: BotUser = field(default_factory=BotUser)
    start_twitch_link: StartTwitchLink | None = None
    pickers: PickerCache[Pickers] = field(default_factory=PickerCache)


def build_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=HERE / "templates")


def deps_of(request: Request) -> WebDeps:
    deps: WebDeps = request.app.state.web
    return deps
