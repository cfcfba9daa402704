"""`pilotpack retrain`: the loop monitor -> retrain -> shadow -> canary -> champion.

Train on the new data (the usual run: gates, MLflow, registry); compare the new version with
the champion on the SAME recent labelled records (paired: both score every record, a paired
bootstrap gives the interval of the difference of the headline metric); keep it as
`challenger` only when it is not worse: the LOWER end of that interval is above
-`NON_INFERIORITY` (a point estimate above the margin with an interval reaching below it is
not evidence of "not worse"), else
remove the alias and tag the version `retrain_rejected`; when accepted, start the rollout at
its first stage (shadow by default), from where `pilotpack rollout` takes over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.io import read_table
from shared.core.performance import HEADLINE, classifier_metrics, regression_metrics
from shared.core.store import load_model
from shared.core.tracking import CHALLENGER, mlflow_client, model_tag, tag_event
from shared.ops.monitoring.monitor import parse_since, task_kind
from shared.ops.rollout import stage_label, start
from shared.ops.training import train
from shared.serve.factory import RecordPredictor
from shared.serve.predlog import open_log

NON_INFERIORITY = {"roc_auc": 0.005, "mae": 0.02}  # AUC points; MAE as a share of the champion's


def labelled_from_log(uc: Any, since: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Served records (not shadow) as raw inputs, and their outcomes as the label (1/0 for a
    classifier, the observed number for a regression); joined as monitoring joins them: by
    request id, else to the latest prediction of the routing key.

    The outcome already is the label: it is not put back into the target column and
    re-encoded, since an outcome of 1 is not the schema's positive label ("Yes")."""
    with open_log() as log:
        rows = log.joined_outcomes(
            uc.name, time.time() - parse_since(since), "p.variant, p.inputs, o.value"
        )
    records, labels = [], []
    for variant, text, value in rows:
        if variant == "shadow":  # shadow answers were never served
            continue
        rec = json.loads(text) if text else None
        if isinstance(rec, dict) and value is not None:
            records.append(rec)
            labels.append(float(value))
    return pd.DataFrame.from_records(records), np.asarray(labels, dtype=np.float64)


def recent_labelled(
    uc: Any, cfg: Any, eval_data: Path | None, since: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The records both models are compared on and their labels: a labelled file (`--eval`,
    labels from its target column) or the log's served records with their outcomes."""
    if eval_data is None:
        return labelled_from_log(uc, since)
    recent = read_table(eval_data, cfg.data.reader)
    recent = recent[np.asarray(uc.labelled(recent), dtype=bool)]
    return recent, np.asarray(uc.labels(recent), dtype=np.float64)


def not_worse(cmp: dict[str, Any], margin: float) -> bool:
    """Accept only when the interval of the gain lies above -margin (its lower end), and the
    figures are defined (one class only gives no AUC: nothing is shown either way)."""
    low = cmp["gain_ci"][0]
    return bool(np.isfinite(cmp["gain"]) and np.isfinite(low) and low >= -margin)


def scores(uc: Any, cfg: Any, tag: str, raw: pd.DataFrame) -> np.ndarray:
    predictor = RecordPredictor(uc, load_model(tag), cfg)
    return predictor.values(uc.build_features(raw))


def paired_difference(
    kind: str, y: np.ndarray, new: np.ndarray, old: np.ndarray, n_boot: int = 300, seed: int = 0
) -> dict[str, float]:
    """Headline of each model on the same rows and a paired bootstrap interval of new - old
    (for MAE: old - new, so that positive is better for both)."""
    name, higher = HEADLINE[kind]

    def metric(idx: np.ndarray, s: np.ndarray) -> float:
        if kind == "classifier":
            return classifier_metrics(y[idx], s[idx], 0.5).get(name, np.nan)
        return regression_metrics(y[idx], s[idx])[name]

    every = np.arange(len(y))
    a, b = metric(every, new), metric(every, old)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        d = metric(idx, new) - metric(idx, old)
        if np.isfinite(d):
            diffs.append(d if higher else -d)
    lo, hi = np.quantile(diffs, [0.025, 0.975]) if diffs else (np.nan, np.nan)
    diff = (a - b) if higher else (b - a)
    return {"metric": name, "new": a, "champion": b, "gain": diff, "gain_ci": [lo, hi]}


def retrain(
    uc: Any,
    data: Path,
    eval_data: Path | None,
    since: str,
    start_shadow: bool = True,
    log: Callable[[str], None] = lambda m: None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    kind = task_kind(uc)
    if kind not in HEADLINE:  # record scores compared paired; a forecast has no such rows
        raise ValueError(
            f"{uc.name}: `pilotpack retrain` compares record scores; for forecasting run "
            f"`pilotpack train {uc.name} --data <new history>` (its backtest is the comparison)"
        )
    cfg = uc.load_config(overrides)
    configured = uc.with_config(cfg)
    champion_tag = model_tag(configured)
    recent, y = recent_labelled(configured, cfg, eval_data, since)
    if len(recent) < cfg.monitoring.min_outcomes:
        raise ValueError(
            f"{len(recent)} recent labelled records to compare on (needs "
            f"{cfg.monitoring.min_outcomes}): pass --eval FILE or wait for more outcomes"
        )
    log(f"training {uc.name} on {data} ...")
    result = train(uc, cfg, data=data, overrides=overrides)
    lines = [f"trained version {result.model_version or '-'}: gates "
             f"{'passed' if result.gates_passed else 'FAILED'}"]  # fmt: skip
    report: dict[str, Any] = {
        "use_case": uc.name,
        "version": result.model_version,
        "champion_tag": champion_tag,
        "gates_passed": result.gates_passed,
        "accepted": False,
        "lines": lines,
    }
    if not result.gates_passed:
        lines += [f"  - {r}" for r in result.gate_reasons]
        return report
    new = scores(configured, cfg, result.bento_tag, recent)
    old = scores(configured, cfg, champion_tag, recent)
    cmp = paired_difference(kind, y, new, old)
    margin = NON_INFERIORITY[cmp["metric"]] * (1 if kind == "classifier" else cmp["champion"])
    accepted = not_worse(cmp, margin)
    report |= {"comparison": cmp, "rows": len(y), "margin": margin, "accepted": accepted}
    lines.append(
        f"on {len(y)} recent labelled records: {cmp['metric']} new {cmp['new']:.4f} vs champion "
        f"{cmp['champion']:.4f} (gain {cmp['gain']:+.4f}, 95 % CI {cmp['gain_ci'][0]:+.4f} to "
        f"{cmp['gain_ci'][1]:+.4f}; not worse means the interval's lower end >= {-margin:+.4f})"
    )
    client = mlflow_client()
    if not accepted:
        aliases = client.get_registered_model(uc.name).aliases or {}
        if str(aliases.get(CHALLENGER)) == str(result.model_version):
            client.delete_registered_model_alias(uc.name, CHALLENGER)
        tag_event(client, uc.name, result.model_version, "retrain_rejected",
                  f"worse than the champion on recent data: gain {cmp['gain']:+.4f}")  # fmt: skip
        lines.append(f"rejected: version {result.model_version} is worse; the champion stays")
        return report
    lines.append(f"accepted: version {result.model_version} is the challenger")
    if start_shadow:
        state = start(uc, result.model_version, reason="retrained: not worse on recent data")
        lines.append(
            f"rollout started at stage {stage_label(state.current)}; next: "
            f"`pilotpack rollout {uc.name} status`, then `advance` to the canary stages"
        )
        report["rollout_stage"] = stage_label(state.current)
    return report
