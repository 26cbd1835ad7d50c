"""A fan-out renders each distinct (template, role, message) once and shares the payload."""

from __future__ import annotations

import copy

from structlog.testing import capture_logs

from streammaxing.schema.fanout import GuildTarget
from streammaxing.templating import DEFAULT_TEMPLATE, SAMPLE_STREAM, render_announcement
from streammaxing.workers.fanout_render import render_for_targets


def target(guild: str, *, role: str | None = None, custom: str | None = None) -> GuildTarget:
    # Each row carries its own copy of the template, as psycopg returns them.
    return GuildTarget(
        guild, guild, f"c-{guild}", copy.deepcopy(dict(DEFAULT_TEMPLATE)), role, custom
    )


def test_guilds_with_the_same_message_share_one_payload() -> None:
    role = "123456789012345678"
    targets = [
        target("a"),
        target("b", role=role),
        target("c"),
        target("d", custom="Go watch!"),
        target("e", role=role),
    ]

    rendered = render_for_targets(targets, SAMPLE_STREAM, cache_buster="s1")

    assert len(rendered.payloads) == 3
    assert rendered.of_guild["a"] == rendered.of_guild["c"]
    assert rendered.of_guild["b"] == rendered.of_guild["e"]
    assert len({rendered.of_guild[g] for g in ("a", "b", "d")}) == 3
    for t in targets:
        assert rendered.payloads[rendered.of_guild[t.guild_id]] == render_announcement(
            t.message_template,
            SAMPLE_STREAM,
            mention_role_id=t.mention_role_id,
            cache_buster="s1",
            custom_content=t.custom_content,
        )


def test_a_message_that_fails_to_render_skips_each_of_its_guilds() -> None:
    targets = [
        target("a", role="not a snowflake"),
        target("b"),
        target("c", role="not a snowflake"),
    ]

    with capture_logs() as logs:
        rendered = render_for_targets(targets, SAMPLE_STREAM, cache_buster="s1")

    assert list(rendered.of_guild) == ["b"]
    assert [e["guild_id"] for e in logs if e["event"] == "render_failed"] == ["a", "c"]
