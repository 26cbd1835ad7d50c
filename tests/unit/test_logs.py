"""JSON log lines: one parseable line per event, whatever the values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

from streammaxing.logs import configure_logging
from streammaxing.settings import LogFormat


@pytest.fixture
def json_logs() -> Iterator[None]:
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(LogFormat.JSON)
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def _last_line(captured: str) -> dict[str, object]:
    line = captured.strip().splitlines()[-1]
    value = json.loads(line)
    assert isinstance(value, dict)
    return value


@pytest.mark.usefixtures("json_logs")
def test_values_json_knows_and_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("t").info(
        "something",
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        count=3,
        nested={"a": [1, 2.5, None, "é"], 7: "int key"},
        opaque=_Opaque(),
    )
    line = _last_line(capsys.readouterr().err)
    assert line["event"] == "something"
    assert line["level"] == "info"
    assert line["logger"] == "t"
    assert line["at"] == "2026-01-02T03:04:05+00:00"
    assert line["nested"] == {"a": [1, 2.5, None, "é"], "7": "int key"}
    assert line["opaque"] == "<opaque>"


@pytest.mark.usefixtures("json_logs")
def test_an_integer_beyond_64_bits_is_written_exactly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.get_logger("t").info("big", value=2**70 + 1)
    assert _last_line(capsys.readouterr().err)["value"] == 2**70 + 1


@pytest.mark.usefixtures("json_logs")
def test_secret_keys_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger("t").info("login", token="abc", client_secret="def", user_id="1")
    line = _last_line(capsys.readouterr().err)
    assert (line["token"], line["client_secret"], line["user_id"]) == (
        "[redacted]",
        "[redacted]",
        "1",
    )
