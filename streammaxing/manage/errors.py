"""Every way an operation can refuse, modelled once for every surface that calls it.

The operations raise these; the admin API maps each class to one HTTP status and the CLI to one
exit code, so every edge tells the same story::

    ManageError
    ├── Forbidden            the actor may not do this (decided before anything about another
    │                        guild or user is read, so it never tells whether it exists):
    │                        HTTP 403, exit 1; nothing was read or written
    ├── NotFound             an id names nothing (or nothing linked): HTTP 404, exit 1
    ├── Conflict             the request contradicts the current state, e.g. a streamer the
    │                        guild already tracks, or a concurrent change: HTTP 409, exit 1
    ├── Invalid              input that is well-formed but unacceptable, each problem with its
    │                        field path (template issues, a missing channel): HTTP 422, exit 2
    └── UpstreamUnavailable  Twitch could not answer a lookup the operation needs: HTTP 502,
                             exit 1; nothing was written

The original exception (a psycopg or Twitch error), when there is one, stays as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

__all__ = [
    "Conflict",
    "FieldIssue",
    "Forbidden",
    "Invalid",
    "ManageError",
    "NotFound",
    "UpstreamUnavailable",
    "issues_from_validation",
]


class ManageError(Exception):
    """Base class of the operations' refusals; ``str(error)`` is the message to show."""


class Forbidden(ManageError):  # noqa: N818 - names the condition, like HTTP's 403 Forbidden
    """The actor is not allowed this operation on this guild or user."""


class NotFound(ManageError):  # noqa: N818 - names the condition, like HTTP's 404 Not Found
    """The guild, user, streamer link, config or subscription named does not exist."""


class Conflict(ManageError):  # noqa: N818 - names the condition, like HTTP's 409 Conflict
    """The request cannot be applied to the current state (nothing was changed)."""


@dataclass(frozen=True)
class FieldIssue:
    """One problem with the input; ``path`` locates it (``message_template.embed.title``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class Invalid(ManageError):  # noqa: N818 - names the condition, like HTTP's 422
    """The input is unacceptable; ``issues`` lists every problem with its field path."""

    def __init__(self, issues: Iterable[FieldIssue], message: str = "invalid input") -> None:
        self.issues = tuple(issues)
        super().__init__(f"{message}: " + "; ".join(str(issue) for issue in self.issues))


class UpstreamUnavailable(ManageError):  # noqa: N818 - names the condition
    """Twitch (Helix) failed or refused the lookup this operation depends on."""


def _format_location(location: Iterable[int | str]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


def issues_from_validation(error: ValidationError, prefix: str = "") -> list[FieldIssue]:
    """Pydantic's errors as field issues: ``loc`` becomes a dotted path under ``prefix``."""
    issues: list[FieldIssue] = []
    for detail in error.errors(include_url=False, include_input=False):
        location = [prefix, *detail["loc"]] if prefix else list(detail["loc"])
        issues.append(FieldIssue(_format_location(location), detail["msg"]))
    return issues
