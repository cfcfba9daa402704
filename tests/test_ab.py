"""A/B planning and analysis: agreement with statsmodels and with textbook formulas, the
sample-ratio check, no winner before the planned size, and simulations: A/A tests with
repeated looks keep the false-positive rate at alpha, a 10 % lift is found at the planned power.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from shared.ops.monitoring.ab import (
    analyze_frame,
    decide,
    msprt_lambda,
    plan,
    ztest,
)

ALPHA = 0.05


def test_sample_size_agrees_with_statsmodels_and_the_textbook_formula():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    p = plan(0.10, 0.02, alpha=0.05, power=0.8, daily_traffic=1000)
    h = proportion_effectsize(0.12, 0.10)
    assert p.n_per_group == math.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8))
    # Textbook (Fleiss): n = (z_a/2 sqrt(2 pq) + z_b sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2
    #   p = 0.11: (1.959964 x 0.442493 + 0.841621 x 0.442267)^2 / 0.0004 = 3840.8
    p1, p2, pbar = 0.10, 0.12, 0.11
    z_a, z_b = norm.ppf(0.975), norm.ppf(0.8)
    fleiss = (z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2  # fmt: skip
    assert fleiss == pytest.approx(3840.8, abs=0.5)
    assert p.n_per_group == pytest.approx(fleiss, rel=0.005)  # arcsine vs Fleiss: within 0.5 %
    assert p.days == math.ceil(2 * p.n_per_group / 1000)
    relative = plan(0.10, 0.2, relative=True)  # +20 % of 10 % = +2 points
    assert relative.n_per_group == p.n_per_group


def test_z_test_agrees_with_statsmodels_and_a_worked_example():
    from statsmodels.stats.proportion import proportions_ztest

    # 250 / 1000 vs 200 / 1000: pooled p = 0.225, SE = sqrt(0.225 x 0.775 x 2 / 1000) = 0.018675
    #   z = 0.05 / 0.018675 = 2.6774, p = 2 (1 - Phi(2.6774)) = 0.00742
    z, p = ztest(250, 1000, 200, 1000)
    assert z == pytest.approx(2.6774, abs=1e-3)
    assert p == pytest.approx(0.00742, abs=5e-5)
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    sz, sp = proportions_ztest([250, 200], [1000, 1000])
    assert (z, p) == pytest.approx((sz, sp))


def frame(n_c: int, c_c: int, n_t: int, c_t: int, days: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    groups = ["champion"] * n_c + ["challenger"] * n_t
    conv = [1] * c_c + [0] * (n_c - c_c) + [1] * c_t + [0] * (n_t - c_t)
    times = pd.Timestamp("2026-03-02", tz="UTC") + pd.to_timedelta(
        rng.integers(0, days * 86400, n_c + n_t), unit="s"
    )
    return pd.DataFrame(
        {"group": groups, "unit": range(n_c + n_t), "converted": conv, "time": times}
    )


def test_analysis_reports_lift_intervals_power_weeks_and_a_verdict():
    p = plan(0.10, 0.02)
    n = p.n_per_group
    report = analyze_frame(frame(n, 380, n, 470), p)
    assert report["groups"][0] == {"group": "champion", "n": n, "conversions": 380, "rate": 380 / n}
    lift = report["lift"]
    assert lift["absolute"] == pytest.approx(90 / n)
    assert lift["absolute_ci"][0] < lift["absolute"] < lift["absolute_ci"][1]
    assert lift["relative"] == pytest.approx(470 / 380 - 1)
    assert report["power"] == pytest.approx(0.8, abs=0.01)  # planned size reached: planned power
    assert [w["week"] for w in report["weeks"]] == [1, 2, 3]
    assert report["verdict_code"] == "treatment_wins"
    assert not report["srm"]["mismatch"]


def test_a_sample_ratio_mismatch_blocks_any_verdict():
    p = plan(0.10, 0.02)
    report = analyze_frame(frame(5000, 500, 4500, 900), p)
    assert report["srm"]["mismatch"] and report["srm"]["p_value"] < 1e-5
    assert report["verdict_code"] == "srm"


def test_no_winner_before_the_planned_size_however_small_the_p_value():
    p = plan(0.10, 0.02)
    report = analyze_frame(frame(1000, 100, 1000, 200), p)
    assert report["test"]["p_value"] < 1e-8
    assert report["verdict_code"] == "keep_running"
    assert analyze_frame(frame(1000, 100, 1000, 200), None)["verdict_code"] == "no_plan"


def _binomial_interval(rate: float, n: int, z: float = 2.576) -> tuple[float, float]:
    sd = math.sqrt(rate * (1 - rate) / n)
    return rate - z * sd, rate + z * sd


def test_aa_tests_with_repeated_looks_keep_the_false_positive_rate_at_alpha():
    rng = np.random.default_rng(42)
    p = plan(0.10, 0.02, alpha=ALPHA)
    sims, looks = 2000, 10
    steps = np.linspace(p.n_per_group / looks, p.n_per_group, looks).astype(int)
    inc = np.diff(np.r_[0, steps])
    c_c = np.cumsum(rng.binomial(inc, 0.10, size=(sims, looks)), axis=1)
    c_t = np.cumsum(rng.binomial(inc, 0.10, size=(sims, looks)), axis=1)
    called, naive = 0, 0
    for s in range(sims):
        verdicts, peeked = [], False
        for k, n in enumerate(steps):
            _, pv = ztest(int(c_t[s, k]), int(n), int(c_c[s, k]), int(n))
            peeked |= pv < ALPHA  # what stopping at the first small p-value would do
            verdicts.append(decide(int(n), int(c_c[s, k]), int(n), int(c_t[s, k]), p, pv)[0])
        called += any(v.endswith("_wins") for v in verdicts)
        naive += peeked
    low, high = _binomial_interval(ALPHA, sims)
    assert low <= called / sims <= high, called / sims
    assert naive / sims > high  # peeking without the plan inflates false positives
    # mSPRT chosen up front: a winner may be called at any of 20 looks, still <= alpha
    seq = plan(0.10, 0.02, alpha=ALPHA, method="msprt")
    looks = 20
    steps = np.linspace(seq.n_per_group / looks, seq.n_per_group, looks).astype(int)
    inc = np.diff(np.r_[0, steps])
    c_c = np.cumsum(rng.binomial(inc, 0.10, size=(sims, looks)), axis=1)
    c_t = np.cumsum(rng.binomial(inc, 0.10, size=(sims, looks)), axis=1)
    lam = msprt_lambda(c_t, steps, c_c, steps, seq.tau2)
    fpr = float(np.mean((lam >= 1 / ALPHA).any(axis=1)))
    assert fpr <= high, fpr


def test_a_ten_percent_lift_is_found_at_about_the_planned_power():
    rng = np.random.default_rng(7)
    p = plan(0.10, 0.10, relative=True, alpha=ALPHA, power=0.8)
    sims, n = 1000, p.n_per_group
    c_c = rng.binomial(n, 0.10, sims)
    c_t = rng.binomial(n, 0.11, sims)
    wins = sum(
        decide(n, int(a), n, int(b), p, ztest(int(b), n, int(a), n)[1])[0] == "treatment_wins"
        for a, b in zip(c_c, c_t, strict=True)
    )
    low, high = _binomial_interval(0.8, sims, z=3)
    assert low <= wins / sims <= high, wins / sims


def test_cli_plan_and_analyze(tmp_path):
    from shared.app.cli import app

    runner = CliRunner()
    plan_file = tmp_path / "plan.json"
    result = runner.invoke(app, ["ab", "plan", "--baseline-rate", "0.10", "--mde", "0.02",
                                 "--daily-traffic", "1000", "--out", str(plan_file), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3835 units per group" in result.output and "8 days" in result.output
    assert json.loads(result.output.strip().splitlines()[-1])["n_per_group"] == 3835
    data = tmp_path / "ab.csv"
    frame(3835, 380, 3835, 470).to_csv(data, index=False)
    result = runner.invoke(app, ["ab", "analyze", "lead_scoring", "--data", str(data),
                                 "--plan", str(plan_file)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "challenger wins" in result.output and "sample ratio check" in result.output
    frame(5000, 500, 4500, 450).to_csv(data, index=False)
    result = runner.invoke(app, ["ab", "analyze", "lead_scoring", "--data", str(data),
                                 "--plan", str(plan_file)])  # fmt: skip
    assert result.exit_code == 1 and "MISMATCH" in result.output
    assert runner.invoke(app, ["ab", "plan", "--baseline-rate", "0.1", "--mde", "0"]).exit_code == 2


# --------------------------------------------------------------------------- direction, split


def test_lower_churn_wins_a_churn_experiment_champion_at_27_challenger_at_30_percent():
    """The counted outcome of churn is bad: the variant with the LOWER rate is the better one.
    By construction the champion churns 27.1 %, the challenger 30 %, 4,000 units each."""
    p = plan(0.30, -0.03, higher_is_better=False)
    assert p.n_control <= 4000 and p.n_treated <= 4000
    report = analyze_frame(frame(4000, 1084, 4000, 1200), p)
    assert report["test"]["p_value"] < ALPHA
    assert report["verdict_code"] == "control_wins"
    assert report["verdict"].startswith("champion wins")
    # the same figures read as conversions (higher is better): the challenger would win
    converted = analyze_frame(frame(4000, 1084, 4000, 1200), plan(0.30, -0.03))
    assert converted["verdict"].startswith("challenger wins")


def test_churn_and_failures_declare_that_lower_is_better():
    from shared.core.usecase import get_use_case

    lower = {
        n: not get_use_case(n).load_config().monitoring.outcome_is_good
        for n in ("churn", "predictive_maintenance", "predictive_maintenance_fleet", "lead_scoring")
    }
    assert lower == {
        "churn": True,
        "predictive_maintenance": True,
        "predictive_maintenance_fleet": True,
        "lead_scoring": False,
    }


def test_an_uneven_plan_sizes_each_group_with_statsmodels():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    p = plan(0.10, 0.03, split=0.2)
    h = abs(proportion_effectsize(0.13, 0.10))
    n1 = NormalIndPower().solve_power(h, alpha=0.05, power=0.8, ratio=0.25)
    assert (p.n_control, p.n_treated) == (math.ceil(n1), math.ceil(n1 * 0.25))
    # an uneven split needs more units in all than an even one, for the same power
    even = plan(0.10, 0.03)
    assert p.n_control + p.n_treated > 2 * even.n_per_group
    assert plan(0.10, 0.03, split=0.5).n_treated == even.n_per_group


def test_a_20_80_canary_read_from_the_log_gets_a_verdict_without_sample_ratio_mismatch(tmp_path):
    """20 % of customers routed to the challenger, their churn 7 % vs 10 % (lower is better):
    with the plan's 20/80 split the sample-ratio check passes and the challenger wins; read
    against a 50/50 plan the same traffic is a mismatch and no verdict."""
    from dataclasses import replace

    from shared.ops.monitoring.ab import log_frame
    from shared.serve.predlog import LogRow, open_log

    p = plan(0.10, -0.03, split=0.2, higher_is_better=False)
    n_t, n_c = p.n_treated + 50, p.n_control + 200
    churned = {"challenger": round(0.07 * n_t), "champion": round(0.10 * n_c)}
    rows, outcomes = [], []
    for variant, n in (("challenger", n_t), ("champion", n_c)):
        for i in range(n):
            key = f"{variant}-{i}"
            rows.append(LogRow(f"r-{key}", 1.0e9 + i, "churn", variant, "1", key, 0,
                               {"x": 1}, {"probability": 0.5}, 0.5, 1.0, None))  # fmt: skip
            outcomes.append({"use_case": "churn", "routing_key": key,
                             "value": 1.0 if i < churned[variant] else 0.0})  # fmt: skip
    location = str(tmp_path / "predictions.db")
    with open_log(location) as log:
        log.write_predictions(rows)
        log.write_outcomes(outcomes)
    import os

    os.environ["PILOTPACK_PREDICTION_LOG"] = location
    try:
        frame_ = log_frame("churn")
    finally:
        del os.environ["PILOTPACK_PREDICTION_LOG"]
    report = analyze_frame(frame_, p, value_col="converted")
    assert not report["srm"]["mismatch"] and report["srm"]["expected"] == "80%/20%"
    assert report["verdict_code"] == "treatment_wins", report["verdict"]
    even = analyze_frame(frame_, replace(p, split=0.5, n_treatment=None))
    assert even["srm"]["mismatch"] and even["verdict_code"] == "srm"
