"""Tasks declare what they can do (estimator-tags style), and a use case is found without
importing the other folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

import pytest

from shared.core.usecase import registry
from shared.tasks import get_task, tasks
from shared.tasks.base import Task

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = {
    name: hint
    for name, hint in get_type_hints(Task).items()
    if not name.startswith("_") and name != "name"
}


@pytest.mark.parametrize(
    "task", sorted(tasks().values(), key=lambda t: t.name), ids=lambda t: t.name
)
def test_every_task_declares_every_capability(task: Task) -> None:
    for name, hint in CAPABILITIES.items():
        value = getattr(task, name)
        origin = getattr(hint, "__origin__", hint)
        assert isinstance(value, origin), (task.name, name, value)
    assert task.serves in {"records", "series"}
    assert task.batch_scorable == (task.serves == "records")


def test_use_cases_carry_their_task_object_and_names_still_find_it() -> None:
    for uc in registry().values():
        assert get_task(uc.task.name) is uc.task


def test_a_use_case_is_found_without_importing_the_other_folders() -> None:
    code = (
        "import sys; from shared.core.usecase import get_use_case; "
        "get_use_case('predictive_maintenance_rul'); "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('usecases.')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["['predictive_maintenance']"]
