"""The contract every `usecases/<name>/` fulfils, and the registry that discovers them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

Columns = Mapping[str, Any]
"""A frame or a dict of column arrays: what `build_features` reads."""

Features = dict[str, np.ndarray]
"""What `build_features` returns: one array per model input."""


@dataclass(frozen=True)
class UseCase:
    """One use case: the names its folder defines, wired together in its usecase.py."""

    name: str
    question: str
    task: Literal["binary", "binary_sequence"]
    raw_schema: type
    target: str
    positive_label: Any
    id_column: str | None
    leaky_columns: tuple[str, ...]
    build_features: Callable[[Columns], Features]
    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    make_model: Callable[[BaseModel], Any]
    kpi_config: type[BaseModel]
    profit: Callable[[np.ndarray, np.ndarray, Any], float]
    compute_kpis: Callable[[np.ndarray, np.ndarray, float, Any], dict[str, float]]
    kpi_gates: Callable[[dict[str, float], Any], list[str]]
    make_synthetic: Callable[..., pd.DataFrame]
    service: str = ""
    folder: Path = field(default=Path("."))
    time_column: str | None = None
    config_file: str = "config.yaml"
    # A label derived from the raw data instead of read from `target` (e.g. "an event within
    # the next H steps"): 1.0 / 0.0 per row, NaN where it is not known yet (censored rows).
    make_labels: Callable[[pd.DataFrame], np.ndarray] | None = None
    # Settings that shape features and labels (windows, horizon): the config's `settings`
    # section, validated by `settings_model`, applied by `configure(use_case, settings)`.
    settings_model: type[BaseModel] | None = None
    configure: Callable[[UseCase, Any], UseCase] | None = None

    @property
    def config_path(self) -> Path:
        return self.folder / self.config_file

    def load_config(self, overrides: list[str] | None = None) -> Any:
        """This use case's config.yaml, validated, with `section.key=value` overrides applied."""
        from shared.config import config_model, load_config

        model = config_model(self.name, self.kpi_config, self.settings_model)
        return load_config(self.config_path, model, overrides)

    @property
    def model_inputs(self) -> tuple[str, ...]:
        return self.numeric_features + self.categorical_features

    def labels(self, raw: pd.DataFrame) -> np.ndarray:
        """The target as 0/1 (rows with an unknown derived label count as 0: see `labelled`)."""
        if self.make_labels is not None:
            return (self.make_labels(raw) == 1).astype(np.int64)
        return (raw[self.target] == self.positive_label).to_numpy(dtype=np.int64)

    def labelled(self, raw: pd.DataFrame) -> np.ndarray:
        """Rows whose label is known; training and evaluation use only these."""
        if self.make_labels is None:
            return np.ones(len(raw), dtype=bool)
        return ~np.isnan(np.asarray(self.make_labels(raw), dtype=np.float64))

    def with_config(self, cfg: Any) -> UseCase:
        """This use case with the config's `settings` applied (itself when it has none)."""
        return self.configure(self, cfg.settings) if self.configure else self


@dataclass(frozen=True)
class ForecastUseCase:
    """A forecasting use case (`task="forecast"`): many series in one long frame, H steps ahead.

    Trained by shared/forecasting.py: rolling-origin backtests of statistical baselines and a
    global model whose inputs `build_features(windows)` makes from history windows.
    """

    name: str
    question: str
    raw_schema: type
    target: str
    id_columns: tuple[str, ...]
    time_column: str
    build_features: Callable[[Any], Features]
    feature_names: tuple[str, ...]
    make_model: Callable[..., Any]
    kpi_config: type[BaseModel]
    compute_kpis: Callable[[np.ndarray, np.ndarray, np.ndarray, Any], dict[str, float]]
    kpi_gates: Callable[[dict[str, float], Any], list[str]]
    make_synthetic: Callable[..., pd.DataFrame]
    holiday_column: str | None = None
    freq_days: int = 7
    service: str = ""
    folder: Path = field(default=Path("."))
    config_file: str = "config.yaml"
    task: Literal["forecast"] = "forecast"

    @property
    def config_path(self) -> Path:
        return self.folder / self.config_file

    def load_config(self, overrides: list[str] | None = None) -> Any:
        """This use case's config.yaml in the forecasting config model, overrides applied."""
        from shared.config import load_config
        from shared.forecast.config import forecast_config_model

        return load_config(
            self.config_path, forecast_config_model(self.name, self.kpi_config), overrides
        )


def _usecase_modules() -> list[str]:
    import usecases

    return sorted(
        info.name
        for info in pkgutil.iter_modules(usecases.__path__)
        if info.ispkg and (Path(usecases.__path__[0]) / info.name / "usecase.py").exists()
    )


@cache
def registry() -> dict[str, UseCase | ForecastUseCase]:
    """Every folder under usecases/ with a usecase.py, by name: a fork's folder is picked up."""
    found: dict[str, UseCase | ForecastUseCase] = {}
    for module_name in _usecase_modules():
        module = importlib.import_module(f"usecases.{module_name}.usecase")
        # A folder may add variants of its use case (another data shape, its own config file).
        for uc in (module.USE_CASE, *getattr(module, "VARIANTS", ())):
            found[uc.name] = uc
    return found


def get_use_case(name: str) -> UseCase | ForecastUseCase:
    cases = registry()
    if name not in cases:
        raise KeyError(f"unknown use case {name!r}; registered: {', '.join(cases) or 'none'}")
    return cases[name]
