"""`pilotpack simulate`: the short scenarios of a churn pilot in fast-forward, each decision
checked against the truth the simulated world was built with; and the world itself (its
drift, its intervention) checked against what it promises.

One simulation runs for the module (`pilotpack simulate`, with its own temporary registry,
model store and prediction log): about two minutes on a busy two-core machine. The command is
run by its entry point in this process (`simulate_cli`): it starts the simulation's own
process itself, and a subprocess of the CLI only added an interpreter and its imports.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.core.drift import psi_samples
from shared.core.usecase import get_use_case
from shared.ops.simulate import alerts, series, world
from shared.ops.simulate.run import chosen
from shared.ops.simulate.scenarios import operator_turn
from shared.serve.forecast import request_models, series_key, series_key_columns
from tests.cli_runs import in_process

DAYS = 5  # each stage waits a day for outcomes when the two models disagree


def simulate_cli(home: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`pilotpack simulate ...` by its entry point in this process (`in_process`), with
    PILOTPACK_HOME at `home` (where the reports land)."""
    return in_process("simulate", *args, env={"PILOTPACK_HOME": str(home)} if home else None)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("simulate")
    run = simulate_cli(home, "churn", "--scenario", "short", "--days", str(DAYS), "--seed", "0")
    path = home / "reports" / "churn" / "simulate.json"
    assert path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(path.read_text())
    result |= {"_exit": run.returncode, "_stdout": run.stdout, "_home": home}
    return result


def decision(result: dict[str, Any], scenario: str, index: int = 0) -> dict[str, Any]:
    found = [d for d in result["decisions"] if d["scenario"] == scenario]
    assert found, f"{scenario} not run: {[d['scenario'] for d in result['decisions']]}"
    return found[index]


def test_better_challenger_is_promoted(simulated: dict[str, Any]) -> None:
    d = decision(simulated, "better_challenger")
    assert d["figures"]["true_auc_margin"] > 0.02  # better by construction, and measurably
    assert d["ok"] and d["got"] == "promoted", d
    # `rollout status` showed CBPE's estimate per variant along the way (at 100 %: the challenger)
    assert set(d["figures"]["status_estimated_auc"]) & {"champion", "challenger"}
    assert all(0.5 < v < 1 for v in d["figures"]["status_estimated_auc"].values() if v)


def test_erroring_challenger_is_rolled_back_within_its_window(simulated: dict[str, Any]) -> None:
    d = decision(simulated, "erroring_challenger")
    assert d["ok"], d
    assert "rolled_back" in d["got"] and "error rate" in d["got"]


def test_covariate_drift_alerts_on_or_after_the_shift_and_cbpe_follows(
    simulated: dict[str, Any],
) -> None:
    alert, estimate = (
        decision(simulated, "covariate_drift"),
        decision(simulated, "covariate_drift", 1),
    )
    assert alert["ok"], alert
    f = estimate["figures"]
    assert abs(f["estimated_auc"] - f["realised_auc"]) <= 0.03, f


def test_aa_names_no_winner(simulated: dict[str, Any]) -> None:
    d = decision(simulated, "aa")
    assert d["ok"], d
    assert d["figures"]["srm_p"] > 0.001  # a 20/80 plan read from the log: no SRM


def test_service_down_fires_the_down_alert(simulated: dict[str, Any]) -> None:
    uc = get_use_case("churn")
    if not alerts.down_alerts(uc, uc.load_config()):
        pytest.xfail("no rule watches `up` or absent() in the generated rules yet (issue 18, 5)")
    d = decision(simulated, "service_down")
    assert d["ok"], d


def test_report_table_scorecard_and_exit_code(simulated: dict[str, Any]) -> None:
    assert simulated["scenarios"] == list(chosen(["short"]))
    wrong = [d["scenario"] for d in simulated["decisions"] if d["ok"] is False]
    assert simulated["_exit"] == (1 if wrong else 0)
    assert "simulated pilot" in simulated["_stdout"] and "time to detect" in simulated["_stdout"]
    page = Path(simulated["scorecard"]["markdown"])
    assert page.exists() and "A/B lift" in page.read_text()


def test_the_operator_reports_a_rollout_the_service_stopped() -> None:
    """A rollout the service rolled back itself (its window tripped on scoring p99, a
    wall-clock figure) is the verdict, not "still rolling out" (RUL seed 0 in the matrix)."""
    reason = "automatic rollback: challenger scoring p99 231.0 ms ... above the 200 ms SLA"
    report = {"status": "rolled_back", "reason": reason, "recommendation": None}
    verdict, stage = operator_turn(None, None, report, 2, 3)  # type: ignore[arg-type]
    assert verdict == f"rolled_back by the service: {reason}" and stage == 2
    held = {"status": "active", "recommendation": "hold", "criteria": []}
    assert operator_turn(None, None, held, 1, 3) == (None, 1)  # type: ignore[arg-type]


def test_a_bad_scenario_name_is_refused() -> None:
    run = simulate_cli(None, "churn", "--scenario", "nope")
    assert run.returncode == 2 and "scenario 'nope'" in run.stderr


# --------------------------------------------------------------------------- the world


def test_shifted_traffic_drifts_and_fresh_traffic_does_not() -> None:
    uc = get_use_case("churn")
    ref = world.fresh(uc, 5000, 1, "a-")
    col = world.drift_column(uc, ref)
    values = lambda raw: np.asarray(uc.build_features(raw)[col], dtype=float)  # noqa: E731
    assert psi_samples(values(ref), values(world.fresh(uc, 5000, 2, "b-"))) < 0.05
    assert psi_samples(values(ref), values(world.shifted(uc, 5000, 3, "c-"))) > 0.2


def test_the_intervention_moves_the_rate_by_the_planned_effect() -> None:
    y = (np.random.default_rng(0).random(200_000) < 0.27).astype(float)
    assert world.treated(y, -0.05, 0.27, 1).mean() == pytest.approx(0.22, abs=0.005)
    assert world.treated(y, 0.05, 0.27, 1).mean() == pytest.approx(0.32, abs=0.005)


def test_concept_drift_flips_only_its_slice() -> None:
    uc = get_use_case("churn")
    raw = world.fresh(uc, 2000, 4, "d-")
    concept = world.concept_of(uc, raw)
    y = world.truth(uc, raw)
    y2 = world.with_concept(uc, y, raw, concept, seed=4)
    hit = world.features_of(uc, raw)[concept.column] == concept.value
    assert (y2[~hit] == y[~hit]).all() and hit.any()
    # on the slice the positive count is kept, and they are now the rows highest on `by`
    assert y2[hit].sum() == y[hit].sum() > 0 and (y2 != y).any()
    by = np.asarray(world.features_of(uc, raw)[concept.by], dtype=float)
    assert by[hit & (y2 == 1)].min() >= by[hit & (y2 == 0)].max()
    relabelled = world.relabelled(uc, raw, y2)
    assert (world.truth(uc, relabelled) == y2).all()


# --------------------------------------------------------------------------- forecasting


def test_forecasting_drift_alerts_a_worse_challenger_is_rolled_back_a_b_is_skipped(
    tmp_path: Path,
) -> None:
    """demand_forecasting: series level-shifted from day 1 of 3 raise `monitor`'s drift alert
    on day 1 or 2 and not on day 0; a challenger whose forecasts are the champion's x 1.5 is
    rolled back on its step-1 actuals (posted a day late by request id) at the shadow stage;
    the A/B scenarios say why they do not apply."""
    run = simulate_cli(
        tmp_path, "demand_forecasting", "--scenario", "covariate_drift",
        "--scenario", "worse_challenger", "--scenario", "aa", "--days", "3", "--seed", "0",
    )  # fmt: skip
    path = tmp_path / "reports" / "demand_forecasting" / "simulate.json"
    assert path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(path.read_text())
    d = decision(result, "covariate_drift")
    assert d["ok"] and d["got"] in ("first alert day 1", "first alert day 2"), d
    worse = decision(result, "worse_challenger")
    f = worse["figures"]  # worse by construction, and measurably on a fresh week
    assert f["true_mse_margin"] > 0 and f["wape_weak"] > f["wape_good"] + 0.2, f
    assert worse["ok"] and worse["got"].startswith("rolled back: outcome loss"), worse
    assert worse["detect"] == "day 1"  # the shadow stage, on day 0's actuals
    skipped = decision(result, "aa")
    assert skipped["ok"] is None and "yes/no outcome" in skipped["got"]
    assert run.returncode == 0 and result["wrong"] == 0


def test_a_forecasters_day_sends_the_history_so_far_and_is_judged_on_the_next_period() -> None:
    """A day of the forecaster's rollout world: every series live that period is sent with its
    history up to it (nothing later), and its outcome is the next period's sales (0 for a
    missing week under `gaps: zero`), keyed as the service routes it."""
    uc = get_use_case("demand_forecasting")
    cfg = uc.load_config()
    n, t, ids = cfg.data.n_periods, uc.time_column, list(uc.forecast.id_columns)
    raw = uc.make_synthetic(60, n + 3, 11)
    dates = sorted(raw[t].unique())
    for day in (0, 2):
        history, actual = series.period(uc, raw, day)
        last = history.groupby(ids)[t].max()
        assert (last == dates[n + day - 1]).all()
        live = {"|".join(map(str, k)) for k in last.index}
        assert set(actual) == live and len(live) >= 40
        nxt = raw[raw[t] == dates[n + day]].set_index(ids)[uc.target]
        for key, value in actual.items():
            k = tuple(int(v) for v in key.split("|"))
            assert value == (float(nxt[k]) if k in nxt.index else 0.0)
    request = request_models(uc)[0]
    columns = series_key_columns(uc, cfg)
    routed = {series_key(request(**s), columns) for s in series.series_items(uc, history)}
    assert routed == set(actual)


def test_maintenance_undrifted_days_raise_no_drift_alarm(tmp_path: Path) -> None:
    """Maintenance's generator has slow random walks (temperatures): a day of consecutive rows
    covers part of their range, and days drawn that way raised drift alerts before any shift
    (PSI up to 0.28). Days sampled from a long run are drawn like the training rows."""
    run = simulate_cli(
        tmp_path, "predictive_maintenance", "--scenario", "covariate_drift", "--days", "3",
        "--seed", "0",
    )  # fmt: skip
    path = tmp_path / "reports" / "predictive_maintenance" / "simulate.json"
    assert path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(path.read_text())
    alert, estimate = decision(result, "covariate_drift"), decision(result, "covariate_drift", 1)
    assert alert["ok"] and "false alarms" not in alert["got"], alert
    assert estimate["ok"], estimate
    assert run.returncode == 0


def test_a_day_of_maintenance_traffic_is_drawn_like_the_training_rows() -> None:
    uc = get_use_case("predictive_maintenance")
    ref = world.features_of(uc, world.fresh(uc, 8000, 1, "a-"))
    day = world.features_of(uc, world.fresh(uc, 600, 2, "b-"))
    for col in ("process_temperature_k", "temperature_difference_k"):
        assert psi_samples(np.asarray(ref[col]), np.asarray(day[col])) < 0.1, col


def test_concept_drift_keeps_a_rare_event_rate() -> None:
    uc = get_use_case("predictive_maintenance")
    raw = world.fresh(uc, 4000, 5, "e-")
    concept = world.concept_of(uc, raw)
    y = world.truth(uc, raw)
    y2 = world.with_concept(uc, y, raw, concept, seed=5)
    assert y2.sum() == y.sum() and (y2 != y).sum() > 0.5 * y.sum()  # the link moved, not the rate
    assert concept.by not in ("power_w", "tool_wear_torque_min_nm")  # failure drivers


# --------------------------------------------------------------------------- entity histories


def test_a_history_shift_moves_one_reading_and_keeps_every_history() -> None:
    """The fleet/RUL covariate drift: one sensor offset by a known amount, every entity's
    records, order and outcome kept; its level features drift far past psi_alert (its trends
    do not move), while
    another undrifted day stays below it."""
    uc = get_use_case("predictive_maintenance_rul")
    day = series.readings(uc, 7, "a-")
    col = series.reading_column(uc, day)
    moved = series.offset(uc, day, series.READING_SHIFT)
    others = [c for c in day.columns if c != col]
    assert moved[others].equals(day[others])  # ids, times, outcomes, other sensors
    step = moved[col] - day[col]
    assert np.allclose(step, series.READING_SHIFT * day[col].std())
    before, after = world.features_of(uc, day), world.features_of(uc, moved)
    other = world.features_of(uc, series.readings(uc, 8, "b-"))
    moved_by = [f for f in after if f.startswith(col + "_")]
    levels = [f for f in moved_by if "_slope_" not in f]  # a level shift leaves trends alone
    slopes = [f for f in moved_by if "_slope_" in f]
    assert levels and min(psi_samples(before[f], after[f]) for f in levels) > 0.25
    assert all(np.allclose(before[f], after[f]) for f in slopes)
    assert max(psi_samples(before[f], other[f]) for f in levels) < 0.2


def test_cut_histories_send_recent_records_scored_anywhere_in_life() -> None:
    uc = get_use_case("predictive_maintenance_rul")
    raw = series.readings(uc, 9, "c-", entities=40)
    sent, latest = series.cut_histories(uc, raw, 9)
    col, t = uc.id_column, uc.time_column
    assert sent.groupby(col).size().max() <= series.RECENT
    assert (sent.groupby(col)[t].diff().dropna() == 1).all()  # consecutive, in order
    assert (latest.set_index(col)[t] == sent.groupby(col)[t].max()).all()
    life = world.truth(uc, latest)[np.asarray(uc.labelled(latest), dtype=bool)]
    assert len(life) > 30 and life.min() >= 0 and life.std() > 10  # not all at failure (0)
