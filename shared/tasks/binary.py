"""Task `binary`: one row per record, a yes/no outcome, a probability and a decision.

This is the light part (what a service and a use case's wiring need); candidates, tuning,
calibration, the profit-optimal threshold, gates and report are its training part,
shared/tasks/binary_training.py, reached through `TASK.training`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.core.usecase import Output, UseCase
from shared.tasks.base import TabularTask

if TYPE_CHECKING:
    from shared.tasks.binary_training import BinaryTraining


class BinaryTask(TabularTask):
    name = "binary"
    classifier = True
    repeat_metrics = ("roc_auc", "pr_auc", "brier")

    def labels(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        """0/1; rows with an unknown derived label count as 0 (see `labelled`)."""
        if uc.make_labels is not None:
            return (np.asarray(uc.make_labels(raw), dtype=np.float64) == 1).astype(np.int64)
        return (raw[uc.target] == uc.positive_label).to_numpy(dtype=np.int64)

    @cached_property
    def training(self) -> BinaryTraining:
        """Candidates, evaluation, export, gates and report of this task."""
        # why: serving never loads the training stack
        from shared.tasks.binary_training import BinaryTraining

        return BinaryTraining(self)

    # --------------------------------------------------------------------- serving

    def default_outputs(self, uc: UseCase) -> tuple[Output, ...]:
        return (
            Output(
                "probability",
                "probability",
                f"probability that {uc.target} is {uc.positive_label!r}",
            ),
            Output("decision", "decision", "true = above the profit-optimal threshold: act"),
        )

    def scored(self, values: np.ndarray, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """Per record: probability and the decision at the trained threshold."""
        # compared at float32, the graph's output precision (as the parity check reads it):
        # a probability of 0.7 comes out as 0.69999999 and is still at threshold 0.7
        threshold = np.float32(metadata["threshold"])
        return [
            {"probability": float(p), "decision": bool(np.float32(p) >= threshold)} for p in values
        ]

    def scored_columns(self, values: np.ndarray, metadata: dict[str, Any]) -> dict[str, np.ndarray]:
        """`scored` by column, for a file of records: the same values, one array per field."""
        threshold = np.float32(metadata["threshold"])
        probability = np.asarray(values, dtype=np.float64)
        return {"probability": probability, "decision": probability.astype(np.float32) >= threshold}


TASK = BinaryTask()
