import numpy as np

from shared.core.onnx_export import parity


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
