"""Schemathesis against the admin API's own OpenAPI document, served by uvicorn on 127.0.0.1.

For every operation, generated requests (valid and invalid) must never get a 5xx, and every
response must match the document: status codes, content types, headers and JSON schemas.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import procrastinate
import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from streammaxing.admin.api import api_routes
from streammaxing.admin.openapi import openapi_document
from streammaxing.admin.operations import OPERATIONS
from streammaxing.db import create_pool
from streammaxing.ingest.app import create_app
from streammaxing.ingest.enqueue import GroupCommitter
from streammaxing.ingest.state import IngestState
from streammaxing.manage.services import ManageServices
from streammaxing.metrics import Metrics
from tests.fakes.server import ServerThread

schemathesis = pytest.importorskip("schemathesis")

TOKEN = "schemathesis-admin-token-0123456789"
# The body of the 400 uvicorn's HTTP parser answers to a request it cannot parse.
UVICORN_INVALID_REQUEST = "Invalid HTTP request received."
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The id the document's examples use, so generated requests also reach existing rows.
EXAMPLE_ID = "1234567890123456"

SEED = (
    "INSERT INTO guilds (guild_id, name) VALUES (%(id)s, 'Example guild')",
    "INSERT INTO guild_config (guild_id, channel_id, message_template)"
    " VALUES (%(id)s, '1', '{\"content\": \"{streamer_login} is live\"}')",
    "INSERT INTO users (user_id, username) VALUES (%(id)s, 'example')",
    "INSERT INTO streamers (twitch_broadcaster_id, twitch_login) VALUES ('141981764', 'twitchdev')",
    "INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %(id)s, id FROM streamers",
    "INSERT INTO dm_subscribers (guild_id, user_id) VALUES (%(id)s, %(id)s)",
    "INSERT INTO notification_log (guild_id, streamer_id, event_id, status)"
    " SELECT %(id)s, id, '40001', 'pending' FROM streamers",
)


@pytest.fixture(scope="module")
def admin_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """The ingest app with the admin API (dry-run), on a seeded database of this module's own."""
    name = f"sm_schemathesis_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    conninfo = make_conninfo(pg_server_url, dbname=name)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for statement in SEED:
                conn.execute(statement.encode(), {"id": EXAMPLE_ID})
        pool = create_pool(conninfo, min_size=1, max_size=8, name="schemathesis")
        state = IngestState(
            pool=pool,
            metrics=Metrics(),
            committer=GroupCommitter(pool),
            eventsub_secrets=[b"unused-eventsub-secret"],
        )
        services = ManageServices(
            pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
        )
        app = create_app(state, extra_routes=api_routes(services, SecretStr(TOKEN)))
        with ServerThread(app, lifespan="on") as server:
            yield server.url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Loaded from the document the API serves (generated from the operation table); the lazy
# `schemathesis.pytest.from_fixture` loader does not work with pytest 9 (it reads a removed
# private node attribute). `test_the_served_document_is_the_one_tested` ties the two together.
schema = schemathesis.openapi.from_dict(
    openapi_document(OPERATIONS),
    config=schemathesis.config.SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}},
            # Schema-valid is not always acceptable: a template is also checked for unknown
            # variables and Discord's limits (422), which JSON Schema cannot express.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    ),
)


def test_the_served_document_is_the_one_tested(admin_url: str) -> None:
    """The API serves exactly the document the generated requests are built from."""
    served = httpx.get(f"{admin_url}/api/v1/openapi.json", headers=AUTH, timeout=10)
    assert served.json() == json.loads(json.dumps(openapi_document(OPERATIONS)))


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_answers_within_its_schema(case: Any, admin_url: str) -> None:
    """No generated request gets a 5xx, and every response conforms to the OpenAPI document.

    Bytes that are not HTTP at all (a generated header or path the HTTP client sends as is but
    no HTTP/1.1 parser accepts) are refused by uvicorn's parser with its own 400 before the app
    sees them: that answer is the server's, not the API's, and is not checked against the
    document.
    """
    response = case.call(base_url=f"{admin_url}/api/v1")
    if response.status_code == 400 and response.text == UVICORN_INVALID_REQUEST:
        return
    case.validate_response(response)
