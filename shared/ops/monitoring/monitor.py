"""`pilotpack monitor`: drift and realised performance of a use case's champion over a window,
and whether retraining is due.

The window is a file (`--data`: records in the raw schema; when it has the target column,
realised performance is measured on it too) or the prediction log (`--since 7d` or `--last N`
records; performance from the outcomes joined to them). The reference is the champion's
training profile and sample, stored with the model. Forecasting is judged per series instead
(level / seasonality features, realised WAPE and MASE): shared/tasks/forecast/drift.py.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.drift import SCORE, drift_table, load_reference
from shared.core.io import read_table
from shared.core.performance import (
    ESTIMATE_NOTE,
    by_group,
    cbpe,
    judge,
    outcome_rows,
    prediction_counts,
    realised,
)
from shared.core.store import load_model
from shared.core.tracking import model_tag
from shared.ops.monitoring.pages import score_distribution
from shared.ops.rollout import stored_version
from shared.serve.factory import RecordPredictor
from shared.serve.predlog import open_log
from shared.tasks.forecast import drift as forecast_drift

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str) -> float:
    """`7d`, `12h`, `30m`, `2w` -> seconds."""
    m = _SINCE.match(text)
    if not m:
        raise ValueError(f"--since {text!r}: a number and a unit, e.g. 7d, 12h, 30m, 2w")
    return float(m.group(1)) * _UNIT[m.group(2)]


def task_kind(uc: Any) -> str:
    """What the task declares monitoring measures: classifier, regression or forecast (series
    drift and WAPE / MASE: shared/tasks/forecast/drift.py)."""
    return uc.task.monitoring


@dataclass
class Window:
    """The rows under review: model inputs, the champion's scores, outcomes when known."""

    source: str
    features: dict[str, np.ndarray]
    score: np.ndarray | None
    rows: int
    labels: np.ndarray | None = None  # outcomes aligned with `score` (file with the target)
    since: float | None = None
    notes: list[str] = field(default_factory=list)


def _features(uc: Any, raw: pd.DataFrame) -> dict[str, np.ndarray]:
    built = uc.build_features(raw)
    return {k: np.asarray(v) for k, v in dict(built).items()}


def window_from_file(uc: Any, cfg: Any, path: Path, predictor: Any) -> Window:
    raw = read_table(path, cfg.data.reader)
    if raw.empty:
        raise ValueError(f"{path}: no rows")
    features = _features(uc, raw)
    score = predictor.values(features)
    labels = None
    if uc.target in raw.columns:
        labels = np.asarray(uc.labels(raw), dtype=np.float64)
        labels[~np.asarray(uc.labelled(raw), dtype=bool)] = np.nan
    return Window(f"file {path}", features, score, len(raw), labels)


def window_from_log(
    uc: Any, log: Any, version: str, since_s: float | None, last: int | None
) -> Window:
    """Served records of the window (shadow scorings left out: the same inputs twice)."""
    since = time.time() - since_s if since_s is not None else None
    frame = log.frame(uc.name, since)
    frame = frame[(frame["variant"] != "shadow") & frame["error"].isna()]
    if last is not None:
        frame = frame.tail(last)
        since = float(frame["ts"].min()) if len(frame) else None
    records: list[dict[str, Any]] = []
    for text in frame["inputs"]:
        value = json.loads(text) if text else None
        records.extend(value if isinstance(value, list) else [value] if value else [])
    raw = pd.DataFrame.from_records(records)
    features = _features(uc, raw) if len(raw) else {}
    champion = frame[frame["model_version"] == version]["score"].dropna().to_numpy(np.float64)
    notes = []
    if len(champion) < len(frame):
        notes.append(
            f"score drift over the {len(champion)} of {len(frame)} records scored by "
            f"version {version}"
        )
    where = f"the last {last} records" if last is not None else "the window"
    return Window(
        f"prediction log {log.location} ({where})",
        features,
        champion if len(champion) else None,
        len(raw),
        since=since,
        notes=notes,
    )


def run(
    uc: Any,
    cfg: Any,
    data: Path | None = None,
    since: str | None = None,
    last: int | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """The monitoring report: drift rows, performance per variant and version, alerts, and
    whether retraining is due. Raises ValueError / ModelNotFound for bad input."""
    kind = task_kind(uc)
    uc = uc.with_config(cfg)
    m = cfg.monitoring
    stored = load_model(model_tag(uc))
    ref = load_reference(stored)
    if kind == "forecast":
        report = _forecast_report(uc, cfg, ref, stored, data, since, last, log)
        report["retrain"] = retrain_due(report, m)
        return report
    if data is not None:
        window = window_from_file(uc, cfg, data, RecordPredictor(uc, stored, cfg))
    else:
        log = log or open_log()
        since_s = parse_since(since) if since else (None if last else 7 * 86400)
        window = window_from_log(uc, log, ref.version, since_s, last)
    report: dict[str, Any] = {
        "use_case": uc.name,
        "model_version": ref.version,
        "model_tag": ref.tag,
        "source": window.source,
        "rows": window.rows,
        "thresholds": {"psi_alert": m.psi_alert, "psi_watch": m.psi_watch, "p_value": m.p_value},
        "notes": list(window.notes),
        "drift": [],
        "performance": [],
        "alerts": [],
    }
    if window.rows < m.min_rows:
        report["notes"].append(
            f"{window.rows} rows: drift needs at least {m.min_rows} (monitoring.min_rows)"
        )
    else:
        rows = drift_table(ref.profile, window.features, window.score, ref.sample, m)
        report["drift"] = [r.to_dict() for r in rows]
        for r in rows:
            if r.flag == "alert":
                report["alerts"].append(
                    f"drift: PSI {r.psi:.3f} on {r.feature} (alert at {m.psi_alert:g})"
                )
    # the page beside the JSON draws the score's shares per reference bin (shared.ops.monitoring.pages)
    report["score_distribution"] = score_distribution(ref.profile, ref.sample, window.score)
    report["estimated"] = estimated(uc, cfg, kind, window.score, ref.metadata)
    report["performance"] = performance(uc, cfg, kind, window, ref.metadata, log)
    for p in report["performance"]:
        if p["status"] == "alert":
            report["alerts"].append(
                f"performance ({p['variant']} v{p['model_version']}): {p['message']}"
            )
    report["retrain"] = retrain_due(report, m)
    return report


def _forecast_report(
    uc: Any, cfg: Any, ref: Any, stored: Any, data: Path | None, since: str | None,
    last: int | None, log: Any,
) -> dict[str, Any]:  # fmt: skip
    """Series-level drift and realised WAPE / MASE (shared/tasks/forecast/drift.py)."""
    since_s = None
    if data is None:
        log = log or open_log()
        since_s = parse_since(since) if since else (None if last else 7 * 86400)
    return forecast_drift.run(uc, cfg, ref, stored, data, since_s, last, log)


def performance(
    uc: Any, cfg: Any, kind: str, window: Window, metadata: dict[str, Any], log: Any
) -> list[dict[str, Any]]:
    """Realised figures per (variant, model version): from the file's target, else from the
    outcomes in the log."""
    m = cfg.monitoring

    def kpis(y: np.ndarray, s: np.ndarray, t: float) -> dict[str, float]:
        return uc.compute_kpis(y, s, t, cfg.kpi)

    kpi_fn = kpis if kind == "classifier" else None
    out = []
    if window.labels is not None and window.score is not None:
        known = np.isfinite(window.labels)
        res = realised(kind, window.labels[known], window.score[known], metadata, m, kpi_fn)
        status, message = judge(res, int(known.sum()), len(known), m)
        out.append({"variant": "file", "model_version": metadata.get("mlflow_version", "")} | res)
        out[-1] |= {"status": status, "message": message, "n": int(known.sum())}
        return out
    if log is None or window.since is None and window.rows == 0:
        return out
    since = window.since or 0.0
    counts = prediction_counts(log, uc.name, since)
    for (variant, version), (y, s) in sorted(by_group(outcome_rows(log, uc.name, since)).items()):
        res = realised(kind, y, s, _metadata_of(uc.name, version, metadata), m, kpi_fn)
        status, message = judge(res, len(y), counts.get((variant, version), len(y)), m)
        out.append({"variant": variant, "model_version": version, "n": len(y)} | res)
        out[-1] |= {"status": status, "message": message}
    return out


def estimated(
    uc: Any, cfg: Any, kind: str, score: np.ndarray | None, metadata: dict[str, Any]
) -> dict[str, Any] | None:
    """The champion's performance expected on the window before outcomes arrive (CBPE), beside
    its registered figure; classifiers only (a regression gives no probability)."""
    if kind != "classifier" or score is None or len(score) < cfg.monitoring.min_rows:
        return None

    def kpis(y: np.ndarray, s: np.ndarray, t: float) -> dict[str, float]:
        return uc.compute_kpis(y, s, t, cfg.kpi)

    figures = cbpe(score, float(metadata.get("threshold", 0.5)), kpis)
    registered = (metadata.get("metrics") or {}).get("roc_auc")
    return {"label": ESTIMATE_NOTE, "registered_roc_auc": registered} | figures


def _metadata_of(name: str, version: str, champion: dict[str, Any]) -> dict[str, Any]:
    """The stored metadata of a model version (its registered figures and threshold)."""
    if str(champion.get("mlflow_version")) == str(version):
        return champion
    try:
        return dict(stored_version(name, version).metadata)
    except Exception:  # a version no longer in this store: compare with the champion's figures
        return champion


def retrain_due(report: dict[str, Any], m: Any) -> dict[str, Any]:
    """Retraining is due on a PSI alert on an important input (or the score), or a
    realised-performance alert."""
    important = set(m.important_features)
    reasons = [
        f"{r['feature']} drifted (PSI {r['psi']:.3f})"
        for r in report["drift"]
        if r["flag"] == "alert"
        and (not important or r["feature"] in important or r["feature"] == SCORE)
    ]
    reasons += [
        f"{p['headline']} down {p['drop']:.1%} ({p['variant']})"
        for p in report["performance"]
        if p["status"] == "alert"
    ]
    return {"due": bool(reasons), "reasons": reasons}


def prometheus_text(report: dict[str, Any]) -> str:
    """The report as Prometheus text (for node_exporter's textfile collector): batch PSI per
    input and the realised headline's relative drop per variant (complete windows only)."""
    uc = report["use_case"]
    lines = [
        "# HELP pilotpack_batch_psi PSI of a model input or the score in the last monitor run",
        "# TYPE pilotpack_batch_psi gauge",
    ]
    for r in report["drift"]:
        lines.append(
            f'pilotpack_batch_psi{{use_case="{uc}",feature="{r["feature"]}"}} {r["psi"]:.6g}'
        )
    lines += [
        "# HELP pilotpack_realised_metric_drop Relative drop of the realised headline metric "
        "vs the registered figure (0.05 = 5 % worse)",
        "# TYPE pilotpack_realised_metric_drop gauge",
    ]
    for p in report["performance"]:
        if p["status"] in ("ok", "alert") and p.get("drop") is not None:
            lines.append(
                f'pilotpack_realised_metric_drop{{use_case="{uc}",metric="{p["headline"]}",'
                f'variant="{p["variant"]}",model_version="{p["model_version"]}"}} {p["drop"]:.6g}'
            )
    return "\n".join(lines) + "\n"
