"""Shapes only the admin API has: its error body and the markers for "no query" / "no body".

The operations' own request and response models are `streammaxing.manage.models`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class NoBody(BaseModel):
    """The operation takes no request body."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoQuery(BaseModel):
    """The operation takes no query parameters."""

    model_config = ConfigDict(extra="forbid")


class IssueOut(BaseModel):
    path: str
    message: str


class ErrorOut(BaseModel):
    error: str = Field(
        description="A stable code: unauthorized, forbidden, not_found, conflict, invalid, …"
    )
    message: str
    issues: list[IssueOut] = Field(default_factory=list)
