"""The interaction jobs as tasks (names and queue from `streammaxing.queues`)."""

from __future__ import annotations

from typing import Final

import procrastinate

from streammaxing.interactions.follow_up import discord_install, interaction_follow_up
from streammaxing.queues import Queue, Task
from streammaxing.runner import TaskSpec

#: A follow-up runs once: its work (a track, a post) must not repeat, and its answer is only
#: useful within Discord's 15 minutes. It retries its own edit.
FOLLOW_UP_RETRY: Final = False
#: An install is idempotent: retry while Discord or the database is away (2, 4 … 64 s).
INSTALL_RETRY: Final = procrastinate.RetryStrategy(max_attempts=6, exponential_wait=2)

INTERACTION_TASKS: Final = (
    TaskSpec(
        Task.INTERACTION_FOLLOW_UP, Queue.INTERACTIONS, interaction_follow_up, FOLLOW_UP_RETRY
    ),
    TaskSpec(Task.DISCORD_INSTALL, Queue.INTERACTIONS, discord_install, INSTALL_RETRY),
)
