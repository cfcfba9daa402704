"""The contract every `usecases/<name>/` fulfils, and the registry that discovers them.

A use case is its folder: the name comes from the folder (variants name themselves), the
task plug-in is the object its usecase.py passes as `task` (the core never looks a task up), the service from the core's factory (shared/serve/factory.py), with the
folder's optional service.py adding only what is domain-specific.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel

import usecases
from shared.core.config import load_config

Columns = Mapping[str, Any]
"""A frame or a dict of column arrays: what `build_features` reads."""

Features = dict[str, np.ndarray]
"""What `build_features` returns: one array per model input."""


def latest_positions(entities: Sequence[Any], times: Sequence[Any]) -> dict[Any, int]:
    """Each entity's latest row: entity -> its position, entities in order of first appearance
    (the rows a service scores, and explains, in a request of recent histories)."""
    latest: dict[Any, int] = {}
    for i, (key, t) in enumerate(zip(entities, times, strict=True)):
        if key not in latest or t > times[latest[key]]:
            latest[key] = i
    return latest


@dataclass(frozen=True)
class Output:
    """One response field of the service: which predictor value it carries, and its meaning."""

    name: str
    source: str  # a key of the predictor's per-record dict: probability, decision, prediction, ...
    description: str


class TaskLike(Protocol):
    """What the core asks of a use case's task; the full protocol is shared/tasks/base.py's Task."""

    name: str

    def config_model(self, uc: UseCase) -> type[BaseModel]: ...

    def labels(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray: ...

    def labelled(self, uc: UseCase, raw: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class ForecastWiring:
    """Forecasting's own names: series keys, the optional holiday flag column, the model's
    input names (`UseCase.forecast`; empty for every other task)."""

    id_columns: tuple[str, ...] = ()
    holiday_column: str | None = None
    feature_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class UseCase:
    """One use case: the names its folder defines, wired together in its usecase.py.

    The fields every task reads, then per-family settings (`forecast`) that stay at their
    defaults elsewhere; fields a task does not use stay at theirs too (a forecast has no
    positive label). `name` and `folder` default to the folder's.
    """

    question: str
    task: TaskLike  # the task object (e.g. shared.tasks.binary.TASK), never looked up by name
    raw_schema: type
    target: str
    build_features: Callable[..., Features]
    make_model: Callable[..., Any]
    kpi_config: type[BaseModel]
    compute_kpis: Callable[..., dict[str, float]]
    kpi_gates: Callable[[dict[str, float], Any], list[str]]
    make_synthetic: Callable[..., pd.DataFrame]
    name: str = ""
    folder: Path = field(default=Path("."))
    config_file: str = "config.yaml"
    positive_label: Any = 1
    id_column: str | None = None
    time_column: str | None = None
    leaky_columns: tuple[str, ...] = ()
    numeric_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    profit: Callable[..., float] | None = None
    # Response fields beyond the id echo and model version (the task has defaults).
    outputs: tuple[Output, ...] = ()
    # A label derived from the raw data instead of read from `target` (e.g. "an event within
    # the next H steps"): the label per row, NaN where it is not known yet (censored rows).
    make_labels: Callable[[pd.DataFrame], np.ndarray] | None = None
    # Features read each entity's past records (id + time columns): labels may be derived,
    # the split keeps entities whole, and the service scores each entity's latest record.
    history: bool = False
    # History use cases: `build_features` for chosen rows only, called as (raw, at=positions)
    # and giving the values `build_features` gives at those rows, so that a service windows
    # only the records it scores (each entity's latest). None: every row is built, then kept.
    build_features_at: Callable[..., Features] | None = None
    # Settings that shape features and labels (columns, windows, horizon): the config's
    # `settings` section, validated by `settings_model`, applied by `configure(uc, settings)`.
    settings_model: type[BaseModel] | None = None
    configure: Callable[[UseCase, Any], UseCase] | None = None
    forecast: ForecastWiring = field(default_factory=ForecastWiring)

    @property
    def config_path(self) -> Path:
        return self.folder / self.config_file

    @property
    def package(self) -> str:
        """The folder's import path, e.g. `usecases.churn`."""
        return f"usecases.{self.folder.name}"

    @property
    def service(self) -> str:
        """What `bentoml serve` takes for this use case alone."""
        return f"shared.serve.services:{self.name}"

    def load_config(self, overrides: list[str] | None = None) -> Any:
        """This use case's config file, validated by its task's model, overrides applied."""
        return load_config(self.config_path, self.task.config_model(self), overrides)

    @property
    def model_inputs(self) -> tuple[str, ...]:
        return self.forecast.feature_names or (self.numeric_features + self.categorical_features)

    def features_at(self, raw: Columns, rows: np.ndarray) -> Features:
        """The features of the rows at positions `rows`, in that order."""
        if self.build_features_at is not None:
            return self.build_features_at(raw, at=rows)
        return {k: np.asarray(v)[rows] for k, v in self.build_features(raw).items()}

    def labels(self, raw: pd.DataFrame) -> np.ndarray:
        """The target per row as the task learns it (0/1 for classifiers, a number for regression)."""
        return self.task.labels(self, raw)

    def labelled(self, raw: pd.DataFrame) -> np.ndarray:
        """Rows whose label is known; training and evaluation use only these."""
        return self.task.labelled(self, raw)

    def with_config(self, cfg: Any) -> UseCase:
        """This use case with the config's `settings` applied (itself when it has none)."""
        return self.configure(self, cfg.settings) if self.configure else self


def _usecase_modules() -> list[str]:
    """The folders under usecases/ that hold a usecase.py."""
    root = Path(usecases.__path__[0])
    return sorted(
        info.name
        for info in pkgutil.iter_modules(usecases.__path__)
        if info.ispkg and (root / info.name / "usecase.py").exists()
    )


_SEEN: dict[str, UseCase] = {}
PANDERA_DASK_TYPING = "pandera.typing.dask"


def pandas_typing_only() -> None:
    """Tell pandera that its Dask annotations are absent, before a use case's schema is built.

    pandera builds a DataFrameModel's schema by collecting the index types of every frame
    library it supports, and where dask is installed that imports dask (0.45 CPU-s, measured
    on `from shared.serve.services import churn`: 1.50 s without this, 1.04 s with it) in every
    `bentoml serve` process and `pilotpack` command of a development install. The pack's
    schemas annotate pandas frames only (Dask partitions are pandas frames), and a Bento has
    no dask. pandera reads the module's `DASK_INSTALLED` flag and nothing else; a process that
    imported it already keeps the real one."""
    if PANDERA_DASK_TYPING not in sys.modules:
        stub = types.ModuleType(PANDERA_DASK_TYPING, "pandas frames only (shared/core/usecase.py)")
        stub.DASK_INSTALLED = False  # type: ignore[attr-defined]
        sys.modules[PANDERA_DASK_TYPING] = stub


def _folder_cases(folder: str) -> dict[str, UseCase]:
    """One folder's use case and its variants, by name (only that folder is imported).

    Objects already handed out are kept, so references taken earlier stay the same use case.
    """
    pandas_typing_only()
    module = importlib.import_module(f"usecases.{folder}.usecase")
    path = Path(module.__file__ or ".").parent
    found: dict[str, UseCase] = {}
    # A folder may add variants of its use case (another data shape, its own config file).
    for uc in (module.USE_CASE, *getattr(module, "VARIANTS", ())):
        uc = replace(uc, name=uc.name or folder, folder=path)
        if uc.name in found:
            raise ValueError(f"two use cases are named {uc.name!r}: rename one variant")
        found[uc.name] = _SEEN.setdefault(uc.name, uc)
    return found


@cache
def registry() -> dict[str, UseCase]:
    """Every folder under usecases/ with a usecase.py, by name: a fork's folder is picked up.

    Re-reading it (`registry.cache_clear()`, e.g. after `pilotpack new`) keeps the objects of
    use cases already known, so references taken earlier stay the same use case.
    """
    found: dict[str, UseCase] = {}
    for folder in _usecase_modules():
        for name, uc in _folder_cases(folder).items():
            if name in found:
                raise ValueError(f"two use cases are named {name!r}: rename one variant")
            found[name] = uc
    return found


def _home(name: str) -> str | None:
    """The folder a use case lives in: the longest folder name that `name` starts with."""
    folders = [f for f in _usecase_modules() if name == f or name.startswith(f + "_")]
    return max(folders, key=len, default=None)


def get_use_case(name: str) -> UseCase:
    """One use case by name; imports only its own folder (serving one loads no other)."""
    if name in _SEEN:  # found before: no folder scan
        return _SEEN[name]
    folder = _home(name)
    if folder is not None:
        cases = _folder_cases(folder)
        if name in cases:
            return cases[name]
    cases = registry()  # a variant named apart from its folder
    if name not in cases:
        raise KeyError(f"unknown use case {name!r}; registered: {', '.join(cases) or 'none'}")
    return cases[name]
