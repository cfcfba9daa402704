"""History windows (shared/core/history.py): `window_features` windows each entity once at its
widest width, computes every width at once (older rows masked) and writes every feature into
one block; each value must still be the statistic of that width computed on its own (NaN where
nothing was seen, min and max bit for bit, sums to rounding)."""

import warnings

import numpy as np
import pytest

from shared.core.history import (
    STATS,
    entity_order,
    window_feature_names,
    window_features,
    window_stats,
    windowed_stats,
)
from shared.core.usecase import latest_positions

SENSORS = ("temperature [C]", "vibration")
WINDOWS = (3, 7, 20)


def _readings(seed: int) -> dict[str, np.ndarray]:
    """Three entities of different lengths, rows shuffled, some readings missing."""
    rng = np.random.default_rng(seed)
    lengths = {"a": 25, "b": 4, "c": 12}
    entity = np.concatenate([[e] * n for e, n in lengths.items()]).astype(object)
    time = np.concatenate([np.arange(n) * 2.0 for n in lengths.values()])
    columns = {"entity": entity, "time": time}
    for s in SENSORS:
        x = rng.normal(50, 10, size=len(time)).cumsum()
        x[rng.random(len(time)) < 0.15] = np.nan
        columns[s] = x
    order = rng.permutation(len(time))
    return {k: v[order] for k, v in columns.items()}


def test_window_statistics_equal_numpys_own():
    """Mean, std, min and max bit for bit as numpy's nan-functions give them (NaN where nothing
    was seen), the slope as a least-squares fit of the seen points (0 below two)."""
    rng = np.random.default_rng(11)
    win = rng.normal(20, 5, size=(3, 40, 9))
    win[rng.random(win.shape) < 0.3] = np.nan
    win[:, :4] = np.nan  # nothing seen
    win[:, 4:8, :-1] = np.nan  # one point seen
    got = windowed_stats(win)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's warning for all-NaN windows
        for stat, plain in (("mean", np.nanmean), ("std", np.nanstd), ("min", np.nanmin), ("max", np.nanmax)):  # fmt: skip
            np.testing.assert_array_equal(got[stat], plain(win, axis=-1))
    for k, i in np.ndindex(win.shape[:2]):
        seen = np.flatnonzero(~np.isnan(win[k, i]))
        fit = np.polyfit(seen, win[k, i, seen], 1)[0] if len(seen) > 1 else 0.0
        assert got["slope"][k, i] == pytest.approx(fit, rel=1e-9, abs=1e-9)


def test_entity_order_sorts_by_entity_then_time_and_gives_each_entitys_run():
    entities = np.array(["b", "a", "b", "a", "c"])
    times = np.array([2.0, 5.0, 1.0, 3.0, 0.0])
    order, runs = entity_order(entities, times)
    assert order.tolist() == [3, 1, 2, 0, 4]
    assert [r.tolist() for r in runs] == [[0, 1], [2, 3], [4]]
    order, runs = entity_order(np.array([], dtype=str), np.array([]))
    assert len(order) == 0 and [len(r) for r in runs] == [0]  # one empty run, as np.split gives


@pytest.mark.parametrize("stats", [("mean", "slope"), STATS])
def test_each_width_equals_that_window_computed_alone(stats):
    raw = _readings(3)
    features = window_features(raw, "entity", "time", SENSORS, WINDOWS, stats)
    assert tuple(features) == window_feature_names(SENSORS, WINDOWS, tuple(stats))
    for entity in ("a", "b", "c"):
        rows = np.flatnonzero(raw["entity"] == entity)
        rows = rows[np.argsort(raw["time"][rows])]
        for s, name in zip(SENSORS, ("temperature_c", "vibration"), strict=True):
            x = raw[s][rows]
            np.testing.assert_array_equal(features[f"{name}_last"][rows], x)
            for w in WINDOWS:
                alone = window_stats(x, w, stats)
                for stat in stats:
                    got = features[f"{name}_{stat}_{w}"][rows]
                    if stat in ("min", "max"):  # no arithmetic: the same values
                        np.testing.assert_array_equal(got, alone[stat])
                    else:  # the same sums, in another association: NaN at the same rows
                        np.testing.assert_allclose(got, alone[stat], rtol=1e-12, atol=1e-12)


def test_features_are_separate_float_rows_and_the_input_is_untouched():
    raw = _readings(4)
    before = {k: v.copy() for k, v in raw.items()}
    features = window_features(raw, "entity", "time", SENSORS, WINDOWS)
    assert all(v.shape == (len(raw["time"]),) and v.dtype == np.float64 for v in features.values())
    features["vibration_mean_3"][:] = -1.0  # a feature is a view of one block: not of another
    assert not (features["vibration_std_3"] == -1.0).any()
    for k, v in before.items():
        np.testing.assert_array_equal(raw[k], v)


def test_one_record_has_its_own_value_and_no_trend():
    raw = {"entity": np.array(["a"], dtype=object), "time": np.array([5.0]), "s": np.array([2.5])}
    f = window_features(raw, "entity", "time", ["s"], [2, 10])
    assert f["s_last"].tolist() == f["s_mean_2"].tolist() == f["s_max_10"].tolist() == [2.5]
    assert f["s_slope_10"].tolist() == f["s_std_2"].tolist() == [0.0]


@pytest.mark.parametrize("stats", [("mean", "slope"), STATS])
def test_features_at_chosen_rows_are_those_rows_of_every_row(stats):
    """`at`: what a service builds for the records it scores, in the order asked (repeats, an
    entity shorter than every window, missing readings): the same bits as every row's."""
    raw = _readings(5)
    every = window_features(raw, "entity", "time", SENSORS, WINDOWS, stats)
    latest = latest_positions(raw["entity"].tolist(), raw["time"].tolist())
    assert list(latest) == list(dict.fromkeys(raw["entity"]))  # by first appearance
    assert all(raw["time"][i] == raw["time"][raw["entity"] == e].max() for e, i in latest.items())
    rows = np.array([*latest.values(), 0, 7, 0, len(raw["time"]) - 1])
    part = window_features(raw, "entity", "time", SENSORS, WINDOWS, stats, at=rows)
    assert list(part) == list(every)
    for name, values in every.items():
        np.testing.assert_array_equal(part[name], values[rows], name)


def test_no_rows_or_no_rows_asked_give_every_feature_empty():
    empty = {"entity": np.array([], dtype=object), "time": np.array([]), "s": np.array([])}
    some = {
        "entity": np.array(["a", "a"], dtype=object),
        "time": np.array([1.0, 2.0]),
        "s": np.ones(2),
    }
    nothing = np.array([], dtype=np.int64)
    for raw, at in ((empty, None), (empty, nothing), (some, nothing)):
        f = window_features(raw, "entity", "time", ["s"], [2, 3], at=at)
        assert tuple(f) == window_feature_names(("s",), (2, 3), STATS)
        assert all(v.shape == (0,) for v in f.values())
