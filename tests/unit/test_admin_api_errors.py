"""How the admin API answers an operation's refusal: one status and error code per class."""

from __future__ import annotations

import json

import pytest

from streammaxing.admin.api import error_response
from streammaxing.manage.errors import (
    Conflict,
    FieldIssue,
    Forbidden,
    Invalid,
    ManageError,
    NotFound,
    UpstreamUnavailable,
)


class TestErrorResponse:
    @pytest.mark.parametrize(
        ("error", "status", "code"),
        [
            pytest.param(Forbidden("you may not manage guild 1"), 403, "forbidden", id="403"),
            pytest.param(NotFound("guild 1 not found"), 404, "not_found", id="404"),
            pytest.param(Conflict("already tracked"), 409, "conflict", id="409"),
            pytest.param(
                UpstreamUnavailable("Twitch is down"), 502, "upstream_unavailable", id="502"
            ),
        ],
    )
    def test_status_and_json_body(self, error: ManageError, status: int, code: str) -> None:
        """Each refusal is a JSON error body with its stable code and message."""
        response = error_response(error)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert json.loads(bytes(response.body)) == {
            "error": code,
            "message": str(error),
            "issues": [],
        }

    def test_invalid_lists_its_issues(self) -> None:
        """`Invalid` answers 422 with every issue and its path."""
        response = error_response(Invalid([FieldIssue("channel_id", "is required")]))
        assert response.status_code == 422
        assert json.loads(bytes(response.body))["issues"] == [
            {"path": "channel_id", "message": "is required"}
        ]
