"""What a person at a terminal reads: console lines there, JSON elsewhere, and verbs that print
their answer instead of infrastructure events."""

from __future__ import annotations

import pytest

from streammaxing.cli import log_level_for
from streammaxing.logs import resolve_format
from streammaxing.settings import LogFormat


class TestLogFormat:
    @pytest.mark.parametrize(
        ("configured", "interactive", "expected"),
        [
            (None, True, LogFormat.CONSOLE),
            (None, False, LogFormat.JSON),
            (LogFormat.JSON, True, LogFormat.JSON),
            (LogFormat.CONSOLE, False, LogFormat.CONSOLE),
        ],
    )
    def test_unset_format_follows_the_terminal(
        self, configured: LogFormat | None, interactive: bool, expected: LogFormat
    ) -> None:
        """LOG_FORMAT wins when set; unset, a terminal gets console lines and a pipe JSON."""
        assert resolve_format(configured, interactive=interactive) is expected


class TestVerbLogLevel:
    @pytest.mark.parametrize("command", ["up", "ingest", "worker"])
    def test_serving_commands_log_as_configured(self, command: str) -> None:
        """A server's log is its output."""
        assert log_level_for(command, "INFO") == "INFO"

    @pytest.mark.parametrize("command", ["migrate", "guild", "run-job", "demo", "config"])
    def test_verbs_log_only_warnings_unless_debugging(self, command: str) -> None:
        """A verb prints its answer; INFO events (embedded Postgres, migrations) stay out of it
        unless LOG_LEVEL=DEBUG, and a stricter level stays as it is."""
        assert log_level_for(command, "INFO") == "WARNING"
        assert log_level_for(command, "DEBUG") == "DEBUG"
        assert log_level_for(command, "ERROR") == "ERROR"
