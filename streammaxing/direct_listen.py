"""procrastinate's connector, with its LISTEN connection opened on the direct URL.

procrastinate runs its queries on the process's pool and opens one more connection, with the
pool's conninfo, to LISTEN for new jobs. Through a transaction-mode pooler that LISTEN is
registered on whichever server connection ran it and its notifications never reach the
worker, so jobs would start only on the 5 s poll. `DirectListenConnector` opens that one
connection on `listen_url` (the `DATABASE_DIRECT_URL`), and every query stays on the pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import procrastinate
import psycopg


class DirectListenConnector(procrastinate.PsycopgConnector):
    def __init__(self, listen_url: str) -> None:
        super().__init__()
        self.listen_url = listen_url

    @contextlib.asynccontextmanager
    async def _get_standalone_connection(
        self,
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # Replaces procrastinate's own (psycopg_connector.py), which reuses the pool's conninfo;
        # it is used only by `listen_notify`.
        async with await psycopg.AsyncConnection.connect(
            self.listen_url, autocommit=True, prepare_threshold=None
        ) as connection:
            yield connection
