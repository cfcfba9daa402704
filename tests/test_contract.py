"""One contract suite over every registered use case and variant, whatever its task (like
scikit-learn's `parametrize_with_checks`): each task lists its checks
(`Task.contract_checks(uc)`, see shared/tasks/contract.py), and a fork's folder is checked by
existing."""

from __future__ import annotations

import pytest

from shared.core.usecase import registry
from shared.serve import contract as serve_contract


def _checks(uc):
    """The task's checks and the service's (shared/serve/contract.py)."""
    return [*uc.task.training.contract_checks(uc), *serve_contract.checks(uc)]


CASES = [(uc, check) for uc in registry().values() for check in _checks(uc)]


@pytest.mark.parametrize(
    ("uc", "check"), CASES, ids=[f"{uc.name}-{check.__name__}" for uc, check in CASES]
)
def test_contract(uc, check):
    check(uc)


@pytest.mark.parametrize("uc", list(registry().values()), ids=list(registry()))
def test_every_use_case_has_contract_checks(uc):
    checks = _checks(uc)
    assert checks, f"{uc.name}: task {uc.task.name} lists no contract checks"
    names = [c.__name__ for c in checks]
    assert len(names) == len(set(names)), names
