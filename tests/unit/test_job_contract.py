"""The job contract: every task name declared in `streammaxing.queues` is registered on the
worker app, every registered task is declared, and no module spells a name of its own."""

from __future__ import annotations

import ast
from pathlib import Path

from streammaxing.bootstrap import task_app
from streammaxing.queues import NOTIFICATION_TASKS, Queue, Task

PACKAGE = Path(__file__).resolve().parents[2] / "streammaxing"


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


class TestRegistration:
    def test_every_declared_task_is_registered_and_every_registered_task_declared(self) -> None:
        """The worker app's tasks are exactly the declared names (procrastinate's builtins
        aside): a task nobody registers, or one registered under a stray name, fails here."""
        app = task_app()
        registered = {name for name, task in app.tasks.items() if task.queue != "builtin"}
        assert registered == {task.value for task in Task}

    def test_every_task_consumes_a_declared_queue(self) -> None:
        """A worker started with `--queues` of the declared names runs every task."""
        app = task_app()
        queues = {task.queue for task in app.tasks.values() if task.queue != "builtin"}
        assert queues == {queue.value for queue in Queue}

    def test_every_notification_type_has_a_task(self) -> None:
        """The ingest defers each notification type to a task the workers run."""
        assert set(NOTIFICATION_TASKS.values()) <= set(Task)


#: Keyword arguments that name a task, queue or lock wherever a job is declared or deferred.
_NAMING_KEYWORDS = {"name", "task_name", "queue", "lock", "queueing_lock", "periodic_id"}
#: The calls that declare or defer a job.
_JOB_CALLS = {"task", "periodic", "configure_task", "Job", "TaskSpec", "defer_job_async"}


def _naming_literals(path: Path) -> set[str]:
    """String literals passed where a task, queue or lock name goes."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else None
        if isinstance(function, ast.Name):
            called = function.id
        if called not in _JOB_CALLS:
            continue
        arguments = [k.value for k in node.keywords if k.arg in _NAMING_KEYWORDS]
        if called in {"configure_task", "TaskSpec"}:
            arguments += node.args[:2]
        found |= {a.value for a in arguments if isinstance(a, ast.Constant)}
        found -= {None}
    return {value for value in found if isinstance(value, str)}


class TestNoSecondSpelling:
    def test_no_module_but_queues_spells_a_task_name(self) -> None:
        """The task names that say what they are (`stream_online`, `catch_up_live`, …) appear
        as string literals only in `streammaxing/queues.py`, so renaming one cannot leave a
        stale copy behind."""
        names = {task.value for task in Task if "_" in task.value}
        offenders = {
            str(path.relative_to(PACKAGE)): sorted(names & _string_literals(path))
            for path in PACKAGE.rglob("*.py")
            if path.name != "queues.py" and names & _string_literals(path)
        }
        assert offenders == {}

    def test_no_job_is_declared_or_deferred_with_a_literal_name(self) -> None:
        """Every task, queue and lock name passed to procrastinate comes from the contract."""
        offenders = {
            str(path.relative_to(PACKAGE)): sorted(_naming_literals(path))
            for path in PACKAGE.rglob("*.py")
            if path.name != "queues.py" and _naming_literals(path)
        }
        assert offenders == {}
