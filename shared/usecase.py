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
    task: Literal["binary"]
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

    @property
    def config_path(self) -> Path:
        return self.folder / "config.yaml"

    def load_config(self, overrides: list[str] | None = None) -> Any:
        """This use case's config.yaml, validated, with `section.key=value` overrides applied."""
        from shared.config import config_model, load_config

        return load_config(self.config_path, config_model(self.name, self.kpi_config), overrides)

    @property
    def model_inputs(self) -> tuple[str, ...]:
        return self.numeric_features + self.categorical_features

    def labels(self, raw: pd.DataFrame) -> np.ndarray:
        """The target as 0/1."""
        return (raw[self.target] == self.positive_label).to_numpy(dtype=np.int64)


def _usecase_modules() -> list[str]:
    import usecases

    return sorted(
        info.name
        for info in pkgutil.iter_modules(usecases.__path__)
        if info.ispkg and (Path(usecases.__path__[0]) / info.name / "usecase.py").exists()
    )


@cache
def registry() -> dict[str, UseCase]:
    """Every folder under usecases/ with a usecase.py, by name: a fork's folder is picked up."""
    found: dict[str, UseCase] = {}
    for module_name in _usecase_modules():
        module = importlib.import_module(f"usecases.{module_name}.usecase")
        uc: UseCase = module.USE_CASE
        found[uc.name] = uc
    return found


def get_use_case(name: str) -> UseCase:
    cases = registry()
    if name not in cases:
        raise KeyError(f"unknown use case {name!r}; registered: {', '.join(cases) or 'none'}")
    return cases[name]
