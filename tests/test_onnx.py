import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from shared.core.onnx_export import make_feed, parity, session, snap, to_onnx
from shared.tasks.binary import TASK


def test_parity_names_the_rows_that_differ():
    native = np.array([0.10, 0.50, 0.70, 0.30])
    onnx = native + np.array([0.0, 2e-3, 0.0, 0.0])
    result = parity(native, onnx, threshold=0.501, tolerance=1e-4, index=np.array([10, 11, 12, 13]))
    assert not result.ok
    assert result.decision_mismatches == [11]  # 0.50 vs 0.502 straddle 0.501
    assert result.worst_rows[0]["row"] == 11
    assert "rows [11]" in result.describe()


def test_parity_ok_within_tolerance():
    native = np.array([0.1, 0.9])
    result = parity(native, native + 5e-7, 0.5, 1e-4, np.arange(2))
    assert result.ok and result.max_abs_diff < 1e-6


def test_parity_reads_decisions_at_the_graphs_float32_precision():
    """A native probability exactly on the 0.01 threshold grid (0.7) comes out of the float32
    graph as 0.69999999: the same model, not a decision mismatch (it failed parity before)."""
    native = np.array([0.7, 0.2, 0.9, 0.7000002])
    onnx = native.astype(np.float32).astype(np.float64)
    r = parity(native, onnx, 0.7, 1e-4, np.arange(4))
    assert r.ok and r.decision_mismatches == []
    # a real straddle, larger than float32's step, is still a mismatch
    r = parity(np.array([0.7001]), np.array([0.6999]), 0.7, 1e-3, np.arange(1))
    assert r.decision_mismatches == [0] and not r.ok


def test_the_service_decides_at_float32_as_parity_reads_it():
    out = np.array([0.7, 0.69], dtype=np.float32)  # the graph's 0.7 is 0.69999999
    assert [r["decision"] for r in TASK.scored(out, {"threshold": 0.7})] == [True, False]
    assert TASK.scored_columns(out, {"threshold": 0.7})["decision"].tolist() == [True, False]


def _linear_graph(names: list[str]) -> bytes:
    """A real fitted pipeline (one input per column, as the pack exports) as ONNX bytes."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, len(names))).astype(np.float32), columns=names)
    pre = ColumnTransformer([("num", "passthrough", names)])
    model = Pipeline([("features", pre), ("model", LinearRegression())])
    return to_onnx(model.fit(X, X.sum(axis=1)), names, [], classifier=False)


def test_a_feed_missing_an_input_fails_naming_it_before_the_run():
    names = [f"x{i}" for i in range(40)]
    sess = session(_linear_graph(names))
    feed = make_feed({n: np.ones(3) for n in names}, names, [])
    np.testing.assert_allclose(sess.run(None, feed)[0].ravel(), [40.0] * 3, rtol=1e-5)
    del feed["x7"]
    with pytest.raises(ValueError, match=r"Required inputs \(\['x7'\]\) are missing"):
        sess.run(None, feed)


def test_the_feed_is_each_column_snapped_alone_shaped_n_by_1():
    """make_feed stacks the numeric columns into one block: each input must still be exactly
    that column on the float32 grid, [N, 1], and categories str [N, 1]."""
    rng = np.random.default_rng(1)
    columns = {f"x{i}": rng.normal(9000, 50, size=5) for i in range(6)}
    columns["x0"][[1, 3]] = [np.nan, np.inf]
    columns["x1"] = columns["x1"].reshape(-1, 1)  # a column may come as [N, 1]
    columns["kind"] = np.array(["a", "b", None, "a", "c"], dtype=object)
    numeric = [f"x{i}" for i in range(6)]
    feed = make_feed(columns, numeric, ["kind"])
    for c in numeric:
        expected = snap(np.asarray(columns[c], dtype=np.float32).reshape(-1)).reshape(-1, 1)
        assert feed[c].dtype == np.float32 and feed[c].shape == (5, 1)
        assert feed[c].flags.c_contiguous
        np.testing.assert_array_equal(feed[c].view(np.uint32), expected.view(np.uint32))
    assert feed["kind"].ravel().tolist() == ["a", "b", "None", "a", "c"]
