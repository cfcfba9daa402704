"""One PSI (shared/core/drift.py): from a stored profile or from two samples, the same bins
give the same number, so `monitor` (profile) and `rollout status` (samples) agree."""

from __future__ import annotations

import numpy as np
import pytest

from shared.core.drift import SCORE, psi, psi_samples, reference_bins, sample_bins
from shared.core.onnx_export import snap
from shared.tasks.base import quantiles


def test_profile_bins_and_sample_bins_give_the_same_psi() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.beta(2, 5, 5000), rng.beta(2.6, 5, 3000)
    profile = {"output_quantiles": quantiles(reference)}  # what training stores for the score
    from_profile = psi(reference_bins(profile)[SCORE], current)
    assert from_profile == pytest.approx(psi(sample_bins(reference), current), abs=1e-12)
    assert from_profile == pytest.approx(psi_samples(reference, current), abs=1e-12)
    assert 0.02 < from_profile < 0.5


def test_psi_samples_says_none_when_there_is_too_little_to_bin() -> None:
    assert psi_samples([0.1, 0.2, 0.3], [0.2] * 50, min_rows=10) is None
    assert psi_samples([], [0.2]) is None
    assert psi_samples(np.linspace(0, 1, 100), np.linspace(0, 1, 100)) == pytest.approx(0, abs=1e-9)


def test_a_profile_of_float32_inputs_bins_float64_values_alike() -> None:
    """Training profiles its snapped float32 model inputs (21.59 -> 21.590004); the live
    window's float64 21.59 must fall in the same bin, else an undrifted two-decimal reading
    shows PSI > 2 (found by `pilotpack simulate predictive_maintenance_rul`)."""
    rng = np.random.default_rng(0)
    values = np.round(21.59 + 0.02 * rng.standard_normal(20_000), 2)
    bins = sample_bins(snap(values).astype(np.float64))
    assert psi(bins, values) < 0.01
    assert psi(bins, values.astype(np.float32)) < 0.01
