"""The whole flow on synthetic data: backtests, gates, ONNX parity, MLflow, BentoML store,
report, and batch forecasts from the stored model."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.app.cli import app
from shared.core.store import load_model
from shared.ops.report import markdown, result_tables, summary_table, write_report
from shared.ops.training import train
from shared.tasks.forecast.batch import batch_forecast
from tests.conftest import fast_overrides
from usecases.demand_forecasting.tests.conftest import UC


def test_the_global_model_beats_the_best_baseline_and_every_model_is_reported(trained):
    s = json.loads(json.dumps(trained.summary(), default=str))
    assert s["gates"] == {"passed": True, "reasons": []}
    assert s["chosen_model"] in {"lightgbm", "ensemble"} and s["model_version"]
    models = {c["name"]: c for c in s["candidates"]}
    assert set(models) == {
        "lightgbm",
        "naive",
        "seasonal_naive",
        "seasonal_level",
        "seasonal_ses",
        "auto_ets",
        "tsb",
        "ensemble",
    }
    assert models["ensemble"]["kind"] == "ensemble" and set(trained.ensemble["weights"]) <= set(
        models
    )
    m = {name: c["metrics"] for name, c in models.items()}
    assert all(set(x) == {"mase", "wape", "smape", "bias"} for x in m.values())
    # the gates' reference is the best baseline on MASE
    stats = [n for n, c in models.items() if c["kind"] == "statistical"]
    assert trained.baseline == min(stats, key=lambda n: m[n]["mase"])
    chosen, base = m[s["chosen_model"]], m[trained.baseline]
    assert chosen["mase"] == min(m["lightgbm"]["mase"], m["ensemble"]["mase"])
    assert chosen["mase"] < base["mase"]
    assert trained.wape_gain_pct == pytest.approx(100 * (1 - chosen["wape"] / base["wape"]))
    assert trained.wape_gain_pct > 10
    assert s["parity_max_abs_diff"] <= 1e-4
    assert s["kpis"]["savings_vs_baseline_usd"] > 0
    cov = s["interval_coverage"]
    assert 0.6 <= cov["80"] <= cov["95"] <= 1.0
    assert len(models["lightgbm"]["by_step"]) == 8
    assert s["split"]["kind"] == "rolling_origin" and len(s["split"]["cutoffs"]) == 3


def test_run_is_tracked_registered_and_stored(trained):
    from mlflow import MlflowClient

    from shared.core.tracking import tracking_uri

    client = MlflowClient(tracking_uri())
    run = client.get_run(trained.run_id)
    assert run.data.tags["task"] == "forecast" and run.data.tags["data_sha256"]
    assert run.data.metrics["test_wape_gain_pct"] == pytest.approx(trained.wape_gain_pct)
    assert "test_seasonal_naive_mase" in run.data.metrics
    stored = load_model(trained.bento_tag)
    assert stored.metadata["mlflow_version"] == trained.model_version
    assert stored.metadata["horizon"] == 8 and stored.metadata["freq"] == "W"
    assert set(stored.metadata["interval_quantiles"]) == {"80", "95"}


def test_report_renders_a_forecasting_result(trained):
    text = markdown(trained)
    assert "seasonal_naive" in text and "By horizon step" in text and "coverage" in text
    assert "rolling_origin" in text and "ensemble" in text
    assert len(result_tables(trained)) == 4  # split + models + steps + KPIs
    assert summary_table([trained]).row_count == 1
    assert write_report(trained).exists()


def test_batch_forecasts_every_series_from_the_stored_model(trained, tmp_path):
    cfg = UC.load_config()
    raw = UC.make_synthetic(cfg.data.n_series, cfg.data.n_periods, cfg.data.seed)
    out = batch_forecast(UC, raw, 4, cfg)
    n_series = raw.groupby(["Store", "Dept"]).ngroups
    assert len(out) == n_series * 4 and out["step"].tolist()[:4] == [1, 2, 3, 4]
    assert (out["lo_95"] <= out["lo_80"]).all() and (out["lo_80"] <= out["forecast"]).all()
    assert (out["forecast"] <= out["hi_80"]).all() and (out["hi_80"] <= out["hi_95"]).all()
    assert (out["forecast"] >= 0).all()
    assert set(out["method"]) <= {trained.chosen, "fallback"}
    assert (out["method"] == "fallback").any()  # the synthetic data has brand-new series
    data = tmp_path / "history.csv"
    raw.to_csv(data, index=False)
    res = CliRunner().invoke(
        app,
        ["forecast", "--data", str(data), "--horizon", "4", "--out", str(tmp_path / "f.parquet")],
    )
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "f.parquet")) == n_series * 4
    res = CliRunner().invoke(
        app, ["forecast", "--data", str(data), "--horizon", "99", "--out", str(tmp_path / "f.csv")]
    )
    assert res.exit_code == 2 and "exceeds" in res.output


def test_a_run_that_fails_its_gates_falls_back_to_the_best_baseline_and_is_not_stored():
    tiny = [
        "data.n_series=30",
        "model.params.n_estimators=20",
        "baselines.models=[naive, seasonal_naive]",
        "model.ensemble_members=null",
        "baselines.n_jobs=1",
        "backtest.windows=2",
        "gates.min_wape_gain_pct=99",
        "gates.paired_test=none",  # the margin alone decides: 99 % cannot be met
    ]
    result = train(UC, UC.load_config(tiny), overrides=tiny)
    assert not result.gates_passed and result.bento_tag == ""
    assert result.chosen == result.baseline  # the best statistical model
    assert (
        "WAPE" in result.gate_reasons[0] and "min_wape_gain_pct = 99.0 %" in result.gate_reasons[0]
    )
    from mlflow import MlflowClient

    from shared.core.tracking import tracking_uri

    mv = MlflowClient(tracking_uri()).get_model_version(UC.name, result.model_version)
    assert mv.tags["gates_passed"] == "false" and "challenger" not in mv.aliases


def test_gates_can_name_their_baseline():
    cfg = UC.load_config([*fast_overrides(UC), "gates.baseline=naive"])
    assert cfg.gates.baseline == "naive"
    with pytest.raises(ValueError, match="gates.baseline"):
        UC.load_config(["gates.baseline=auto_arima"])  # not among baselines.models


def test_training_is_deterministic_and_one_window_says_why_coverage_is_na():
    tiny = [
        "data.n_series=20",
        "model.params.n_estimators=20",
        "baselines.models=[naive, seasonal_naive]",
        "model.ensemble_members=null",
        "baselines.n_jobs=1",
        "backtest.windows=1",
    ]
    a = train(UC, UC.load_config(tiny), track=False)
    b = train(UC, UC.load_config(tiny), track=False)
    assert a.summary()["candidates"] == b.summary()["candidates"]
    assert np.isfinite(a.metrics["mase"])
    cov = a.interval_coverage
    assert cov["80"] == "n/a" and "one backtest window" in cov["reason"]
    assert "one backtest window" in markdown(a)
