"""How an API operation is described: the one table both the routes and the OpenAPI document
are built from, so nothing can be served undocumented or documented unserved."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

from streammaxing.admin.api_models import NoBody
from streammaxing.manage.actor import Actor
from streammaxing.manage.models import Snowflake, StreamerRef
from streammaxing.manage.services import ManageServices

QueryT = TypeVar("QueryT", bound=BaseModel)
BodyT = TypeVar("BodyT", bound=BaseModel)

#: Validated path parameters by name.
PathArgs = Mapping[str, str]

_PARAMETER: Final = re.compile(r"\{([a-z_]+)\}")

#: Every path parameter an operation may use, with what it must look like.
PATH_PARAMETERS: Final[Mapping[str, tuple[TypeAdapter[str], str]]] = {
    "guild_id": (TypeAdapter(Snowflake), "The Discord guild (server) id."),
    "user_id": (TypeAdapter(Snowflake), "The Discord user id."),
    "streamer": (TypeAdapter(StreamerRef), "A tracked streamer's broadcaster id or login."),
}


@dataclass(frozen=True)
class Reply:
    """What a handler answers: a status and a response model (None: no content)."""

    status: int
    body: BaseModel | None = None


@dataclass(frozen=True)
class Response:
    """One documented outcome: its description and its JSON model (None: no content)."""

    description: str
    model: type[BaseModel] | None = None


@dataclass(frozen=True)
class Operation(Generic[QueryT, BodyT]):
    """One API operation: where it is, what it takes and answers, and the handler doing it
    (called with the services, the acting operator and the validated inputs).

    ``responses`` are the successes; ``errors`` the refusals specific to the operation (401, 422
    and 503 apply to every one and are added by the API and the document). A ``body`` of
    `NoBody` means the operation reads no request body.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Callable[[ManageServices, Actor, PathArgs, QueryT, BodyT], Awaitable[Reply]]
    query: type[QueryT]
    body: type[BodyT]
    responses: Mapping[int, Response]
    errors: Mapping[int, str] = field(default_factory=dict)
    body_required: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        unknown = [name for name in self.path_parameters if name not in PATH_PARAMETERS]
        if unknown:
            raise ValueError(f"{self.operation_id}: unknown path parameters {unknown}")

    @property
    def path_parameters(self) -> list[str]:
        return _PARAMETER.findall(self.path)

    @property
    def has_body(self) -> bool:
        return self.body is not NoBody


AnyOperation = Operation[Any, Any]
