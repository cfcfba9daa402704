"""Fleet telemetry variant (task `binary_sequence`): labels, causal rolling features, the
asset-and-time split; tests/test_contract.py runs the history contract checks on it too."""

import numpy as np
import pandas as pd
import pytest

from shared.core.history import window_stats as _window_stats
from shared.core.onnx_export import make_feed, model_inputs, onnx_proba, session, to_onnx
from shared.core.usecase import get_use_case, registry
from shared.core.validation import schema_problems, validate_raw
from shared.tasks.tabular import make_split, row_key
from usecases.predictive_maintenance.features import FleetSettings, check_columns, fleet_labels
from usecases.predictive_maintenance.schema import FleetSchema

BASE = get_use_case("predictive_maintenance_fleet")
CFG = BASE.load_config(["data.synthetic_rows=12000"])
UC = BASE.with_config(CFG)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return UC.make_synthetic(CFG.data.synthetic_rows, CFG.data.seed)


def _readings(asset: str, days: range, failure: float = np.nan) -> pd.DataFrame:
    n = len(days)
    return pd.DataFrame(
        {
            "asset_id": asset,
            "day": list(days),
            "cycle": list(range(1, n + 1)),
            "temperature_c": 60.0,
            "vibration_mm_s": 2.5,
            "pressure_bar": 12.0,
            "current_a": 30.0,
            "failure_day": failure,
        }
    )


def test_registered_as_a_variant_with_its_own_config_task_and_service():
    assert registry()["predictive_maintenance_fleet"] is BASE
    assert BASE.task.name == "binary_sequence" and BASE.history
    assert BASE.service == "shared.serve.services:predictive_maintenance_fleet"
    assert BASE.folder == get_use_case("predictive_maintenance").folder
    assert BASE.config_path.name == "config_fleet.yaml" and CFG.split.kind == "group_time"
    with pytest.raises(ValueError, match="extra"):
        BASE.load_config(["settings.horizn=3"])


def test_window_stats_by_hand():
    s = _window_stats(np.array([1.0, 2.0, 4.0]), 2)
    np.testing.assert_allclose(s["mean"], [1, 1.5, 3])
    np.testing.assert_allclose(s["std"], [0, 0.5, 1])
    np.testing.assert_allclose(s["min"], [1, 1, 2])
    np.testing.assert_allclose(s["max"], [1, 2, 4])
    np.testing.assert_allclose(s["slope"], [0, 1, 2])  # one reading has no slope: 0


@pytest.mark.parametrize("w", [2, 7, 30])
def test_window_stats_of_stacked_sensors_equal_one_sensor_at_a_time(w):
    """Serving and training window every sensor of an asset at once; each column must come out
    bit for bit as if windowed alone (and a row the same whatever rows come before it)."""
    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, size=(45, 4)).cumsum(axis=0)
    stacked = _window_stats(x, w)
    for j in range(x.shape[1]):
        for stat, values in _window_stats(x[:, j], w).items():
            np.testing.assert_array_equal(stacked[stat][:, j], values)
    tail = _window_stats(x[-w:], w)
    for stat, values in stacked.items():
        np.testing.assert_array_equal(tail[stat][-1], values[-1])


def test_labels_by_hand_failed_and_censored():
    s = FleetSettings(horizon=5)
    failed = _readings("A", range(10, 21), failure=20.0)  # fails on day 20
    censored = _readings("B", range(20, 31))  # still running when last seen on day 30
    y = fleet_labels(pd.concat([failed, censored], ignore_index=True), s)
    np.testing.assert_array_equal(y[:11], [0] * 5 + [1] * 6)  # days 15..20 are within 5 days
    np.testing.assert_array_equal(y[11:17], [0] * 6)  # days 20..25: survived 5 more days
    assert np.isnan(y[17:]).all()  # days 26..30: nobody knows yet


def test_features_are_causal_and_ignore_row_order(raw):
    full = model_inputs(UC, raw)
    one = raw["asset_id"].iloc[0]
    history = raw[raw["asset_id"] == one]
    cut = history.iloc[:40]  # the same asset, its future not yet seen
    np.testing.assert_array_equal(full.loc[cut.index].to_numpy(), model_inputs(UC, cut).to_numpy())
    shuffled = raw.sample(frac=1.0, random_state=0)
    np.testing.assert_array_equal(
        full.loc[shuffled.index].to_numpy(), model_inputs(UC, shuffled).to_numpy()
    )


def test_the_last_readings_alone_give_the_training_features(raw):
    """What the service sees (the last max(window) readings) is enough."""
    longest = max(CFG.settings.windows)
    history = raw[raw["asset_id"] == raw["asset_id"].iloc[0]]
    recent = history.iloc[-longest:]
    np.testing.assert_array_equal(
        model_inputs(UC, history).iloc[-1].to_numpy(), model_inputs(UC, recent).iloc[-1].to_numpy()
    )


def test_features_leave_input_unchanged_and_cover_model_inputs(raw):
    before = raw.copy(deep=True)
    feats = UC.build_features(raw)
    pd.testing.assert_frame_equal(raw, before)
    assert set(UC.model_inputs) == set(feats) and len(UC.model_inputs) == 1 + 4 * (1 + 5 * 3)
    assert CFG.settings.failure_column not in UC.model_inputs


def test_settings_shape_features_and_labels():
    uc = BASE.with_config(BASE.load_config(["settings.windows=[3, 5]", "settings.horizon=3"]))
    assert "vibration_mm_s_slope_5" in uc.numeric_features and len(uc.numeric_features) == 45
    raw = uc.make_synthetic(3000, 1)
    assert uc.labels(raw)[uc.labelled(raw)].mean() < UC.labels(raw)[UC.labelled(raw)].mean()
    with pytest.raises(ValueError, match="oil_ppm"):
        check_columns(FleetSettings(sensors=["oil_ppm"]), list(FleetSchema.to_schema().columns))
    with pytest.raises(ValueError, match="at least 2"):
        FleetSettings(windows=[1, 5])


def test_synthetic_fleet_is_seeded_valid_and_has_censored_assets(raw):
    pd.testing.assert_frame_equal(UC.make_synthetic(500, 3), UC.make_synthetic(500, 3))
    assert not UC.make_synthetic(500, 3).equals(UC.make_synthetic(500, 4))
    report = validate_raw(
        raw, UC.raw_schema, CFG.quality, row_key(UC), lambda r: UC.labels(r)[UC.labelled(r)]
    )
    assert report.ok and report.rows == 12_000
    per_asset = raw.groupby("asset_id")["failure_day"].first()
    assert 0.2 < per_asset.isna().mean() < 0.7  # censored: no failure seen
    assert 0.01 < report.stats["label_rate"] < 0.15


def test_schema_rejects_readings_after_failure_and_two_failure_days():
    bad = pd.concat(
        [_readings("A", range(1, 6), failure=3.0), _readings("B", range(1, 4), failure=9.0)],
        ignore_index=True,
    )
    bad.loc[bad.index[-1], "failure_day"] = 8.0
    checks = {p.rule for p in schema_problems(bad, FleetSchema)}
    assert any("after the asset's failure" in c for c in checks)
    assert any("failure_day differs" in c for c in checks)


def test_split_keeps_assets_apart_and_tests_only_the_future(raw):
    known = UC.labelled(raw)
    part = raw[known].reset_index(drop=True)
    split = make_split(UC, CFG, part, UC.labels(part))
    assets = [set(part["asset_id"].iloc[idx]) for idx in (split.train, split.valid, split.test)]
    assert not (assets[0] & assets[1] or assets[0] & assets[2] or assets[1] & assets[2])
    last_train_day = part["day"].iloc[split.train].max()
    assert part["day"].iloc[np.concatenate([split.valid, split.test])].min() > last_train_day


@pytest.mark.parametrize("candidate", [0, 1])
def test_every_candidate_fits_and_keeps_onnx_parity(raw, candidate):
    known = UC.labelled(raw)
    X, y = model_inputs(UC, raw)[known], UC.labels(raw)[known]
    model = UC.make_model(CFG.model.candidates[candidate].params).fit(X, y)
    native = model.predict_proba(X)[:, 1]
    feed = make_feed({c: X[c].to_numpy() for c in X.columns}, UC.numeric_features, ())
    onnx = onnx_proba(session(to_onnx(model, UC.numeric_features, ())), feed)
    assert np.max(np.abs(native - onnx)) <= CFG.gates.max_parity_diff


def test_degrading_asset_scores_higher_than_a_healthy_one(raw):
    known = UC.labelled(raw)
    model = UC.make_model(CFG.model.candidates[0].params).fit(
        model_inputs(UC, raw)[known], UC.labels(raw)[known]
    )
    healthy = _readings("H", range(100, 130))
    healthy["cycle"] = range(71, 101)
    failing = healthy.assign(asset_id="F")
    ramp = np.linspace(0, 1, 30) ** 2
    failing["temperature_c"] += 16 * ramp
    failing["vibration_mm_s"] *= 1 + 1.6 * ramp
    failing["pressure_bar"] -= 2.8 * ramp
    risk = model.predict_proba(model_inputs(UC, pd.concat([healthy, failing], ignore_index=True)))[
        :, 1
    ]
    assert risk[59] > 0.5 > 0.1 > risk[29]  # the last readings of each asset


def test_kpis_are_finite_and_profit_matches(raw):
    y = UC.labels(raw)
    p = np.random.default_rng(0).random(len(y))
    kpis = UC.compute_kpis(y, p, 0.5, CFG.kpi)
    assert kpis and all(np.isfinite(v) for v in kpis.values())
    assert kpis["failures"] == pytest.approx(y.sum() / (CFG.settings.horizon + 1))
    assert UC.profit(y, np.zeros(len(y), bool), CFG.kpi) == 0.0
