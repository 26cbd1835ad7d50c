"""Imports point one way: components meet only in the composition root, and the layers below
them import no component."""

from __future__ import annotations

import ast
from pathlib import Path

import streammaxing

PACKAGE = Path(streammaxing.__file__).parent

#: The components: top-level subpackages that each serve one surface or one kind of work.
COMPONENTS = frozenset(
    {"ingest", "admin", "workers", "jobs", "manage", "interactions", "web", "linking"}
)
#: Which component may import which other one: the surfaces stand on the operations.
ALLOWED = frozenset(
    {("admin", "manage"), ("interactions", "manage"), ("web", "manage"), ("linking", "manage")}
)
#: The modules that assemble and run processes: they may import everything.
ROOTS = frozenset({"bootstrap", "cli", "commands", "__main__"})


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module an ``import`` or ``from … import`` in the file names (relative imports
    resolved against ``package``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def owner(module: str) -> str | None:
    """The top-level part of the package a ``streammaxing.…`` module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "streammaxing" else None


def violations() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("").parts
        me = relative[0]
        if me in ROOTS:
            continue
        package = ".".join(("streammaxing", *relative[:-1]))
        for name in imported_modules(path, package):
            target = owner(name)
            if target is None or target == me or target not in COMPONENTS:
                continue
            if (me, target) not in ALLOWED:
                found.add(f"{'/'.join(relative)} imports {name}")
    return found


class TestLayering:
    def test_the_components_exist(self) -> None:
        """The check looks at the real package (a typo in a name would make it vacuous)."""
        assert {path.name for path in PACKAGE.iterdir() if path.is_dir()} >= COMPONENTS

    def test_components_and_lower_layers_import_no_other_component(self) -> None:
        """ingest, workers and jobs import no other component; admin imports only manage;
        manage imports no surface; schema, twitch, discord, templating and the shared modules
        import no component at all."""
        assert violations() == set()

    def test_the_check_sees_every_spelling(self, tmp_path: Path) -> None:
        """Absolute, from-package and relative imports are all seen."""
        sample = tmp_path / "sample.py"
        sample.write_text(
            "import streammaxing.admin.api\n"
            "from streammaxing import workers\n"
            "from streammaxing.jobs.tasks import JOB_TASKS\n"
            "from ..ingest import app\n",
            encoding="utf-8",
        )
        owners = {owner(name) for name in imported_modules(sample, "streammaxing.manage")}
        assert {"admin", "workers", "jobs", "ingest"} <= owners
