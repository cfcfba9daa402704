"""How `make test` spreads the suite over pytest-xdist workers: `--dist loadfile`, with the few
files whose tests are each a heavy, independent job spread test by test, and the largest units
handed out first (longest-processing-time first, so no worker is left alone with a big file at
the end while the other idles).

Costs are measured seconds per unit (COSTS); an unlisted unit counts one second per test.
Only the order depends on them: a wrong figure makes the run slower, never wrong.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

# Tests that are units of their own (each parametrisation too): each starts what it needs
# itself, in its own folders, so on another worker it costs the same, and a second worker
# pays again at most a cheap module fixture (test_new's sandbox copy, test_evaluate's FD003
# files).
SPLIT = (
    "tests/test_new.py::test_new_fork_trains_passes_the_contract_and_serves",
    # churn's and demand_forecasting's runs stay with their file: they reuse its servers.
    *(
        f"tests/test_http_guard.py::test_schemathesis_all_checks_pass_against_every_service[{name}]"
        for name in (
            "shared.serve.root:PilotPack",
            "lead_scoring",
            "predictive_maintenance",
            "predictive_maintenance_fleet",
            "predictive_maintenance_rul",
        )
    ),
    "tests/test_bento_build.py::test_the_root_bento_packs_a_model_for_every_use_case",
    "tests/test_evaluate.py::test_evaluate_scores_held_out_engines_in_the_official_layout",
    "tests/test_evaluate.py::test_new_rul_forks_a_header_less_run_to_failure_file_and_trains",
    "tests/test_simulate.py::test_forecasting_drift_alerts_a_worse_challenger_is_rolled_back_a_b_is_skipped",
    "tests/test_simulate.py::test_maintenance_undrifted_days_raise_no_drift_alarm",
)

# Seconds per unit, summed from `pytest -n auto --dist loadfile --durations=0` on the quiet
# 2-core machine (2026-12-04, 8 min 1 s in all; only the ratios matter). The session's trained models
# land on the first unit of a worker that asks for them, so a unit that trains every use
# case (the root bento, the root schemathesis run) counts that training too.
_FORK = "tests/test_new.py::test_new_fork_trains_passes_the_contract_and_serves"
_FUZZ = "tests/test_http_guard.py::test_schemathesis_all_checks_pass_against_every_service"
COSTS: dict[str, float] = {
    f"{_FUZZ}[shared.serve.root:PilotPack]": 57,
    "tests/test_bento_build.py": 43,
    "tests/test_mlflow_server.py": 40,
    "tests/test_simulate.py::test_forecasting_drift_alerts_a_worse_challenger_is_rolled_back_a_b_is_skipped": 40,
    "tests/test_http_guard.py": 37,
    "tests/test_rollout_serve.py": 24,  # 2026-12-05: refresh every 0.5 s, kill -9 not waiting for the reap: 42 -> 24 s
    "usecases/demand_forecasting/tests/test_real_data.py": 36,
    "tests/test_auth.py": 33,
    "tests/test_cli.py": 31,
    "tests/test_bento_build.py::test_the_root_bento_packs_a_model_for_every_use_case": 30,
    "tests/test_evaluate.py::test_new_rul_forks_a_header_less_run_to_failure_file_and_trains": 28,
    "tests/test_simulate.py": 28,
    "usecases/lead_scoring/tests/test_real_data.py": 27,
    "tests/test_privacy.py": 26,
    f"{_FORK}[forecast]": 21,
    "tests/test_evaluate.py::test_evaluate_scores_held_out_engines_in_the_official_layout": 21,
    f"{_FORK}[binary_sequence]": 20,
    "tests/test_tracking.py": 20,
    f"{_FORK}[binary]": 20,
    "tests/test_alerting.py": 20,
    "usecases/predictive_maintenance/tests/test_rul.py": 19,
    "tests/test_root_service.py": 17,
    f"{_FORK}[regression]": 17,
    "tests/test_prometheus.py": 17,
    "tests/test_http_edge.py": 16,
    "tests/test_simulate.py::test_maintenance_undrifted_days_raise_no_drift_alarm": 15,
    "usecases/predictive_maintenance/tests/test_real_data.py": 14,
    "usecases/predictive_maintenance/tests/test_service.py": 14,
    f"{_FUZZ}[lead_scoring]": 13,
    "usecases/churn/tests/test_real_data.py": 13,
    f"{_FUZZ}[predictive_maintenance_rul]": 12,
    f"{_FUZZ}[predictive_maintenance]": 12,
    "tests/test_model_quality.py": 10,
    f"{_FUZZ}[predictive_maintenance_fleet]": 10,
    "tests/test_service.py": 10,
    "tests/test_risk.py": 9,
    "tests/test_outcomes.py": 7,
    "usecases/lead_scoring/tests/test_service.py": 7,
    "tests/test_governance_serve.py": 7,
    "usecases/demand_forecasting/tests/test_service.py": 7,
    "usecases/demand_forecasting/tests/test_training.py": 2,
}


def scope_of(nodeid: str) -> str:
    """The unit a test runs in: its own for a SPLIT test, else its file."""
    if nodeid.startswith(SPLIT):
        return nodeid
    return nodeid.split("::", 1)[0]


def cost_of(scope: str, n_tests: int) -> float:
    """The expected seconds of one unit (see COSTS)."""
    return COSTS.get(scope, float(n_tests))


def ranked(units: Mapping[str, dict[str, bool]]) -> OrderedDict[str, dict[str, bool]]:
    """The work queue, costliest unit first (ties keep collection order)."""
    return OrderedDict(sorted(units.items(), key=lambda kv: -cost_of(kv[0], len(kv[1]))))


class CostScheduling(LoadScopeScheduling):
    """`--dist loadfile` with SPLIT tests as units of their own, the costliest unit first.

    xdist's own loadfile orders files by their number of tests (`--loadscope-reorder`, on by
    default), which put a file of a few long tests (test_new's forks) last.
    """

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def _assign_work_unit(self, node: WorkerController) -> None:
        """Hand out the costliest unit left (the queue is ranked once, when first used)."""
        if not getattr(self, "_ranked", False):
            self.workqueue = ranked(self.workqueue)
            self._ranked = True
        super()._assign_work_unit(node)
