"""`pilotpack score`: chunked batch scoring with the served model, rejects with reasons.

The session's trained churn model is pinned (PILOTPACK_MODEL_CHURN), as a service would be.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.app.cli import app
from shared.core.store import PROFILE_FILE, load_model
from shared.ops.batch import REASON
from tests.conftest import pinned


@pytest.fixture(scope="module")
def churn_model(trained):
    from shared.core.usecase import get_use_case

    uc = get_use_case("churn")
    return uc, trained("churn")


@pytest.fixture
def records(churn_model):
    """200 synthetic customers as a team's export would have them (no target), three broken."""
    uc, _ = churn_model
    raw = uc.make_synthetic(400, 11).drop(columns=[uc.target]).head(200).astype(object)
    raw.loc[5, "tenure"] = "twelve"  # not a number
    raw.loc[7, "gender"] = "X"  # not an allowed value
    raw.loc[9, "MonthlyCharges"] = None  # missing in a required column
    return raw


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_score_csv_with_rejects(churn_model, records, tmp_path, monkeypatch):
    from pydantic import TypeAdapter

    from shared.serve.factory import RecordPredictor, request_model

    uc, result = churn_model
    for k, v in pinned(uc, result.bento_tag).items():
        monkeypatch.setenv(k, v)
    data, out = tmp_path / "customers.csv", tmp_path / "scores.csv"
    records.to_csv(data, index=False)
    code, output = run("score", "churn", "--data", str(data), "--out", str(out),
                       "--chunk-rows", "64", "--json")  # fmt: skip
    assert code == 1, output  # some rows rejected, the rest scored
    summary = json.loads(output.strip().splitlines()[-1])
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (200, 197, 3)
    assert summary["chunks"] == 4 and summary["model_tag"] == result.bento_tag

    scores = pd.read_csv(out)
    assert list(scores.columns) == ["row", "customerID", "churn_probability", "contact",
                                    "model_version"]  # fmt: skip
    assert set(scores["model_version"].astype(str)) == {result.model_version}
    assert scores["row"].tolist() == [i for i in range(200) if i not in (5, 7, 9)]
    assert scores["customerID"].tolist() == records["customerID"].drop([5, 7, 9]).tolist()

    rejects = pd.read_csv(tmp_path / "scores.rejects.csv")
    assert rejects["row"].tolist() == [5, 7, 9]
    reasons = dict(zip(rejects["row"], rejects["reason"], strict=True))
    assert reasons[5] == "tenure: not a number ('twelve')"
    assert reasons[7].startswith("gender: isin(") and "('X')" in reasons[7]
    assert reasons[9].startswith("MonthlyCharges: missing value")
    assert rejects["customerID"].tolist() == records.loc[[5, 7, 9], "customerID"].tolist()

    # The service's path (request records -> RecordPredictor) gives the same answers.
    request = request_model(uc.raw_schema, exclude=[uc.target], name="Rec")
    typed = uc.make_synthetic(400, 11).drop(columns=[uc.target]).head(200)
    clean = typed.drop(index=[5, 7, 9]).head(40)
    recs = TypeAdapter(list[request]).validate_python(
        [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in clean.to_dict("records")]
    )
    served = RecordPredictor.from_store(uc).predict(recs)
    np.testing.assert_allclose(
        scores["churn_probability"].head(40), [s["probability"] for s in served], atol=1e-12
    )
    assert scores["contact"].head(40).tolist() == [s["decision"] for s in served]


def test_score_parquet_by_version_every_row_valid(churn_model, records, tmp_path):
    uc, result = churn_model
    data, out = tmp_path / "customers.parquet", tmp_path / "scores.parquet"
    good = records.drop(index=[5, 7, 9]).reset_index(drop=True)
    for col in ("tenure", "MonthlyCharges", "SeniorCitizen"):
        good[col] = pd.to_numeric(good[col])
    good.to_parquet(data, index=False)
    (tmp_path / "scores.rejects.parquet").write_text("left over from an earlier run")
    code, output = run("score", "churn", "--data", str(data), "--out", str(out),
                       "--model-version", result.model_version, "--chunk-rows", "50")  # fmt: skip
    assert code == 0, output
    scores = pd.read_parquet(out)
    assert len(scores) == len(good) and scores["row"].tolist() == list(range(len(good)))
    assert set(scores["model_version"]) == {result.model_version}
    assert scores["churn_probability"].between(0, 1).all()
    assert not (tmp_path / "scores.rejects.parquet").exists()  # nothing rejected, no file


def test_score_refuses_a_file_without_a_required_column(churn_model, records, tmp_path):
    uc, result = churn_model
    data, out = tmp_path / "customers.csv", tmp_path / "scores.csv"
    records.drop(columns=["tenure"]).to_csv(data, index=False)
    code, output = run("score", "churn", "--data", str(data), "--out", str(out),
                       "--model-version", result.model_version)  # fmt: skip
    assert code == 2 and "tenure" in output
    assert not out.exists()


def test_score_refuses_history_use_cases_and_bad_suffixes(tmp_path):
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    code, output = run("score", "predictive_maintenance_fleet", "--data", str(data),
                       "--out", str(tmp_path / "o.csv"))  # fmt: skip
    assert code == 2 and "history" in output
    code, output = run("score", "churn", "--data", str(data), "--out", str(tmp_path / "o.json"))
    assert code == 2 and ".parquet" in output


def test_checks_by_distinct_value_reject_as_row_by_row_checks_do(tmp_path):
    """Typing and checks run by column, once per distinct value; the rejects and their reasons
    are those of checking every row on its own (pandera on each row, as before)."""
    from shared.core.usecase import get_use_case
    from shared.ops.batch import check_chunk

    uc = get_use_case("churn")
    raw = uc.make_synthetic(400, 5).drop(columns=[uc.target]).astype(object)
    planted = {
        3: {"tenure": "twelve"},  # not a number
        4: {"tenure": "3.5"},  # not a whole number
        5: {"tenure": "-4"},  # below the range
        6: {"tenure": "-4", "gender": "X"},  # two columns, the same bad tenure as row 5
        7: {"gender": "X"},  # not an allowed value, as row 6
        8: {"MonthlyCharges": None},  # missing in a required column
        9: {"MonthlyCharges": "20000"},  # above the range
        10: {"SeniorCitizen": "7", "Contract": "Monthly", "TotalCharges": "12,5"},
        11: {"PaymentMethod": ""},  # too short
        250: {"Contract": "Monthly"},  # the same bad value far away
        399: {"tenure": " 7 "},  # padded, still a whole number: valid
    }
    for row, cells in planted.items():
        for column, value in cells.items():
            raw.loc[row, column] = value
    csv = tmp_path / "customers.csv"
    raw.to_csv(csv, index=False)
    chunk = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])

    valid, rejected = check_chunk(uc, chunk)
    one_by_one = [check_chunk(uc, chunk.iloc[[i]], distinct=False) for i in range(len(chunk))]
    expected = pd.concat([r for _, r in one_by_one])
    assert rejected[REASON].to_dict() == expected[REASON].to_dict()
    assert sorted(rejected.index) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 250]
    pd.testing.assert_frame_equal(valid, pd.concat([v for v, _ in one_by_one]), check_dtype=False)
    assert (
        rejected.loc[6, REASON].startswith("gender: isin(")
        and "tenure: greater_than" in (rejected.loc[6, REASON])
    )


def test_score_says_an_unreadable_file_in_one_line(churn_model, tmp_path):
    uc, result = churn_model
    out = tmp_path / "scores.csv"
    binary = tmp_path / "binary.csv"
    binary.write_bytes(np.random.default_rng(0).bytes(4096))
    semicolon = tmp_path / "semicolon.csv"
    uc.make_synthetic(50, 3).to_csv(semicolon, index=False, sep=";")
    for path, says in ((binary, "binary.csv: not valid utf-8"), (semicolon, "separator ';'")):
        code, output = run("score", "churn", "--data", str(path), "--out", str(out),
                           "--model-version", result.model_version)  # fmt: skip
        errors = [line for line in output.splitlines() if line.startswith("churn:")]
        assert code == 2 and len(errors) == 1 and says in errors[0], output
        assert "Traceback" not in output and "UnicodeDecodeError" not in output
        assert not out.exists()


def test_score_says_nothing_of_live_drift_even_without_a_reference_profile(
    churn_model, records, tmp_path, caplog
):
    """A file is not live traffic: no drift window, so no `no live drift window` line."""
    uc, result = churn_model
    profile = Path(load_model(result.bento_tag).path) / PROFILE_FILE
    data, out = tmp_path / "customers.csv", tmp_path / "scores.csv"
    records.drop(index=[5, 7, 9]).to_csv(data, index=False)
    hidden = profile.rename(profile.with_suffix(".hidden"))
    try:
        with caplog.at_level("INFO"):
            code, output = run("score", "churn", "--data", str(data), "--out", str(out),
                               "--model-version", result.model_version)  # fmt: skip
    finally:
        hidden.rename(profile)
    assert code == 0, output
    said = output + "\n".join(r.getMessage() for r in caplog.records)
    assert "drift" not in said and PROFILE_FILE not in said
