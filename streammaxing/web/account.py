"""Who the browser is: the actor for a session, and keeping the user's guild list fresh.

The guild list comes from ``GET /users/@me/guilds`` at sign-in and is cached in Postgres. Pages
read the cache as it is; a form that writes first refreshes a copy older than
`WebConfig.guild_list_max_age` with the user's (sealed) token. When that is impossible (no
token kept, token expired or revoked) the user is asked to sign in again (`SignInAgain`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from streammaxing.crypto import TokenUnreadable
from streammaxing.manage.actor import Actor, DiscordUser, GuildEntry, Operator, Surface
from streammaxing.schema import user_guilds as cache
from streammaxing.schema.web_sessions import SessionRow
from streammaxing.web import oauth
from streammaxing.web.deps import WebDeps


class SignInAgain(Exception):  # noqa: N818 - names the condition
    """The guild list is too old to rely on and cannot be refreshed without the user."""


def cached(guilds: list[oauth.ListedGuild]) -> list[cache.CachedGuild]:
    return [cache.CachedGuild(g.guild_id, g.name, g.icon, g.owner, g.permissions) for g in guilds]


async def refresh_guilds(deps: WebDeps, session: SessionRow) -> None:
    """Read the user's guild list from Discord with the session's token and cache it."""
    config = deps.config
    if config.oauth is None or deps.box is None or session.access_token is None:
        raise SignInAgain("no Discord token is kept for this session")
    if session.access_expires_at is not None and session.access_expires_at <= datetime.now(UTC):
        raise SignInAgain("the Discord token expired")
    try:
        token = deps.box.open(session.access_token)
    except TokenUnreadable as error:
        raise SignInAgain("the kept Discord token cannot be read") from error
    try:
        guilds = await oauth.guild_list(config.oauth, token)
    except oauth.OAuthFailed as error:
        raise SignInAgain(str(error)) from error
    assert session.user_id is not None  # noqa: S101 - only user sessions reach here
    async with deps.services.pool.connection() as conn, conn.transaction():
        await cache.replace_guild_list(conn, session.user_id, cached(guilds))


async def actor_for(deps: WebDeps, session: SessionRow, *, for_write: bool = False) -> Actor:
    """The session's actor; ``for_write`` refreshes a guild list too old to rely on."""
    if session.operator:
        return Operator(Surface.DASHBOARD)
    user_id = session.user_id
    if user_id is None:
        raise SignInAgain("the session is not signed in")
    if for_write:
        async with deps.services.pool.connection() as conn:
            fetched_at = await cache.guild_list_fetched_at(conn, user_id)
        if fetched_at is None or datetime.now(UTC) - fetched_at > deps.config.guild_list_max_age:
            await refresh_guilds(deps, session)
    async with deps.services.pool.connection() as conn:
        rows = await cache.user_guilds(conn, user_id)
    return DiscordUser.from_guild_list(
        user_id,
        Surface.DASHBOARD,
        [GuildEntry(row.guild_id, owner=row.owner, permissions=row.permissions) for row in rows],
    )


async def listed_guilds(deps: WebDeps, user_id: str) -> list[cache.UserGuildRow]:
    async with deps.services.pool.connection() as conn:
        return await cache.user_guilds(conn, user_id)
