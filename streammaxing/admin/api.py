"""The admin JSON API under ``/api/v1``: Starlette routes over the operations, as the operator.

Every route, the OpenAPI document included, needs ``Authorization: Bearer $ADMIN_API_TOKEN``
(compared in constant time; a refusal never says what was wrong); a request that passes acts as
the operator from the ``api`` surface. Path, query and body are validated with the operation's
models and every problem is reported at once as 422 with its path (``body.channel_id``,
``query.limit``, ``path.guild_id``); the operations' refusals map to 403 / 404 / 409 / 422 /
502, and a database that cannot be reached to 503.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Final

import psycopg
import structlog
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, SecretStr, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streammaxing.admin.api_models import ErrorOut, IssueOut, NoBody
from streammaxing.admin.openapi import API_PREFIX, openapi_document
from streammaxing.admin.operations import OPERATIONS
from streammaxing.admin.routing import PATH_PARAMETERS, AnyOperation, PathArgs
from streammaxing.manage.actor import Operator, Surface
from streammaxing.manage.errors import (
    Conflict,
    FieldIssue,
    Forbidden,
    Invalid,
    ManageError,
    NotFound,
    UpstreamUnavailable,
    issues_from_validation,
)
from streammaxing.manage.services import ManageServices
from streammaxing.request_body import BodyTooLargeError, read_capped

__all__ = ["API_ACTOR", "API_PREFIX", "OPENAPI_PATH", "api_routes", "error_response"]

log = structlog.get_logger(__name__)

OPENAPI_PATH: Final = API_PREFIX + "/openapi.json"
MAX_BODY_BYTES: Final = 1024 * 1024
#: Who every authorized request acts as.
API_ACTOR: Final = Operator(surface=Surface.API)

# `Forbidden` is never raised for the operator, so no response of this API is a 403 today; the
# mapping is here so that an operation refusing anyway answers 403 rather than 500.
_STATUS: Final[dict[type[ManageError], tuple[int, str]]] = {
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Invalid: (422, "invalid"),
    UpstreamUnavailable: (502, "upstream_unavailable"),
}

Endpoint = Callable[[Request], Awaitable[Response]]


class BearerGuard:
    """Checks ``Authorization: Bearer <token>`` in constant time.

    Both sides are hashed first, so the comparison does not even leak the token's length.
    Without a configured token, every request is refused.
    """

    def __init__(self, token: SecretStr | None) -> None:
        secret = token.get_secret_value() if token is not None else ""
        self._digest = hashlib.sha256(secret.encode()).digest() if secret else None

    def allows(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        offered = hashlib.sha256(credentials.strip().encode()).digest()
        if self._digest is None:
            return False
        matches = hmac.compare_digest(offered, self._digest)
        return matches and scheme.lower() == "bearer"


def _json(status: int, body: BaseModel, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body.model_dump_json(), status_code=status, media_type="application/json", headers=headers
    )


def _error(status: int, code: str, message: str, issues: tuple[FieldIssue, ...] = ()) -> Response:
    body = ErrorOut(
        error=code,
        message=message,
        issues=[IssueOut(path=issue.path, message=issue.message) for issue in issues],
    )
    return _json(status, body)


def _unauthorized() -> Response:
    body = ErrorOut(error="unauthorized", message="a valid bearer token is required")
    return _json(401, body, headers={"WWW-Authenticate": "Bearer"})


def error_response(error: ManageError) -> Response:
    """The JSON error answer for an operation's refusal."""
    status, code = next(
        (mapped for cls, mapped in _STATUS.items() if isinstance(error, cls)), (500, "error")
    )
    if isinstance(error, Invalid):
        return _error(status, code, "the request is invalid", error.issues)
    return _error(status, code, str(error))


async def _inputs(operation: AnyOperation, request: Request) -> tuple[PathArgs, Any, Any]:
    """The validated (path, query, body); `Invalid` with every problem found in any of them."""
    issues: list[FieldIssue] = []
    path: dict[str, str] = {}
    for name in operation.path_parameters:
        adapter, _ = PATH_PARAMETERS[name]
        try:
            path[name] = adapter.validate_python(request.path_params[name])
        except ValidationError as error:
            issues += issues_from_validation(error, f"path.{name}")
    query: Any = None
    try:
        query = operation.query.model_validate(dict(request.query_params))
    except ValidationError as error:
        issues += issues_from_validation(error, "query")
    body: Any = NoBody()
    if operation.has_body:
        raw = await read_capped(request, MAX_BODY_BYTES)
        if not raw.strip() and operation.body_required:
            issues.append(FieldIssue("body", "a JSON object is required"))
        else:
            try:
                body = operation.body.model_validate_json(raw if raw.strip() else b"{}")
            except ValidationError as error:
                issues += issues_from_validation(error, "body")
    if issues:
        raise Invalid(issues)
    return path, query, body


def _prefixed(error: Invalid) -> Invalid:
    """The service reports body fields by name; the API says where they are."""
    return Invalid(FieldIssue(f"body.{issue.path}", issue.message) for issue in error.issues)


def _endpoint(services: ManageServices, guard: BearerGuard, operation: AnyOperation) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if not guard.allows(request):
            return _unauthorized()
        try:
            path, query, body = await _inputs(operation, request)
        except Invalid as error:
            return error_response(error)
        except BodyTooLargeError:
            return _error(413, "too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        try:
            reply = await operation.handler(services, API_ACTOR, path, query, body)
        except Invalid as error:
            return error_response(_prefixed(error))
        except ManageError as error:
            return error_response(error)
        except (PoolTimeout, psycopg.OperationalError) as error:
            log.warning(
                "admin_database_unavailable",
                operation=operation.operation_id,
                error=type(error).__name__,
            )
            return _error(503, "unavailable", "the database is unavailable; try again")
        if reply.body is None:
            return Response(status_code=reply.status)
        return _json(reply.status, reply.body)

    return endpoint


def _by_method(endpoints: dict[str, Endpoint]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return endpoint


def api_routes(services: ManageServices, token: SecretStr | None) -> list[BaseRoute]:
    """The ``/api/v1`` routes, for ``create_app(state, extra_routes=api_routes(...))``; every
    request must carry ``token`` (None: every request is refused)."""
    guard = BearerGuard(token)
    if token is None:
        log.warning("admin_api_disabled", reason="ADMIN_API_TOKEN is not set")
    document = openapi_document(OPERATIONS)

    async def openapi(request: Request) -> Response:
        if not guard.allows(request):
            return _unauthorized()
        return JSONResponse(document)

    by_path: dict[str, dict[str, Endpoint]] = {}
    for operation in OPERATIONS:
        endpoints = by_path.setdefault(operation.path, {})
        endpoints[operation.method] = _endpoint(services, guard, operation)
    # One route per path, so that a 405's `Allow` lists every method the path supports.
    routes: list[BaseRoute] = [
        Route(API_PREFIX + path, _by_method(endpoints), methods=list(endpoints), name=path)
        for path, endpoints in by_path.items()
    ]
    routes.append(Route(OPENAPI_PATH, openapi, methods=["GET"], name="openapi"))
    return routes
