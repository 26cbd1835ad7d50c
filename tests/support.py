"""Small helpers shared by tests: polling with a deadline, HTTP probes, URL conversion."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from psycopg.conninfo import conninfo_to_dict


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; return the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def conninfo_to_url(conninfo: str) -> str:
    """DATABASE_URL must be a URL; turn a key=value conninfo (socket or TCP) into one."""
    params = conninfo_to_dict(conninfo)
    host = str(params.get("host", ""))
    user = params.get("user", "postgres")
    dbname = params["dbname"]
    port = params.get("port")
    if host.startswith("/"):
        query = f"?host={host}" + (f"&port={port}" if port else "")
        return f"postgresql://{user}@/{dbname}{query}"
    return f"postgresql://{user}@{host}:{port or 5432}/{dbname}"
