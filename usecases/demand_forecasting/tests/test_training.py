"""The whole flow on synthetic data: backtests, gates, ONNX parity, MLflow, BentoML store,
report, and batch forecasts from the stored model."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.forecasting import batch_forecast, best_statistical, gate_reasons, train_forecast
from shared.report import markdown, result_tables, summary_table, write_report
from shared.store import load_model
from usecases.demand_forecasting.tests.conftest import FAST, UC


def test_lightgbm_beats_seasonal_naive_and_every_model_is_reported(trained):
    s = json.loads(json.dumps(trained.summary(), default=str))
    assert s["gates"] == {"passed": True, "reasons": []}
    assert s["chosen_model"] == "lightgbm" and s["model_version"]
    assert set(s["models"]) == {"lightgbm", "naive", "seasonal_naive", "auto_ets"}
    assert all(set(m) == {"mase", "wape", "smape", "bias"} for m in s["models"].values())
    lgb, sn = s["models"]["lightgbm"], s["models"]["seasonal_naive"]
    assert lgb["mase"] < sn["mase"]
    assert s["wape_gain_vs_seasonal_naive_pct"] == pytest.approx(
        100 * (1 - lgb["wape"] / sn["wape"])
    )
    assert s["wape_gain_vs_seasonal_naive_pct"] > 10
    assert s["parity_max_abs_diff"] <= 1e-4
    assert s["kpis"]["savings_vs_seasonal_naive_usd"] > 0
    assert 0.6 <= s["interval_coverage"]["80"] <= s["interval_coverage"]["95"] <= 1.0
    assert len(trained.model("lightgbm")["by_step"]) == 8


def test_run_is_tracked_registered_and_stored(trained):
    from mlflow import MlflowClient

    from shared.tracking import tracking_uri

    client = MlflowClient(tracking_uri())
    assert (
        str(client.get_model_version_by_alias(UC.name, "challenger").version)
        == trained.model_version
    )
    run = client.get_run(trained.run_id)
    assert run.data.tags["task"] == "forecast" and run.data.tags["data_sha256"]
    assert run.data.metrics["wape_gain_vs_seasonal_naive_pct"] == pytest.approx(
        trained.wape_gain_vs_seasonal_naive_pct
    )
    assert "seasonal_naive_mase" in run.data.metrics and "lightgbm_wape_h8" in run.data.metrics
    stored = load_model(trained.bento_tag)
    assert stored.metadata["mlflow_version"] == trained.model_version
    assert stored.metadata["horizon"] == 8 and set(stored.metadata["interval_quantiles"]) == {
        "80",
        "95",
    }


def test_report_renders_a_forecasting_result(trained):
    text = markdown(trained)
    assert "seasonal_naive" in text and "By horizon step" in text and "coverage" in text
    assert len(result_tables(trained)) == 3
    assert summary_table([trained]).row_count == 1
    assert write_report(trained).exists()


def test_batch_forecasts_every_series_from_the_stored_model(trained, tmp_path):
    cfg = UC.load_config()
    raw = UC.make_synthetic(cfg.data.n_series, cfg.data.n_weeks, cfg.data.seed)
    out = batch_forecast(UC, raw, 4, cfg)
    n_series = raw.groupby(["Store", "Dept"]).ngroups
    assert len(out) == n_series * 4 and out["step"].tolist()[:4] == [1, 2, 3, 4]
    assert (out["lo_95"] <= out["lo_80"]).all() and (out["lo_80"] <= out["forecast"]).all()
    assert (out["forecast"] <= out["hi_80"]).all() and (out["hi_80"] <= out["hi_95"]).all()
    assert (out["forecast"] >= 0).all() and set(out["method"]) <= {"lightgbm", "fallback"}
    assert (out["method"] == "fallback").any()  # the synthetic data has brand-new series
    data = tmp_path / "history.csv"
    raw.to_csv(data, index=False)
    res = CliRunner().invoke(
        app,
        ["forecast", "--data", str(data), "--horizon", "4", "--out", str(tmp_path / "f.parquet")],
    )
    assert res.exit_code == 0, res.output
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "f.parquet")) == n_series * 4
    res = CliRunner().invoke(
        app, ["forecast", "--data", str(data), "--horizon", "99", "--out", str(tmp_path / "f.csv")]
    )
    assert res.exit_code == 2 and "exceeds" in res.output


def test_a_failing_gate_names_the_reason_and_falls_back_to_the_best_statistical_model(trained):
    cfg = UC.load_config([*FAST, "gates.min_wape_gain_pct=99"])
    rows = {m["name"]: m for m in trained.models}
    reasons = gate_reasons(rows["lightgbm"], rows["seasonal_naive"], cfg, UC, trained.parity)
    assert len(reasons) == 1 and "WAPE" in reasons[0]
    best = best_statistical(trained.models)
    assert best["kind"] == "statistical"
    assert best["metrics"]["mase"] == min(
        m["metrics"]["mase"] for m in trained.models if m["kind"] == "statistical"
    )


def test_a_run_that_fails_its_gates_is_tracked_but_not_promoted_or_stored():
    tiny = [
        "data.n_series=30",
        "model.params.n_estimators=20",
        "baselines.models=[naive, seasonal_naive]",
        "baselines.n_jobs=1",
        "backtest.windows=2",
        "gates.min_wape_gain_pct=99",
    ]
    result = train_forecast(UC, UC.load_config(tiny), overrides=tiny)
    assert not result.gates_passed and result.bento_tag == ""
    assert result.chosen in {"naive", "seasonal_naive"}
    assert result.summary()["gates"]["reasons"]
    from mlflow import MlflowClient

    from shared.tracking import tracking_uri

    mv = MlflowClient(tracking_uri()).get_model_version(UC.name, result.model_version)
    assert mv.tags["gates_passed"] == "false" and "challenger" not in mv.aliases


def test_training_is_deterministic():
    tiny = [
        "data.n_series=20",
        "model.params.n_estimators=20",
        "baselines.models=[naive, seasonal_naive]",
        "baselines.n_jobs=1",
        "backtest.windows=1",
    ]
    a = train_forecast(UC, UC.load_config(tiny), track=False)
    b = train_forecast(UC, UC.load_config(tiny), track=False)
    assert a.summary()["models"] == b.summary()["models"]
    assert np.isfinite(a.metrics["mase"])
