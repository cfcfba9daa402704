import numpy as np
import pandas as pd
import pytest

from shared.config import QualityConfig, SliceRule
from shared.usecase import get_use_case
from shared.validation import DataValidationError, validate_raw

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
        min_rows=2000,
        label_rate_min=0.5,
        required_slices=[SliceRule(name="long", column="tenure", op="ge", value=500)],
    )
    with pytest.raises(DataValidationError) as exc:
        validate_raw(raw, UC.raw_schema, cfg, UC.id_column, UC.labels)
    rules = " ".join(p.rule for p in exc.value.report.problems)
    assert "at least 2000 rows" in rules
    assert "label rate" in rules
    assert "duplicated ids" in rules
    assert "edge case 'long'" in rules


def test_clean_data_passes_with_label_rate_recorded():
    raw = _raw()
    report = validate_raw(raw, UC.raw_schema, QualityConfig(), UC.id_column, UC.labels)
    assert report.ok
    assert report.stats["label_rate"] == pytest.approx(np.mean(raw["Churn"] == "Yes"))
