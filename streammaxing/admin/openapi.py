"""The OpenAPI 3.1 document of the admin API, generated from the operation table and models.

Request bodies are documented with the models' validation schemas and responses with their
serialization schemas (pydantic's JSON Schema 2020-12, which OpenAPI 3.1 uses as is), so the
document describes exactly what the handlers accept and send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from streammaxing import __version__
from streammaxing.admin.api_models import ErrorOut
from streammaxing.admin.routing import PATH_PARAMETERS, AnyOperation

API_PREFIX: Final = "/api/v1"
_REF_TEMPLATE: Final = "#/components/schemas/{model}"

#: Refusals every operation can answer with, beside its own.
COMMON_ERRORS: Final = {
    401: "Missing or invalid bearer token.",
    422: "The input is invalid; `issues` gives each problem with its path.",
    503: "The database is unavailable; try again.",
}

_Key = tuple[type[BaseModel], JsonSchemaMode]
_Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


def _unique(models: Iterable[_Key]) -> list[_Key]:
    return list(dict.fromkeys(models))


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(operation: AnyOperation) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name in operation.path_parameters:
        adapter, description = PATH_PARAMETERS[name]
        schema = adapter.json_schema()
        schema.pop("description", None)
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": schema,
                "description": description,
            }
        )
    query = operation.query.model_json_schema(mode="validation")
    required = set(query.get("required", []))
    for name, schema in query.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {key: value for key, value in schema.items() if key != "title"},
        }
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _operation(operation: AnyOperation, refs: _Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, response in operation.responses.items():
        documented: dict[str, Any] = {"description": response.description}
        if response.model is not None:
            documented["content"] = _json_content(refs[(response.model, "serialization")])
        responses[str(status)] = documented
    error_schema = refs[(ErrorOut, "serialization")]
    for status, description in sorted({**COMMON_ERRORS, **operation.errors}.items()):
        responses[str(status)] = {
            "description": description,
            "content": _json_content(error_schema),
        }
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation),
        "responses": responses,
    }
    if operation.description:
        document["description"] = operation.description
    if operation.has_body:
        document["requestBody"] = {
            "required": operation.body_required,
            "content": _json_content(refs[(operation.body, "validation")]),
        }
    return document


def openapi_document(operations: Sequence[AnyOperation]) -> dict[str, Any]:
    """The whole document; paths are relative to the server URL ``/api/v1``."""
    inputs = _unique((op.body, "validation") for op in operations if op.has_body)
    outputs = _unique(
        (response.model, "serialization")
        for op in operations
        for response in op.responses.values()
        if response.model is not None
    )
    refs, definitions = models_json_schema(
        [*inputs, *outputs, (ErrorOut, "serialization")], ref_template=_REF_TEMPLATE
    )
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        item = paths.setdefault(operation.path, {})
        item[operation.method.lower()] = _operation(operation, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "StreamMaxing admin API",
            "version": __version__,
            "description": "Configure guilds, their announcement channel, role and template, "
            "the Twitch streamers they track, members' personal alerts and preferences.",
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "ADMIN_API_TOKEN"}
            },
        },
    }
