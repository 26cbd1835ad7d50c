"""The real `streammaxing ingest` command: the server under test of `bench/ingest.py`.

It runs the production command line (`streammaxing.cli.main(["ingest", ...])`: settings,
logging, pool, group committer, uvicorn options) unchanged. Its floor is another process,
`bench/_bare_floor.py`.

With `--without-dashboard` first, the command builds its app with `build_ingest(..., web=False)`
(by wrapping `streammaxing.commands.build_ingest` before the command runs), to measure the
ingest with and without the dashboard mounted.

Usage: python bench/_ingest_server.py [--without-dashboard] --port PORT
       (DATABASE_URL, TWITCH_EVENTSUB_SECRET set)
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette

from streammaxing import bootstrap, cli, commands
from streammaxing.settings import Settings


def _build_ingest_without_dashboard(
    settings: Settings, url: str, *, listen: str = "http://127.0.0.1:8080", web: bool = True
) -> Starlette:
    return bootstrap.build_ingest(settings, url, listen=listen, web=False)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--without-dashboard"]:
        commands.build_ingest = _build_ingest_without_dashboard  # type: ignore[assignment]
        argv = argv[1:]
    return cli.main(["ingest", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
