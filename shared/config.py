"""Config models shared by every use case, YAML loading and `--set section.key=value` overrides."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from shared.io import ReaderConfig


class Strict(BaseModel):
    """Base for every config section: unknown keys are typos and fail."""

    model_config = ConfigDict(extra="forbid")


class DataConfig(Strict):
    path: Path | None = Field(None, description="CSV or Parquet file; None = synthetic data")
    reader: ReaderConfig = Field(
        ReaderConfig(), description="separator, decimal mark, encoding, header and column names"
    )
    synthetic_rows: int = Field(7000, ge=100)
    seed: int = 42


class SliceRule(Strict):
    """An edge case that must be present in the data, e.g. customers with tenure 0."""

    name: str
    column: str
    op: Literal["eq", "le", "ge", "isin"]
    value: Any
    min_rows: int = Field(1, ge=1)


class QualityConfig(Strict):
    min_rows: int = Field(1000, ge=1)
    label_rate_min: float = Field(0.01, ge=0, le=1)
    label_rate_max: float = Field(0.99, ge=0, le=1)
    max_duplicate_ids: int = Field(0, ge=0)
    max_duplicates_across_parts: int = Field(
        0,
        ge=0,
        description="identical rows allowed in two of train / valid / test (a leak without ids)",
    )
    check_label_rate_by_part: bool = Field(
        True, description="each part's label rate within [label_rate_min, label_rate_max]"
    )
    required_slices: list[SliceRule] = []


class SplitConfig(Strict):
    kind: Literal["stratified", "time", "row_order", "group", "group_time"] = Field(
        "stratified",
        description=(
            "stratified: random, label rate kept in each part (CV: stratified k-fold, plain"
            " k-fold for a continuous target); time: oldest rows train, newest test (CV:"
            " expanding window by time); row_order: file order is time order, first rows"
            " train, last rows test (CV: expanding window by row); group: whole entities at"
            " random in one part, e.g. run-to-failure fleets (CV: group k-fold); group_time:"
            " whole entities in one part and test only after the training cut-off time (CV:"
            " group k-fold)"
        ),
    )
    test_size: float = Field(0.2, gt=0, lt=1)
    valid_size: float = Field(0.2, gt=0, lt=1, description="share of the non-test part")
    seed: int = 42


class LightGBMParams(Strict):
    kind: Literal["lightgbm"] = "lightgbm"
    n_estimators: int = Field(300, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(20, ge=1)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample_bytree: float = Field(1.0, gt=0, le=1)
    reg_lambda: float = Field(0.0, ge=0)


class LogisticParams(Strict):
    kind: Literal["logistic"] = "logistic"
    C: float = Field(1.0, gt=0, description="inverse L2 regularisation strength")
    max_iter: int = Field(2000, ge=10)


class RidgeParams(Strict):
    kind: Literal["ridge"] = "ridge"
    alpha: float = Field(1.0, ge=0, description="L2 regularisation strength")


ModelParams = Annotated[LightGBMParams | LogisticParams | RidgeParams, Field(discriminator="kind")]


class Candidate(Strict):
    """One model family to try; `grid` is tuned by cross-validation on the training part."""

    name: str
    params: ModelParams
    grid: dict[str, list[float | int | str]] = {}

    @model_validator(mode="after")
    def _grid_keys_are_params(self) -> Candidate:
        unknown = set(self.grid) - set(type(self.params).model_fields)
        if unknown:
            raise ValueError(
                f"grid keys {sorted(unknown)} are not parameters of {self.params.kind}"
            )
        return self


class ModelConfig(Strict):
    candidates: list[Candidate] = Field(min_length=1)
    baseline: str = Field(description="candidate the chosen model must not be worse than")
    cv_folds: int = Field(3, ge=2)
    refit: bool = Field(True, description="refit the tuned model on train + validation")

    @model_validator(mode="after")
    def _baseline_is_candidate(self) -> ModelConfig:
        names = [c.name for c in self.candidates]
        if self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the candidates {names}")
        return self


class GatesConfig(Strict):
    min_roc_auc: float = Field(0.7, ge=0, le=1)
    baseline_alpha: float = Field(0.05, gt=0, lt=1, description="paired-bootstrap significance")
    n_bootstrap: int = Field(500, ge=50)
    max_parity_diff: float = Field(1e-4, gt=0)


class RegressionGatesConfig(Strict):
    baseline_alpha: float = Field(0.05, gt=0, lt=1, description="paired-bootstrap significance")
    n_bootstrap: int = Field(500, ge=50)
    max_parity_diff: float = Field(1e-3, gt=0, description="in the target's units")


class ServingConfig(Strict):
    max_records: int = Field(1000, ge=1)


class PipelineConfig(Strict):
    """Everything but `kpi`, which each use case defines in its kpi.py."""

    data: DataConfig = DataConfig()
    quality: QualityConfig = QualityConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig
    gates: GatesConfig = GatesConfig()
    serving: ServingConfig = ServingConfig()


def config_model(
    name: str,
    kpi_model: type[BaseModel],
    settings_model: type[BaseModel] | None = None,
    gates_model: type[BaseModel] = GatesConfig,
    base: type[BaseModel] = PipelineConfig,
) -> type[Any]:
    """The full config class of one use case: the task's sections plus its KPI section, and
    its `settings` section when the use case has one."""
    extra: dict[str, Any] = (
        {"settings": (settings_model, settings_model())} if settings_model else {}
    )
    if gates_model is not None:
        extra["gates"] = (gates_model, gates_model())
    return create_model(f"{name}_config", __base__=base, kpi=(kpi_model, ...), **extra)


def parse_override(item: str) -> tuple[list[str], Any]:
    """`model.cv_folds=5` -> (["model", "cv_folds"], 5); the value is read as YAML."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {item!r} is not of the form section.key=value")
    return key.strip().split("."), yaml.safe_load(value)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `raw` with each `a.b.c=value` set; list items are addressed by index."""
    out = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        path, value = parse_override(item)
        node: Any = out
        for part in path[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = path[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def load_config(
    path: Path, model: type[PipelineConfig], overrides: list[str] | None = None
) -> PipelineConfig:
    """Read a use case's config.yaml, apply overrides and validate it (typos fail)."""
    raw = yaml.safe_load(path.read_text()) or {}
    return model.model_validate(apply_overrides(raw, overrides or []))


def config_hash(cfg: BaseModel) -> str:
    """Stable short hash of the resolved config, logged as lineage."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
