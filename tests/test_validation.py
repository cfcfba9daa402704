import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shared.app.cli import app
from shared.core.config import QualityConfig, SliceRule
from shared.core.splits import Split
from shared.core.usecase import get_use_case
from shared.core.validation import (
    DataValidationError,
    duplicates_across_parts,
    label_rate_by_part,
    schema_problems,
    typed_as_schema,
    validate_raw,
)
from tests.conftest import fast_overrides, real_data

UC = get_use_case("churn")


def _raw(n: int = 1200) -> pd.DataFrame:
    return UC.make_synthetic(n, 1)


def test_schema_violation_names_column_rule_and_values_and_keeps_the_frame():
    raw = _raw()
    raw.loc[3, "Contract"] = "Three year"
    raw.loc[4, "tenure"] = -2
    raw.loc[5, "TotalCharges"] = "n/a"
    before = raw.copy()
    with pytest.raises(DataValidationError) as exc:
        validate_raw(raw, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    text = str(exc.value)
    for expected in (
        "Contract",
        "isin",
        "'Three year'",
        "tenure",
        "greater_than_or_equal_to(0)",
        "TotalCharges",
        "str_matches",
        "'n/a'",
    ):
        assert expected in text
    assert len(exc.value.report.problems) == 3
    pd.testing.assert_frame_equal(raw, before)  # nothing repaired


def test_missing_and_unexpected_columns_are_reported():
    raw = _raw().drop(columns=["gender"]).assign(extra=1)
    with pytest.raises(DataValidationError) as exc:
        validate_raw(raw, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    assert "gender" in str(exc.value) and "extra" in str(exc.value)


def test_quality_gates_volume_label_rate_duplicates_and_edge_cases():
    raw = _raw(1200)
    raw.loc[1, "customerID"] = raw.loc[0, "customerID"]
    cfg = QualityConfig(
        min_rows=1000,
        label_rate_min=0.5,
        required_slices=[SliceRule(name="long", column="tenure", op="ge", value=500)],
    )
    with pytest.raises(DataValidationError) as exc:
        validate_raw(raw, UC.raw_schema, cfg, UC.id_column, UC.labels)
    rules = " ".join(p.rule for p in exc.value.report.problems)
    assert "label rate" in rules
    assert "duplicated ids" in rules
    assert "edge case 'long'" in rules


def test_clean_data_passes_with_label_rate_recorded():
    raw = _raw()
    report = validate_raw(raw, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    assert report.ok
    assert report.stats["label_rate"] == pytest.approx(np.mean(raw["Churn"] == "Yes"))


def _split(train: list[int], valid: list[int], test: list[int]) -> Split:
    return Split(np.array(train), np.array(valid), np.array(test))


def test_duplicates_across_parts_name_the_parts_and_the_rows():
    frame = pd.DataFrame(
        {"a": [1, 2, 3, 1, 2, 9, 1, np.nan, np.nan], "b": list("xyzxwvxqq")},
        index=[10, 11, 12, 13, 14, 15, 16, 17, 18],
    )
    # (1, x) is in train, valid and test; (2, y) vs (2, w) differ in b; NaN rows are equal.
    split = _split([0, 1, 2, 7], [3, 4], [5, 6, 8])
    problems = duplicates_across_parts(frame, split, ["a", "b"])
    by_rule = {p.rule: p for p in problems}
    assert set(by_rule) == {
        "no identical rows in both train and valid (over 2 columns)",
        "no identical rows in both train and test (over 2 columns)",
        "no identical rows in both valid and test (over 2 columns)",
    }
    assert by_rule["no identical rows in both train and test (over 2 columns)"].failures == 2
    assert by_rule["no identical rows in both train and test (over 2 columns)"].examples == [
        (10, 16),
        (17, 18),
    ]
    assert by_rule["no identical rows in both train and valid (over 2 columns)"].examples == [
        (10, 13)
    ]
    assert str(problems[0]) == (
        "<rows>: no identical rows in both train and valid (over 2 columns) failed for 1 row(s),"
        " e.g. (10, 13)"
    )
    # Over column a alone, (2, y) and (2, w) are duplicates too.
    only_a = duplicates_across_parts(frame, split, ["a"])
    assert {p.rule: p.failures for p in only_a}[
        "no identical rows in both train and valid (over 1 columns)"
    ] == 2


def test_duplicates_within_one_part_or_under_the_allowance_are_fine():
    frame = pd.DataFrame({"a": [1, 1, 2, 3, 3], "b": [0, 0, 0, 5, 6]})
    split = _split([0, 1], [2], [3, 4])
    assert duplicates_across_parts(frame, split, ["a", "b"]) == []
    leaky = _split([0, 2], [3], [1, 4])
    assert len(duplicates_across_parts(frame, leaky, ["a", "b"])) == 1
    assert duplicates_across_parts(frame, leaky, ["a", "b"], allowed=1) == []


def test_label_rate_by_part_flags_a_part_without_positives_and_an_extreme_rate():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    split = _split([0, 1, 2, 3], [4, 5, 6], [7, 8, 9])
    problems = label_rate_by_part(y, split, 0.01, 0.99)
    assert [(p.column, p.rule, p.examples) for p in problems] == [
        ("<label>", "at least one positive label in the valid part", ["0 of 3 rows"]),
        ("<label>", "label rate of the test part within [0.01, 0.99]", [1.0]),
    ]
    assert label_rate_by_part(y, _split([0, 1, 2], [3, 7], [4, 8, 9]), 0.01, 0.99) == []


def test_quality_config_has_the_split_checks():
    cfg = QualityConfig()
    assert cfg.max_duplicates_across_parts == 0 and cfg.check_label_rate_by_part
    with pytest.raises(ValueError):
        QualityConfig(max_duplicates_across_parts=-1)


# --------------------------------------------------------------------------- typed by the schema


def _as_text(raw: pd.DataFrame) -> pd.DataFrame:
    """Every cell as a CSV reader that found one stray cell in each column would hold it."""
    return raw.astype(str).astype(object)


def test_numbers_read_as_text_are_judged_as_numbers_and_typed_as_the_schema_says():
    raw = _raw()
    text = _as_text(raw)
    text.loc[0, "tenure"] = f"  {raw.loc[0, 'tenure']} "  # padded: still a number
    report = validate_raw(text, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    assert report.ok
    typed = typed_as_schema(text, UC.raw_schema)
    assert typed["SeniorCitizen"].dtype == "int64" and typed["tenure"].dtype == "int64"
    assert typed["MonthlyCharges"].dtype == "float64"
    np.testing.assert_array_equal(typed["tenure"], raw["tenure"])
    assert text.loc[0, "tenure"].startswith("  ")  # the input is not modified


def test_a_text_column_read_as_numbers_is_typed_as_text():
    raw = _raw()
    numeric = raw.assign(TotalCharges=pd.to_numeric(raw["TotalCharges"].str.strip()))
    numeric = numeric[numeric["TotalCharges"].notna()].reset_index(drop=True)
    assert numeric["TotalCharges"].dtype == "float64"
    assert schema_problems(numeric, UC.raw_schema) == []
    typed = typed_as_schema(numeric, UC.raw_schema)
    assert typed["TotalCharges"].map(type).eq(str).all()
    np.testing.assert_allclose(typed["TotalCharges"].astype(float), numeric["TotalCharges"])


def test_garbage_counts_once_per_cell_under_the_dtype_rule_and_valid_values_pass():
    raw = _as_text(_raw(2000))
    rng = np.random.default_rng(7)
    garbage = np.array(["abc", "??", "n/a", "1O", "-", "#REF!"])
    injected = {}
    for column in ("SeniorCitizen", "tenure", "MonthlyCharges", "gender", "TotalCharges"):
        rows = rng.random(len(raw)) < 0.2
        raw.loc[rows, column] = rng.choice(garbage, int(rows.sum()))
        injected[column] = int(rows.sum())
    problems = schema_problems(raw, UC.raw_schema)
    # One problem per broken column, the count exactly the cells broken there (a missing value
    # left by a cell that is not a number is not counted again as missing).
    assert {p.column: p.failures for p in problems} == injected
    rules = {p.column: p.rule for p in problems}
    assert rules["SeniorCitizen"] == "dtype('int64')" and rules["gender"].startswith("isin")
    for p in problems:
        assert set(p.examples) <= set(garbage), p  # the cells as read, nothing else
    assert "Error" not in "\n".join(str(p) for p in problems)


def test_a_blank_number_is_a_missing_value_not_a_bad_one():
    raw = _as_text(_raw())
    raw.loc[[3, 4], "MonthlyCharges"] = ["", "   "]
    raw.loc[5, "tenure"] = "4.5"  # a number, but not a whole one
    problems = {(p.column, p.rule): p for p in schema_problems(raw, UC.raw_schema)}
    assert set(problems) == {("MonthlyCharges", "not_nullable"), ("tenure", "dtype('int64')")}
    assert problems[("MonthlyCharges", "not_nullable")].failures == 2
    assert problems[("tenure", "dtype('int64')")].examples == ["4.5"]


def test_a_check_that_cannot_run_reports_its_rule_not_the_exception():
    import pandera.pandas as pa

    schema = pa.DataFrameSchema({"n": pa.Column(int, pa.Check(lambda s: s.str.len() > 0))})
    (problem,) = schema_problems(pd.DataFrame({"n": [1, 2]}), schema)
    assert problem.column == "n" and "could not run" in problem.rule
    assert problem.examples == [] and "Error" not in str(problem)


def test_too_few_rows_is_said_so_alone_whatever_else_fails():
    raw = _raw().head(3).copy()
    with pytest.raises(DataValidationError) as exc:
        validate_raw(raw, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    assert [str(p) for p in exc.value.report.problems] == ["too few rows: 3, at least 1000"]
    raw.loc[0, "gender"] = "X"  # a schema problem is still reported, after the volume
    with pytest.raises(DataValidationError) as exc:
        validate_raw(raw, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    first, second = exc.value.report.problems
    assert str(first) == "too few rows: 3, at least 1000" and second.column == "gender"
    assert exc.value.report.to_dict()["problems"][0]["text"] == str(first)


# --------------------------------------------------------------------------- bad files, `train`
# Each exits 2 with one line naming the real problem; the real Telco file, changed as a team's
# export would be.

TELCO = "churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"


def _telco() -> pd.DataFrame:
    return pd.read_csv(real_data(TELCO), dtype=str, keep_default_na=False)


def _train(path: Path, *overrides: str) -> tuple[int, str]:
    sets = [a for o in (*fast_overrides(UC), *overrides) for a in ("--set", o)]
    result = CliRunner().invoke(
        app, ["train", "churn", "--data", str(path), "--no-register", *sets]
    )
    return result.exit_code, result.output


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output and "Error(" not in output, output
    return lines[0]


def _no_first_month(telco: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "no_first_month.csv"
    telco[pd.to_numeric(telco["tenure"]) > 1].to_csv(path, index=False)
    return path


@pytest.mark.real_data
def test_telco_with_numeric_total_charges_trains(tmp_path):
    telco = _telco()
    numeric = telco[telco["TotalCharges"].str.strip() != ""]  # the 11 blanks: all tenure 0
    path = tmp_path / "numeric.csv"
    numeric.to_csv(path, index=False)
    assert pd.read_csv(path)["TotalCharges"].dtype == "float64"  # what pandas guesses
    # Without the blanks no customer has tenure 0, but first-month customers (tenure <= 1) remain.
    code, output = _train(path)
    assert code == 0, output
    # With no one in the first month at all, the edge-case gate says so, alone.
    code, output = _train(_no_first_month(numeric, tmp_path))
    assert code == 2 and "edge case 'first-month customers'" in _one_line(output)


@pytest.mark.real_data
def test_telco_with_garbage_reports_exact_counts_per_column(tmp_path):
    telco = _telco()
    rng = np.random.default_rng(19)
    garbage = np.array(["abc", "??", "n/a", "1O", "-", "#REF!"])
    injected = {}
    for column in ("SeniorCitizen", "tenure", "MonthlyCharges", "gender", "TotalCharges"):
        rows = rng.random(len(telco)) < 0.2
        telco.loc[rows, column] = rng.choice(garbage, int(rows.sum()))
        injected[column] = int(rows.sum())
    path = tmp_path / "garbage.csv"
    telco.to_csv(path, index=False)
    code, output = _train(path)
    line = _one_line(output).removeprefix("churn: invalid data (7043 rows x 21 columns): ")
    assert code == 2 and not line.startswith("churn")
    parts = [re.match(r"(\w+): .* failed for (\d+) row", p) for p in line.split("; ")]
    assert {m[1]: int(m[2]) for m in parts if m} == injected  # what was broken, exactly
    assert "'0'" not in line and "'1'" not in line  # valid SeniorCitizen values are no failures


@pytest.mark.real_data
def test_blank_number_tiny_binary_and_wrong_separator_files(tmp_path):
    telco = _telco()
    blank = telco.copy()
    blank.loc[[10, 20, 30], "MonthlyCharges"] = ["", " ", "  "]
    blank.to_csv(tmp_path / "blank.csv", index=False)
    telco.head(1).to_csv(tmp_path / "tiny.csv", index=False)
    telco.to_csv(tmp_path / "semicolon.csv", index=False, sep=";")
    (tmp_path / "binary.csv").write_bytes(np.random.default_rng(0).bytes(4096))
    expected = {
        "blank": "churn: invalid data (7043 rows x 21 columns): MonthlyCharges: not_nullable "
        "failed for 3 row(s)",
        "tiny": "churn: invalid data (1 rows x 21 columns): too few rows: 1, at least 1000",
        "semicolon": "churn: semicolon.csv: 1 column read: is the separator ';'?",
        "binary": "churn: binary.csv: not valid utf-8",
    }
    for name, start in expected.items():
        code, output = _train(tmp_path / f"{name}.csv")
        assert code == 2, output
        assert _one_line(output).replace("ValueError: ", "").startswith(start), output


def test_repeated_keys_are_named_with_their_count():
    from shared.serve.factory import repeated_keys  # the request path's check

    assert repeated_keys([("E1", 1), ("E1", 2)], "(unit, cycle)") is None
    dates = [dt.date(2024, 1, d) for d in (1, 2, 1, 3, 2, 1)]
    assert repeated_keys(dates, "date") == (
        "duplicate date in one request: 2024-01-01 x3, 2024-01-02 x2; send each once"
    )
    pairs = [("E1", 5), ("E2", 5), ("E1", 5)] + [("E9", t) for t in range(7) for _ in (0, 1)]
    problem = repeated_keys(pairs, "(unit, cycle)", max_examples=2)
    assert problem == (
        "duplicate (unit, cycle) in one request: (E1, 5) x2, (E9, 0) x2 (+6 more); send each once"
    )
