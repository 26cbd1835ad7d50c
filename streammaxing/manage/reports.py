"""Reports for the operator: what the data says across guilds, changing nothing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from streammaxing.manage.actor import Actor
from streammaxing.manage.rules import require_operator
from streammaxing.manage.services import ManageServices
from streammaxing.schema.inactive_guilds import inactive_guilds as inactive_guild_rows


class InactiveGuildsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(default=90, ge=1, le=36_500)


class InactiveGuildOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    guild_id: str
    name: str
    last_delivery_at: datetime | None = Field(description="None: never delivered to")
    created_at: datetime | None


class InactiveGuildsOut(BaseModel):
    days: int
    items: list[InactiveGuildOut]


async def inactive_guilds(
    services: ManageServices, actor: Actor, query: InactiveGuildsQuery
) -> InactiveGuildsOut:
    """Guilds with no announcement delivered in `query.days` days, longest inactive first.
    Reported only: nothing is deleted. The operator's alone: it spans every guild."""
    require_operator(actor)
    async with services.pool.connection() as conn:
        rows = await inactive_guild_rows(conn, query.days)
    return InactiveGuildsOut(
        days=query.days, items=[InactiveGuildOut.model_validate(row) for row in rows]
    )
