"""The operations layer stands on its own: no surface is imported by it."""

from __future__ import annotations

import ast
from pathlib import Path

import streammaxing.manage

MANAGE = Path(streammaxing.manage.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from … import`` in the file names (relative ones
    resolved against ``streammaxing.manage``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = "streammaxing.manage".rsplit(".", node.level - 1)[0]
                base = f"{package}.{base}" if base else package
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


class TestManageImports:
    def test_the_package_has_modules(self) -> None:
        """The check below looks at the real package (a path typo would make it vacuous)."""
        assert {"actor.py", "rules.py", "audit.py", "services.py"} <= {
            path.name for path in MANAGE.glob("*.py")
        }

    def test_nothing_from_the_admin_surfaces(self) -> None:
        """No module of `streammaxing.manage` imports `streammaxing.admin` or anything in it."""
        offenders = {
            f"{path.name}: {name}"
            for path in MANAGE.rglob("*.py")
            for name in imported_modules(path)
            if name == "streammaxing.admin" or name.startswith("streammaxing.admin.")
        }
        assert offenders == set()

    def test_the_check_sees_an_admin_import(self, tmp_path: Path) -> None:
        """The parser catches every spelling of such an import."""
        sample = tmp_path / "sample.py"
        sample.write_text(
            "import streammaxing.admin.api\n"
            "from streammaxing import admin\n"
            "from streammaxing.admin.cli import run_admin_command\n"
            "from .. import admin as surfaces\n",
            encoding="utf-8",
        )
        names = imported_modules(sample)
        assert "streammaxing.admin.api" in names
        assert "streammaxing.admin" in names
        assert "streammaxing.admin.cli" in names
