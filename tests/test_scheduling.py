"""`make test`'s distribution (tests/scheduling.py): the units it names exist, heavy tests are
units of their own, and the costliest unit is handed out first; and each worker's thread pools
run one thread (tests/conftest.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import lightgbm  # noqa: F401  (its OpenMP runtime, for threadpool_info)
import pytest
import scipy.linalg  # noqa: F401  (scipy's OpenBLAS)
import sklearn  # noqa: F401  (sklearn's OpenMP runtime)
from threadpoolctl import threadpool_info

from tests.scheduling import COSTS, SPLIT, ranked, scope_of

ROOT = Path(__file__).resolve().parents[1]
FORK = "tests/test_new.py::test_new_fork_trains_passes_the_contract_and_serves"


def test_every_named_unit_is_a_test_or_file_that_exists():
    """A renamed test would silently fall back to its file's unit: its entry must follow it."""
    for key in (*SPLIT, *COSTS):
        path, _, rest = key.partition("::")
        assert (ROOT / path).is_file(), key
        name = re.sub(r"\[.*\]$", "", rest)
        if name:
            assert f"def {name}(" in (ROOT / path).read_text(), key


def test_split_tests_are_units_of_their_own_and_the_rest_stay_with_their_file():
    assert scope_of(f"{FORK}[binary]") == f"{FORK}[binary]"
    assert scope_of("tests/test_new.py::test_column_lists_keep_inner_spaces") == "tests/test_new.py"
    fuzz = "tests/test_http_guard.py::test_schemathesis_all_checks_pass_against_every_service"
    assert scope_of(f"{fuzz}[lead_scoring]") == f"{fuzz}[lead_scoring]"
    # churn's run reuses its file's module server, so it stays in the file's unit
    assert scope_of(f"{fuzz}[churn]") == "tests/test_http_guard.py"
    assert (
        scope_of(f"{fuzz}[predictive_maintenance_fleet]") == f"{fuzz}[predictive_maintenance_fleet]"
    )
    assert scope_of("usecases/churn/tests/test_kpi.py::test_x[a::b]") == (
        "usecases/churn/tests/test_kpi.py"
    )
    for key in COSTS:  # every costed unit is one scope_of makes
        assert scope_of(key + "::test_any" if "::" not in key else key) == key


def test_the_costliest_unit_goes_first_and_unknown_ones_count_their_tests():
    units = {
        "tests/test_splits.py": dict.fromkeys(["a", "b", "c"], False),
        f"{FORK}[binary]": {f"{FORK}[binary]": False},
        "tests/test_cli.py": dict.fromkeys(["x"], False),
        "tests/test_psi.py": dict.fromkeys(["p", "q"], False),
    }
    order = list(ranked(units))
    named = sorted([f"{FORK}[binary]", "tests/test_cli.py"], key=lambda unit: -COSTS[unit])
    assert order == [*named, "tests/test_splits.py", "tests/test_psi.py"]


def test_an_xdist_worker_and_what_it_starts_run_one_thread_per_pool():
    """One worker a core: numpy's and scipy's OpenBLAS, LightGBM's and sklearn's OpenMP each run
    one thread in the worker, and a process the worker starts inherits the limit."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("only an xdist worker limits its pools (`make test`)")
    pools = threadpool_info()
    assert {p["user_api"] for p in pools} == {"blas", "openmp"}, pools
    assert all(p["num_threads"] == 1 for p in pools), pools
    assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
