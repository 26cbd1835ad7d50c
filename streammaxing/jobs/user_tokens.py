"""`maintain_twitch_tokens` (every 10 minutes): keep linked streamers' user tokens valid.

Twitch requires an app that keeps user tokens to validate them hourly. Each run takes the
linked streamers whose token was last validated an hour ago or more, or that expires within 15
minutes: a token near expiry, or one ``/validate`` no longer accepts, is refreshed (the new
pair replaces the old one, sealed under the first key); any other is marked validated. A refresh
Twitch refuses (4xx: the refresh token is dead, the streamer disconnected the app) deletes the
tokens, so the streamer is unlinked and its subscriptions cost 1 again from the next reconcile.
A transient failure (5xx, timeout) leaves the row as it was and the run is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from pydantic import SecretStr

from streammaxing.crypto import TokenBox, TokenUnreadable
from streammaxing.runtime import Runtime
from streammaxing.schema import twitch_links
from streammaxing.schema.twitch_links import LinkedStreamerRow
from streammaxing.twitch.errors import TwitchPermanentError, TwitchTransientError
from streammaxing.twitch.user_oauth import TwitchUserOAuth

log = structlog.get_logger(__name__)

VALIDATE_EVERY_S: Final = 3600
REFRESH_WITHIN_S: Final = 15 * 60
BATCH: Final = 200


@dataclass(frozen=True)
class TokenMaintenance:
    skipped: str | None = None
    validated: int = 0
    refreshed: int = 0
    unlinked: int = 0
    unreadable: int = 0
    transient: int = 0

    @property
    def retry_later(self) -> bool:
        return self.transient > 0


@dataclass
class _Tally:
    validated: int = 0
    refreshed: int = 0
    unlinked: int = 0
    unreadable: int = 0
    transient: int = 0


async def maintain_twitch_tokens(runtime: Runtime) -> TokenMaintenance:
    """Validate and refresh the due tokens (see the module docstring)."""
    if runtime.user_oauth is None or runtime.tokens is None:
        return TokenMaintenance(skipped="Twitch credentials or TOKEN_ENCRYPTION_KEYS not set")
    async with runtime.pool.connection() as conn:
        due = await twitch_links.tokens_due(
            conn, validate_every_s=VALIDATE_EVERY_S, refresh_within_s=REFRESH_WITHIN_S, limit=BATCH
        )
    tally = _Tally()
    for row in due:
        await _maintain(runtime, runtime.user_oauth, runtime.tokens, row, tally)
    result = TokenMaintenance(
        validated=tally.validated,
        refreshed=tally.refreshed,
        unlinked=tally.unlinked,
        unreadable=tally.unreadable,
        transient=tally.transient,
    )
    log.info("twitch_tokens_maintained", **result.__dict__)
    return result


async def _maintain(
    runtime: Runtime,
    oauth: TwitchUserOAuth,
    box: TokenBox,
    row: LinkedStreamerRow,
    tally: _Tally,
) -> None:
    broadcaster = row.twitch_broadcaster_id
    try:
        access = SecretStr(box.open(row.sealed_access))
        refresh = SecretStr(box.open(row.sealed_refresh))
    except TokenUnreadable:
        tally.unreadable += 1
        log.error("twitch_token_unreadable", broadcaster_id=broadcaster)
        return
    try:
        info = None if _expiring(row) else await oauth.validate(access)
        if info is not None and info.user_id == broadcaster and not _near_expiry(info.expires_in):
            async with runtime.pool.connection() as conn:
                await twitch_links.mark_validated(
                    conn, row.id, was_access=row.sealed_access, expires_in_s=info.expires_in or None
                )
            tally.validated += 1
            return
        tokens = await oauth.refresh(refresh)
    except TwitchTransientError as error:
        tally.transient += 1
        log.warning("twitch_token_check_failed", broadcaster_id=broadcaster, error=str(error))
        return
    except TwitchPermanentError as error:
        async with runtime.pool.connection() as conn:
            await twitch_links.delete_tokens(conn, broadcaster)
        tally.unlinked += 1
        log.warning(
            "twitch_unlinked",
            broadcaster_id=broadcaster,
            reason="refresh_refused",
            error=str(error),
        )
        return
    async with runtime.pool.connection() as conn:
        await twitch_links.replace_tokens(
            conn,
            row.id,
            was_access=row.sealed_access,
            sealed_access=box.seal(tokens.access_token.get_secret_value()),
            sealed_refresh=box.seal(tokens.refresh_token.get_secret_value()),
            expires_in_s=tokens.expires_in,
        )
    tally.refreshed += 1
    log.info("twitch_token_refreshed", broadcaster_id=broadcaster)


def _expiring(row: LinkedStreamerRow) -> bool:
    """Whether the stored expiry falls within the refresh window (no need to ask Twitch)."""
    expires_at = row.twitch_token_expires_at
    return expires_at is not None and expires_at <= datetime.now(UTC) + timedelta(
        seconds=REFRESH_WITHIN_S
    )


def _near_expiry(expires_in: int) -> bool:
    """Twitch reports 0 for a token that does not expire."""
    return 0 < expires_in <= REFRESH_WITHIN_S
