"""`user_authorization_revoked`: a streamer disconnected our app at Twitch
(``user.authorization.revoke``); their tokens are deleted at once.

The event names our client id and the user; one for another client id is ignored. The streamer
stays tracked; its subscriptions cost 1 again from the next reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from streammaxing.runtime import Runtime
from streammaxing.schema.twitch_links import delete_tokens

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RevokeResult:
    user_id: str | None
    unlinked: bool


async def authorization_revoked(runtime: Runtime, event: Mapping[str, Any]) -> RevokeResult:
    user_id = event.get("user_id")
    client_id = event.get("client_id")
    if not isinstance(user_id, str) or client_id != runtime.settings.twitch_client_id:
        log.warning("authorization_revoke_ignored", user_id=user_id, client_id=client_id)
        return RevokeResult(user_id if isinstance(user_id, str) else None, unlinked=False)
    async with runtime.pool.connection() as conn:
        unlinked = await delete_tokens(conn, user_id)
    log.info(
        "twitch_unlinked", broadcaster_id=user_id, reason="authorization_revoked", had_link=unlinked
    )
    return RevokeResult(user_id, unlinked)
