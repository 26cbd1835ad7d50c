"""A streamer's Twitch link: the encrypted user tokens on ``streamers`` and the OAuth states
(``twitch_oauth_states``) of links in progress.

Token columns only ever hold ciphertexts (`streammaxing.crypto.TokenBox`); these queries never
see a plaintext token. A streamer is linked exactly while ``twitch_access_token`` is not NULL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class LinkedStreamerRow:
    id: UUID
    twitch_broadcaster_id: str
    twitch_login: str
    twitch_display_name: str | None
    sealed_access: str
    sealed_refresh: str
    twitch_token_expires_at: datetime | None
    twitch_token_validated_at: datetime | None
    linked_by: str | None


_LINKED = """
SELECT id, twitch_broadcaster_id, twitch_login, twitch_display_name,
       twitch_access_token AS sealed_access, twitch_refresh_token AS sealed_refresh,
       twitch_token_expires_at, twitch_token_validated_at, linked_by
FROM streamers
"""

_STORE = """
INSERT INTO streamers (twitch_broadcaster_id, twitch_login, twitch_display_name,
                       twitch_avatar_url, twitch_access_token, twitch_refresh_token,
                       twitch_token_expires_at, twitch_token_validated_at, twitch_linked_at,
                       linked_by, last_updated)
VALUES (%(broadcaster_id)s, %(login)s, %(display_name)s, %(avatar_url)s, %(access)s,
        %(refresh)s, now() + make_interval(secs => %(expires_in)s), now(), now(),
        %(linked_by)s, now())
ON CONFLICT (twitch_broadcaster_id) DO UPDATE SET
    twitch_login = EXCLUDED.twitch_login,
    twitch_display_name = COALESCE(EXCLUDED.twitch_display_name, streamers.twitch_display_name),
    twitch_avatar_url = COALESCE(EXCLUDED.twitch_avatar_url, streamers.twitch_avatar_url),
    twitch_access_token = EXCLUDED.twitch_access_token,
    twitch_refresh_token = EXCLUDED.twitch_refresh_token,
    twitch_token_expires_at = EXCLUDED.twitch_token_expires_at,
    twitch_token_validated_at = EXCLUDED.twitch_token_validated_at,
    twitch_linked_at = COALESCE(streamers.twitch_linked_at, EXCLUDED.twitch_linked_at),
    linked_by = COALESCE(EXCLUDED.linked_by, streamers.linked_by),
    last_updated = EXCLUDED.last_updated
RETURNING id
"""


async def store_link(
    conn: AsyncConnection[Any],
    *,
    broadcaster_id: str,
    login: str,
    display_name: str | None,
    avatar_url: str | None,
    sealed_access: str,
    sealed_refresh: str,
    expires_in_s: int,
    linked_by: str | None = None,
) -> UUID:
    """Insert or update the streamer with its display fields and sealed tokens; its id.
    ``linked_by`` (the signed-in Discord user who linked) replaces the recorded one when given
    and keeps it otherwise (a re-link through an invite, where nobody is signed in)."""
    cur = await conn.execute(
        _STORE,
        {
            "broadcaster_id": broadcaster_id,
            "login": login,
            "display_name": display_name,
            "avatar_url": avatar_url,
            "access": sealed_access,
            "refresh": sealed_refresh,
            "expires_in": expires_in_s,
            "linked_by": linked_by,
        },
    )
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("store_link returned no row")
    streamer_id: UUID = row[0]
    return streamer_id


_DUE = (
    _LINKED
    + """
WHERE twitch_access_token IS NOT NULL
  AND (twitch_token_validated_at IS NULL
       OR twitch_token_validated_at <= now() - make_interval(secs => %(validate_every)s)
       OR twitch_token_expires_at <= now() + make_interval(secs => %(refresh_within)s))
ORDER BY twitch_token_validated_at NULLS FIRST, id
LIMIT %(limit)s
"""
)


async def tokens_due(
    conn: AsyncConnection[Any], *, validate_every_s: int, refresh_within_s: int, limit: int
) -> list[LinkedStreamerRow]:
    """Linked streamers whose token was not validated for ``validate_every_s`` seconds or
    expires within ``refresh_within_s`` seconds, the longest unvalidated first."""
    async with conn.cursor(row_factory=class_row(LinkedStreamerRow)) as cur:
        await cur.execute(
            _DUE,
            {
                "validate_every": validate_every_s,
                "refresh_within": refresh_within_s,
                "limit": limit,
            },
        )
        return await cur.fetchall()


async def linked_streamer(
    conn: AsyncConnection[Any], broadcaster_id: str
) -> LinkedStreamerRow | None:
    """The streamer's link, locked until the transaction ends; None if it is not linked."""
    async with conn.cursor(row_factory=class_row(LinkedStreamerRow)) as cur:
        await cur.execute(
            _LINKED
            + " WHERE twitch_broadcaster_id = %s AND twitch_access_token IS NOT NULL FOR UPDATE",
            (broadcaster_id,),
        )
        return await cur.fetchone()


async def replace_tokens(
    conn: AsyncConnection[Any],
    streamer_id: UUID,
    *,
    was_access: str,
    sealed_access: str,
    sealed_refresh: str,
    expires_in_s: int,
) -> bool:
    """Store refreshed tokens, unless the link changed since ``was_access`` was read."""
    cur = await conn.execute(
        """
        UPDATE streamers SET twitch_access_token = %s, twitch_refresh_token = %s,
               twitch_token_expires_at = now() + make_interval(secs => %s),
               twitch_token_validated_at = now(), last_updated = now()
        WHERE id = %s AND twitch_access_token = %s
        """,
        (sealed_access, sealed_refresh, expires_in_s, streamer_id, was_access),
    )
    return cur.rowcount == 1


async def mark_validated(
    conn: AsyncConnection[Any], streamer_id: UUID, *, was_access: str, expires_in_s: int | None
) -> None:
    """Record a successful validation (and the lifetime Twitch reported, when it did)."""
    await conn.execute(
        """
        UPDATE streamers SET twitch_token_validated_at = now(),
               twitch_token_expires_at = CASE WHEN %(expires)s::int IS NULL
                   THEN twitch_token_expires_at
                   ELSE now() + make_interval(secs => %(expires)s::int) END
        WHERE id = %(id)s AND twitch_access_token = %(was)s
        """,
        {"expires": expires_in_s, "id": streamer_id, "was": was_access},
    )


_UNLINK = """
UPDATE streamers SET twitch_access_token = NULL, twitch_refresh_token = NULL,
       twitch_token_expires_at = NULL, twitch_token_validated_at = NULL, twitch_linked_at = NULL,
       linked_by = NULL, last_updated = now()
WHERE twitch_broadcaster_id = %s AND twitch_access_token IS NOT NULL
"""


async def delete_tokens(conn: AsyncConnection[Any], broadcaster_id: str) -> bool:
    """Forget the streamer's tokens (it is unlinked); False when it was not linked."""
    cur = await conn.execute(_UNLINK, (broadcaster_id,))
    return cur.rowcount == 1


@dataclass(frozen=True)
class UserLinkRow:
    """A streamer linked by a Discord user from the dashboard."""

    broadcaster_id: str
    login: str
    display_name: str | None
    linked_at: datetime | None


async def links_by_user(conn: AsyncConnection[Any], user_id: str) -> list[UserLinkRow]:
    """The linked streamers the user linked while signed in, by login."""
    async with conn.cursor(row_factory=class_row(UserLinkRow)) as cur:
        await cur.execute(
            """
            SELECT twitch_broadcaster_id AS broadcaster_id, twitch_login AS login,
                   twitch_display_name AS display_name, twitch_linked_at AS linked_at
            FROM streamers
            WHERE linked_by = %s AND twitch_access_token IS NOT NULL
            ORDER BY twitch_login
            """,
            (user_id,),
        )
        return await cur.fetchall()


# -- key rotation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedTokensRow:
    id: UUID
    sealed_access: str
    sealed_refresh: str | None


async def sealed_tokens_after(
    conn: AsyncConnection[Any], after: UUID | None, limit: int
) -> list[SealedTokensRow]:
    """Linked streamers' ciphertexts in id order, from just after ``after``."""
    async with conn.cursor(row_factory=class_row(SealedTokensRow)) as cur:
        await cur.execute(
            """
            SELECT id, twitch_access_token AS sealed_access,
                   twitch_refresh_token AS sealed_refresh
            FROM streamers
            WHERE twitch_access_token IS NOT NULL AND (%(after)s::uuid IS NULL OR id > %(after)s)
            ORDER BY id LIMIT %(limit)s
            """,
            {"after": after, "limit": limit},
        )
        return await cur.fetchall()


async def reseal_tokens(
    conn: AsyncConnection[Any],
    row: SealedTokensRow,
    *,
    sealed_access: str,
    sealed_refresh: str | None,
) -> bool:
    """Swap in the re-encrypted tokens unless a refresh or unlink changed them meanwhile."""
    cur = await conn.execute(
        """
        UPDATE streamers SET twitch_access_token = %s, twitch_refresh_token = %s
        WHERE id = %s AND twitch_access_token = %s
          AND twitch_refresh_token IS NOT DISTINCT FROM %s
        """,
        (sealed_access, sealed_refresh, row.id, row.sealed_access, row.sealed_refresh),
    )
    return cur.rowcount == 1


# -- OAuth states ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthStateRow:
    invite_token: str | None
    discord_user_id: str | None


async def insert_state(
    conn: AsyncConnection[Any],
    *,
    state: str,
    browser: str,
    invite_token: str | None,
    discord_user_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO twitch_oauth_states (state, browser, invite_token, discord_user_id)"
        " VALUES (%s, %s, %s, %s)",
        (state, browser, invite_token, discord_user_id),
    )


async def take_state(
    conn: AsyncConnection[Any], *, state: str, browser: str, max_age_s: int
) -> OAuthStateRow | None:
    """Consume the state (deleted whatever the outcome); its row only if it was issued to this
    browser no more than ``max_age_s`` seconds ago."""
    async with conn.cursor(row_factory=class_row(OAuthStateRow)) as cur:
        await cur.execute(
            """
            WITH taken AS (DELETE FROM twitch_oauth_states WHERE state = %(state)s
                           RETURNING browser, invite_token, discord_user_id, created_at)
            SELECT invite_token, discord_user_id FROM taken
            WHERE browser = %(browser)s
              AND created_at > now() - make_interval(secs => %(max_age)s)
            """,
            {"state": state, "browser": browser, "max_age": max_age_s},
        )
        return await cur.fetchone()


async def sweep_states(conn: AsyncConnection[Any], *, max_age_s: int) -> int:
    """Delete states older than ``max_age_s`` seconds; how many."""
    cur = await conn.execute(
        "DELETE FROM twitch_oauth_states WHERE created_at <= now() - make_interval(secs => %s)",
        (max_age_s,),
    )
    return cur.rowcount


async def is_linked(conn: AsyncConnection[Any], streamer_id: UUID) -> bool:
    """Whether the streamer holds a Twitch link (its subscriptions can cost 0)."""
    cur = await conn.execute(
        "SELECT twitch_access_token IS NOT NULL FROM streamers WHERE id = %s", (streamer_id,)
    )
    row = await cur.fetchone()
    return bool(row and row[0])
