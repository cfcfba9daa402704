"""One PSI: `rollout status`'s score shift and `pilotpack monitor`'s PSI (shared/core/drift.py)
are the same number on the same data."""

from __future__ import annotations

import time

import numpy as np
import pytest

from shared.core.drift import psi_samples
from shared.core.tracking import RolloutState
from shared.core.usecase import get_use_case
from shared.ops.rollout import status
from shared.serve.predlog import LogRow, open_log


def test_rollout_status_psi_is_the_monitor_psi(tmp_path):
    rng = np.random.default_rng(3)
    champion, challenger = rng.beta(2, 5, 800), rng.beta(2.6, 4, 300)
    t0 = time.time() - 60
    rows = [
        LogRow(f"r{i}", t0 + i * 1e-3, "churn", variant, "1" if variant == "champion" else "2",
               f"k{i}", 0, {}, {"probability": float(s)}, float(s), 1.0, None)
        for i, (variant, s) in enumerate(
            [("champion", s) for s in champion] + [("challenger", s) for s in challenger]
        )
    ]  # fmt: skip
    state = RolloutState(
        status="active", version="2", champion="1", stages=(50.0,), salt="s",
        started_at=t0 - 1, stage_started_at=t0 - 1,
    )  # fmt: skip
    with open_log(str(tmp_path / "p.db")) as log:
        log.write_predictions(rows)
        report = status(get_use_case("churn"), state=state, log=log)
    assert report["psi"] == pytest.approx(psi_samples(champion, challenger), rel=1e-12)
    assert report["psi"] > 0.05  # a real shift, not two empty samples
