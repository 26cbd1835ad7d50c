"""Render a fan-out's payloads once per distinct message rather than once per guild.

A payload depends only on the guild's template, role to mention and message for the streamer
(plus the stream): across 100,000 guilds most share the default template, so a big fan-out
renders a few hundred distinct payloads instead of 100,000 (about 10 s of CPU measured).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from streammaxing.schema.fanout import GuildTarget
from streammaxing.templating import StreamInfo, render_announcement

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RenderedPayloads:
    """Distinct payloads, and for each guild that rendered, the index of its payload."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    of_guild: dict[str, int] = field(default_factory=dict)


def render_for_targets(
    targets: Sequence[GuildTarget], info: StreamInfo, *, cache_buster: str
) -> RenderedPayloads:
    """Each target's announcement; a template that fails to render is logged per guild."""
    rendered = RenderedPayloads()
    # Key → payload index, or the error of a key that failed.
    seen: dict[tuple[str, str | None, str | None], int | ValueError] = {}
    # Targets read together share their template dicts (`schema.fanout.guilds_tracking`):
    # each distinct dict is serialised once (98,000 json.dumps took 0.8 s of 1.6 s).
    dumped: dict[int, str] = {}
    for target in targets:
        template_key = dumped.get(id(target.message_template))
        if template_key is None:
            template_key = json.dumps(target.message_template, sort_keys=True)
            dumped[id(target.message_template)] = template_key
        key = (template_key, target.mention_role_id, target.custom_content)
        found = seen.get(key)
        if found is None:
            try:
                payload = render_announcement(
                    target.message_template,
                    info,
                    mention_role_id=target.mention_role_id,
                    cache_buster=cache_buster,
                    custom_content=target.custom_content,
                )
            except ValueError as error:
                found = error
            else:
                found = len(rendered.payloads)
                rendered.payloads.append(payload)
            seen[key] = found
        if isinstance(found, ValueError):
            log.warning("render_failed", guild_id=target.guild_id, error=str(found))
        else:
            rendered.of_guild[target.guild_id] = found
    return rendered
