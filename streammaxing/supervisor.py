"""`up`'s process supervisor: runs the ingest and worker as child processes.

A child that dies is restarted (with a capped backoff). SIGINT/SIGTERM stop everything: children
get SIGTERM, then SIGKILL after a grace period, so nothing is left behind and `up` returns within
10 seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from types import FrameType

import structlog

log = structlog.get_logger(__name__)

STOP_GRACE_SECONDS = 7.0
MAX_BACKOFF_SECONDS = 10.0
HEALTHY_AFTER_SECONDS = 30.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start_at: float = 0.0
    backoff: float = field(default=1.0)


class Supervisor:
    def __init__(self, children: list[Child], env: dict[str, str]) -> None:
        self._children = children
        self._env = env
        self._stopping = False

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("stopping", signal=signal.Signals(signum).name)
        self._stopping = True

    def _start(self, child: Child) -> None:
        # Own session: a terminal Ctrl-C reaches only `up`, which then stops the children in order.
        # argv is built by `up` itself from sys.executable and fixed arguments.
        child.process = subprocess.Popen(child.argv, env=self._env, start_new_session=True)  # noqa: S603
        child.started_at = time.monotonic()
        log.info("child_started", child=child.name, pid=child.process.pid, restarts=child.restarts)

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for child in self._children:
                self._start(child)
            while not self._stopping:
                self._watch()
                time.sleep(0.2)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self._children:
            process = child.process
            if process is None:
                if now >= child.next_start_at:
                    self._start(child)
                continue
            code = process.poll()
            if code is None:
                if now - child.started_at > HEALTHY_AFTER_SECONDS:
                    child.backoff = 1.0
                continue
            child.restarts += 1
            child.process = None
            child.next_start_at = now + child.backoff
            log.warning("child_exited", child=child.name, code=code, restart_in=child.backoff)
            child.backoff = min(child.backoff * 2, MAX_BACKOFF_SECONDS)

    def _stop_all(self) -> None:
        running = [c.process for c in self._children if c.process and c.process.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("child_killed", pid=process.pid)
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for child in self._children:
            if child.process is not None:
                # Anything a child left in its own process group goes too.
                _signal_group(child.process, signal.SIGKILL)
        log.info("stopped")


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
