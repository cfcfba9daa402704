"""Tasks as plug-ins: one file per task in this folder, each defining `TASK`.

`get_task(uc.task)` is the only place a use case's task is looked up: a sixth task is one
new file here (see base.py for the protocol), picked up with no other edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.tasks.base import Task

# Modules here that hold shared parts, not a task.
_NOT_TASKS = {"base", "tabular", "contract"}


@cache
def tasks() -> dict[str, Task]:
    """Every task module's `TASK`, by its name."""
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name in _NOT_TASKS:
            continue
        # a task family with several modules is a package whose `task` module holds TASK
        module = f"shared.tasks.{info.name}" + (".task" if info.ispkg else "")
        task = importlib.import_module(module).TASK
        found[task.name] = task
    return found


def get_task(name: str) -> Task:
    known = tasks()
    if name not in known:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(sorted(known))}")
    return known[name]
