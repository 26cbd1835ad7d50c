"""The one error type of the Twitch fake: an answer with a status and Twitch's message.

Handlers and state methods raise it; the endpoint wrappers render it. id.twitch.tv answers
``{"status", "message"}`` (plus ``"error"`` for a few calls, e.g. a refused refresh), Helix
answers ``{"error", "status", "message"}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = ["TwitchProblemError", "helix_error_body"]


class TwitchProblemError(Exception):
    """An error answer; `with_error_key` adds Helix's ``"error"`` phrase to an OAuth body."""

    def __init__(self, status: int, message: str, *, with_error_key: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.with_error_key = with_error_key

    def oauth_body(self) -> dict[str, Any]:
        """The id.twitch.tv body: ``{"status", "message"}``, with ``"error"`` when asked."""
        if self.with_error_key:
            return helix_error_body(self.status, self.message)
        return {"status": self.status, "message": self.message}


def helix_error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": HTTPStatus(status).phrase, "status": status, "message": message}
