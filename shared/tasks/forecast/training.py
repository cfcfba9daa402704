"""Training of task `forecast` (the light part is shared/tasks/forecast/task.py).

Candidates are statsforecast baselines, a LightGBM global model (direct multi-step, ONNX) and
the ensemble (a weighted mean of the global model and baselines, weights chosen on earlier
windows; intermittent classes routed to a Croston-type method when it won before), all
scored in rolling-origin backtests. The chosen candidate (global model or ensemble, lowest
MASE) must beat the reference baseline (`gates.baseline`: the best one by default) by the
WAPE margin or a paired test, and on MASE, and pass the use case's KPI gates; otherwise the
best baseline is reported as chosen and nothing is served.
The pieces live in shared/tasks/forecast/; this file wires them into the run skeleton.
Serving never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from shared.core.onnx_export import make_feed, session, to_onnx
from shared.core.usecase import UseCase
from shared.tasks.base import Export, Fit, Log, RunResult, numeric_profile, quantiles, time_us
from shared.tasks.forecast import backtest as bk
from shared.tasks.forecast.backtest import (
    fit_global,
    latest_windows,
    make_panel,
    model_inputs,
    onnx_parity,
    validate_forecast_raw,
)
from shared.tasks.forecast.batch import batch_forecast
from shared.tasks.forecast.contract import CHECKS
from shared.tasks.forecast.drift import series_reference
from shared.tasks.forecast.model import combine, feature_arrays, feature_frame
from shared.tasks.forecast.report import headline, markdown, result_tables


class ForecastTraining:
    """The training part of shared/tasks/forecast/task.py's `ForecastTask` (`TASK.training`)."""

    def __init__(self, task: Any) -> None:
        self.task = task

    # --------------------------------------------------------------------- data

    def synthetic(self, uc: UseCase, cfg: Any) -> tuple[pd.DataFrame, str]:
        d = cfg.data
        raw = uc.make_synthetic(d.n_series, d.n_periods, d.seed)
        return raw, f"synthetic(n_series={d.n_series}, n_periods={d.n_periods}, seed={d.seed})"

    def validate(self, uc: UseCase, cfg: Any, raw: pd.DataFrame) -> Any:
        return validate_forecast_raw(raw, uc, cfg)

    # --------------------------------------------------------------------- fit

    def fit(self, uc: UseCase, cfg: Any, raw: pd.DataFrame, log: Log) -> Fit:
        panel = bk.make_panel(uc, raw, cfg)
        t0 = time.perf_counter()
        every = bk.run_backtest(uc, panel, cfg, log)
        n_sel = cfg.backtest.selection_windows
        selection, windows = every[:n_sel], every[n_sel:]  # selection windows are never scored
        ensemble = bk.add_ensemble(selection, windows, cfg)
        routes = bk.route_classes(selection, windows, cfg)
        seconds = time.perf_counter() - t0
        reference = bk.reference_baseline(windows, cfg)
        models = bk.model_rows(windows, uc, cfg, reference)
        by_name = {m["name"]: m for m in models}
        servable = bk.choose(models)
        win = bk.baseline_win(windows, servable["name"], reference, cfg.gates)
        reasons = bk.gate_reasons(servable, by_name[reference], cfg, uc, win)
        chosen = servable if not reasons else bk.best_statistical(models)
        iv = bk.intervals(
            windows, servable["name"], cfg.intervals.levels, cfg.backtest.clip_at_zero
        )

        log("final fit on all data ...")
        final = bk.fit_global(uc, panel, panel.n_periods - 1, cfg)
        X, native, scale = bk.latest_inputs(uc, final, panel, cfg)
        description = bk.backtest_description(windows, panel, cfg, seconds)
        description["selection_cutoffs"] = [w.cutoff for w in selection]
        metrics = dict(chosen["metrics"]) | {
            f"{m['name']}_{k}": v for m in models for k, v in m["metrics"].items()
        }
        gains = {
            "wape_gain_pct": bk.gain_pct(
                servable["metrics"]["wape"], by_name[reference]["metrics"]["wape"]
            ),
            "mase_gain_pct": bk.gain_pct(
                servable["metrics"]["mase"], by_name[reference]["metrics"]["mase"]
            ),
        }
        gains["paired_p_value"] = win["p_value"]
        metrics |= gains | {
            f"interval_coverage_{k}": v for k, v in bk.coverage_values(iv["coverage"]).items()
        }
        return Fit(
            chosen=chosen["name"],
            model=final,
            metrics=metrics,
            kpis=dict(chosen["kpis"]),
            candidates=models,
            split=description,
            profile={
                "rows": len(X),
                "series": panel.n_series,
                "numeric": numeric_profile(X, list(X.columns)),
                "output_quantiles": quantiles(native),
                # what `pilotpack monitor` compares recent histories and realised errors with
                "series_reference": series_reference(
                    panel.y,
                    panel.last,
                    cfg.backtest.season,
                    chosen["by_step"],
                    cfg.monitoring.reference_sample_rows,
                    by_window=chosen["by_window"],
                ),
            },
            details={
                "model_name": cfg.model.name,
                "chosen_servable": servable["name"],
                "baseline": reference,
                "gates_baseline": cfg.gates.baseline,
                "ensemble": ensemble,
                "class_routes": routes,
                "by_class": bk.by_class(
                    windows,
                    [servable["name"], cfg.model.name, reference, *cfg.baselines.models],
                ),
                **gains,
                "intervals": iv,
                "interval_coverage": iv["coverage"],
                "backtest": description,
                "panel": panel.report.to_dict() if panel.report else {},
                "gate_reasons": reasons,
                "baseline_win": win,
                "calendar_notes": panel.flags.notes if panel.flags is not None else [],
            },
            train_inputs=X,
            state={
                "X": X,
                "native": native,
                "scale": scale,
                "panel": panel,
                # the report's fan charts: a few series of the latest backtest window
                "fan": bk.fan_samples(
                    windows[-1],
                    panel,
                    servable["name"],
                    iv["quantiles_scaled"],
                    cfg.backtest.clip_at_zero,
                ),
            },
        )

    # --------------------------------------------------------------------- export + gates

    def export(self, uc: UseCase, cfg: Any, fit: Fit) -> Export:
        st, d = fit.state, fit.details
        onnx_bytes, par = onnx_parity(
            fit.model, st["X"], st["native"], st["scale"], cfg.gates.max_parity_diff
        )
        names = list(st["X"].columns)
        bt, mc = cfg.backtest, cfg.model
        panel = st["panel"]
        metadata = {
            "feature_names": names,
            "inputs": {c: "float32" for c in names},
            "output": "target / scale" if mc.target == "scaled" else "log1p(target / scale)",
            "chosen_model": d["chosen_servable"],
            "global_model": mc.name,
            "ensemble_weights": (d["ensemble"] or {}).get("weights"),
            "class_routes": (d["class_routes"] or {}).get("routes"),
            "baselines": cfg.baselines.model_dump(
                mode="json", exclude_none=True
            ),  # no None inside either
            "horizon": bt.horizon,
            "season": bt.season,
            "min_history": bt.min_history,
            "fallback_window": bt.fallback_window,
            "clip_at_zero": bt.clip_at_zero,
            "history_length": mc.history_length,
            "scale_floor": mc.scale_floor,
            "target": mc.target,
            "freq": cfg.data.freq,
            "gaps": cfg.data.gaps,
            "holiday_column": uc.forecast.holiday_column,
            "calendar": panel.flags.to_dict() if panel.flags is not None else None,
            "interval_quantiles": d["intervals"]["quantiles_scaled"],
            "interval_coverage": d["interval_coverage"],
        }
        # BentoML's model metadata takes no None: absent means "none"
        metadata = {k: v for k, v in metadata.items() if v is not None}
        return Export(onnx_bytes, par, names, [], ("variable", 1), metadata)

    def gates(self, uc: UseCase, cfg: Any, fit: Fit, export: Export) -> list[str]:
        return list(fit.details["gate_reasons"])

    def params(self, cfg: Any, fit: Fit) -> dict[str, Any]:
        bt = cfg.backtest
        return {
            "global_model": cfg.model.name,
            "freq": cfg.data.freq,
            "gaps": cfg.data.gaps,
            "season": bt.season,
            "horizon": bt.horizon,
            "backtest_windows": bt.windows,
            "baselines": ",".join(cfg.baselines.models),
            "gates_baseline": fit.details["baseline"],
            "ensemble_weights": ",".join(
                f"{m}={v:g}"
                for m, v in ((fit.details["ensemble"] or {}).get("weights") or {}).items()
            )
            or "none",
        } | {f"param_{k}": v for k, v in cfg.model.params.model_dump().items()}

    # --------------------------------------------------------------------- report

    def report_tables(self, result: RunResult) -> list[Any]:
        return result_tables(result)

    def markdown(self, result: RunResult) -> list[str]:
        return markdown(result)

    def headline(self, result: RunResult) -> tuple[str, str]:
        return headline(result)

    # --------------------------------------------------------------------- serving + bench

    def batch_forecast(
        self, uc: UseCase, raw: pd.DataFrame, horizon: int, cfg: Any = None
    ) -> pd.DataFrame:

        return batch_forecast(uc, raw, horizon, cfg)

    def offline_benchmark(self, uc: UseCase, quick: bool) -> dict[str, float]:
        """Native LightGBM vs ONNX for one series (a one-season history, up to 8 steps:
        features + model) and for 1,000 series in one batch; fitted on synthetic data here."""

        cfg = uc.load_config(["model.params.n_estimators=200"] if quick else None)
        d, bt = cfg.data, cfg.backtest
        panel = make_panel(uc, uc.make_synthetic(d.n_series, d.n_periods, 0), cfg)
        model = fit_global(uc, panel, panel.n_periods - 1, cfg)
        names, build = model_inputs(uc, panel.flags)
        sess = session(to_onnx(model, names, [], classifier=False))
        H = min(8, bt.horizon)
        L = max(bt.season, bt.min_history)
        repeats = 50 if quick else 300
        out: dict[str, float] = {"offline_history_periods": L, "offline_horizon": H}
        full = np.flatnonzero(panel.last - panel.first + 1 >= L)
        for label, n in (("row", 1), ("1000_rows", 1000)):
            rows = full[np.arange(n) % len(full)]
            w = latest_windows(panel, rows, panel.last[rows], cfg, H)
            w.y[:, : w.length - L] = np.nan  # exactly L periods of history

            def onnx_path(w: Any = w) -> np.ndarray:
                feed = make_feed(feature_arrays(build, w, names), names, [])
                out = sess.run(None, feed)[0][:, 0].astype(np.float64)
                return combine(out, w, bt, cfg.model.target)[0]

            def native_path(w: Any = w) -> np.ndarray:
                out = np.asarray(model.predict(feature_frame(build, w, names)))
                return combine(out, w, bt, cfg.model.target)[0]

            out[f"onnx_{label}_us"] = time_us(onnx_path, repeats)
            out[f"native_{label}_us"] = time_us(native_path, max(10, repeats // 5))
        out["onnx_speedup_row"] = out["native_row_us"] / out["onnx_row_us"]
        out["onnx_speedup_1000_rows"] = out["native_1000_rows_us"] / out["onnx_1000_rows_us"]
        return out

    def contract_checks(self, uc: UseCase | None = None) -> list[Callable[[UseCase], None]]:
        return list(CHECKS)
