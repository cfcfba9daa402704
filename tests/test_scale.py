"""`--engine dask`: the same results as the local engine, on a real distributed.LocalCluster
with two worker processes (the CLI joins it by its scheduler address, as it would join a
team's cluster). The manual's scaling figures (docs/batch-and-scale.md) are the benchmark's JSON."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.app.cli import app
from tests.conftest import pinned

ROOT = Path(__file__).resolve().parents[1]  # the repository (PILOTPACK_HOME is a temp folder)


@pytest.fixture(scope="module")
def scheduler():
    """The pack's own local cluster (`open_engine`), joined by its address as a team's would be."""
    from shared.ops.scale import open_engine

    with open_engine("dask", workers=2) as engine:
        yield engine.client.scheduler.address


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


# First in the module: before the module's cluster holds the scheduler's HTTP port (8787)
def test_a_local_dask_cluster_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    from shared.ops.scale import open_engine

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with open_engine("dask", workers=1) as engine:
        assert list(engine.map(lambda payload, part: payload + part, 10, [1, 2])) == [11, 12]
        assert [p.name for p in tmp_path.iterdir()][0].startswith("pilotpack-dask-")
    assert list(tmp_path.iterdir()) == []


def test_score_on_dask_equals_local(trained, scheduler, tmp_path, monkeypatch):
    from shared.core.usecase import get_use_case

    uc = get_use_case("churn")
    for k, v in pinned(uc, trained("churn").bento_tag).items():
        monkeypatch.setenv(k, v)
    raw = uc.make_synthetic(600, 5).drop(columns=[uc.target]).astype(object)
    raw.loc[17, "tenure"] = -3  # one reject, so that rejects are compared too
    data = tmp_path / "customers.csv"
    raw.to_csv(data, index=False)
    outputs = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.parquet"
        extra = ["--engine", "dask", "--scheduler", scheduler] if engine == "dask" else []
        code, output = run("score", "churn", "--data", str(data), "--out", str(out),
                           "--chunk-rows", "100", *extra)  # fmt: skip
        assert code == 1, output
        outputs[engine] = (
            pd.read_parquet(out),
            pd.read_parquet(tmp_path / f"{engine}.rejects.parquet"),
        )
    assert "dask (tcp://" in output
    pd.testing.assert_frame_equal(outputs["local"][0], outputs["dask"][0])
    pd.testing.assert_frame_equal(outputs["local"][1], outputs["dask"][1])
    assert len(outputs["dask"][0]) == 599 and outputs["dask"][1]["row"].tolist() == [17]


def test_forecast_on_dask_equals_local(trained, scheduler, tmp_path, monkeypatch):
    from shared.core.usecase import get_use_case

    uc = get_use_case("demand_forecasting")
    for k, v in pinned(uc, trained("demand_forecasting").bento_tag).items():
        monkeypatch.setenv(k, v)
    cfg = uc.load_config(["data.n_series=40"])
    history, _ = uc.task.training.synthetic(uc, cfg)
    data = tmp_path / "history.parquet"
    history.to_parquet(data, index=False)
    frames = {}
    for engine in ("local", "dask"):
        out = tmp_path / f"{engine}.csv"
        extra = ["--engine", "dask", "--scheduler", scheduler] if engine == "dask" else []
        code, output = run("forecast", uc.name, "--data", str(data), "--out", str(out),
                           "--horizon", "6", *extra)  # fmt: skip
        assert code == 0, output
        frames[engine] = pd.read_csv(out)
    pd.testing.assert_frame_equal(frames["local"], frames["dask"], check_exact=True)
    assert len(frames["dask"]) == 40 * 6


def test_partitions_of_series_give_the_same_forecasts(trained, monkeypatch, tmp_path):
    """Many small groups (one per series at the extreme) change nothing: series are
    independent, and the series a statistical member smooths together (a department) stay in
    one part, so a cluster's partitioning can never show in the results; consecutive parts
    would split the departments and change the forecasts. The model file a worker writes to
    load the payload is gone once the worker holds its session."""
    from dataclasses import replace

    import numpy as np

    from shared.core.usecase import get_use_case
    from shared.ops import scale
    from shared.ops.scale import LocalEngine, ModelPayload, forecast_windows
    from shared.tasks.forecast.backtest import make_panel
    from shared.tasks.forecast.predictor import ForecastPredictor
    from shared.tasks.forecast.windows import panel_windows

    uc = get_use_case("demand_forecasting")
    monkeypatch.setenv(*next(iter(pinned(uc, trained(uc.name).bento_tag).items())))
    cfg = uc.load_config(["data.n_series=150"])  # 10 stores: departments of 10 series (> rank 8)
    history, _ = uc.task.training.synthetic(uc, cfg)
    stored = ForecastPredictor.from_store(uc).stored
    # served as an ensemble with a smoothed member, whatever the session's fast model chose
    baselines = stored.metadata.get("baselines") or {}
    stored = replace(stored, metadata=stored.metadata | {
        "chosen_model": "ensemble", "ensemble_weights": {"lightgbm": 0.5, "seasonal_ses": 0.5},
        "class_routes": {}, "baselines": baselines | {
            "models": ["seasonal_naive", "seasonal_ses"], "smoothing": {"group": "Dept", "rank": 8}
        },
    })  # fmt: skip
    pred = ForecastPredictor(uc, stored)
    panel = make_panel(uc, history, cfg)
    w = panel_windows(panel, np.arange(panel.n_series), panel.last, pred.history_length, 4,
                      pred.rules.season, pred.scale_floor, uc.forecast.id_columns,
                      whole_history=True)  # fmt: skip
    whole = pred.predict_windows(w)
    payload = ModelPayload.of(uc, stored, cfg)
    monkeypatch.setattr(scale, "_LOADED", {})  # this process loads the payload afresh...
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # ...writing its file here
    split = forecast_windows(LocalEngine(), payload, w, parts=12)
    assert len(scale._LOADED) == 1 and not list(tmp_path.iterdir())
    np.testing.assert_array_equal(whole["forecast"], split["forecast"])
    np.testing.assert_array_equal(whole["fallback"], split["fallback"])
    for level, (lo, hi) in whole["bounds"].items():
        np.testing.assert_array_equal(lo, split["bounds"][level][0])
        np.testing.assert_array_equal(hi, split["bounds"][level][1])
    assert len(scale.partitions(w, 12, "Dept")) == 12
    monkeypatch.setattr(scale, "partitions", lambda w, n, group: np.array_split(np.arange(w.n), n))
    consecutive = forecast_windows(LocalEngine(), payload, w, parts=12)
    assert not np.allclose(whole["forecast"], consecutive["forecast"])


def test_engine_options_are_checked(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    code, output = run("score", "churn", "--data", str(data), "--out", str(tmp_path / "o.csv"),
                       "--engine", "spark")  # fmt: skip
    assert code == 2 and "unknown engine" in output
    code, output = run("score", "churn", "--data", str(data), "--out", str(tmp_path / "o.csv"),
                       "--scheduler", "tcp://127.0.0.1:1")  # fmt: skip
    assert code == 2 and "--engine dask" in output


def test_docs_scaling_figures_are_the_benchmarks():
    """Like mlforecast's re-check of recorded benchmark metrics: the manual's table is the
    one `pilotpack bench-scale` rendered from benchmarks/results/scale.json."""
    from shared.ops.batch_benchmark import scale_markdown

    result = json.loads((ROOT / "benchmarks" / "results" / "scale.json").read_text())
    page = (ROOT / "docs" / "batch-and-scale.md").read_text()
    section = re.search(r"^## Scaling\n(.*?)(?=^## |\Z)", page, re.S | re.M)
    assert section, "docs/batch-and-scale.md has no Scaling section"
    for line in scale_markdown(result).splitlines():
        if line.startswith("|"):
            assert line in section.group(1), line
