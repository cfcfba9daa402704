"""One training run of a forecasting use case, as plain steps a test can call.

load -> validate (schema, duplicate keys, frequency) -> long format + panel -> rolling-origin
backtests (statsforecast baselines and the LightGBM global model, refitted at every cut-off)
-> metrics per model and horizon step, KPIs, conformal intervals -> gates (the global model
must beat SeasonalNaive on MASE and WAPE) -> final fit on all data -> ONNX + parity -> MLflow
-> BentoML model store. `train()` in shared/training.py dispatches here for task="forecast".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.config import config_hash
from shared.forecast.baselines import baseline_forecasts
from shared.forecast.config import ForecastPipelineConfig
from shared.forecast.intervals import backtest_coverage, conformal_quantiles
from shared.forecast.metrics import forecast_metrics, mase_scale, metrics_by_step
from shared.forecast.model import combine, feature_frame, training_set
from shared.forecast.panel import Panel, PanelReport, build_panel, to_long
from shared.forecast.windows import panel_targets, panel_windows
from shared.validation import DataValidationError, Problem, ValidationReport, schema_problems

StepCallback = Callable[[str], None]
METRICS = ("mase", "wape", "smape", "bias")


# --------------------------------------------------------------------------- load + validate


def load_raw(
    uc: Any, cfg: ForecastPipelineConfig, path: Path | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The raw frame and where it came from (for lineage)."""
    from shared.tracking import file_sha256
    from shared.training import read_table

    path = path or cfg.data.path
    if path is None:
        d = cfg.data
        raw = uc.make_synthetic(d.n_series, d.n_weeks, d.seed)
        blob = pd.util.hash_pandas_object(raw, index=False).values.tobytes()
        source = f"synthetic(n_series={d.n_series}, n_weeks={d.n_weeks}, seed={d.seed})"
        return raw, {"data_source": source, "data_sha256": hashlib.sha256(blob).hexdigest()}
    return read_table(Path(path)), {
        "data_source": str(Path(path).resolve()),
        "data_sha256": file_sha256(Path(path)),
    }


def quality_problems(raw: pd.DataFrame, uc: Any, cfg: ForecastPipelineConfig) -> list[Problem]:
    """Volume, duplicate (series, date) keys, and one regular frequency."""
    q = cfg.quality
    problems = []
    if len(raw) < q.min_rows:
        problems.append(Problem("<frame>", f"at least {q.min_rows} rows", 1, [len(raw)]))
    keys = [*uc.id_columns, uc.time_column]
    dup = raw[raw.duplicated(keys, keep=False)]
    n_dup = len(dup.drop_duplicates(keys))
    if n_dup > q.max_duplicate_keys:
        examples = dup[keys].drop_duplicates().head(5).astype(str).agg(" / ".join, axis=1).tolist()
        problems.append(
            Problem(
                " + ".join(keys), f"at most {q.max_duplicate_keys} duplicated keys", n_dup, examples
            )
        )
    n_series = raw.groupby(list(uc.id_columns)).ngroups
    if n_series < q.min_series:
        problems.append(Problem("<series>", f"at least {q.min_series} series", 1, [n_series]))
    dates = pd.to_datetime(raw[uc.time_column], errors="coerce")
    if dates.isna().any():
        bad = raw.loc[dates.isna(), uc.time_column].head(5).tolist()
        problems.append(Problem(uc.time_column, "parses as a date", int(dates.isna().sum()), bad))
    else:
        offset = (dates - dates.min()).dt.days % uc.freq_days
        if (offset != 0).any():
            bad = raw.loc[offset != 0, uc.time_column].head(5).tolist()
            rule = f"on the {uc.freq_days}-day grid of the first date {dates.min().date()} (one frequency)"
            problems.append(Problem(uc.time_column, rule, int((offset != 0).sum()), bad))
    return problems


def validate_forecast_raw(
    raw: pd.DataFrame, uc: Any, cfg: ForecastPipelineConfig
) -> ValidationReport:
    """Schema + quality gates; raises DataValidationError listing every problem."""
    report = ValidationReport(rows=len(raw), columns=raw.shape[1])
    report.problems = schema_problems(raw, uc.raw_schema)
    if not report.problems:
        report.problems = quality_problems(raw, uc, cfg)
    if not report.ok:
        raise DataValidationError(report)
    return report


def make_panel(uc: Any, raw: pd.DataFrame) -> Panel:
    long = to_long(raw, uc.id_columns, uc.time_column, uc.target, uc.holiday_column)
    return build_panel(long, uc.id_columns, uc.freq_days)


# --------------------------------------------------------------------------- backtest


def backtest_cutoffs(n_periods: int, cfg: ForecastPipelineConfig) -> list[int]:
    """Cut-off indices, oldest first; the last one leaves exactly `horizon` periods to score."""
    bt = cfg.backtest
    step = bt.step or bt.horizon
    cuts = [n_periods - 1 - bt.horizon - step * k for k in reversed(range(bt.windows))]
    if cuts[0] < bt.min_history:
        raise ValueError(
            f"{n_periods} periods are too few for {bt.windows} backtest windows of {bt.horizon} "
            f"every {step} after {bt.min_history} periods of history"
        )
    return cuts


@dataclass
class WindowForecasts:
    """One backtest window: the series scored, their actuals and every model's forecasts."""

    cutoff: str
    rows: np.ndarray
    y: np.ndarray  # [n, H]
    mase_scale: np.ndarray  # [n]
    scale: np.ndarray  # [n] model scale at the origin (conformal residuals are divided by it)
    forecasts: dict[str, np.ndarray]
    fallback: np.ndarray  # [n] bool: the global model's fallback rule was used
    excluded: dict[str, int]
    seconds: dict[str, float]


def eval_rows(panel: Panel, cutoff: int, horizon: int) -> tuple[np.ndarray, dict[str, int]]:
    """Series with history at the cut-off and actuals through the window; the rest counted."""
    started = panel.first <= cutoff
    lasts = panel.last >= cutoff + horizon
    excluded = {
        "not_started_at_cutoff": int((~started).sum()),
        "ended_before_window_end": int((started & ~lasts).sum()),
    }
    return np.flatnonzero(started & lasts), excluded


def fit_global(uc: Any, panel: Panel, cutoff: int, cfg: ForecastPipelineConfig) -> Any:
    X, y = training_set(panel, cutoff, uc.build_features, uc.feature_names, cfg.backtest, cfg.model)
    model = uc.make_model(cfg.model.params, n_jobs=cfg.model.n_jobs, seed=cfg.model.seed)
    return model.fit(X, y)


def global_forecast(
    uc: Any, model: Any, panel: Panel, rows: np.ndarray, cutoff: int, cfg: ForecastPipelineConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """(forecast [n, H], scale [n], fallback [n], windows) of the global model at `cutoff`."""
    bt, mc = cfg.backtest, cfg.model
    w = panel_windows(
        panel,
        rows,
        np.full(len(rows), cutoff),
        mc.history_length,
        bt.horizon,
        bt.season,
        mc.scale_floor,
    )
    scaled = model.predict(feature_frame(uc.build_features, w, uc.feature_names))
    f, short = combine(np.asarray(scaled, dtype=np.float64), w, bt)
    return f, w.scale, short, w


def run_backtest(
    uc: Any, panel: Panel, cfg: ForecastPipelineConfig, log: Callable[[str], None] = lambda m: None
) -> list[WindowForecasts]:
    bt = cfg.backtest
    out = []
    for cutoff in backtest_cutoffs(panel.n_periods, cfg):
        rows, excluded = eval_rows(panel, cutoff, bt.horizon)
        t0 = time.perf_counter()
        fcs = baseline_forecasts(panel, rows, cutoff, bt.horizon, cfg.baselines, bt.season)
        if bt.clip_at_zero:
            fcs = {k: np.maximum(v, 0.0) for k, v in fcs.items()}
        t1 = time.perf_counter()
        model = fit_global(uc, panel, cutoff, cfg)
        f, scale, short, _ = global_forecast(uc, model, panel, rows, cutoff, cfg)
        t2 = time.perf_counter()
        fcs = {cfg.model.name: f} | fcs
        wf = WindowForecasts(
            cutoff=str(panel.dates[cutoff]),
            rows=rows,
            y=panel_targets(panel, rows, np.full(len(rows), cutoff), bt.horizon),
            mase_scale=mase_scale(panel.y[rows, : cutoff + 1], bt.season),
            scale=scale,
            forecasts=fcs,
            fallback=short,
            excluded=excluded,
            seconds={"baselines": round(t1 - t0, 2), cfg.model.name: round(t2 - t1, 2)},
        )
        log(
            f"cut-off {wf.cutoff}: {len(rows)} series, baselines {t1 - t0:.1f} s, {cfg.model.name} {t2 - t1:.1f} s"
        )
        out.append(wf)
    return out


def model_rows(
    windows: list[WindowForecasts], uc: Any, cfg: ForecastPipelineConfig
) -> list[dict[str, Any]]:
    """Every model's backtest metrics (all windows pooled, per step, per window) and KPIs."""
    y = np.concatenate([w.y for w in windows])
    ms = np.concatenate([w.mase_scale for w in windows])
    base = np.concatenate([w.forecasts[cfg.gates.baseline] for w in windows])
    rows = []
    for name in windows[0].forecasts:
        f = np.concatenate([w.forecasts[name] for w in windows])
        rows.append(
            {
                "name": name,
                "kind": "global" if name == cfg.model.name else "statistical",
                "metrics": forecast_metrics(y, f, ms),
                "by_step": metrics_by_step(y, f, ms),
                "by_window": [
                    {"cutoff": w.cutoff} | forecast_metrics(w.y, w.forecasts[name], w.mase_scale)
                    for w in windows
                ],
                "kpis": uc.compute_kpis(y, f, base, cfg.kpi),
            }
        )
    return rows


def gain_pct(model: float, baseline: float) -> float:
    """How much lower (better) `model` is than `baseline`, in % of the baseline."""
    return float(100.0 * (1.0 - model / baseline)) if baseline else float("nan")


# --------------------------------------------------------------------------- parity


@dataclass
class ForecastParity:
    """ONNX vs native LightGBM on the model output (sales / scale), row by row."""

    max_abs_diff: float
    rows_checked: int
    tolerance: float
    max_forecast_diff: float = 0.0  # in sales units, after scaling back

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def describe(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return (
            f"ONNX parity {state}: max |onnx - native| = {self.max_abs_diff:.2e} on the model output "
            f"(sales / scale; tolerance {self.tolerance:.0e}) over {self.rows_checked} rows; "
            f"largest forecast difference {self.max_forecast_diff:.2e} sales units"
        )


def onnx_parity(
    uc: Any, model: Any, panel: Panel, cfg: ForecastPipelineConfig
) -> tuple[bytes, ForecastParity, Any]:
    """Export the fitted global model and compare it with native LightGBM on every series'
    latest window (what serving sees)."""
    from shared.onnx_export import make_feed, session, to_onnx

    names = list(uc.feature_names)
    onnx_bytes = to_onnx(model, names, [], classifier=False)
    bt, mc = cfg.backtest, cfg.model
    w = panel_windows(
        panel,
        np.arange(panel.n_series),
        panel.last,
        mc.history_length,
        bt.horizon,
        bt.season,
        mc.scale_floor,
    )
    X = feature_frame(uc.build_features, w, names)
    native = np.asarray(model.predict(X), dtype=np.float64)
    feed = make_feed({c: X[c].to_numpy() for c in names}, names, [])
    onnx = session(onnx_bytes).run(None, feed)[0][:, 0].astype(np.float64)
    diff = np.abs(native - onnx)
    scale = np.repeat(w.scale, bt.horizon)
    par = ForecastParity(
        max_abs_diff=float(diff.max()) if len(diff) else 0.0,
        rows_checked=len(diff),
        tolerance=cfg.gates.max_parity_diff,
        max_forecast_diff=float((diff * scale).max()) if len(diff) else 0.0,
    )
    return onnx_bytes, par, (X, native)


# --------------------------------------------------------------------------- result


@dataclass
class ForecastResult:
    use_case: str
    chosen: str
    model_name: str
    baseline: str
    metrics: dict[str, float]
    kpis: dict[str, float]
    models: list[dict[str, Any]]
    parity: ForecastParity
    gates_passed: bool
    gate_reasons: list[str]
    wape_gain_vs_seasonal_naive_pct: float
    mase_gain_vs_seasonal_naive_pct: float
    intervals: dict[str, Any]
    backtest: dict[str, Any]
    validation: ValidationReport
    panel: PanelReport
    lineage: dict[str, str]
    model_version: str = ""
    run_id: str = ""
    bento_tag: str = ""
    seconds: float = 0.0
    onnx_bytes: bytes = field(default=b"", repr=False)
    task: str = "forecast"

    def model(self, name: str) -> dict[str, Any]:
        return next(m for m in self.models if m["name"] == name)

    def summary(self) -> dict[str, Any]:
        """The --json line: what CI and scripts read."""
        return {
            "use_case": self.use_case,
            "task": self.task,
            "model_version": self.model_version,
            "bento_tag": self.bento_tag,
            "run_id": self.run_id,
            "chosen_model": self.chosen,
            "metrics": self.metrics,
            "kpis": self.kpis,
            "models": {m["name"]: m["metrics"] for m in self.models},
            "wape_gain_vs_seasonal_naive_pct": self.wape_gain_vs_seasonal_naive_pct,
            "mase_gain_vs_seasonal_naive_pct": self.mase_gain_vs_seasonal_naive_pct,
            "interval_coverage": self.intervals.get("coverage", {}),
            "parity_max_abs_diff": self.parity.max_abs_diff,
            "gates": {"passed": self.gates_passed, "reasons": self.gate_reasons},
            "backtest": self.backtest,
            "seconds": round(self.seconds, 2),
        }

    def report(self) -> dict[str, Any]:
        return self.summary() | {
            "models": self.models,
            "intervals": self.intervals,
            "backtest": self.backtest,
            "validation": self.validation.to_dict(),
            "panel": self.panel.to_dict(),
            "lineage": self.lineage,
            "parity": self.parity.describe(),
        }


def gate_reasons(
    model_row: dict[str, Any],
    base_row: dict[str, Any],
    cfg: ForecastPipelineConfig,
    uc: Any,
    par: ForecastParity,
) -> list[str]:
    g = cfg.gates
    m, b = model_row["metrics"], base_row["metrics"]
    reasons = []
    wape_gain = gain_pct(m["wape"], b["wape"])
    if not wape_gain > g.min_wape_gain_pct:
        reasons.append(
            f"{model_row['name']} WAPE {m['wape']:.4f} vs {base_row['name']} {b['wape']:.4f}: gain "
            f"{wape_gain:.1f} % is not above the required {g.min_wape_gain_pct:.1f} %"
        )
    if g.require_mase_win and not m["mase"] < b["mase"]:
        reasons.append(
            f"{model_row['name']} MASE {m['mase']:.4f} does not beat {base_row['name']} {b['mase']:.4f}"
        )
    reasons += uc.kpi_gates(model_row["kpis"], cfg.kpi)
    if not par.ok:
        reasons.append(par.describe())
    return reasons


def best_statistical(models: list[dict[str, Any]]) -> dict[str, Any]:
    """Lowest MASE, then lowest WAPE, among the statistical baselines."""
    stats = [m for m in models if m["kind"] == "statistical"]
    return min(stats, key=lambda m: (m["metrics"]["mase"], m["metrics"]["wape"]))


def train_forecast(
    uc: Any,
    cfg: ForecastPipelineConfig,
    data: Path | None = None,
    overrides: list[str] | None = None,
    on_step: StepCallback = lambda step: None,
    track: bool = True,
    log: Callable[[str], None] = lambda m: None,
) -> ForecastResult:
    """Run the whole flow; gates that fail are reported in the result, never raised."""
    start = time.perf_counter()
    on_step("load")
    raw, source = load_raw(uc, cfg, data)

    on_step("validate")
    report = validate_forecast_raw(raw, uc, cfg)

    on_step("features + split")
    panel = make_panel(uc, raw)
    report.stats |= {k: float(v) for k, v in panel.report.to_dict().items()}

    on_step("tune + fit")
    t0 = time.perf_counter()
    windows = run_backtest(uc, panel, cfg, log)
    backtest_seconds = time.perf_counter() - t0

    on_step("evaluate")
    models = model_rows(windows, uc, cfg)
    by_name = {m["name"]: m for m in models}
    model_row, base_row = by_name[cfg.model.name], by_name[cfg.gates.baseline]
    windows_ysf = [(w.y, w.forecasts[cfg.model.name], w.scale) for w in windows]
    levels = cfg.intervals.levels
    residuals = np.concatenate([np.abs(y - f) / s[:, None] for y, f, s in windows_ysf])
    intervals = {
        "levels": levels,
        "quantiles_scaled": conformal_quantiles(residuals, levels),
        "coverage": backtest_coverage(windows_ysf, levels, cfg.backtest.clip_at_zero),
        "method": "split conformal on |y - f| / scale per horizon step; coverage of each window "
        "from the quantiles of the earlier windows",
    }

    on_step("onnx + parity")
    final = fit_global(uc, panel, panel.n_periods - 1, cfg)
    onnx_bytes, par, (X_latest, native_latest) = onnx_parity(uc, final, panel, cfg)
    reasons = gate_reasons(model_row, base_row, cfg, uc, par)
    chosen = model_row if not reasons else best_statistical(models)

    result = ForecastResult(
        use_case=uc.name,
        chosen=chosen["name"],
        model_name=cfg.model.name,
        baseline=cfg.gates.baseline,
        metrics=dict(chosen["metrics"]),
        kpis=dict(chosen["kpis"]),
        models=models,
        parity=par,
        gates_passed=not reasons,
        gate_reasons=reasons,
        wape_gain_vs_seasonal_naive_pct=gain_pct(
            model_row["metrics"]["wape"], base_row["metrics"]["wape"]
        ),
        mase_gain_vs_seasonal_naive_pct=gain_pct(
            model_row["metrics"]["mase"], base_row["metrics"]["mase"]
        ),
        intervals=intervals,
        backtest={
            "horizon": cfg.backtest.horizon,
            "windows": len(windows),
            "cutoffs": [w.cutoff for w in windows],
            "series_scored": [len(w.rows) for w in windows],
            "excluded": [w.excluded for w in windows],
            "fallback_series": [int(w.fallback.sum()) for w in windows],
            "zero_scale_series_left_out_of_mase": [
                int((~(w.mase_scale > 0)).sum()) for w in windows
            ],
            "seconds": round(backtest_seconds, 1),
            "seconds_by_window": [w.seconds for w in windows],
        },
        validation=report,
        panel=panel.report,
        lineage=source | {"config_hash": config_hash(cfg)},
        onnx_bytes=onnx_bytes,
    )
    profile = reference_profile(X_latest, native_latest, panel)
    if track:
        on_step("track")
        log_to_mlflow(uc, cfg, result, overrides or [], profile)
        on_step("store")
        if result.gates_passed:
            result.bento_tag = save_to_store(uc, cfg, result, profile)
    result.seconds = time.perf_counter() - start
    return result


def reference_profile(X: pd.DataFrame, output: np.ndarray, panel: Panel) -> dict[str, Any]:
    """Distribution of every model input and of the model output on the latest windows (drift)."""
    qs = np.linspace(0, 1, 11)
    numeric = {}
    for c in X.columns:
        v = X[c].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        numeric[c] = {
            "quantiles": np.quantile(v, qs).tolist() if len(v) else [],
            "mean": float(v.mean()) if len(v) else float("nan"),
            "missing_share": float(1 - len(v) / max(len(X), 1)),
        }
    return {
        "rows": len(X),
        "series": panel.n_series,
        "numeric": numeric,
        "output_quantiles": np.quantile(output, qs).tolist() if len(output) else [],
    }


# --------------------------------------------------------------------------- tracking + store


def log_to_mlflow(
    uc: Any,
    cfg: ForecastPipelineConfig,
    result: ForecastResult,
    overrides: list[str],
    profile: dict[str, Any],
) -> None:
    from shared.tracking import log_run, run_artifacts, run_tags

    p = cfg.model.params
    params = {
        "chosen_model": result.chosen,
        "global_model": result.model_name,
        "horizon": cfg.backtest.horizon,
        "backtest_windows": cfg.backtest.windows,
        "baselines": ",".join(cfg.baselines.models),
        "overrides": ";".join(overrides) or "none",
    } | {f"param_{k}": v for k, v in p.model_dump().items()}
    metrics = {f"{m['name']}_{k}": v for m in result.models for k, v in m["metrics"].items()}
    metrics |= {
        f"{result.model_name}_{k}_h{s['step']}": s[k]
        for s in result.model(result.model_name)["by_step"]
        for k in METRICS
    }
    metrics |= {f"kpi_{k}": v for k, v in result.kpis.items()}
    metrics |= {f"interval_coverage_{k}": v for k, v in result.intervals["coverage"].items()}
    metrics["wape_gain_vs_seasonal_naive_pct"] = result.wape_gain_vs_seasonal_naive_pct
    metrics["mase_gain_vs_seasonal_naive_pct"] = result.mase_gain_vs_seasonal_naive_pct
    metrics["parity_max_abs_diff"] = result.parity.max_abs_diff
    metrics["backtest_seconds"] = result.backtest["seconds"]
    metrics = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    tags = run_tags(uc.name, result.gates_passed, result.lineage, task="forecast")
    result.lineage["git_sha"] = tags["git_sha"]
    artifacts = run_artifacts(result.validation.to_dict(), result.report(), cfg, profile)
    result.run_id, result.model_version = log_run(
        uc.name,
        params,
        metrics,
        tags,
        artifacts,
        result.onnx_bytes,
        list(uc.feature_names),
        [],
        promote=result.gates_passed,
        output=("variable", 1),
    )


def save_to_store(
    uc: Any, cfg: ForecastPipelineConfig, result: ForecastResult, profile: dict[str, Any]
) -> str:
    from shared.store import save_model

    bt, mc = cfg.backtest, cfg.model
    metadata = {
        "use_case": uc.name,
        "task": "forecast",
        "mlflow_version": result.model_version,
        "mlflow_run_id": result.run_id,
        "chosen_model": result.chosen,
        "feature_names": list(uc.feature_names),
        "inputs": {c: "float32" for c in uc.feature_names},
        "output": "sales / scale",
        "horizon": bt.horizon,
        "season": bt.season,
        "min_history": bt.min_history,
        "fallback_window": bt.fallback_window,
        "clip_at_zero": bt.clip_at_zero,
        "history_length": mc.history_length,
        "scale_floor": mc.scale_floor,
        "freq_days": uc.freq_days,
        "interval_quantiles": result.intervals["quantiles_scaled"],
        "interval_coverage": result.intervals["coverage"],
        "metrics": {k: round(v, 6) for k, v in result.metrics.items()},
        "config_hash": result.lineage["config_hash"],
    }
    return save_model(uc.name, result.onnx_bytes, metadata, profile)


# --------------------------------------------------------------------------- batch + benchmark


def batch_forecast(
    uc: Any, raw: pd.DataFrame, horizon: int, cfg: ForecastPipelineConfig | None = None
) -> pd.DataFrame:
    """Forecasts for every series from the latest stored model, one row per series and step.

    Each series is forecast from its own last observed period; holiday flags after the data's
    end are taken from the calendar one season earlier.
    """
    from shared.forecast.predictor import ForecastPredictor

    cfg = cfg or uc.load_config()
    validate_forecast_raw(raw, uc, cfg)
    pred = ForecastPredictor.from_store(uc)
    if horizon > pred.max_horizon:
        raise ValueError(f"horizon {horizon} exceeds the trained maximum {pred.max_horizon}")
    panel = make_panel(uc, raw)
    w = panel_windows(
        panel,
        np.arange(panel.n_series),
        panel.last,
        pred.history_length,
        horizon,
        pred.rules.season,
        pred.scale_floor,
    )
    out = pred.predict_windows(w)
    n, H = w.n, horizon
    frame = {c: np.repeat(panel.keys[c], H) for c in uc.id_columns}
    frame[uc.time_column] = w.future_dates().reshape(-1).astype("datetime64[ns]")
    frame["step"] = np.tile(np.arange(1, H + 1), n)
    frame["forecast"] = out["forecast"].reshape(-1)
    for level, (lo, hi) in out["bounds"].items():
        frame[f"lo_{level}"] = lo.reshape(-1)
        frame[f"hi_{level}"] = hi.reshape(-1)
    frame["method"] = np.repeat(np.where(out["fallback"], "fallback", cfg.model.name), H)
    frame["model_version"] = pred.version
    order = [*uc.id_columns, "step"]
    return pd.DataFrame(frame).sort_values(order, kind="stable").reset_index(drop=True)


def offline_benchmark(uc: Any, quick: bool) -> dict[str, float]:
    """Native LightGBM vs ONNX for one series (a 52-period history, 8-step horizon: features +
    model) and for 1,000 series in one batch; the model is fitted on synthetic data here."""
    from shared.benchmark import _time_us
    from shared.forecast.model import feature_arrays
    from shared.onnx_export import make_feed, session, to_onnx

    cfg = uc.load_config(["model.params.n_estimators=200"] if quick else None)
    raw = uc.make_synthetic(cfg.data.n_series, cfg.data.n_weeks, 0)
    panel = make_panel(uc, raw)
    model = fit_global(uc, panel, panel.n_periods - 1, cfg)
    sess = session(to_onnx(model, list(uc.feature_names), [], classifier=False))
    bt, mc, names = cfg.backtest, cfg.model, list(uc.feature_names)
    H = 8 if bt.horizon >= 8 else bt.horizon
    repeats = 50 if quick else 300
    out: dict[str, float] = {"offline_history_periods": 52, "offline_horizon": H}
    full = np.flatnonzero(panel.last - panel.first + 1 >= 52)
    for label, n in (("row", 1), ("1000_rows", 1000)):
        rows = full[np.arange(n) % len(full)]
        w = panel_windows(
            panel, rows, panel.last[rows], mc.history_length, H, bt.season, mc.scale_floor
        )
        w.y[:, : w.length - 52] = np.nan  # exactly 52 periods of history

        def onnx_path(w=w) -> np.ndarray:
            feed = make_feed(feature_arrays(uc.build_features, w, names), names, [])
            return combine(sess.run(None, feed)[0][:, 0].astype(np.float64), w, bt)[0]

        def native_path(w=w) -> np.ndarray:
            return combine(
                np.asarray(model.predict(feature_frame(uc.build_features, w, names))), w, bt
            )[0]

        out[f"onnx_{label}_us"] = _time_us(onnx_path, repeats)
        out[f"native_{label}_us"] = _time_us(native_path, max(10, repeats // 5))
    out["onnx_speedup_row"] = out["native_row_us"] / out["onnx_row_us"]
    out["onnx_speedup_1000_rows"] = out["native_1000_rows_us"] / out["onnx_1000_rows_us"]
    return out
