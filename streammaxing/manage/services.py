"""What the operations need, and the transaction each of them runs in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import procrastinate
from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool

from streammaxing.manage.errors import Conflict

if TYPE_CHECKING:
    from streammaxing.crypto import TokenBox
    from streammaxing.twitch.client import HelixClient
    from streammaxing.twitch.user_oauth import TwitchUserOAuth


@dataclass(frozen=True)
class ManageServices:
    """The operations' dependencies, built once by the composition root.

    ``app`` is the procrastinate App jobs are deferred through (it need not be opened: jobs are
    deferred on the operation's own connection). ``helix`` resolves Twitch logins; without it
    (dry-run) a streamer is added with an explicit broadcaster id. ``public_url`` is where
    browsers reach the service (invite links); None when ``PUBLIC_URL`` is unset.
    ``user_oauth`` and ``tokens`` revoke a streamer's stored token at Twitch on unlink; without
    them (no Twitch credentials or keys) unlinking only deletes the tokens.
    """

    pool: AsyncConnectionPool[AsyncConnection[Any]]
    app: procrastinate.App
    helix: HelixClient | None = None
    public_url: str | None = None
    user_oauth: TwitchUserOAuth | None = None
    tokens: TokenBox | None = None


@asynccontextmanager
async def transaction(services: ManageServices) -> AsyncIterator[AsyncConnection[Any]]:
    """One connection in one transaction: committed when the block ends, rolled back on error.

    A foreign-key or unique violation can only come from a concurrent change between our checks
    and our writes; it becomes `Conflict` (after the rollback).
    """
    try:
        async with services.pool.connection() as conn, conn.transaction():
            yield conn
    except (pg_errors.ForeignKeyViolation, pg_errors.UniqueViolation) as error:
        raise Conflict("the change collided with a concurrent one; try again") from error
