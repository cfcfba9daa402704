"""Tasks as plug-ins: one file per task in this folder, each defining `TASK`.

A use case names no task: its usecase.py imports the task object and passes it
(`UseCase(task=BINARY, ...)`), so `uc.task` is the Task. `get_task(name)` is for lookups by
name (the CLI's `--task`, generated forks); `tasks()` lists every task: a sixth task is one
new file here (see base.py for the protocol), picked up with no other edit. A task's training
part lives beside it (`<task>_training.py`, or `training.py` in a family's package) and is
imported only through `task.training`: looking a task up loads no training library.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.tasks.base import Task

# Modules here that hold shared parts, not a task (and every `*_training` module).
_NOT_TASKS = {"base", "tabular", "contract"}


def _is_task(name: str) -> bool:
    return name not in _NOT_TASKS and not name.endswith("_training")


@cache
def tasks() -> dict[str, Task]:
    """Every task module's `TASK`, by its name."""
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not _is_task(info.name):
            continue
        # a task family with several modules is a package whose `task` module holds TASK
        task = importlib.import_module(_module(info.name)).TASK
        found[task.name] = task
    return found


def _module(name: str) -> str:
    """The module holding a task family's `TASK`: the family's file, or its package's `task`."""
    package = Path(__file__).parent / name
    return f"shared.tasks.{name}" + (".task" if package.is_dir() else "")


def get_task(name: str) -> Task:
    """A task by name; imports only that task's module when it is named after it."""
    here = Path(__file__).parent
    own_module = (here / f"{name}.py").exists() or (here / name / "task.py").exists()
    if own_module and _is_task(name):
        task = importlib.import_module(_module(name)).TASK
        if task.name == name:
            return task
    known = tasks()
    if name not in known:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(known))}")
    return known[name]
