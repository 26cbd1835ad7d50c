"""`streammaxing up` on a fresh machine: embedded Postgres, migrations, children, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.fakes.server import free_port
from tests.support import http_ok, wait_for

pytestmark = pytest.mark.e2e


def _env(data_home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "TWITCH_", "DISCORD_", "DRY_RUN"))
    }
    env["XDG_DATA_HOME"] = str(data_home)
    env["LOG_FORMAT"] = "json"
    return env


class TestUp:
    def test_fresh_data_dir_ready_then_sigterm_stops_everything(self, tmp_path: Path) -> None:
        """With no DATABASE_URL, `up` answers /readyz 200, and SIGTERM leaves no process behind."""
        port = free_port()
        log_path = tmp_path / "up.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streammaxing", "up", "--port", str(port)],
                env=_env(tmp_path / "data"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                ready = wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=60)
                assert ready, log_path.read_text()
                up = psutil.Process(proc.pid)
                descendants = up.children(recursive=True)
                assert len(descendants) >= 2  # ingest and worker (+ embedded postgres)
                log_text = log_path.read_text()
                assert log_text.count("dry_run_mode") == 1

                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=15) == 0
                assert time.monotonic() - started < 10
                _gone, alive = psutil.wait_procs(descendants, timeout=5)
                assert alive == [], [p.cmdline() for p in alive]
                assert not http_ok(f"http://127.0.0.1:{port}/healthz")
            finally:
                if proc.poll() is None:
                    proc.kill()

    def test_dead_child_is_restarted(self, tmp_path: Path) -> None:
        """Killing the ingest child brings a new one up on the same port."""
        port = free_port()
        with (tmp_path / "up.log").open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streammaxing", "up", "--port", str(port)],
                env=_env(tmp_path / "data"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            try:
                assert wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=60)
                ingest = next(
                    p for p in psutil.Process(proc.pid).children() if "ingest" in p.cmdline()
                )
                ingest.kill()
                assert wait_for(lambda: not http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=5)
                assert wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=30)
                proc.send_signal(signal.SIGINT)
                assert proc.wait(timeout=15) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
