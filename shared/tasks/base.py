"""The task protocol, and the result every task's run returns.

A task has two parts. The light part (`Task`: name, declared capabilities, route, config
model, labels, response fields, `scored`) is all a service and a use case's wiring need, and
it imports no training library. The training part (`TaskTraining`, reached through
`task.training`, whose module is imported on first access) is what the run skeleton
(shared/ops/training.py) calls in order for every use case: validate -> fit (split, tune, fit
candidates, evaluate, choose) -> export (ONNX + parity) -> gates -> MLflow -> model store; and
the report, the benchmark and the contract suite. A task family is one light module of this
folder exposing `TASK` and one training module (`<family>_training.py`, or `training.py` in a
family's package). Modelled on scikit-learn's estimator API: the same small set of methods
everywhere, and one contract suite (`contract_checks`) run on every use case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from shared.core.config import GatesConfig, config_model

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.table import Table

    from shared.core.usecase import Output, UseCase
    from shared.core.validation import ValidationReport

Log = Callable[[str], None]


class Parity(Protocol):
    """ONNX against the native model: the largest difference and whether it is within bounds."""

    max_abs_diff: float

    @property
    def ok(self) -> bool: ...

    def describe(self) -> str: ...


@dataclass
class Fit:
    """What a task's `fit` hands on: the chosen model and every figure about it."""

    chosen: str
    model: Any
    metrics: dict[str, float]
    kpis: dict[str, float]
    candidates: list[dict[str, Any]]
    split: dict[str, Any]  # kind, sizes and ranges of each part
    profile: dict[str, Any]  # reference distributions for drift checks later
    details: dict[str, Any] = field(default_factory=dict)  # task-specific, e.g. the threshold
    state: dict[str, Any] = field(default_factory=dict)  # for export, never reported
    # The training rows' model inputs, sampled as the drift tests' reference (None: none kept),
    # and the chosen model's output on such a frame (None: the sample carries no score).
    train_inputs: pd.DataFrame | None = field(default=None, repr=False)
    score: Callable[[pd.DataFrame], np.ndarray] | None = field(default=None, repr=False)


@dataclass
class Export:
    """The ONNX graph, its parity check, and what the predictor needs to serve it."""

    onnx_bytes: bytes
    parity: Parity
    numeric: list[str]
    categorical: list[str]
    output: tuple[str, int]  # the graph's output tensor and its width, for the MLflow signature
    metadata: dict[str, Any]


@dataclass
class RunResult:
    """One training run, whatever its task; task-specific figures are in `details` (and
    readable as attributes: `result.threshold`)."""

    use_case: str
    task: str
    chosen: str
    metrics: dict[str, float]
    kpis: dict[str, float]
    candidates: list[dict[str, Any]]
    split: dict[str, Any]
    parity: Parity
    gates_passed: bool
    gate_reasons: list[str]
    validation: ValidationReport
    lineage: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)
    registered: bool = True
    model_version: str = ""
    run_id: str = ""
    bento_tag: str = ""
    seconds: float = 0.0
    onnx_bytes: bytes = field(default=b"", repr=False)
    # The governance step's findings (fairness, explanations, plot data) and the documents
    # made from them (report.html, model card), by file name; neither goes into report().
    governance: Any = field(default=None, repr=False)
    documents: dict[str, str] = field(default_factory=dict, repr=False)

    def __getattr__(self, name: str) -> Any:
        details = self.__dict__.get("details", {})
        if name in details:
            return details[name]
        raise AttributeError(name)

    def summary(self) -> dict[str, Any]:
        """The --json line: what CI and scripts read."""
        return {
            "use_case": self.use_case,
            "task": self.task,
            "model_version": self.model_version,
            "bento_tag": self.bento_tag,
            "run_id": self.run_id,
            "registered": self.registered,
            "chosen_model": self.chosen,
            "metrics": self.metrics,
            "kpis": self.kpis,
            "candidates": self.candidates,
            "parity_max_abs_diff": self.parity.max_abs_diff,
            "gates": {"passed": self.gates_passed, "reasons": self.gate_reasons},
            "split": self.split,
            "seconds": round(self.seconds, 2),
        } | {
            k: v for k, v in self.details.items() if not isinstance(v, list | dict) or k in _SUMMARY
        }

    def report(self) -> dict[str, Any]:
        return self.summary() | {
            "details": self.details,
            "validation": self.validation.to_dict(),
            "lineage": self.lineage,
            "parity": self.parity.describe(),
        }


# Task details that are small enough for the --json line although they are dicts.
_SUMMARY = {"baseline_comparison", "interval_coverage", "backtest"}


class Task(Protocol):
    """The light part of a task: what the service factory, the batch scorer and a use case's
    wiring call. It loads no training library; `training` is the rest.

    Capabilities are declared, like scikit-learn's estimator tags: callers ask a task what it
    can do (`uc.task.explainable`, `uc.task.serves == "records"`), never which task it is
    (`uc.task.name == ...`), and never probe it (`hasattr`, dict keys). Whether a use case
    reads each entity's past records is the use case's own declaration (`uc.history`).
    """

    name: str  # for people and tags only: decide by a capability below, never by the name
    route: str  # the service's main endpoint, e.g. /predict
    monitoring: str  # what `pilotpack monitor` measures: "classifier", "regression" or "forecast"
    live_drift: bool  # the service keeps a live PSI window of its records' inputs and scores
    realised_metric: str  # the headline metric once outcomes arrive (alerts, promtool tests)
    # How the service answers: "records" (one answer per record, or per entity's latest
    # record for history use cases) or "series" (forecasts per series); serve builds from it.
    serves: str
    explainable: bool  # /explain and the report's contributions per model input
    batch_scorable: bool  # `pilotpack score` scores a file of records with it
    batch_forecasts: bool  # `pilotpack forecast` writes forecasts per series (`batch_forecast`)
    classifier: bool  # answers a probability and a decision (a threshold, a positive label)
    # Test metrics `train --repeats K` averages over K splits (`repeated_splits`); empty when
    # the task has no repeated-split evaluation.
    repeat_metrics: tuple[str, ...]

    def config_model(self, uc: UseCase) -> type[BaseModel]:
        """The config class of this use case (shared sections, task sections, its `kpi`)."""

    def labels(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray: ...

    def labelled(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray: ...

    @property
    def training(self) -> TaskTraining:
        """The training part; its module (and the training stack) is imported on first use."""

    # Record-serving tasks (`serves == "records"`) also answer these:
    # default_outputs(uc) -> tuple[Output, ...]: the response fields when the use case names none
    # scored(values, metadata) -> list[dict]: per record, the response values of the model output


class TaskTraining(Protocol):
    """The training part of a task (`uc.task.training`): the run skeleton, the CLI, the report,
    the benchmark and the contract suite call only these. Its module imports the training
    stack; it never imports the light part's module (which imports it on first access)."""

    task: Task  # the light part it trains for

    def synthetic(self, uc: UseCase, cfg: Any) -> tuple[pd.DataFrame, str]:
        """The built-in data and a description of it for lineage."""

    def validate(self, uc: UseCase, cfg: Any, raw: pd.DataFrame) -> ValidationReport:
        """Schema and data-quality gates; raises DataValidationError listing every problem."""

    def fit(self, uc: UseCase, cfg: Any, raw: pd.DataFrame, log: Log) -> Fit:
        """Split, tune and fit every candidate, evaluate them, choose one."""

    def export(self, uc: UseCase, cfg: Any, fit: Fit) -> Export:
        """ONNX graph of the chosen model and its parity against the native model."""

    def gates(self, uc: UseCase, cfg: Any, fit: Fit, export: Export) -> list[str]:
        """Every failed gate as a sentence."""

    def params(self, cfg: Any, fit: Fit) -> dict[str, Any]:
        """MLflow params of the run beyond the common ones."""

    def report_tables(self, result: RunResult) -> list[Table]: ...

    def markdown(self, result: RunResult) -> list[str]:
        """The report's task sections, as Markdown lines."""

    def headline(self, result: RunResult) -> tuple[str, str]:
        """The two quality figures of the demo table."""

    def offline_benchmark(self, uc: UseCase, quick: bool) -> dict[str, float]:
        """Native vs ONNX latency in-process."""

    def contract_checks(self, uc: UseCase) -> list[Callable[[UseCase], None]]:
        """Checks every use case of this task must pass (forks included)."""

    # Tasks with `repeat_metrics` also run `repeated_splits(uc, cfg, raw, k, log)`.


class TabularTask:
    """The light part every row-per-record task shares (binary, binary_sequence, regression):
    declared capabilities, the config model, which rows are labelled. The training flow is
    shared/tasks/tabular.py's `TabularTraining`, reached through `training`."""

    repeat_metrics: tuple[str, ...] = ()  # test metrics averaged by `repeated_splits`

    name = ""
    route = "/predict"
    monitoring = "classifier"
    live_drift = True
    realised_metric = "roc_auc"
    serves = "records"
    explainable = True
    batch_scorable = True
    batch_forecasts = False
    classifier = True

    def gates_model(self) -> type:
        return GatesConfig

    def config_model(self, uc: UseCase) -> type:
        return config_model(uc.name, uc.kpi_config, uc.settings_model, self.gates_model())

    def labels(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def labelled(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray:
        if uc.make_labels is None:
            return np.ones(len(raw), dtype=bool)
        return ~np.isnan(np.asarray(uc.make_labels(raw), dtype=np.float64))

    def default_outputs(self, uc: UseCase) -> tuple[Output, ...]:
        raise NotImplementedError

    def scored(self, values: np.ndarray, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def scored_columns(self, values: np.ndarray, metadata: dict[str, Any]) -> dict[str, np.ndarray]:
        """`scored` by column, one array per field: a file of records (`pilotpack score`)."""
        raise NotImplementedError

    @property
    def training(self) -> Any:
        raise NotImplementedError


def time_us(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `fn` in microseconds, after a warm-up call."""
    import time

    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def numeric_profile(X: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Deciles, mean and missing share of numeric inputs: the reference for drift checks."""
    qs = np.linspace(0, 1, 11)
    out = {}
    for c in columns:
        v = X[c].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        out[c] = {
            "quantiles": np.quantile(v, qs).tolist() if len(v) else [],
            "mean": float(v.mean()) if len(v) else float("nan"),
            "missing_share": float(1 - len(v) / max(len(X), 1)),
        }
    return out


def quantiles(values: np.ndarray) -> list[float]:
    """Deciles of a model output (score, prediction) for drift checks."""
    return np.quantile(values, np.linspace(0, 1, 11)).tolist() if len(values) else []
