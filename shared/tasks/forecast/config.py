"""Config sections of a forecasting use case (`task="forecast"`); typos fail (extra="forbid")."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, Field, create_model, model_validator

from shared.core.config import (
    FairnessConfig,
    GovernanceConfig,
    MonitoringConfig,
    OutcomeIntakeConfig,
    PrivacyConfig,
    ReaderConfig,
    RolloutConfig,
    ScorecardConfig,
    Strict,
    risk_retention,
)
from shared.tasks.forecast.calendar import Freq

Baseline = Literal[
    "naive",
    "seasonal_naive",
    "seasonal_level",
    "seasonal_ses",
    "auto_ets",
    "auto_theta",
    "auto_arima",
    "croston_optimized",
    "tsb",
    "adida",
    "imapa",
]
BASELINES: tuple[str, ...] = get_args(Baseline)  # the names, once: the Literal checks config
INTERMITTENT = ("croston_optimized", "tsb", "adida", "imapa")


class ForecastDataConfig(Strict):
    path: Path | None = Field(None, description="CSV or Parquet file; None = synthetic data")
    reader: ReaderConfig = Field(
        ReaderConfig(), description="separator, decimal mark, encoding, header and column names"
    )
    freq: Freq = Field(
        "W",
        description="D daily, W weekly (any weekday; grid from the first date), MS monthly on "
        "the 1st, M monthly on the last day",
    )
    gaps: Literal["zero", "missing"] = Field(
        "zero",
        description="a period missing inside a series' life: zero = nothing was sold (filled "
        "with 0 and scored); missing = not observed (e.g. closed: kept NaN, never scored, "
        "never imputed as demand)",
    )
    calendar: Path | None = Field(
        None,
        description="CSV: the time column + 0/1 flag columns known in advance (holidays...); "
        "the flags become model inputs and are read for future periods",
    )
    calendar_date_column: str | None = Field(
        None, description="the calendar file's date column; None = the use case's time column"
    )
    n_series: int = Field(120, ge=1, description="synthetic series")
    n_periods: int = Field(156, ge=20, description="synthetic periods of history")
    seed: int = 42


class ForecastQualityConfig(Strict):
    min_rows: int = Field(1000, ge=1)
    min_series: int = Field(1, ge=1)
    max_duplicate_keys: int = Field(0, ge=0, description="rows sharing series id and date")


class BacktestConfig(Strict):
    """Rolling origin: `windows` cut-offs `step` periods apart, the last one `horizon` before the end."""

    horizon: int = Field(8, ge=1, description="periods ahead; also the serving maximum")
    windows: int = Field(3, ge=1)
    step: int | None = Field(None, ge=1, description="periods between cut-offs; None = horizon")
    season: int = Field(52, ge=1, description="periods per seasonal cycle")
    min_history: int = Field(
        13, ge=1, description="observed periods the global model needs; fewer: fallback rule"
    )
    fallback_window: int = Field(
        4, ge=1, description="fallback rule: mean of the last k observed periods"
    )
    clip_at_zero: bool = Field(
        True, description="no negative forecasts for any model (demand is not negative)"
    )
    selection_windows: int = Field(
        0,
        ge=0,
        description="extra windows before the scored ones, used only to choose (ensemble "
        "weights), never scored",
    )


class SmoothingConfig(Strict):
    """Low-rank smoothing of the statistical baselines' input: per group (e.g. a department),
    the series x periods matrix of history is replaced by its rank-`rank` SVD approximation,
    which keeps the shape the group's series share and drops one-off spikes."""

    kind: Literal["svd"] = "svd"
    group: str = Field(description="id column whose series are smoothed together")
    rank: int = Field(8, ge=1, description="kept components; groups of <= rank series: as is")


class BaselinesConfig(Strict):
    """statsforecast models (croston_optimized, tsb, adida, imapa: for intermittent demand,
    see shared/tasks/forecast/intermittent.py). AutoETS with a 52-week season costs ~0.15 s per series per window,
    so its default season is 1 (level and trend only); AutoARIMA (seconds per series) is off."""

    models: list[Baseline] = ["naive", "seasonal_naive", "auto_ets", "auto_theta"]
    ets_season_length: int = Field(1, ge=1)
    level_window: int = Field(
        13,
        ge=1,
        description="seasonal_level: last season's value plus the change between the mean of "
        "the last `level_window` periods and the mean of the same periods a season earlier",
    )
    theta_season_length: int = Field(52, ge=1)
    arima_season_length: int = Field(52, ge=1)
    tsb_alpha_d: float = Field(0.2, gt=0, le=1, description="TSB smoothing of demand sizes")
    tsb_alpha_p: float = Field(0.2, gt=0, le=1, description="TSB smoothing of demand probability")
    n_jobs: int = Field(2, ge=1)
    smoothing: SmoothingConfig | None = Field(
        None,
        description="smooth the baselines' history across the series of a group (backtests: "
        "the whole panel up to the cut-off; serving: the series of one request); None = raw",
    )

    @model_validator(mode="after")
    def _some_baseline(self) -> BaselinesConfig:
        if not self.models:
            raise ValueError("baselines.models is empty: the gates need at least one baseline")
        return self


class GlobalModelParams(Strict):
    """The LightGBM global model: one regressor over every series, horizon step as an input."""

    kind: Literal["lightgbm_global"] = "lightgbm_global"
    objective: Literal["l1", "l2", "huber"] = Field(
        "l1", description="l1: median forecast, robust to spikes"
    )
    n_estimators: int = Field(200, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    num_leaves: int = Field(31, ge=2)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(0.0, ge=0)
    additive: list[str] = Field(
        [],
        description="inputs that only enter additively (LightGBM interaction constraints: "
        "each in trees of its own), so an effect learnt on some days (a holiday seen on "
        "Wednesdays) carries over unchanged to every other day",
    )


class GlobalModelConfig(Strict):
    name: str = "lightgbm"
    params: GlobalModelParams = GlobalModelParams()
    history_length: int = Field(104, ge=2, description="periods of history each forecast reads")
    scale_floor: float = Field(1.0, gt=0, description="smallest series scale (sales units)")
    target: Literal["scaled", "log"] = Field(
        "scaled",
        description="what the model learns: scaled = value / scale; log = log1p(max(value / "
        "scale, 0)), where a multiplicative effect (a holiday's +50 %) is one additive step",
    )
    max_train_rows: int = Field(400_000, ge=100, description="(origin, step) rows sampled per fit")
    n_jobs: int = Field(1, ge=1, description="LightGBM threads; >1 busy-waits on a loaded machine")
    seed: int = 42
    ensemble: bool = Field(
        True,
        description="also score candidate `ensemble`: a weighted mean of the global model and "
        "statistical members, the weights chosen on earlier windows only; chosen when it wins",
    )
    ensemble_members: list[str] | None = Field(
        None,
        description="baselines the ensemble may weigh in; None = those of seasonal_naive, "
        "auto_ets, auto_theta, auto_arima in baselines.models",
    )
    ensemble_step: float = Field(0.1, gt=0, le=0.5, description="weights are multiples of this")


class IntervalsConfig(Strict):
    levels: list[int] = Field([80, 95], description="central prediction interval levels, %")

    @model_validator(mode="after")
    def _levels_in_range(self) -> IntervalsConfig:
        if not all(0 < lv < 100 for lv in self.levels):
            raise ValueError("interval levels must lie strictly between 0 and 100")
        return self


class ForecastGatesConfig(Strict):
    baseline: str = Field(
        "best", description="best = the baseline with the lowest backtest MASE; or a model name"
    )
    min_wape_gain_pct: float = Field(
        2.0,
        description="margin: the candidate passes when its WAPE is this much (%) below the "
        "baseline's, or when the paired test says it wins",
    )
    paired_test: Literal["wilcoxon", "sign", "none"] = Field(
        "wilcoxon",
        description="one-sided paired test of per series x window scaled errors (the MASE "
        "terms) against the baseline's; none = the margin alone decides",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the paired test")
    require_mase_win: bool = Field(True, description="MASE must be below the baseline's")
    max_parity_diff: float = Field(1e-4, gt=0, description="on the model output (sales / scale)")


class ForecastServingConfig(Strict):
    max_series: int = Field(200, ge=1, description="series per request")
    max_history: int = Field(520, ge=1, description="history points per series")
    inline_max: int = Field(
        1,
        ge=0,
        description="requests of at most this many series are forecast on the event loop; "
        "larger ones in a worker thread (0: every request in a thread)",
    )
    outcomes: OutcomeIntakeConfig = OutcomeIntakeConfig()


class ForecastPipelineConfig(Strict):
    """Everything but `kpi`, which each use case defines in its kpi.py."""

    data: ForecastDataConfig = ForecastDataConfig()
    quality: ForecastQualityConfig = ForecastQualityConfig()
    backtest: BacktestConfig = BacktestConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    model: GlobalModelConfig = GlobalModelConfig()
    intervals: IntervalsConfig = IntervalsConfig()
    gates: ForecastGatesConfig = ForecastGatesConfig()
    serving: ForecastServingConfig = ForecastServingConfig()
    governance: GovernanceConfig = GovernanceConfig()
    fairness: FairnessConfig = FairnessConfig()
    rollout: RolloutConfig = RolloutConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    scorecard: ScorecardConfig = ScorecardConfig()

    @model_validator(mode="after")
    def _consistent(self) -> ForecastPipelineConfig:
        if self.model.history_length < self.backtest.season:
            raise ValueError("model.history_length must cover at least one season")
        if self.gates.baseline != "best" and self.gates.baseline not in self.baselines.models:
            raise ValueError(
                f"gates.baseline {self.gates.baseline!r} is neither 'best' nor one of "
                f"baselines.models {self.baselines.models}"
            )
        unknown = set(self.model.ensemble_members or []) - set(self.baselines.models)
        if unknown and self.model.ensemble:  # no ensemble: its members are never read
            raise ValueError(
                f"model.ensemble_members {sorted(unknown)} are not in baselines.models "
                f"{self.baselines.models}"
            )
        if self.model.name in (*BASELINES, "ensemble"):
            raise ValueError(f"model.name {self.model.name!r} is taken by another candidate")
        self.privacy = risk_retention(self.governance, self.privacy)
        return self


def forecast_config_model(name: str, kpi_model: type[BaseModel]) -> type[ForecastPipelineConfig]:
    """The full config class of one forecasting use case: the shared sections plus its KPI section."""
    return create_model(f"{name}_config", __base__=ForecastPipelineConfig, kpi=(kpi_model, ...))
