"""A real PgBouncer in transaction mode in front of the test server, for the pooled tier.

`pgbouncer_binary()` finds Debian's `pgbouncer`; without it the tier is skipped with a reason,
except in CI (`CI` set), where a missing binary is a failure. `PgBouncer` writes a config for
any database name on the test server (`* =`), starts the process on a free port and stops it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.fakes.server import free_port

#: Server connections per database: far fewer than the clients (pools of 6–24 per process), so
#: consecutive transactions of one client connection land on different server connections.
POOL_SIZE = 8


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(path)),
        None,
    )
    if found is None:
        reason = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


class SocketForwarder:
    """TCP on 127.0.0.1 → a Unix socket, in a thread of its own: PgBouncer runs as `nobody`
    (it refuses root) and cannot open the embedded server's socket under root's home, so it
    reaches that server through this forwarder instead."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    def __enter__(self) -> SocketForwarder:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self._loop
        )
        self._server = started.result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        server = self._server
        if server is not None:
            server.close()
            asyncio.run_coroutine_threadsafe(server.wait_closed(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class PgBouncer:
    """`with PgBouncer(server_url) as bouncer:` — `bouncer.url(dbname)` goes through it."""

    def __init__(self, server_url: str) -> None:
        self.server = conninfo_to_dict(server_url)
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="sm-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._forwarder: SocketForwarder | None = None

    def url(self, dbname: str) -> str:
        """A URL of database `dbname` on the test server, through the pooler."""
        user = str(self.server.get("user") or "postgres")
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, direct: str) -> str:
        """The pooled counterpart of a direct conninfo (same database and user)."""
        dbname = str(conninfo_to_dict(direct)["dbname"])
        return make_conninfo(self.url(dbname))

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> PgBouncer:
        binary = pgbouncer_binary()
        host = str(self.server.get("host") or "127.0.0.1")
        port = str(self.server.get("port") or "5432")
        if host.startswith("/"):
            self._forwarder = SocketForwarder(f"{host}/.s.PGSQL.{port}").__enter__()
            host, port = "127.0.0.1", str(self._forwarder.port)
        user = str(self.server.get("user") or "postgres")
        (self.directory / "users.txt").write_text(f'"{user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {POOL_SIZE}\n"
            "max_client_conn = 1000\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        self.directory.chmod(0o777)
        for path in self.directory.iterdir():
            path.chmod(0o666)
        # PgBouncer refuses to run as root: it drops to `nobody` when started as root.
        as_user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [binary, *as_user, str(self.directory / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_listening()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within 10 s:\n{self.log()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._forwarder is not None:
            self._forwarder.__exit__()
        shutil.rmtree(self.directory, ignore_errors=True)
