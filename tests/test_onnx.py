import numpy as np

from shared.core.onnx_export import parity
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
