"""compose.yaml wires the services as operators expect (no Docker engine runs here: we read it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


class TestCompose:
    def test_services(self, compose: dict[str, Any]) -> None:
        """postgres, a one-shot migrate, ingest and worker are defined."""
        assert set(compose["services"]) == {"postgres", "migrate", "ingest", "worker"}

    def test_postgres_has_volume_and_healthcheck(self, compose: dict[str, Any]) -> None:
        """Postgres keeps its data in a named volume and reports health."""
        postgres = compose["services"]["postgres"]
        assert any(v.startswith("pgdata:") for v in postgres["volumes"])
        assert "pgdata" in compose["volumes"]
        assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    def test_migrate_runs_once_before_the_app(self, compose: dict[str, Any]) -> None:
        """migrate waits for a healthy Postgres; ingest and worker wait for migrate to finish."""
        services = compose["services"]
        assert services["migrate"]["command"] == ["migrate"]
        assert services["migrate"]["restart"] == "no"
        assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
        for name in ("ingest", "worker"):
            depends = services[name]["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully"
            assert depends["postgres"]["condition"] == "service_healthy"

    def test_worker_scales(self, compose: dict[str, Any]) -> None:
        """The worker has no fixed name or host port, so `--scale worker=N` works, and restarts."""
        worker = compose["services"]["worker"]
        assert "container_name" not in worker
        assert "ports" not in worker
        assert worker["restart"] == "unless-stopped"
        assert worker["command"][0] == "worker"

    def test_environment_wiring(self, compose: dict[str, Any]) -> None:
        """Every app service reads .env and gets DATABASE_URL and DATABASE_DIRECT_URL pointing
        at the postgres service."""
        for name in ("migrate", "ingest", "worker"):
            service = compose["services"][name]
            assert service["env_file"] == ".env"
            assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
            assert "@postgres:5432/" in service["environment"]["DATABASE_DIRECT_URL"]
        ingest = compose["services"]["ingest"]
        assert ingest["command"][:3] == ["ingest", "--host", "0.0.0.0"]
        assert ingest["ports"] == ["8080:8080"]
