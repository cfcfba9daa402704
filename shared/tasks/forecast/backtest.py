"""One forecasting run's evaluation, as plain steps a test can call.

validate (schema, duplicate keys, one frequency) -> panel -> rolling-origin backtests
(statsforecast baselines and the LightGBM global model, refitted at every cut-off; the
ensemble, its weights and intermittent routes chosen on earlier windows only) -> metrics per
model, step, window and demand class, KPIs, conformal intervals -> choice and gates (against
the best baseline: WAPE margin or paired test) -> final fit on all data -> ONNX parity. The task plug-in (shared/tasks/forecast/task.py) wires these into the run.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.onnx_export import make_feed, session, to_onnx
from shared.core.usecase import Features, UseCase
from shared.core.validation import DataValidationError, Problem, ValidationReport, schema_problems
from shared.tasks.forecast.baselines import baseline_forecasts
from shared.tasks.forecast.calendar import NAMES, Calendar, off_grid, read_calendar
from shared.tasks.forecast.config import INTERMITTENT, ForecastGatesConfig, ForecastPipelineConfig
from shared.tasks.forecast.features import calendar_flags
from shared.tasks.forecast.intermittent import ROUTED, class_metrics, demand_classes
from shared.tasks.forecast.intervals import backtest_coverage, conformal_quantiles, interval_bounds
from shared.tasks.forecast.metrics import (
    bootstrap_interval,
    forecast_metrics,
    mase,
    mase_scale,
    metrics_by_step,
    paired_p_value,
    row_errors,
    scored_cells,
    wape,
)
from shared.tasks.forecast.model import combine, feature_frame, make_global, training_set
from shared.tasks.forecast.panel import Panel, build_panel, to_long
from shared.tasks.forecast.windows import Windows, panel_targets, panel_windows

Log = Callable[[str], None]
METRICS = ("mase", "wape", "smape", "bias")
ENSEMBLE = "ensemble"
ENSEMBLE_DEFAULT = (
    "seasonal_naive", "seasonal_level", "seasonal_ses", "auto_ets", "auto_theta", "auto_arima"
)  # fmt: skip


# --------------------------------------------------------------------------- validate + panel


def quality_problems(raw: pd.DataFrame, uc: UseCase, cfg: ForecastPipelineConfig) -> list[Problem]:
    """Volume, duplicate (series, date) keys, and dates on one grid of `data.freq`."""
    q = cfg.quality
    problems = []
    if len(raw) < q.min_rows:
        problems.append(Problem("<frame>", f"at least {q.min_rows} rows", 1, [len(raw)]))
    keys = [*uc.forecast.id_columns, uc.time_column]
    dup = raw[raw.duplicated(keys, keep=False)]
    n_dup = len(dup.drop_duplicates(keys))
    if n_dup > q.max_duplicate_keys:
        examples = dup[keys].drop_duplicates().head(5).astype(str).agg(" / ".join, axis=1).tolist()
        problems.append(
            Problem(
                " + ".join(keys), f"at most {q.max_duplicate_keys} duplicated keys", n_dup, examples
            )
        )
    n_series = raw.groupby(list(uc.forecast.id_columns)).ngroups
    if n_series < q.min_series:
        problems.append(Problem("<series>", f"at least {q.min_series} series", 1, [n_series]))
    dates = pd.to_datetime(raw[uc.time_column], errors="coerce")
    if dates.isna().any():
        bad = raw.loc[dates.isna(), uc.time_column].head(5).tolist()
        problems.append(Problem(uc.time_column, "parses as a date", int(dates.isna().sum()), bad))
    else:
        freq = cfg.data.freq
        off = off_grid(dates.to_numpy(dtype="datetime64[D]"), dates.min(), freq)
        if off.any():
            bad = raw.loc[off, uc.time_column].head(5).tolist()
            rule = (
                f"on the data.freq={freq} grid ({NAMES[freq]}ly) of the first date "
                f"{dates.min().date()}"
            )
            problems.append(Problem(uc.time_column, rule, int(off.sum()), bad))
    return problems


def validate_forecast_raw(
    raw: pd.DataFrame, uc: UseCase, cfg: ForecastPipelineConfig
) -> ValidationReport:
    """Schema + quality gates; raises DataValidationError listing every problem."""
    report = ValidationReport(rows=len(raw), columns=raw.shape[1])
    report.problems = schema_problems(raw, uc.raw_schema)
    if not report.problems:
        report.problems = quality_problems(raw, uc, cfg)
    if not report.ok:
        raise DataValidationError(report)
    return report


def load_calendar(uc: UseCase, cfg: ForecastPipelineConfig) -> Calendar | None:
    """The calendar file of `data.calendar` (relative to the working folder, else to the use
    case's folder), or None."""
    path = cfg.data.calendar
    if path is None:
        return None
    path = Path(path)
    if not path.is_absolute() and not path.exists() and (uc.folder / path).exists():
        path = uc.folder / path
    if not path.exists():
        raise FileNotFoundError(f"data.calendar file not found: {path}")
    return read_calendar(path, uc.time_column, cfg.data.calendar_date_column)


def make_panel(uc: UseCase, raw: pd.DataFrame, cfg: ForecastPipelineConfig) -> Panel:
    long = to_long(
        raw, uc.forecast.id_columns, uc.time_column, uc.target, uc.forecast.holiday_column
    )
    return build_panel(
        long,
        uc.forecast.id_columns,
        cfg.data.freq,
        cfg.data.gaps,
        load_calendar(uc, cfg),
        uc.forecast.holiday_column,
    )


def model_inputs(
    uc: UseCase, flags: Calendar | None
) -> tuple[list[str], Callable[[Windows], Features]]:
    """The model's input names and the function building them: the use case's features plus
    one input per calendar-file flag (the holiday column there feeds `future_holiday`)."""
    extra = [
        c
        for c in (flags.names if flags else [])
        if c != uc.forecast.holiday_column and c not in uc.forecast.feature_names
    ]
    names = [*uc.forecast.feature_names, *extra]
    if not extra:
        return names, uc.build_features

    def build(w: Windows) -> Features:
        flags_now = calendar_flags(w)
        return dict(uc.build_features(w)) | {c: flags_now[c] for c in extra}

    return names, build


# --------------------------------------------------------------------------- backtest


def backtest_cutoffs(n_periods: int, cfg: ForecastPipelineConfig) -> list[int]:
    """Cut-off indices, oldest first (the `selection_windows` first ones choose, never score);
    the last one leaves exactly `horizon` periods to score."""
    bt = cfg.backtest
    step = bt.step or bt.horizon
    n = bt.windows + bt.selection_windows
    cuts = [n_periods - 1 - bt.horizon - step * k for k in reversed(range(n))]
    if cuts[0] < bt.min_history:
        raise ValueError(
            f"{n_periods} periods are too few for {bt.windows} backtest windows (and "
            f"{bt.selection_windows} selection windows) of {bt.horizon} every {step} after "
            f"{bt.min_history} periods of history"
        )
    return cuts


@dataclass
class WindowForecasts:
    """One backtest window: the series scored, their actuals and every model's forecasts."""

    cutoff: str
    rows: np.ndarray
    y: np.ndarray  # [n, H]; NaN = not observed (not scored)
    mase_scale: np.ndarray  # [n]
    scale: np.ndarray  # [n] model scale at the origin (conformal residuals are divided by it)
    forecasts: dict[str, np.ndarray]
    fallback: np.ndarray  # [n] bool: the global model's fallback rule was used
    excluded: dict[str, int]
    seconds: dict[str, float]
    classes: np.ndarray | None = None  # [n] demand class of each series' history at the cut-off


def eval_rows(panel: Panel, cutoff: int, horizon: int) -> tuple[np.ndarray, dict[str, int]]:
    """Series with history at the cut-off and a life through the window; the rest counted."""
    started = panel.first <= cutoff
    lasts = panel.last >= cutoff + horizon
    excluded = {
        "not_started_at_cutoff": int((~started).sum()),
        "ended_before_window_end": int((started & ~lasts).sum()),
    }
    return np.flatnonzero(started & lasts), excluded


def fit_global(uc: UseCase, panel: Panel, cutoff: int, cfg: ForecastPipelineConfig) -> Any:
    names, build = model_inputs(uc, panel.flags)
    X, y = training_set(panel, cutoff, build, names, cfg.backtest, cfg.model)
    mc = cfg.model
    model = make_global(
        uc.make_model, mc.params, names, uc.forecast.feature_names, mc.n_jobs, mc.seed
    )
    return model.fit(X, y)


def latest_windows(
    panel: Panel, rows: np.ndarray, origins: np.ndarray, cfg: ForecastPipelineConfig, horizon: int
) -> Windows:
    mc = cfg.model
    return panel_windows(
        panel, rows, origins, mc.history_length, horizon, cfg.backtest.season, mc.scale_floor
    )


def global_forecast(
    uc: UseCase,
    model: Any,
    panel: Panel,
    rows: np.ndarray,
    cutoff: int,
    cfg: ForecastPipelineConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Windows]:
    """(forecast [n, H], scale [n], fallback [n], windows) of the global model at `cutoff`."""
    names, build = model_inputs(uc, panel.flags)
    w = latest_windows(panel, rows, np.full(len(rows), cutoff), cfg, cfg.backtest.horizon)
    scaled = model.predict(feature_frame(build, w, names))
    f, short = combine(np.asarray(scaled, dtype=np.float64), w, cfg.backtest, cfg.model.target)
    return f, w.scale, short, w


def run_backtest(
    uc: UseCase, panel: Panel, cfg: ForecastPipelineConfig, log: Log = lambda m: None
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
        wf = WindowForecasts(
            cutoff=str(panel.dates[cutoff]),
            rows=rows,
            y=panel_targets(panel, rows, np.full(len(rows), cutoff), bt.horizon),
            mase_scale=mase_scale(panel.y[rows, : cutoff + 1], bt.season),
            scale=scale,
            forecasts={cfg.model.name: f} | fcs,
            fallback=short,
            excluded=excluded,
            seconds={"baselines": round(t1 - t0, 2), cfg.model.name: round(t2 - t1, 2)},
            classes=demand_classes(
                panel.y[rows, max(cutoff + 1 - cfg.model.history_length, 0) : cutoff + 1]
            ),
        )
        log(
            f"cut-off {wf.cutoff}: {len(rows)} series, baselines {t1 - t0:.1f} s, "
            f"{cfg.model.name} {t2 - t1:.1f} s"
        )
        out.append(wf)
    return out


def pooled_metrics(windows: Sequence[WindowForecasts], name: str) -> dict[str, float]:
    y = np.concatenate([w.y for w in windows])
    f = np.concatenate([w.forecasts[name] for w in windows])
    return forecast_metrics(y, f, np.concatenate([w.mase_scale for w in windows]))


def best_baseline(windows: Sequence[WindowForecasts], baselines: Sequence[str]) -> str:
    """Lowest pooled backtest MASE, then lowest WAPE, among the statistical baselines."""
    scored = {b: pooled_metrics(windows, b) for b in baselines}
    return min(
        baselines, key=lambda b: (_nan_last(scored[b]["mase"]), _nan_last(scored[b]["wape"]))
    )


def _nan_last(v: float) -> float:
    return v if np.isfinite(v) else float("inf")


def weight_grid(n_members: int, step: float) -> np.ndarray:
    """[k, n_members] every weight vector on the simplex with weights in multiples of `step`."""
    units = round(1 / step)
    combos = [c for c in itertools.product(range(units + 1), repeat=n_members) if sum(c) == units]
    return np.asarray(combos, dtype=np.float64) / units


def choose_weights(
    windows: Sequence[WindowForecasts], members: Sequence[str], step: float
) -> dict[str, float]:
    """Ensemble weights with the lowest pooled MASE on `windows` (ties: the first on the grid,
    which puts the most weight on the first member, the global model)."""
    y = np.concatenate([w.y for w in windows])
    ms = np.concatenate([w.mase_scale for w in windows])
    ok = np.isfinite(ms) & (ms > 0)
    y = y[ok]
    stack = np.stack([np.concatenate([w.forecasts[m] for w in windows])[ok] for m in members])
    seen = np.isfinite(y)
    n_seen = seen.sum(axis=1)
    keep = n_seen > 0
    y, stack, seen, n_seen, ms = y[keep], stack[:, keep], seen[keep], n_seen[keep], ms[ok][keep]
    y0 = np.where(seen, y, 0.0)
    grid = weight_grid(len(members), step)[::-1]  # the global model's full weight first
    scores = [
        float(np.mean((np.abs(y0 - np.tensordot(g, stack, 1)) * seen).sum(axis=1) / n_seen / ms))
        for g in grid
    ]
    best = grid[int(np.argmin(scores))]
    return {m: float(v) for m, v in zip(members, best, strict=True)}


def ensemble_forecast(
    forecasts: dict[str, np.ndarray], weights: dict[str, float], clip_at_zero: bool
) -> np.ndarray:
    """The ensemble: the weighted mean of its members' forecasts."""
    f = sum(v * forecasts[m] for m, v in weights.items() if v)
    return np.maximum(f, 0.0) if clip_at_zero else f


def ensemble_members(cfg: ForecastPipelineConfig) -> list[str]:
    """The global model first, then the statistical members (`model.ensemble_members`, or
    the seasonal and smoothing baselines configured: at most 6, which keeps the grid small)."""
    stats = cfg.model.ensemble_members
    if stats is None:
        stats = [m for m in cfg.baselines.models if m in ENSEMBLE_DEFAULT]
    return [cfg.model.name, *stats]


def add_ensemble(
    selection: list[WindowForecasts], windows: list[WindowForecasts], cfg: ForecastPipelineConfig
) -> dict[str, Any] | None:
    """Add `ensemble` to every scored window's forecasts, its weights chosen on the EARLIER
    windows only (the selection windows, then each scored window once it is past); returns
    the weights per scored window and the final weights (chosen on every window, served).

    A scored window with no earlier window gets the global model alone."""
    if not cfg.model.ensemble:
        return None
    members = ensemble_members(cfg)
    step = cfg.model.ensemble_step
    seen = list(selection)
    by_window = []
    for w in windows:
        weights = choose_weights(seen, members, step) if seen else {members[0]: 1.0}
        w.forecasts[ENSEMBLE] = ensemble_forecast(w.forecasts, weights, cfg.backtest.clip_at_zero)
        by_window.append({"cutoff": w.cutoff, "chosen_on": len(seen)} | weights)
        seen.append(w)
    final = choose_weights(seen, members, step)
    return {"by_window": by_window, "weights": {m: v for m, v in final.items() if v}}


def route_classes(
    selection: list[WindowForecasts], windows: list[WindowForecasts], cfg: ForecastPipelineConfig
) -> dict[str, Any] | None:
    """Send the intermittent and lumpy series of `ensemble` to the intermittent-demand baseline
    (CrostonOptimized, TSB, ADIDA, IMAPA, when in baselines.models) or keep the ensemble,
    per class, whichever has the lower MASE on that class in the EARLIER windows; returns the
    route per scored window and the final routes (chosen on every window, served)."""
    methods = [m for m in cfg.baselines.models if m in INTERMITTENT]
    if not cfg.model.ensemble or not methods:
        return None
    seen: list[WindowForecasts] = list(selection)
    for w in seen:  # selection windows: the ensemble they would have had (weights from before)
        w.forecasts.setdefault(ENSEMBLE, w.forecasts[cfg.model.name])
    by_window = []
    for w in windows:
        routes = class_routes(seen, methods) if seen else {}
        kept = dict(w.forecasts)  # what the routes are chosen on later: before routing
        w.forecasts[ENSEMBLE] = routed(w.forecasts, w.classes, routes)
        by_window.append({"cutoff": w.cutoff} | routes)
        seen.append(
            WindowForecasts(**{**w.__dict__, "forecasts": kept})  # unrouted, for later choices
        )
    return {"by_window": by_window, "routes": class_routes(seen, methods)}


def class_routes(windows: Sequence[WindowForecasts], methods: Sequence[str]) -> dict[str, str]:
    """{class: method} for each routed class where a method beats `ensemble` on pooled MASE."""
    y = np.concatenate([w.y for w in windows])
    ms = np.concatenate([w.mase_scale for w in windows])
    classes = np.concatenate([w.classes for w in windows])
    routes = {}
    for c in ROUTED:
        rows = classes == c
        if not rows.any():
            continue
        score = {
            m: _nan_last(
                mase(y[rows], np.concatenate([w.forecasts[m] for w in windows])[rows], ms[rows])
            )
            for m in (ENSEMBLE, *methods)
        }
        best = min(score, key=lambda m: score[m])
        if best != ENSEMBLE:
            routes[c] = best
    return routes


def routed(
    forecasts: dict[str, np.ndarray], classes: np.ndarray, routes: dict[str, str]
) -> np.ndarray:
    """`ensemble` with the rows of each routed class replaced by its method's forecast."""
    f = forecasts[ENSEMBLE].copy()
    for c, m in routes.items():
        rows = classes == c
        f[rows] = forecasts[m][rows]
    return f


def by_class(windows: Sequence[WindowForecasts], names: Sequence[str]) -> dict[str, Any]:
    """{model: {class: WAPE, MASE, bias, zero shares}} over every scored window."""
    y = np.concatenate([w.y for w in windows])
    ms = np.concatenate([w.mase_scale for w in windows])
    classes = np.concatenate([w.classes for w in windows])
    return {
        n: class_metrics(y, np.concatenate([w.forecasts[n] for w in windows]), ms, classes)
        for n in dict.fromkeys(names)
    }


def kind_of(name: str, cfg: ForecastPipelineConfig) -> str:
    if name == cfg.model.name:
        return "global"
    return "ensemble" if name == ENSEMBLE else "statistical"


def model_rows(
    windows: list[WindowForecasts], uc: UseCase, cfg: ForecastPipelineConfig, reference: str
) -> list[dict[str, Any]]:
    """Every model's backtest metrics (all windows pooled, per step, per window) and KPIs
    (against the `reference` baseline)."""
    y = np.concatenate([w.y for w in windows])
    ms = np.concatenate([w.mase_scale for w in windows])
    base = np.concatenate([w.forecasts[reference] for w in windows])
    rows = []
    for name in windows[0].forecasts:
        f = np.concatenate([w.forecasts[name] for w in windows])
        rows.append(
            {
                "name": name,
                "kind": kind_of(name, cfg),
                "metrics": forecast_metrics(y, f, ms),
                "interval_95": bootstrap_interval(y, f, ms),
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


def reference_baseline(windows: list[WindowForecasts], cfg: ForecastPipelineConfig) -> str:
    """The baseline the gates compare against: `gates.baseline`, or the best one."""
    g = cfg.gates.baseline
    return best_baseline(windows, cfg.baselines.models) if g == "best" else g


def choose(models: list[dict[str, Any]]) -> dict[str, Any]:
    """Among the servable candidates (global model, ensemble): lowest MASE, then WAPE."""
    servable = [m for m in models if m["kind"] in ("global", "ensemble")]
    return min(
        servable, key=lambda m: (_nan_last(m["metrics"]["mase"]), _nan_last(m["metrics"]["wape"]))
    )


def best_statistical(models: list[dict[str, Any]]) -> dict[str, Any]:
    """Lowest MASE, then lowest WAPE, among the statistical baselines."""
    stats = [m for m in models if m["kind"] == "statistical"]
    return min(
        stats, key=lambda m: (_nan_last(m["metrics"]["mase"]), _nan_last(m["metrics"]["wape"]))
    )


def paired_errors(windows: Sequence[WindowForecasts], name: str) -> np.ndarray:
    """[series x windows] `name`'s scaled error per series and window (the MASE terms)."""
    return np.concatenate([row_errors(w.y, w.forecasts[name], w.mase_scale) for w in windows])


def baseline_win(
    windows: Sequence[WindowForecasts], name: str, reference: str, gates: ForecastGatesConfig
) -> dict[str, Any]:
    """Does `name` beat `reference`? By the WAPE margin, or by the one-sided paired test over
    series x windows (a small gain on every series is a win no margin should refuse)."""
    y = np.concatenate([w.y for w in windows])
    f = np.concatenate([w.forecasts[name] for w in windows])
    b = np.concatenate([w.forecasts[reference] for w in windows])
    gain = gain_pct(wape(y, f), wape(y, b))
    p = (
        paired_p_value(
            paired_errors(windows, name), paired_errors(windows, reference), gates.paired_test
        )
        if gates.paired_test != "none"
        else float("nan")
    )
    by_margin = bool(gain > gates.min_wape_gain_pct)
    by_test = bool(p < gates.alpha)
    return {
        "wape_gain_pct": gain,
        "p_value": p,
        "test": gates.paired_test,
        "pairs": int(np.isfinite(paired_errors(windows, name)).sum()),
        "by_margin": by_margin,
        "by_test": by_test,
        "passed": by_margin or by_test,
    }


def gate_reasons(
    model_row: dict[str, Any],
    base_row: dict[str, Any],
    cfg: ForecastPipelineConfig,
    uc: UseCase,
    win: dict[str, Any],
) -> list[str]:
    """The candidate must beat the reference baseline (`win`: by the WAPE margin or the paired
    test) and on pooled MASE, and pass the use case's KPI gates. Parity is checked by the run
    skeleton."""
    g = cfg.gates
    m, b = model_row["metrics"], base_row["metrics"]
    reasons = []
    if not win["passed"]:
        test = (
            f"; the one-sided paired {g.paired_test} test over {win['pairs']} series x windows "
            f"gives p = {win['p_value']:.3g}, not below gates.alpha = {g.alpha}"
            if g.paired_test != "none"
            else ""
        )
        reasons.append(
            f"{model_row['name']} WAPE {m['wape']:.4f} vs {base_row['name']} {b['wape']:.4f}: gain "
            f"{win['wape_gain_pct']:.1f} % is not above gates.min_wape_gain_pct = "
            f"{g.min_wape_gain_pct:.1f} %{test}"
        )
    if g.require_mase_win and not m["mase"] < b["mase"]:
        reasons.append(
            f"{model_row['name']} MASE {m['mase']:.4f} does not beat {base_row['name']} {b['mase']:.4f}"
        )
    reasons += uc.kpi_gates(model_row["kpis"], cfg.kpi)
    return reasons


# --------------------------------------------------------------------------- intervals


def intervals(
    windows: list[WindowForecasts], name: str, levels: list[int], clip_at_zero: bool
) -> dict[str, Any]:
    """Conformal quantiles from the backtest residuals of `name`, and their honest coverage
    (each window from the earlier ones): n/a, with the reason, with one window."""
    ysf = [(w.y, w.forecasts[name], w.scale) for w in windows]
    residuals = np.concatenate([np.abs(y - f) / s[:, None] for y, f, s in ysf])
    out: dict[str, Any] = {
        "levels": levels,
        "model": name,
        "quantiles_scaled": conformal_quantiles(residuals, levels),
        "method": "split conformal on |y - f| / scale per horizon step; coverage of each window "
        "from the quantiles of the earlier windows",
    }
    if len(windows) < 2:
        reason = (
            "n/a: one backtest window, and coverage is measured on a window the quantiles did "
            "not see (set backtest.windows >= 2)"
        )
        out["coverage"] = {str(lv): "n/a" for lv in levels} | {"reason": reason}
    else:
        out["coverage"] = backtest_coverage(ysf, levels, clip_at_zero)
    return out


def fan_samples(
    window: WindowForecasts,
    panel: Panel,
    name: str,
    quantiles: dict[str, list[float]],
    clip_at_zero: bool,
    n: int = 3,
    history: int = 16,
) -> list[dict[str, Any]]:
    """A large, a middling and a small series of one backtest window, for fan charts: recent
    history, actuals, `name`'s forecast and its interval bounds at every level."""
    cut = int(np.searchsorted(panel.dates, np.datetime64(window.cutoff)))
    H = window.y.shape[1]
    f = window.forecasts[name]
    bounds = interval_bounds(f, window.scale, quantiles, clip_at_zero)
    observed = np.isfinite(window.y).sum(axis=1)
    volume = np.nansum(window.y, axis=1) / np.maximum(observed, 1)
    scored = np.flatnonzero(observed > 0)
    if not len(scored):
        return []
    ranked = scored[np.argsort(-volume[scored], kind="stable")]
    picks = dict.fromkeys(ranked[int(q * (len(ranked) - 1))] for q in np.linspace(0.1, 0.9, n))
    start = max(cut + 1 - history, 0)
    out = []
    for i in picks:
        row = window.rows[i]
        out.append(
            {
                "series": str(panel.ids[row]),
                "model": name,
                "history_dates": [str(d) for d in panel.dates[start : cut + 1]],
                "history": panel.y[row, start : cut + 1].tolist(),
                "dates": [str(d) for d in panel.dates[cut + 1 : cut + 1 + H]],
                "actual": window.y[i].tolist(),
                "forecast": f[i].tolist(),
                "bounds": {lv: [lo[i].tolist(), hi[i].tolist()] for lv, (lo, hi) in bounds.items()},
            }
        )
    return out


def coverage_values(cov: dict[str, Any]) -> dict[str, float]:
    """The numeric coverage figures only (none when n/a)."""
    return {k: float(v) for k, v in cov.items() if isinstance(v, int | float)}


def backtest_description(
    windows: list[WindowForecasts], panel: Panel, cfg: ForecastPipelineConfig, seconds: float
) -> dict[str, Any]:
    bt = cfg.backtest
    return {
        "kind": "rolling_origin",
        "freq": cfg.data.freq,
        "season": bt.season,
        "gaps": cfg.data.gaps,
        "horizon": bt.horizon,
        "windows": len(windows),
        "step": bt.step or bt.horizon,
        "cutoffs": [w.cutoff for w in windows],
        "periods": panel.n_periods,
        "date_range": [str(panel.dates[0]), str(panel.dates[-1])],
        "series": panel.n_series,
        "series_scored": [len(w.rows) for w in windows],
        "cells_scored": [scored_cells(w.y) for w in windows],
        "cells_not_observed": [int(np.isnan(w.y).sum()) for w in windows],
        "excluded": [w.excluded for w in windows],
        "fallback_series": [int(w.fallback.sum()) for w in windows],
        "zero_scale_series_left_out_of_mase": [int((~(w.mase_scale > 0)).sum()) for w in windows],
        "seconds": round(seconds, 1),
        "seconds_by_window": [w.seconds for w in windows],
    }


# --------------------------------------------------------------------------- parity


@dataclass
class ForecastParity:
    """ONNX vs native LightGBM on the model output (target / scale), row by row."""

    max_abs_diff: float
    rows_checked: int
    tolerance: float
    max_forecast_diff: float = 0.0  # in target units, after scaling back

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def describe(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return (
            f"ONNX parity {state}: max |onnx - native| = {self.max_abs_diff:.2e} on the model "
            f"output (target / scale; tolerance {self.tolerance:.0e}) over {self.rows_checked} "
            f"rows; largest forecast difference {self.max_forecast_diff:.2e} target units"
        )


def latest_inputs(
    uc: UseCase, model: Any, panel: Panel, cfg: ForecastPipelineConfig
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every series' latest window (what serving sees): inputs, native output, scale per row."""
    names, build = model_inputs(uc, panel.flags)
    H = cfg.backtest.horizon
    w = latest_windows(panel, np.arange(panel.n_series), panel.last, cfg, H)
    X = feature_frame(build, w, names)
    return X, np.asarray(model.predict(X), dtype=np.float64), np.repeat(w.scale, H)


def onnx_parity(
    model: Any, X: pd.DataFrame, native: np.ndarray, scale: np.ndarray, tolerance: float
) -> tuple[bytes, ForecastParity]:
    """Export the fitted global model and compare it with native LightGBM on `X`."""

    names = list(X.columns)
    onnx_bytes = to_onnx(model, names, [], classifier=False)
    feed = make_feed({c: X[c].to_numpy() for c in names}, names, [])
    onnx = session(onnx_bytes).run(None, feed)[0][:, 0].astype(np.float64)
    diff = np.abs(native - onnx)
    par = ForecastParity(
        max_abs_diff=float(diff.max()) if len(diff) else 0.0,
        rows_checked=len(diff),
        tolerance=tolerance,
        max_forecast_diff=float((diff * scale).max()) if len(diff) else 0.0,
    )
    return onnx_bytes, par
