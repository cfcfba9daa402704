"""The scaffold's profiler, schema writer and generator, on frames built here and on real files.

Frames go through CSV text and `pd.read_csv(..., keep_default_na=False, na_values=[""])`, the
way the pack reads a team's file, so dtypes and quirks are the ones a real export gives.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shared.app.scaffold.infer import Decisions, infer_spec, schema_source
from shared.core.history import HistorySettings
from shared.core.lookalike.histories import make_histories_from_spec
from shared.core.lookalike.panel import make_panel_from_spec
from shared.core.lookalike.spec import FileSpec, spec_from_json, spec_to_json
from shared.core.lookalike.synth import make_synthetic_from_spec
from tests.conftest import real_data

ROOT = Path(__file__).resolve().parents[1]
LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
SCHEMA_ERRORS = (pa.errors.SchemaError, pa.errors.SchemaErrors)


def read_export(text: str, **options: object) -> pd.DataFrame:
    """A CSV export read as the pack reads a team's file."""
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""], **options)


def telco_like(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Telco-like customers: Yes/No flags, a 0/1 flag, blanks in numeric text, an id, empty cells."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    tenure[:4], tenure[4] = (
        0,
        72,
    )  # four brand-new customers (blank TotalCharges); the top of the range
    monthly = rng.uniform(18.25, 118.75, n).round(2)
    page_views = rng.gamma(2.0, 1.5, n).round(1).astype(object)
    page_views[rng.random(n) < 0.05] = ""  # an empty cell: NaN once read
    frame = pd.DataFrame(
        {
            "customerID": [f"{1000 + i}-{''.join(rng.choice(LETTERS, 5))}" for i in range(n)],
            "gender": rng.choice(["Female", "Male"], n),
            "SeniorCitizen": (rng.random(n) < 0.16).astype(int),
            "Partner": rng.choice(["Yes", "No"], n),
            "PhoneService": rng.choice(["Yes", "No"], n, p=[0.9, 0.1]),
            "tenure": tenure,
            "Contract": rng.choice(
                ["Month-to-month", "One year", "Two year"], n, p=[0.55, 0.2, 0.25]
            ),
            "Page Views": page_views,
            "MonthlyCharges": monthly,
            "TotalCharges": np.where(tenure == 0, " ", (tenure * monthly).round(2).astype(str)),
            "Churn": np.where(rng.random(n) < 0.27, "Yes", "No"),
        }
    )
    return read_export(frame.to_csv(index=False))


def coded_export(n: int = 500, seed: int = 1) -> pd.DataFrame:
    """A `;`-separated export with decimal commas and integer-coded answers (0 = none ... 4 = higher)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "school": rng.choice(["GP", "MS"], n),
            "age": rng.integers(15, 23, n),
            "Medu": rng.integers(0, 5, n),
            "studytime": rng.integers(1, 5, n),
            "absences": rng.integers(0, 41, n),
            "grade": rng.normal(11.0, 3.0, n).clip(0, 20).round(1),
            "passed": (rng.random(n) < 0.3).astype(int),
        }
    )
    text = frame.to_csv(index=False, sep=";", decimal=",")
    return read_export(text, sep=";", decimal=",")


def sales_export(n: int = 400, seed: int = 2) -> pd.DataFrame:
    """Daily sales with a date, a cycle counter, a true/false flag, a receipt id and negative sales."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(0, 700, n))
    days[0] = 0  # the range starts on 4 January 2021
    dates = pd.Timestamp("2021-01-04") + pd.to_timedelta(days, unit="D")
    frame = pd.DataFrame(
        {
            "receipt_ref": [f"R{i:06d}" for i in rng.permutation(n)],
            "Date": dates.strftime("%Y-%m-%d"),
            "cycle": np.arange(1, n + 1),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "promo": rng.random(n) < 0.2,
            "price": rng.uniform(5, 50, n).round(2),
            "sales": rng.normal(200.0, 120.0, n).round(2),
        }
    )
    return read_export(frame.to_csv(index=False))


def parquet_like(frame: pd.DataFrame) -> pd.DataFrame:
    """The sales export as a Parquet file holds it: real datetimes, and an id with gaps (floats)."""
    frame = frame.assign(Date=pd.to_datetime(frame["Date"]), order_no=np.arange(len(frame)) + 1.0)
    frame.loc[frame.index[::50], "order_no"] = np.nan
    return frame


def compiled(spec: FileSpec) -> type[pa.DataFrameModel]:
    """The RawSchema class of the generated source."""
    namespace: dict[str, object] = {}
    # dont_inherit: this module's `from __future__ import annotations` would leave the field
    # annotations as strings that pandera cannot resolve outside a real module.
    exec(compile(schema_source(spec), "<schema.py>", "exec", dont_inherit=True), namespace)
    return namespace["RawSchema"]  # type: ignore[return-value]


def model_inputs(frame: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Numbers (text numbers parsed, gaps filled) and one-hot categories: a plain baseline's inputs."""
    parts = []
    for col in spec.columns:
        if col.name in (spec.target, spec.id_column, spec.time_column):
            continue
        if col.kind in ("numeric_int", "numeric_float"):
            numbers = pd.to_numeric(frame[col.name], errors="coerce")
            parts.append(numbers.fillna(numbers.median()).rename(col.name))
        elif col.kind in ("boolean", "categorical"):
            dummies = pd.get_dummies(frame[col.name].astype(str), prefix=col.name, dtype=float)
            parts.append(dummies)
    return pd.concat(parts, axis=1)


# --- profiling ---------------------------------------------------------------------------


def test_telco_like_kinds_and_allowed_values() -> None:
    spec = infer_spec(telco_like(), target="Churn", id_column="customerID")
    kinds = {col.name: col.kind for col in spec.columns}
    assert kinds == {
        "customerID": "id",
        "gender": "boolean",
        "SeniorCitizen": "boolean",
        "Partner": "boolean",
        "PhoneService": "boolean",
        "tenure": "numeric_int",
        "Contract": "categorical",
        "Page Views": "numeric_float",
        "MonthlyCharges": "numeric_float",
        "TotalCharges": "numeric_float",
        "Churn": "boolean",
    }
    assert spec.column("Partner").allowed == ["No", "Yes"]
    assert spec.column("Contract").allowed == ["Month-to-month", "One year", "Two year"]
    # The 0/1 flag keeps its integers, so the schema checks isin=[0, 1] on an int column.
    senior = spec.column("SeniorCitizen")
    assert senior.allowed == [0, 1] and all(type(v) is int for v in senior.allowed)
    assert (spec.task_hint, spec.positive_label, spec.rows) == ("binary", "Yes", 800)


def test_numbers_held_as_text_with_blanks_become_nullable_numeric() -> None:
    total = infer_spec(telco_like(), target="Churn").column("TotalCharges")
    assert (total.kind, total.storage, total.nullable) == ("numeric_float", "str", True)
    assert total.tokens == {" ": 4 / 800} and total.null_share == pytest.approx(4 / 800)
    assert "stored as text" in total.description and "' '" in total.description
    assert total.decimals == 2 and len(total.quantiles) == 21


def test_empty_cells_are_nullable_with_their_share() -> None:
    frame = telco_like()
    views = infer_spec(frame, target="Churn").column("Page Views")
    assert views.nullable and views.null_share == pytest.approx(frame["Page Views"].isna().mean())
    assert "empty in" in views.description


def test_integer_codes_decimal_commas_and_a_0_1_target() -> None:
    spec = infer_spec(coded_export(), target="passed")
    assert spec.column("Medu").kind == "categorical"
    assert spec.column("Medu").allowed == [0, 1, 2, 3, 4]
    assert spec.column("studytime").allowed == [1, 2, 3, 4]
    # Ages 15-22 and absences 0-40 are amounts, not codes; decimal commas were numbers all along.
    assert spec.column("age").kind == "numeric_int"
    assert spec.column("absences").kind == "numeric_int"
    assert (spec.column("grade").kind, spec.column("grade").storage) == ("numeric_float", "float")
    assert (spec.task_hint, spec.positive_label) == ("binary", 1)


def test_dates_counters_flags_and_a_regression_target() -> None:
    spec = infer_spec(sales_export(), target="sales", time_column="Date")
    date = spec.column("Date")
    assert (date.kind, date.storage, date.datetime_format) == ("datetime", "str", "%Y-%m-%d")
    assert date.min == "2021-01-04" and date.pattern == r"^\d{4}-\d{2}-\d{2}$"
    assert spec.column("receipt_ref").kind == "id"  # unique per row and named like one
    assert spec.column("promo").kind == "boolean" and spec.column("promo").storage == "bool"
    assert (spec.task_hint, spec.positive_label) == ("regression", None)
    # An integer time column (a cycle counter) stays a number, with no upper bound: time runs on.
    cycle = infer_spec(sales_export(), target="sales", time_column="cycle").column("cycle")
    assert (cycle.kind, cycle.ge, cycle.le) == ("numeric_int", 0, None)


def test_bounds_widen_the_range_but_never_below_zero_and_ints_stay_ints() -> None:
    spec = infer_spec(telco_like(), target="Churn")
    tenure = spec.column("tenure")
    assert (tenure.min, tenure.max, tenure.ge, tenure.le) == (0, 72, 0, 108)  # 72 + 50 % of 72
    assert all(type(v) is int for v in (tenure.min, tenure.max, tenure.ge, tenure.le))
    charges = spec.column("MonthlyCharges")
    pad = 0.5 * (charges.max - charges.min)
    assert charges.ge == 0.0  # 18.25 - 50 would be negative: charges are not
    assert charges.max + pad <= charges.le <= charges.max + pad + 1.0
    sales = infer_spec(sales_export(), target="sales").column("sales")
    pad = 0.5 * (sales.max - sales.min)
    assert sales.ge < 0 and sales.min - pad - 10.0 <= sales.ge <= sales.min - pad
    exact = infer_spec(telco_like(), target="Churn", margin=0.0).column("MonthlyCharges")
    assert (exact.ge, exact.le) == (exact.min, exact.max)


def test_sensitive_and_personal_data_hints() -> None:
    spec = infer_spec(telco_like(), target="Churn", id_column="customerID")
    sensitive = {col.name for col in spec.columns if col.sensitive_hint}
    personal = {col.name for col in spec.columns if col.pii_hint}
    # "Page Views" holds "age" but is no age; a two-valued "PhoneService" identifies nobody.
    assert sensitive == {"gender", "SeniorCitizen"}
    assert personal == {"customerID"}
    assert infer_spec(coded_export(), target="passed").column("age").sensitive_hint
    # Personal values never reach the profile: the example is a made-up value of the same shape.
    example = spec.column("customerID").example
    assert example == "1234-ABCDE" and example not in set(telco_like()["customerID"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "Exited"}, "target column 'Exited' is not in the file"),
        ({"target": "Churn", "id_column": "cust_id"}, "id column 'cust_id' is not in the file"),
        (
            {"target": "Churn", "time_column": "snapshot"},
            "time column 'snapshot' is not in the file",
        ),
        ({"target": "Contract"}, "target column 'Contract' has 3 distinct text values"),
        ({"target": "Churn", "time_column": "Contract"}, "time column 'Contract' does not parse"),
    ],
)
def test_bad_roles_raise_naming_the_column(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        infer_spec(telco_like(), **options)


def test_a_constant_target_raises_naming_it() -> None:
    frame = telco_like().assign(Churn="No")
    with pytest.raises(ValueError, match="target column 'Churn' is constant"):
        infer_spec(frame, target="Churn")


def test_profile_round_trips_through_json() -> None:
    for spec in (
        infer_spec(telco_like(), target="Churn", id_column="customerID"),
        infer_spec(coded_export(), target="passed"),
        infer_spec(sales_export(), target="sales", time_column="Date"),
    ):
        back = spec_from_json(spec_to_json(spec))
        assert back == spec
    # JSON keys are text; the shares of an int-coded column get their ints back.
    assert back.column("promo").shares.keys() == {False, True}


# --- the schema source --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "roles"),
    [
        (telco_like(), {"target": "Churn", "id_column": "customerID"}),
        (coded_export(), {"target": "passed"}),
        (sales_export(), {"target": "sales", "time_column": "Date"}),
        (sales_export(), {"target": "sales", "time_column": "cycle"}),
        (parquet_like(sales_export()), {"target": "sales", "time_column": "Date"}),
    ],
)
def test_schema_source_compiles_and_validates_the_file_it_came_from(
    frame: pd.DataFrame, roles: dict
) -> None:
    schema = compiled(infer_spec(frame, **roles))
    schema.validate(frame, lazy=True)


def test_schema_source_follows_the_templates() -> None:
    source = schema_source(infer_spec(telco_like(), target="Churn", id_column="customerID"))
    lines = source.splitlines()
    assert "import pandera.pandas as pa" in lines and "from pandera.typing import Series" in lines
    assert 'TARGET = "Churn"' in lines and 'POSITIVE_LABEL = "Yes"' in lines
    assert "        strict = True" in lines and "        coerce = False" in lines
    assert 'NO_YES = ["No", "Yes"]' in lines  # shared by Partner, PhoneService and Churn
    field = {line.split(":")[0].strip(): line for line in lines if "pa.Field(" in line}
    assert 'alias="Page Views"' in field["page_views"]
    assert "isin=[0, 1]" in field["SeniorCitizen"] and "Series[int]" in field["SeniorCitizen"]
    assert "ge=0, le=108" in field["tenure"]
    assert 'str_matches=r"^\\s*(\\d+(\\.\\d*)?)?\\s*$"' in field["TotalCharges"]
    assert '"sensitive": True' in field["gender"] and '"pii": True' in field["customerID"]
    # ADAPT lines only where a human decides: bounds, closed lists, blanks, hints; not Partner.
    before = {name: lines[lines.index(line) - 1] for name, line in field.items()}
    for name in ("tenure", "Contract", "TotalCharges", "gender", "customerID"):
        assert before[name].strip().startswith("# ADAPT:"), name
    assert "ADAPT" not in before["Partner"] and "ADAPT" not in before["Churn"]


def test_generated_schema_rejects_what_the_file_never_held() -> None:
    frame = telco_like()
    schema = compiled(infer_spec(frame, target="Churn", id_column="customerID"))
    bad = frame.head(4).copy()
    bad.loc[0, "tenure"] = 1000
    bad.loc[1, "Contract"] = "Weekly"
    bad.loc[2, "SeniorCitizen"] = 2
    bad.loc[3, "TotalCharges"] = "n/a"
    with pytest.raises(SCHEMA_ERRORS) as caught:
        schema.validate(bad, lazy=True)
    failed = set(caught.value.failure_cases["column"])
    assert {"tenure", "Contract", "SeniorCitizen", "TotalCharges"} <= failed


def test_generated_source_is_ruff_clean(tmp_path: Path) -> None:
    spec = infer_spec(sales_export(), target="sales", time_column="Date")
    path = tmp_path / "schema.py"
    path.write_text(schema_source(spec))
    config = ["--config", str(ROOT / "pyproject.toml")]
    for command in (["check", *config, str(path)], ["format", "--check", *config, str(path)]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


# --- synthetic data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "roles"),
    [
        (telco_like(), {"target": "Churn", "id_column": "customerID"}),
        (coded_export(), {"target": "passed"}),
        (sales_export(), {"target": "sales", "time_column": "Date", "id_column": "receipt_ref"}),
        (sales_export(), {"target": "sales", "time_column": "cycle"}),
        (parquet_like(sales_export()), {"target": "sales", "id_column": "order_no"}),
    ],
)
def test_synthetic_rows_pass_the_generated_schema(frame: pd.DataFrame, roles: dict) -> None:
    spec = infer_spec(frame, **roles)
    synthetic = make_synthetic_from_spec(spec, n=1500, seed=3)
    compiled(spec).validate(synthetic, lazy=True)
    assert len(synthetic) == 1500 and list(synthetic.columns) == list(frame.columns)
    assert (synthetic.dtypes == frame.dtypes).all()


def test_synthetic_keeps_the_quirks_and_the_label_rate() -> None:
    frame = telco_like()
    spec = infer_spec(frame, target="Churn", id_column="customerID")
    synthetic = make_synthetic_from_spec(spec, n=4000, seed=5)
    file_rate = (frame["Churn"] == "Yes").mean()
    assert abs((synthetic["Churn"] == "Yes").mean() - file_rate) < 0.05
    assert synthetic["customerID"].is_unique
    assert (synthetic["TotalCharges"] == " ").sum() == round(4000 * 4 / 800)  # the blanks
    assert synthetic["Page Views"].isna().mean() == pytest.approx(
        frame["Page Views"].isna().mean(), abs=0.01
    )
    assert set(synthetic["SeniorCitizen"]) == {0, 1}


def test_synthetic_is_seeded() -> None:
    spec = infer_spec(telco_like(), target="Churn", id_column="customerID")
    first = make_synthetic_from_spec(spec, n=300, seed=11)
    pd.testing.assert_frame_equal(first, make_synthetic_from_spec(spec, n=300, seed=11))
    assert not first.equals(make_synthetic_from_spec(spec, n=300, seed=12))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_plain_model_finds_the_signal_in_synthetic_labels(seed: int) -> None:
    spec = infer_spec(telco_like(), target="Churn", id_column="customerID")
    synthetic = make_synthetic_from_spec(spec, n=3000, seed=seed)
    features, labels = model_inputs(synthetic, spec), synthetic["Churn"] == "Yes"
    x_fit, x_test, y_fit, y_test = train_test_split(
        features, labels, test_size=0.3, random_state=0, stratify=labels
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_fit, y_fit)
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.65


def test_a_regression_target_follows_the_file_and_carries_signal() -> None:
    frame = sales_export()
    spec = infer_spec(frame, target="sales", time_column="Date")
    synthetic = make_synthetic_from_spec(spec, n=3000, seed=4)
    sales = synthetic["sales"]
    assert frame["sales"].min() <= sales.min() and sales.max() <= frame["sales"].max()
    assert sales.median() == pytest.approx(frame["sales"].median(), rel=0.15)
    dates = pd.to_datetime(synthetic["Date"], format="%Y-%m-%d")
    assert dates.is_monotonic_increasing and dates.min() >= pd.Timestamp(spec.column("Date").min)
    features = model_inputs(synthetic, spec)
    x_fit, x_test, y_fit, y_test = train_test_split(features, sales, test_size=0.3, random_state=0)
    assert r2_score(y_test, LinearRegression().fit(x_fit, y_fit).predict(x_test)) > 0.2


def test_dates_without_leading_zeros_pass_both_ways() -> None:
    frame = sales_export()
    frame["Date"] = [f"{d.month}/{d.day}/{d.year}" for d in pd.to_datetime(frame["Date"])]
    spec = infer_spec(frame, target="sales", time_column="Date")
    schema = compiled(spec)
    schema.validate(frame, lazy=True)
    schema.validate(make_synthetic_from_spec(spec, n=500, seed=0), lazy=True)  # writes "01/04/2021"


# --- the real files ---------------------------------------------------------------------


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("relative", "target", "id_column", "positive"),
    [
        ("churn/WA_Fn-UseC_-Telco-Customer-Churn.csv", "Churn", "customerID", "Yes"),
        ("maintenance/ai4i2020.csv", "Machine failure", "UDI", 1),
    ],
)
def test_real_file_validates_against_its_generated_schema(
    relative: str, target: str, id_column: str, positive: object
) -> None:
    frame = pd.read_csv(real_data(relative), keep_default_na=False, na_values=[""])
    spec = infer_spec(frame, target=target, id_column=id_column)
    assert spec.positive_label == positive and spec.task_hint == "binary"
    schema = compiled(spec)
    schema.validate(frame, lazy=True)
    synthetic = make_synthetic_from_spec(spec, n=2000, seed=0)
    schema.validate(synthetic, lazy=True)
    rate = (frame[target] == positive).mean()
    assert abs((synthetic[target] == positive).mean() - rate) < 0.05
    if target == "Churn":
        total = spec.column("TotalCharges")
        assert (total.kind, total.storage, total.tokens) == (
            "numeric_float",
            "str",
            {" ": 11 / 7043},
        )


# --- round trip on awkward profiles: the generator's rows pass the schema inferred from the file


def run_to_failure(censored: bool, seed: int = 4) -> pd.DataFrame:
    """Engines read every cycle until they fail: an integer event cycle (empty for engines still
    running when `censored`), an integer sensor and a float one."""
    rng = np.random.default_rng(seed)
    frames = []
    for unit in range(1, 41):
        n = int(rng.integers(60, 140))
        running = censored and unit % 3 == 0
        frames.append(
            pd.DataFrame(
                {
                    "unit": unit,
                    "cycle": np.arange(1, n + 1),
                    "s2": np.round(642 + rng.normal(0, 0.5, n), 2),
                    "s17": 392 + rng.integers(-2, 3, n),
                    "failure_cycle": "" if running else n + 1,
                }
            )
        )
    return read_export(pd.concat(frames).to_csv(index=False))


@pytest.mark.parametrize("censored", [False, True])
def test_histories_pass_the_schema_of_a_run_to_failure_file(censored: bool) -> None:
    frame = run_to_failure(censored)
    spec = infer_spec(frame, "failure_cycle", "unit", "cycle")
    settings = HistorySettings(
        entity_column="unit",
        time_column="cycle",
        event_column="failure_cycle",
        sensors=["s2", "s17"],
    )
    rows = make_histories_from_spec(spec, settings, 3000, seed=5)
    compiled(spec).validate(rows, lazy=True)
    assert (rows.dtypes == frame.dtypes).all()
    # Engines still running only where the file has them: a full event column stays full.
    assert rows["failure_cycle"].isna().any() == censored


def test_a_daily_panel_of_counts_with_closed_days_passes_its_schema() -> None:
    rng = np.random.default_rng(6)
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    frames = [
        pd.DataFrame(
            {"store": f"air_{s:02d}", "visit_date": days.strftime("%Y-%m-%d"), "visitors": counts}
        )[days.dayofweek != 0]  # closed on Mondays: no row
        for s in range(8)
        for counts in [rng.poisson(rng.uniform(5, 40), len(days))]
    ]
    frame = read_export(pd.concat(frames).to_csv(index=False))
    spec = infer_spec(frame, "visitors", None, "visit_date")
    rows = make_panel_from_spec(spec, ["store"], "D", 7, 8, 98, seed=7)
    compiled(spec).validate(rows, lazy=True)
    assert rows["visitors"].dtype == frame["visitors"].dtype == np.int64


def test_nullable_integers_and_counts_round_trip() -> None:
    rng = np.random.default_rng(8)
    n = 600
    children = rng.integers(0, 4, n).astype(object)
    children[rng.random(n) < 0.1] = ""  # an integer column with empty cells: floats once read
    frame = read_export(
        pd.DataFrame(
            {
                "calls": rng.poisson(1.5, n),  # a count
                "children": children,
                "minutes": np.round(rng.gamma(2, 60, n), 1),
                "churned": rng.choice(["True", "False"], n),
            }
        ).to_csv(index=False)
    )
    spec = infer_spec(frame, "churned")
    rows = make_synthetic_from_spec(spec, 1000, seed=9)
    compiled(spec).validate(rows, lazy=True)
    assert (rows.dtypes == frame.dtypes).all() and rows["children"].isna().any()


# --- the team's decisions (`pilotpack new` flags) ---------------------------------------------


def test_leaky_and_dropped_columns_are_listed_and_optional_and_never_the_signal() -> None:
    frame = telco_like()
    decided = Decisions(leaky=("TotalCharges",), drop=("Page Views",), positive="No")
    spec = infer_spec(frame, "Churn", "customerID", decisions=decided)
    assert spec.positive_label == "No" and spec.leaky == ["TotalCharges"]
    source = schema_source(spec)
    assert 'LEAKY_COLUMNS: tuple[str, ...] = (\n    "TotalCharges",  # known only after' in source
    assert source.count("LEAKY_COLUMNS") == 1  # one definition, the one to adapt
    schema = compiled(spec).to_schema()
    assert schema.columns["TotalCharges"].nullable and schema.columns["Page Views"].nullable
    assert "not read by the model" in schema.columns["TotalCharges"].description
    # The synthetic label never comes from a column the model cannot read.
    rows = make_synthetic_from_spec(spec, 3000, seed=1)
    for leaked in ("TotalCharges", "Page Views"):
        numbers = pd.to_numeric(rows[leaked], errors="coerce")
        label = (rows["Churn"] == "No").astype(float)
        assert abs(np.corrcoef(numbers.fillna(numbers.median()), label)[0, 1]) < 0.1


@pytest.mark.parametrize(
    ("decided", "message"),
    [
        (Decisions(leaky=("nope",)), "--leaky: ['nope'] not in the file"),
        (Decisions(drop=("Churn",)), "--drop: 'Churn' is the target"),
        (Decisions(leaky=("tenure",), use_sensitive=("tenure",)), "also given as --leaky"),
        (Decisions(positive="Maybe"), "--positive 'Maybe'"),
    ],
)
def test_bad_decisions_raise_naming_the_flag(decided: Decisions, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        infer_spec(telco_like(), "Churn", "customerID", decisions=decided)


def test_named_sensitive_columns_are_marked() -> None:
    decided = Decisions(sensitive=("Partner",), use_sensitive=("SeniorCitizen",))
    spec = infer_spec(telco_like(), "Churn", "customerID", decisions=decided)
    assert spec.column("Partner").sensitive_hint and spec.column("SeniorCitizen").sensitive_hint
