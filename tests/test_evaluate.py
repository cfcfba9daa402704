"""`pilotpack evaluate` and remaining life in one command: cuts and last rows by hand, the truth
file's layouts, header-less reading, the real C-MAPSS FD003 engines held out in NASA's layout,
and `pilotpack new --rul` on a header-less run-to-failure file that trains with no edit."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.core.config import ReaderConfig
from shared.core.history import (
    RemainingLifeSettings,
    last_rows,
    random_cuts,
    remaining_life,
    remaining_life_features,
)
from shared.core.io import read_table, with_reading
from shared.core.usecase import get_use_case
from shared.ops.evaluate import evaluate_file, read_truth, sorted_ids
from tests.cli_runs import in_process
from tests.conftest import cli_sets, real_data, trained_model
from tests.sandbox import FORK_PARTS, copy_code
from usecases.predictive_maintenance.schema import RUL_COLUMN_NAMES
from usecases.predictive_maintenance.synthetic import make_synthetic_rul

ROOT = Path(__file__).resolve().parents[1]
NAMES = ",".join(RUL_COLUMN_NAMES)
CMAPSS = "maintenance/cmapss_fd003/"


def pilotpack(
    *args: str, cwd: Path = ROOT, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess; with `home`, stores of its own (else the worker's, where
    another test's model of the same use case may already be champion)."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    if home is not None:
        env |= {
            "BENTOML_HOME": str(home / "bentoml"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "PILOTPACK_HOME": str(home),
        }
    return subprocess.run(
        [sys.executable, "-m", "shared.app.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )


# ---- cuts, last rows and the derived label, by hand ---------------------------------------------

ENTITIES = np.array(["b", "a", "a", "b", "a", "b", "b"])
TIMES = np.array([3, 2, 1, 1, 3, 2, 4])


def test_last_rows_are_each_entitys_latest_in_any_row_order():
    # a: times 2, 1, 3 at rows 1, 2, 4 -> row 4; b: 3, 1, 2, 4 at rows 0, 3, 5, 6 -> row 6
    np.testing.assert_array_equal(last_rows(ENTITIES, TIMES), [4, 6])


def test_random_cuts_keep_a_prefix_of_each_history_and_are_seeded():
    keep = random_cuts(ENTITIES, TIMES, seed=3, min_rows=2)
    np.testing.assert_array_equal(keep, random_cuts(ENTITIES, TIMES, seed=3, min_rows=2))
    for entity in ("a", "b"):
        rows = entity == ENTITIES
        kept, dropped = TIMES[rows & keep], TIMES[rows & ~keep]
        assert len(kept) >= 2  # at least min_rows
        assert not len(dropped) or kept.max() < dropped.min()  # a prefix: cut before the end
    # Over many seeds every cut length from min_rows to the whole history shows up.
    b = ENTITIES == "b"
    lengths = {int((random_cuts(ENTITIES, TIMES, s, 2) & b).sum()) for s in range(60)}
    assert lengths == {2, 3, 4}


def test_remaining_life_is_derived_from_the_last_row_and_capped():
    s = RemainingLifeSettings(entity_column="unit", time_column="cycle", sensors=["x"], cap=2)
    raw = pd.DataFrame({"unit": ["u", "u", "u", "u", "v"], "cycle": [1, 2, 3, 4, 7]})
    raw["x"] = 1.0
    # u failed at cycle 4: 3, 2, 1, 0 left, capped at 2; v at its only row: 0
    np.testing.assert_array_equal(remaining_life(raw, s), [2, 2, 1, 0, 0])
    labelled = raw.assign(rul=[9.0, np.nan, 1.0, 0.0, 5.0])  # a given target wins, NaN stays
    np.testing.assert_array_equal(remaining_life(labelled, s), [2, np.nan, 1, 0, 2])
    features = remaining_life_features(raw, s)
    assert tuple(features) == s.feature_names()


# ---- the truth file and reading -----------------------------------------------------------------


def test_sorted_ids_are_numeric_when_every_id_is_a_number():
    assert list(sorted_ids(np.array(["10", "2", "1"]))) == ["1", "2", "10"]
    assert list(sorted_ids(np.array(["b10", "b2"]))) == ["b10", "b2"]


def test_truth_file_layouts(tmp_path):
    ids = np.array(["1", "2", "10"])
    one = tmp_path / "one.txt"
    one.write_text("112 \n98 \n69 \n")  # C-MAPSS: trailing spaces, in the order of the ids
    np.testing.assert_array_equal(read_truth(one, ids, "unit", "rul"), [112, 98, 69])
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("10,69\n1,112\n2,98\n")
    np.testing.assert_array_equal(read_truth(pairs, ids, "unit", "rul"), [112, 98, 69])
    header = tmp_path / "header.csv"
    header.write_text("rul;unit\n98;2\n69;10\n112;1\n")
    np.testing.assert_array_equal(read_truth(header, ids, "unit", "rul"), [112, 98, 69])
    short = tmp_path / "short.txt"
    short.write_text("1\n2\n")
    with pytest.raises(ValueError, match="2 truth values for 3 entities"):
        read_truth(short, ids, "unit", "rul")
    text = tmp_path / "text.txt"
    text.write_text("1\nx\n3\n")
    with pytest.raises(ValueError, match=r"not numbers: \['x'\]"):
        read_truth(text, ids, "unit", "rul")
    with pytest.raises(ValueError, match=r"no truth for id\(s\) \['11'\]"):
        read_truth(pairs, np.array(["1", "2", "11"]), "unit", "rul")


def test_header_less_whitespace_file_is_read_with_names(tmp_path):
    path = tmp_path / "engines.txt"
    path.write_text("1 1 0.5  7 \n1 2 0.25\t8 \n")  # runs of spaces, a tab, trailing spaces
    reader = with_reading(ReaderConfig(), "whitespace", False, "unit,cycle,a,b")
    assert reader.header is False and reader.sep == "whitespace"
    frame = read_table(path, reader)
    assert list(frame.columns) == ["unit", "cycle", "a", "b"] and frame["b"].tolist() == [7, 8]
    with pytest.raises(ValueError, match="4 columns read but 3 names"):
        read_table(path, with_reading(ReaderConfig(), "whitespace", True, "unit,cycle,a"))
    with pytest.raises(ValueError, match=r"\['a'\] appear twice"):
        with_reading(ReaderConfig(), None, False, "unit,a,a")


# ---- other tasks ----------------------------------------------------------------------------------


def test_evaluate_a_classifier_on_a_labelled_file(tmp_path):
    """Record use cases: every row against the file's own target; ROC AUC, PR AUC and KPIs."""
    trained = trained_model("churn")
    uc = get_use_case("churn")
    path = tmp_path / "held_out.csv"
    uc.make_synthetic(600, 99).to_csv(path, index=False)  # another seed than training's
    result = evaluate_file(uc, path, version=str(trained.model_version))
    assert result.layout == "every row" and result.scored == 600
    assert 0.6 < result.metrics["roc_auc"] <= 1 and 0 < result.metrics["pr_auc"] <= 1
    assert result.kpis and result.model_version == str(trained.model_version)


def test_evaluate_forecasts_against_the_periods_after_the_history(tmp_path):
    """Series use cases: WAPE, bias and MASE of the champion's forecasts of the periods after
    the history file's end, against a truth file of those periods."""
    trained_model("demand_forecasting")
    uc = get_use_case("demand_forecasting")
    raw, _ = uc.task.training.synthetic(uc, uc.load_config())
    time, keys = uc.time_column, list(uc.forecast.id_columns)
    dates = np.sort(raw[time].unique())
    past, future = raw[raw[time] < dates[-4]], raw[raw[time] >= dates[-4]]
    past.to_csv(tmp_path / "history.csv", index=False)
    future.to_csv(tmp_path / "actuals.csv", index=False)
    result = evaluate_file(uc, tmp_path / "history.csv", tmp_path / "actuals.csv")
    assert (
        result.metrics["horizon"] == 4
        and result.metrics["series"] == raw[keys].drop_duplicates().shape[0]
    )
    assert 0 < result.metrics["wape"] < 0.5 and 0 < result.metrics["mase"] < 3
    with pytest.raises(ValueError, match="give --truth"):
        evaluate_file(uc, tmp_path / "history.csv")


def test_evaluate_refuses_a_file_without_truth(tmp_path):
    path = tmp_path / "no_target.csv"
    make_synthetic_rul(300, 1).drop(columns="rul").to_csv(path, index=False)
    with pytest.raises(ValueError, match="no 'rul' column and no --truth file"):
        evaluate_file(get_use_case("predictive_maintenance_rul"), path)


def test_train_reads_a_header_less_file_with_names_or_says_what_is_wrong(tmp_path):
    path = tmp_path / "engines.txt"
    make_synthetic_rul(300, 1).to_csv(path, sep=" ", header=False, index=False)
    name = "predictive_maintenance_rul"
    few = in_process("train", name, "--data", str(path), "--sep", "whitespace", "--names", "a,b")
    assert few.returncode == 2 and "27 columns read but 2 names" in few.stderr
    assert "Traceback" not in few.stderr
    twice = in_process("train", name, "--data", str(path), "--names", "a,a")
    assert twice.returncode == 2 and "['a'] appear twice" in twice.stderr


# ---- the real FD003 engines held out in NASA's layout ---------------------------------------------


@pytest.fixture(scope="module")
def fd003_layout(tmp_path_factory) -> dict[str, Path]:
    """80 engines to train on (labelled on every row), 20 held out: cut at a random cycle
    (seeded), header-less and space-separated, and their remaining life at the cut in a
    one-column truth file: the layout of NASA's test_FD00x.txt + RUL_FD00x.txt."""
    folder = tmp_path_factory.mktemp("fd003")
    raw = pd.read_csv(
        real_data(CMAPSS + "test_FD003.txt"), sep=r"\s+", header=None, names=list(RUL_COLUMN_NAMES)
    )
    after_last = pd.read_csv(real_data(CMAPSS + "RUL_FD003.txt"), sep=r"\s+", header=None)[0]
    last_cycle = raw.groupby("unit")["cycle"].transform("max")
    raw["rul"] = (after_last.to_numpy()[raw["unit"] - 1] + last_cycle - raw["cycle"]).astype(float)
    held = (raw["unit"] % 5 == 0).to_numpy()
    raw[~held].to_csv(folder / "train.csv", index=False)
    test = raw[held]
    cut = test[random_cuts(test["unit"].to_numpy(), test["cycle"].to_numpy(), seed=0)]
    cut.drop(columns="rul").to_csv(folder / "test.txt", sep=" ", header=False, index=False)
    truth = cut.groupby("unit")["rul"].last()  # units in numeric order, as NASA lists them
    truth.to_csv(folder / "truth.txt", header=False, index=False)
    return {
        "train": folder / "train.csv",
        "test": folder / "test.txt",
        "truth": folder / "truth.txt",
    }


@pytest.mark.real_data
def test_evaluate_scores_held_out_engines_in_the_official_layout(fd003_layout, tmp_path):
    """Its own stores: the model trained here is the champion `evaluate` scores. The flow is
    under test, so the suite's fast settings train it; the configured search measured RMSE 12.0
    cycles on the 20 held-out engines (RUL capped at 125), PHM08 68.8."""
    name = "predictive_maintenance_rul"
    cli = functools.partial(pilotpack, home=tmp_path / "home")
    fast = cli_sets(get_use_case(name))
    trained = cli("train", name, "--data", str(fd003_layout["train"]), *fast)
    assert trained.returncode == 0, trained.stderr[-3000:]
    files = ["--data", str(fd003_layout["test"]), "--truth", str(fd003_layout["truth"])]
    reading = ["--sep", "whitespace", "--names", NAMES]
    done = cli("evaluate", name, *files, *reading, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rmse" in done.stdout and "phm08_score" in done.stdout  # the printed table
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["layout"] == "last row per entity" and result["scored"] == 20
    assert result["metrics"]["rmse"] <= 15.0
    assert result["metrics"]["phm08_score"] > 0 and "nasa_score" in result["kpis"]
    # A truth file of the wrong length, and a file read with the wrong names: one line, exit 2.
    short = fd003_layout["truth"].with_name("short.txt")
    short.write_text("\n".join(fd003_layout["truth"].read_text().splitlines()[:5]) + "\n")
    bad = cli("evaluate", name, "--data", files[1], "--truth", str(short), *reading)
    assert bad.returncode == 2 and "5 truth values for 20 entities" in bad.stderr
    assert "Traceback" not in bad.stderr
    # (stops at reading, before the stores: run in this process)
    wrong = in_process("evaluate", name, *files, "--sep", "whitespace", "--names", "a,b")
    assert wrong.returncode == 2 and "26 columns read but 2 names" in wrong.stderr


# ---- new --rul: a header-less run-to-failure file, trained with no edit -------------------------

# The suite's fast settings (conftest's FAST / `fast_overrides`) for the model `new --rul` writes
# (shared/app/scaffold/infer.py REGRESSION_MODEL: a LightGBM grid, then ridge): the fork's
# reading, split and printed metrics are under test, not its tuning (a third less CPU).
FORK_FAST = ("model.cv_folds=2", "gates.n_bootstrap=100", "model.candidates.0.grid={}",
             "model.candidates.0.params.n_estimators=100")  # fmt: skip


def test_new_rul_forks_a_header_less_run_to_failure_file_and_trains(tmp_path):
    """An FD003-like file: entity, cycle, settings, 21 readings; no header, no label column."""
    sandbox = copy_code(tmp_path / "sandbox", FORK_PARTS)
    raw = make_synthetic_rul(6000, 3)
    failed = raw.groupby("unit")["rul"].transform("min") == 0  # run to failure
    path = tmp_path / "engines.txt"
    raw[failed].drop(columns="rul").to_csv(path, sep=" ", header=False, index=False)
    name = f"zz_rul_{os.getpid()}"
    made = pilotpack(
        "new", name, "--data", str(path), "--rul", "--id", "unit", "--time", "cycle",
        "--cap", "125", "--sep", "whitespace", "--names", NAMES, cwd=sandbox,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    folder = sandbox / "usecases" / name
    config = (folder / "config.yaml").read_text()
    assert "kind: group" in config and "cap: 125.0" in config and "header: false" in config
    assert "target_column: rul" in config
    fast = [arg for o in FORK_FAST for arg in ("--set", o)]
    on_file = pilotpack("train", name, "--data", str(path), "--no-register", *fast, cwd=sandbox)
    assert on_file.returncode == 0, on_file.stderr[-3000:]
    assert "group" in on_file.stderr and "rmse" in on_file.stderr.lower()
    assert "PerformanceWarning" not in on_file.stderr
    # Its own tests (synthetic run-to-failure histories: they validate, train, keep parity).
    own = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"usecases/{name}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=sandbox,
        env={**os.environ, "PYTHONPATH": str(sandbox)},
    )
    assert own.returncode == 0, own.stdout[-3000:]


# ---- no warning noise ----------------------------------------------------------------------------


def test_reference_sample_of_many_features_is_built_without_fragmenting():
    """A history fork of engine data has hundreds of model inputs: the drift reference sample
    was built column by column, and pandas printed one PerformanceWarning per column past 100."""
    import io
    import warnings

    from shared.core.drift import sample_bytes

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 300)), columns=[f"f{i}" for i in range(300)])
    frame["kind"] = "a"
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        data = sample_bytes(frame)
    back = pd.read_parquet(io.BytesIO(data))
    assert list(back.columns) == list(frame.columns) and back["kind"].tolist() == ["a"] * 20
    np.testing.assert_array_equal(back["f7"].to_numpy(), frame["f7"].to_numpy())
