"""The operations' refusals in plain words for a Discord user (pure)."""

from __future__ import annotations

from streammaxing.manage.errors import (
    Conflict,
    Forbidden,
    Invalid,
    ManageError,
    NotFound,
    UpstreamUnavailable,
)

NOT_SET_UP = "StreamMaxing is not set up in this server yet: a server manager must add the bot."


def refusal(error: ManageError) -> str:
    """One sentence or two saying why the command did nothing."""
    if isinstance(error, Forbidden):
        if "not installed" in str(error):
            return NOT_SET_UP
        return "You can't do that here: it needs the Manage Server permission."
    if isinstance(error, Invalid):
        return "That did not work: " + "; ".join(issue.message for issue in error.issues) + "."
    if isinstance(error, UpstreamUnavailable):
        return "Twitch did not answer just now; try again in a minute."
    if isinstance(error, NotFound | Conflict):
        return f"{str(error)[:1].upper()}{str(error)[1:]}."
    return "That did not work."


def streamer_name(login: str, display_name: str | None) -> str:
    """``DisplayName (login)``, or the login when both read the same."""
    if display_name and display_name.lower() != login:
        return f"{display_name} ({login})"
    return display_name or login
