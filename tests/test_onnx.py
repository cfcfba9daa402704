import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from shared.core.onnx_export import (
    NUMERIC_INPUT,
    fuse_numeric,
    make_feed,
    parity,
    per_column_onnx,
    session,
    snap,
    to_onnx,
)
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
    del feed[NUMERIC_INPUT]
    with pytest.raises(ValueError, match=r"Required inputs \(\['numeric_inputs'\]\) are missing"):
        sess.run(None, feed)


def test_the_feed_is_each_column_snapped_alone_in_one_block():
    """make_feed stacks the numeric columns into one block [N, F]: column i must still be
    exactly column i on the float32 grid, and categories str [N, 1]."""
    rng = np.random.default_rng(1)
    columns = {f"x{i}": rng.normal(9000, 50, size=5) for i in range(6)}
    columns["x0"][[1, 3]] = [np.nan, np.inf]
    columns["x1"] = columns["x1"].reshape(-1, 1)  # a column may come as [N, 1]
    columns["kind"] = np.array(["a", "b", None, "a", "c"], dtype=object)
    numeric = [f"x{i}" for i in range(6)]
    feed = make_feed(columns, numeric, ["kind"])
    block = feed[NUMERIC_INPUT]
    assert block.dtype == np.float32 and block.shape == (5, 6) and block.flags.c_contiguous
    for i, c in enumerate(numeric):
        expected = snap(np.asarray(columns[c], dtype=np.float32).reshape(-1))
        np.testing.assert_array_equal(block[:, i].view(np.uint32), expected.view(np.uint32))
    assert feed["kind"].ravel().tolist() == ["a", "b", "None", "a", "c"]


def _mixed_model() -> tuple[Pipeline, pd.DataFrame, list[str], list[str]]:
    """A fitted classifier on 5 numeric columns and 2 text ones (one-hot), with its frame."""
    rng = np.random.default_rng(2)
    numeric, categorical = [f"x{i}" for i in range(5)], ["kind", "size"]
    X = pd.DataFrame(rng.normal(size=(200, 5)).astype(np.float32), columns=numeric)
    X["kind"] = rng.choice(["a", "b", "c"], 200)
    X["size"] = rng.choice(["s", "m"], 200)
    y = (X["x0"] + (X["kind"] == "b") > 0.3).astype(int)
    pre = ColumnTransformer(
        [
            ("num", "passthrough", numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    model = Pipeline([("features", pre), ("model", LogisticRegression())]).fit(X, y)
    return model, X, numeric, categorical


def test_the_graph_takes_every_numeric_column_as_one_input_and_scores_as_the_pipeline():
    model, X, numeric, categorical = _mixed_model()
    sess = session(to_onnx(model, numeric, categorical))
    inputs = {i.name: (i.type, i.shape) for i in sess.get_inputs()}
    assert inputs == {
        NUMERIC_INPUT: ("tensor(float)", [None, 5]),
        "kind": ("tensor(string)", [None, 1]),
        "size": ("tensor(string)", [None, 1]),
    }
    feed = make_feed({c: X[c].to_numpy() for c in X.columns}, numeric, categorical)
    onnx = sess.run(["probabilities"], feed)[0][:, 1]
    np.testing.assert_allclose(onnx, model.predict_proba(X)[:, 1], atol=1e-5)


def test_a_model_exported_with_one_input_per_column_runs_from_the_same_feed(caplog):
    """Models in a registry from before the block input keep serving: `session` splits it,
    and says to retrain."""
    model, X, numeric, categorical = _mixed_model()
    with caplog.at_level("WARNING", logger="shared.core.onnx_export"):
        old = session(per_column_onnx(model, numeric, categorical))
    assert "one ONNX input per numeric column (5)" in caplog.text
    assert "pilotpack train" in caplog.text
    assert [i.name for i in old.get_inputs()] == [*numeric, *categorical]
    feed = make_feed({c: X[c].to_numpy() for c in X.columns}, numeric, categorical)
    caplog.clear()
    new = session(to_onnx(model, numeric, categorical))
    assert not caplog.text  # a new export is served as it is
    np.testing.assert_array_equal(
        old.run(["probabilities"], feed)[0], new.run(["probabilities"], feed)[0]
    )


def test_numeric_inputs_read_outside_a_concat_come_from_a_split_of_the_block():
    column = [None, 1]
    graph = helper.make_graph(
        [helper.make_node("Sub", ["a", "b"], ["d"]), helper.make_node("Mul", ["d", "a"], ["y"])],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, column) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, column)],
    )
    built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fused = fuse_numeric(built, ["a", "b"])
    onnx.checker.check_model(fused)
    assert [i.name for i in fused.graph.input] == [NUMERIC_INPUT]
    feed = make_feed({"a": np.array([3.0, 5.0]), "b": np.array([1.0, 7.0])}, ["a", "b"], [])
    np.testing.assert_array_equal(
        session(fused.SerializeToString()).run(["y"], feed)[0].ravel(), [6.0, -10.0]
    )


def test_a_column_named_as_the_numeric_block_is_refused():
    model, X, numeric, categorical = _mixed_model()
    with pytest.raises(ValueError, match="numeric_inputs"):
        to_onnx(model, numeric, [NUMERIC_INPUT])
