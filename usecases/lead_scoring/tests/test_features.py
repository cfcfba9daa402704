import numpy as np
import pandas as pd
import pytest

from usecases.lead_scoring.features import NOT_ANSWERED, build_features, category, number
from usecases.lead_scoring.schema import LEAKY_COLUMNS
from usecases.lead_scoring.synthetic import make_synthetic


def _one(**changes: object) -> pd.DataFrame:
    """One synthetic lead with some raw columns set by hand."""
    row = make_synthetic(30, 0).iloc[[0]].reset_index(drop=True)
    for column, value in changes.items():
        row[column] = pd.Series(
            [value], dtype=object if isinstance(value, str) or value is None else None
        )
    return row


def test_select_placeholder_and_empty_answers_are_one_not_answered_level():
    values = np.array(["Select", " select ", "", None, np.nan, pd.NA, "Mumbai"], dtype=object)
    assert category(values).tolist() == [NOT_ANSWERED] * 6 + ["mumbai"]


def test_values_that_are_not_text_are_missing_or_their_text():
    """Plain text skips the missing-value check; everything else is asked of pandas first."""
    values = np.array([3, 2.5, np.str_(" X "), pd.NaT, np.float32("nan"), "nan"], dtype=object)
    assert category(values).tolist() == ["3", "2.5", "x", NOT_ANSWERED, NOT_ANSWERED, "nan"]
    text = pd.Series([" Mumbai", None, "Select"], dtype="string")  # pandas' own text type
    assert category(text).tolist() == ["mumbai", NOT_ANSWERED, NOT_ANSWERED]
    assert category(np.array([], dtype=object)).shape == (0,)


def test_google_and_google_are_the_same_source():
    upper = build_features(_one(**{"Lead Source": "Google"}))
    lower = build_features(_one(**{"Lead Source": "google "}))
    assert upper["lead_source"][0] == lower["lead_source"][0] == "google"


def test_missing_source_is_not_answered_not_the_text_nan():
    f = build_features(_one(**{"Lead Source": None}))
    assert f["lead_source"][0] == NOT_ANSWERED


def test_empty_visit_counts_are_zero_with_a_flag():
    f = build_features(_one(**{"TotalVisits": np.nan, "Page Views Per Visit": np.nan}))
    assert f["visits"][0] == 0 and f["pages_per_visit"][0] == 0
    assert f["visits_missing"][0] == 1 and f["time_per_visit_s"][0] == 0
    assert not any(np.isnan(v).any() for v in f.values() if v.dtype.kind == "f")


def test_outliers_are_capped_and_time_per_visit_uses_the_capped_count():
    f = build_features(
        _one(
            **{
                "TotalVisits": 251.0,
                "Page Views Per Visit": 55.0,
                "Total Time Spent on Website": 1000,
            }
        )
    )
    assert f["visits"][0] == 50 and f["pages_per_visit"][0] == 20
    assert f["time_per_visit_s"][0] == pytest.approx(1000 / 50)


def test_form_answers_count_real_answers_only():
    f = build_features(
        _one(
            **{
                "Specialization": "Select",
                "How did you hear about X Education": None,
                "What is your current occupation": "Student",
                "What matters most to you in choosing a course": "Better Career Prospects",
                "City": "Select",
            }
        )
    )
    assert f["form_answers"][0] == 2
    assert f["specialization"][0] == f["city"][0] == NOT_ANSWERED


def test_countries_are_grouped_home_abroad_not_answered():
    raw = pd.concat(
        [_one(Country=c) for c in ["India", "Singapore", "unknown", None]], ignore_index=True
    )
    assert build_features(raw)["country"].tolist() == ["home", "abroad", "abroad", NOT_ANSWERED]


def test_numbers_accept_none_nan_and_pandas_na():
    assert np.isnan(number(np.array([None, np.nan, pd.NA], dtype=object))).all()
    assert number(pd.Series([1, 2], dtype="Int64")).tolist() == [1.0, 2.0]


def test_leaky_columns_and_ids_do_not_change_the_features():
    raw = make_synthetic(200, 1)
    scrambled = raw.copy()
    for column in (*LEAKY_COLUMNS, "Prospect ID", "Lead Number"):
        scrambled[column] = raw[column].sample(frac=1, random_state=0).to_numpy()
    a, b = build_features(raw), build_features(scrambled)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_service_records_and_a_frame_give_the_same_features():
    raw = make_synthetic(50, 2)
    # The service passes one object array per column, with NaN for an omitted field.
    columns = {c: raw[c].to_numpy(dtype=object) for c in raw.columns}
    from_frame, from_dict = build_features(raw), build_features(columns)
    for name, values in from_frame.items():
        np.testing.assert_array_equal(values, from_dict[name])
