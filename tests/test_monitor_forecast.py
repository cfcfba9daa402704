"""`pilotpack monitor` for forecasting: series-level drift against the training history stored
with the model, realised WAPE / MASE against the backtest (worked by hand on a tiny example),
and the command on a file and on the prediction log."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.core.config import MonitoringConfig
from shared.tasks.forecast.drift import (
    SERIES,
    accuracy,
    judged,
    right_aligned,
    series_drift,
    series_features,
    series_reference,
)

NAME = "demand_forecasting"
SEASON = 52
CFG = MonitoringConfig()


def _panel(raw: pd.DataFrame):  # noqa: ANN202
    from shared.core.usecase import get_use_case
    from shared.tasks.forecast.backtest import make_panel

    uc = get_use_case(NAME)
    return make_panel(uc, raw, uc.load_config())


def _features(raw: pd.DataFrame) -> dict[str, np.ndarray]:
    p = _panel(raw)
    return series_features(right_aligned(p.y, p.last, 2 * SEASON), SEASON)


def _synthetic(seed: int = 42) -> pd.DataFrame:
    from shared.core.usecase import get_use_case

    return get_use_case(NAME).make_synthetic(60, 156, seed)


def _shifted(raw: pd.DataFrame, periods: int, factor: float) -> pd.DataFrame:
    """Every series' sales times `factor` over the last `periods` weeks."""
    out = raw.copy()
    recent = out["Date"] >= sorted(out["Date"].unique())[-periods]
    out.loc[recent, "Weekly_Sales"] *= factor
    return out


@pytest.fixture(scope="module")
def reference() -> dict:
    p = _panel(_synthetic())
    return series_reference(p.y, p.last, SEASON, [{"step": 1, "wape": 0.1, "mase": 0.5}], 2000)


# --------------------------------------------------------------------------- drift


def test_psi_of_identical_histories_is_about_zero(reference):
    rows, notes = series_drift(reference, _features(_synthetic()), CFG)
    assert {r.feature for r in rows} == {
        "level", "growth", "variability", "seasonal_strength", "zero_share",
    } and notes == []  # fmt: skip
    assert all(r.psi < 1e-9 and r.flag == "ok" and r.p_value > 0.99 for r in rows), rows


def test_a_level_shifted_history_flags(reference):
    rows, _ = series_drift(reference, _features(_shifted(_synthetic(), SEASON, 1.6)), CFG)
    flags = {r.feature: r.flag for r in rows}
    assert flags["growth"] == "alert", rows  # every series up 60 % on the season before
    # another draw of the same process (other series, same shapes) stays below the alert
    rows, _ = series_drift(reference, _features(_synthetic(7)), CFG)
    assert all(r.psi < CFG.psi_alert for r in rows), rows


def test_features_needing_two_seasons_are_left_out_with_a_note(reference):
    raw = _synthetic()
    recent = raw[raw["Date"] >= sorted(raw["Date"].unique())[-SEASON]]
    rows, notes = series_drift(reference, _features(recent), CFG)
    assert {r.feature for r in rows} == {"level", "variability", "zero_share"}
    assert any(n.startswith("growth:") and "two seasons" in n for n in notes)


# --------------------------------------------------------------------------- realised accuracy


def test_realised_wape_and_mase_match_a_hand_computation():
    y = np.array([[10.0, 20.0], [0.0, 30.0]])
    f = np.array([[12.0, 18.0], [1.0, 27.0]])
    scale = np.array([2.0, 3.0])
    got = accuracy(y, f, scale)
    # WAPE = (2 + 2 + 1 + 3) / (10 + 20 + 0 + 30); MASE = mean(mean(2, 2) / 2, mean(1, 3) / 3)
    assert got["wape"] == pytest.approx(8 / 60)
    assert got["mase"] == pytest.approx((1 + 2 / 3) / 2)
    assert got["bias"] == pytest.approx((2 - 2 + 1 - 3) / 60)
    # an actual not known yet is not scored: row 2 step 2 missing
    y[1, 1] = np.nan
    assert accuracy(y, f, scale)["wape"] == pytest.approx(5 / 30)


def test_judged_alerts_above_five_percent_and_says_when_outcomes_are_incomplete():
    figures = {"wape": 0.21, "mase": 0.50, "cells": 300.0}
    registered = {"wape": 0.20, "mase": 0.60}
    wape, mase = judged(figures, registered, "file", "3", 300, 300, CFG)
    assert wape["headline"] == "wape" and wape["drop"] == pytest.approx(0.05)
    assert wape["status"] == "ok"  # 5.0 % worse: at the limit, not above it
    assert mase["status"] == "ok" and mase["drop"] < 0
    wape, _ = judged(figures | {"wape": 0.2102}, registered, "file", "3", 300, 300, CFG)
    assert wape["status"] == "alert" and "worse than the registered" in wape["message"]
    # 300 of 480 cells known (62 %, under monitoring.min_outcome_coverage): never an alert
    wape, _ = judged(figures | {"wape": 0.5}, registered, "file", "3", 300, 480, CFG)
    assert wape["status"] == "incomplete" and "outcomes still arriving" in wape["message"]


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def forecaster(trained):
    return trained(NAME)


@pytest.fixture
def pinned(forecaster, monkeypatch, tmp_path):
    monkeypatch.setenv("PILOTPACK_MODEL_DEMAND_FORECASTING", forecaster.bento_tag)
    monkeypatch.setenv("PILOTPACK_PREDICTION_LOG", str(tmp_path / "predictions.db"))
    return forecaster


def test_training_stores_the_series_reference_and_backtest_steps(pinned):
    from shared.core.store import PROFILE_FILE, load_model

    profile = json.loads((load_model(pinned.bento_tag).path / PROFILE_FILE).read_text())
    block = profile[SERIES]
    assert block["season"] == SEASON and block["series"] == 60
    assert len(block["features"]["level"]) == 60
    steps = block["backtest_by_step"]
    assert [s["step"] for s in steps] == list(range(1, 9)) and 0 < steps[0]["wape"] < 1
    assert len(block["backtest_by_window"]) == 3


def test_monitor_on_a_file_exits_by_alert_and_writes_json(pinned, tmp_path):
    from shared.app.cli import app

    raw = _synthetic()  # the training history itself: no drift, the model knows these weeks
    (tmp_path / "same.csv").write_text(raw.to_csv(index=False))
    bad = _shifted(_shifted(raw, SEASON, 1.6), 8, 1.5)  # a new level, then a surge unforecast
    (tmp_path / "bad.csv").write_text(bad.to_csv(index=False))
    runner = CliRunner()
    ok = runner.invoke(app, ["monitor", NAME, "--data", str(tmp_path / "same.csv"), "--json",
                             "--out", str(tmp_path / "same.json")])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    report = json.loads((tmp_path / "same.json").read_text())
    assert report == json.loads(ok.output.strip().splitlines()[-1])
    assert report["alerts"] == [] and not report["retrain"]["due"]
    assert {r["feature"] for r in report["drift"]} >= {"level", "growth", "seasonal_strength"}
    assert all(r["psi"] < 1e-9 for r in report["drift"])
    perf = {p["headline"]: p for p in report["performance"]}
    assert perf["wape"]["status"] == "ok" and perf["wape"]["coverage"] == 1.0
    assert perf["wape"]["registered"] == pytest.approx(pinned.metrics["wape"], abs=1e-6)
    bad_run = runner.invoke(app, ["monitor", NAME, "--data", str(tmp_path / "bad.csv"),
                                  "--out", str(tmp_path / "bad.json"),
                                  "--prom-file", str(tmp_path / "f.prom")])  # fmt: skip
    assert bad_run.exit_code == 1, bad_run.output
    report = json.loads((tmp_path / "bad.json").read_text())
    assert "growth" in {r["feature"] for r in report["drift"] if r["flag"] == "alert"}
    perf = {p["headline"]: p for p in report["performance"]}
    assert perf["wape"]["status"] == "alert" and perf["wape"]["drop"] > 0.05
    assert report["retrain"]["due"] and "ALERT" in bad_run.output
    prom = (tmp_path / "f.prom").read_text()
    assert f'pilotpack_realised_metric_drop{{use_case="{NAME}",metric="wape"' in prom
    # the latest weeks not in yet: incomplete, never an alert
    late = bad[bad["Date"] < sorted(bad["Date"].unique())[-3]]
    late = pd.concat([late, bad[bad["Date"] == bad["Date"].max()].head(5)])
    (tmp_path / "late.csv").write_text(late.to_csv(index=False))
    res = runner.invoke(app, ["monitor", NAME, "--data", str(tmp_path / "late.csv"), "--json",
                              "--out", str(tmp_path / "late.json")])  # fmt: skip
    report = json.loads((tmp_path / "late.json").read_text())
    assert {p["status"] for p in report["performance"]} == {"incomplete"}, report["performance"]
    assert res.exit_code == (1 if report["alerts"] else 0)


def test_monitor_reads_forecasts_and_outcomes_from_the_log(pinned, tmp_path):
    from shared.app.cli import app
    from shared.core.store import load_model
    from shared.core.usecase import get_use_case
    from shared.serve.predlog import open_log
    from shared.tasks.forecast.predictor import ForecastPredictor, forecast_histories

    uc = get_use_case(NAME)
    raw = _synthetic().sort_values(["Store", "Dept", "Date"])
    cut = sorted(raw["Date"].unique())[-9]  # forecast from 9 weeks before the end
    pred = ForecastPredictor(uc, load_model(pinned.bento_tag))
    items, actual = [], []
    for (store, dept), g in raw.groupby(["Store", "Dept"]):
        hist, after = g[g["Date"] <= cut].tail(2 * SEASON), g[g["Date"] > cut]
        if hist.empty or hist["Date"].iloc[-1] != cut or after.empty:
            continue
        items.append({"Store": int(store), "Dept": int(dept), "horizon": 8, "history": [
            {"Date": d, "Weekly_Sales": float(v), "IsHoliday": bool(h)}
            for d, v, h in zip(hist["Date"], hist["Weekly_Sales"], hist["IsHoliday"], strict=True)
        ]})  # fmt: skip
        actual.append(float(after["Weekly_Sales"].iloc[0]))
    outs = forecast_histories(
        pred,
        [([pd.Timestamp(p["Date"]).date() for p in s["history"]],
          [p["Weekly_Sales"] for p in s["history"]], [p["IsHoliday"] for p in s["history"]])
         for s in items],
        [8] * len(items), [None] * len(items),
    )  # fmt: skip
    log = open_log()
    now = time.time()
    log.write_predictions([
        (f"r{i}", now - 60 + i * 0.01, NAME, "champion", pinned.model_version,
         f"{s['Store']}|{s['Dept']}", 0, json.dumps(s), json.dumps(o, default=str),
         o["steps"][0]["forecast"], 1.0, None)
        for i, (s, o) in enumerate(zip(items, outs, strict=True))
    ])  # fmt: skip
    log.write_outcomes([{"use_case": NAME, "request_id": f"r{i}", "value": v}
                        for i, v in enumerate(actual)])  # fmt: skip
    log.close()
    res = CliRunner().invoke(app, ["monitor", NAME, "--since", "1d", "--json",
                                   "--out", str(tmp_path / "log.json")])  # fmt: skip
    report = json.loads((tmp_path / "log.json").read_text())
    assert res.exit_code == (1 if report["alerts"] else 0), res.output
    assert report["rows"] == len(items) and report["series"] == len(items)
    assert {r["feature"] for r in report["drift"]} >= {"level", "growth"}
    perf = {p["headline"]: p for p in report["performance"]}
    assert perf["wape"]["n"] == len(items) and perf["wape"]["variant"] == "champion"
    assert perf["wape"]["coverage"] == 1.0  # every forecast due has its outcome, but
    assert perf["wape"]["status"] == "incomplete"  # 60 outcomes: monitoring.min_outcomes is 200
    assert "needs 200" in perf["wape"]["message"]
    f = np.array([o["steps"][0]["forecast"] for o in outs])
    hand = np.abs(np.array(actual) - f).sum() / np.abs(actual).sum()
    assert perf["wape"]["realised"] == pytest.approx(hand)
    assert any("first step" in n for n in report["notes"])
