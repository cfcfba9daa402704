"""Champion / challenger rollouts, the control plane: start, advance, hold, abort, and the
status with each stage's criteria and a recommendation.

The state of a rollout lives in the MLflow registry as tags on the registered model
(`rollout.*`, shared/core/tracking.py), so the MLflow UI shows it and every worker and
replica follows it: the services' data plane (shared/serve/router.py) re-reads it in the
background. Status reads the prediction log; its score shift is the one PSI of
shared/core/drift.py, so `rollout status` and `pilotpack monitor` agree on the same data.

Latency: the per-variant figure is scoring time (model and features inside the service, no
HTTP, no log write), the only latency a request that mixes variants can split; it is named
`scoring_p99` everywhere. Request latency is BentoML's histogram, alerted on by the rules.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from shared.core.drift import psi_samples
from shared.core.performance import estimated_auc
from shared.core.tracking import (
    CHALLENGER,
    CHAMPION,
    SHADOW,
    RolloutState,
    actor,
    mlflow_client,
    promote,
    read_state,
    roll_back,
    stage_label,
    stored_version,
    tag_event,
    write_state,
)
from shared.core.tracking import CHALLENGER as CHALLENGER_ALIAS
from shared.ops.governance.oversight import check_promotion
from shared.serve.predlog import VariantRow, open_log

MIN_PSI_RECORDS = 10  # fewer scores on either side: no PSI (deciles of nothing)
UNSIZED_MIN_OUTCOMES = 200  # no rate to size by (a regressor, no scores yet): monitoring's


# --------------------------------------------------------------------------- commands


def start(
    uc: Any,
    version: str | None = None,
    who: str = "",
    reason: str = "",
    allow_synthetic: bool = False,
) -> RolloutState:
    """Begin a rollout of `version` (default: the challenger alias) at the first stage; a
    version trained on synthetic data only with `allow_synthetic` (recorded)."""
    client = mlflow_client()
    cfg = uc.load_config().rollout
    state, aliases = read_state(uc.name, client)
    if state.active:
        raise ValueError(
            f"a rollout of version {state.version} is already at stage "
            f"{stage_label(state.current)}: advance, hold or roll it back first"
        )
    version = str(version or aliases.get(CHALLENGER_ALIAS) or "")
    champion = aliases.get(CHAMPION, "")
    if not version:
        raise ValueError(f"{uc.name} has no challenger: train one (`pilotpack train {uc.name}`)")
    if not champion:
        raise ValueError(f"{uc.name} has no champion: `pilotpack promote {uc.name}` first")
    if version == champion:
        raise ValueError(f"version {version} is already the champion of {uc.name}")
    mv = client.get_model_version(uc.name, version)
    if (mv.tags or {}).get("gates_passed") == "false":
        raise ValueError(f"version {version} failed its gates: it cannot be rolled out")
    stored_version(uc.name, version)  # the services must be able to load it
    who = who or actor()
    check_promotion(uc, version, who, allow_synthetic, client, approval=False)
    now = time.time()
    new = RolloutState(
        status="active",
        version=version,
        champion=champion,
        stage=0,
        stages=tuple(cfg.stages),
        salt=cfg.salt or secrets.token_hex(8),
        started_at=now,
        stage_started_at=now,
        history=state.history,
    ).event("start", who, reason, stage=stage_label(cfg.stages[0]), version=version)
    write_state(uc.name, new, client)
    tag_event(client, uc.name, version, "rollout_started", reason, who)
    return new


def advance(uc: Any, force: bool = False, who: str = "", reason: str = "") -> RolloutState:
    """Next stage when the current stage's criteria hold (or `force`, recorded); after the
    last stage the challenger becomes champion and the old champion `previous`."""
    client = mlflow_client()
    state, _ = read_state(uc.name, client)
    if not state.active:
        raise ValueError(f"no active rollout for {uc.name} (status {state.status})")
    report = status(uc, state=state)
    failed = [c for c in report["criteria"] if not c["ok"]]
    who = who or actor()
    if failed and not force:
        raise CriteriaNotMet(failed)
    forced = ""
    if failed:
        forced = f"forced by {who}: " + "; ".join(c["detail"] for c in failed)
    now = time.time()
    if state.stage + 1 < len(state.stages):
        nxt = state.stage + 1
        new = replace(
            state, stage=nxt, stage_started_at=now, held=False, forced=forced or state.forced
        ).event(
            "advance", who, reason, stage=stage_label(state.stages[nxt]), **_forced_item(forced)
        )
        write_state(uc.name, new, client)
        return new
    check_promotion(uc, state.version, who, client=client)  # high risk: a second person's approval
    promote(uc.name, state.version, reason or "rollout completed", who)
    new = replace(state, status="promoted", held=False, forced=forced or state.forced).event(
        "promote", who, reason, **_forced_item(forced)
    )
    write_state(uc.name, new, client)
    return new


def _forced_item(forced: str) -> dict[str, Any]:
    return {"forced": forced} if forced else {}


def hold(uc: Any, who: str = "", reason: str = "") -> RolloutState:
    """Stay at the current stage and say why (recorded); `advance` lifts the hold."""
    client = mlflow_client()
    state, _ = read_state(uc.name, client)
    if not state.active:
        raise ValueError(f"no active rollout for {uc.name} (status {state.status})")
    who = who or actor()
    new = replace(state, held=True, reason=reason or "held").event("hold", who, reason)
    write_state(uc.name, new, client)
    return new


def abort(
    uc_name: str, reason: str, who: str = "", expect: RolloutState | None = None, client: Any = None
) -> RolloutState | None:
    """Stop routing to the challenger at once (every worker follows within seconds) and record
    why; with `expect`, only when the registry still shows that same rollout."""
    return roll_back(uc_name, reason, who, expect, client)


class CriteriaNotMet(ValueError):
    def __init__(self, failed: list[dict[str, Any]]):
        self.failed = failed
        super().__init__("; ".join(c["detail"] for c in failed))


# --------------------------------------------------------------------------- status


def psi(expected: Sequence[float], actual: Sequence[float]) -> float | None:
    """PSI of `actual` against the deciles of `expected` (shared/core/drift.py's, the one
    `pilotpack monitor` uses); None with fewer than MIN_PSI_RECORDS finite values on a side."""
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    if len(e) < MIN_PSI_RECORDS or len(a) < MIN_PSI_RECORDS:
        return None
    return psi_samples(e, a)


def _variant_stats(rows: list[VariantRow]) -> dict[str, dict[str, Any]]:
    by: dict[str, list[VariantRow]] = {}
    for r in rows:
        by.setdefault(r.variant, []).append(r)
    out = {}
    for variant, items in by.items():
        lat = np.array([r.latency_ms for r in items if r.latency_ms is not None], dtype=float)
        errors = sum(int(r.error) for r in items)
        out[variant] = {
            "versions": sorted({str(r.model_version) for r in items}),
            "requests": len(items),
            "errors": errors,
            "error_rate": errors / len(items),
            "scoring_p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "scoring_p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "mean_score": _mean([r.score for r in items]),
            "_scores": [r.score for r in items if r.score is not None],
        }
    return out


def _mean(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def outcomes_needed(cfg: Any, expected_rate: float | None) -> int:
    """Outcomes per variant before the outcome comparison counts: `min_outcomes` when set,
    else the size per group of a two-sided two-proportion test (statsmodels, 50/50) that
    detects baseline -> baseline x (1 + mde) at `alpha` with `power`. The baseline is
    `baseline_rate`, else `expected_rate` (the champion's mean probability)."""
    if cfg.min_outcomes is not None:
        return int(cfg.min_outcomes)
    rate = cfg.baseline_rate if cfg.baseline_rate is not None else expected_rate
    if rate is None or not 0 < rate < 1:
        return UNSIZED_MIN_OUTCOMES
    from statsmodels.stats.power import NormalIndPower  # heavy: only when sizing
    from statsmodels.stats.proportion import proportion_effectsize

    target = rate * (1 + cfg.mde)
    if target >= 1:  # a rise that large is impossible: size for the same fall
        target = rate * (1 - cfg.mde)
    h = abs(proportion_effectsize(target, rate))
    n = NormalIndPower().solve_power(effect_size=h, alpha=cfg.alpha, power=cfg.power, ratio=1.0)
    return math.ceil(float(n))


def status(uc: Any, state: RolloutState | None = None, log: Any = None) -> dict[str, Any]:
    """Per variant since the stage began: requests, errors, p50/p99 scoring time, score shift
    (PSI, candidate vs champion), outcome loss; the stage's criteria; flags; a recommendation."""
    cfg = uc.load_config().rollout
    if state is None:
        state, aliases = read_state(uc.name)
    else:
        aliases = {}
    report: dict[str, Any] = {
        "use_case": uc.name,
        "status": state.status,
        "version": state.version,
        "champion": aliases.get(CHAMPION, state.champion),
        "stage": stage_label(state.current) if state.active else None,
        "stages": [stage_label(s) for s in state.stages],
        "held": state.held,
        "reason": state.reason,
        "forced": state.forced,
        "variants": {},
        "criteria": [],
        "recommendation": None,
        "reasons": [],
        "flags": [],
    }
    if state.status == "none":
        report["reasons"] = ["no rollout: `pilotpack rollout <use case> start` begins one"]
        return report
    since = state.stage_started_at if state.active else state.started_at
    own = log is None
    log = log or open_log()
    try:
        variants = _variant_stats(log.variant_rows(uc.name, since))
        pairs = log.outcome_pairs(uc.name, since)
    finally:
        if own:
            log.close()
    candidate = SHADOW if state.shadow else CHALLENGER
    for variant, loss in _outcome_losses(pairs).items():
        variants.setdefault(variant, {"requests": 0, "errors": 0, "_scores": []}).update(loss)
    champ, cand = variants.get(CHAMPION, {}), variants.get(candidate, {})
    report["psi"] = score_psi = psi(champ.get("_scores", []), cand.get("_scores", []))
    if score_psi is not None and score_psi > cfg.max_score_psi:
        report["flags"].append(
            f"score shift: PSI {score_psi:.3f} of the {candidate}'s scores vs the champion's, "
            f"above {cfg.max_score_psi:g}: the two models disagree; no promotion before the "
            "outcomes compare them"
        )
    probability = champ.get("mean_score") if uc.task.monitoring == "classifier" else None
    report["min_outcomes"] = needed = outcomes_needed(cfg, probability)
    if uc.task.monitoring == "classifier":  # CBPE: expected AUC per variant before outcomes
        report["estimated_auc"] = {k: estimated_auc(v["_scores"]) for k, v in variants.items()}
    for v in variants.values():
        v.pop("_scores", None)
    report["variants"] = variants
    report["candidate"] = candidate
    if not state.active:
        report["reasons"] = [f"rollout {state.status}: {state.reason or '-'}"]
        return report
    crit, back = criteria(cfg, state, champ, cand, time.time(), score_psi, needed)
    report["criteria"] = crit
    failed = [c["detail"] for c in crit if not c["ok"]]
    if back:
        report["recommendation"], report["reasons"] = "roll back", back
    elif failed:
        report["recommendation"], report["reasons"] = "hold", failed
    else:
        nxt = "promote" if state.stage + 1 >= len(state.stages) else "advance"
        report["recommendation"] = nxt
        report["reasons"] = ["every criterion of the stage holds"]
    if state.held:
        report["reasons"].append(f"held: {state.reason}")
    return report


def _outcome_losses(pairs: list[tuple[str, float, float]]) -> dict[str, dict[str, Any]]:
    """Squared error per variant (the Brier score for probabilities), with its standard error."""
    by: dict[str, list[float]] = {}
    for variant, score, value in pairs:
        by.setdefault(variant, []).append((score - value) ** 2)
    out = {}
    for variant, losses in by.items():
        arr = np.asarray(losses)
        se = float(arr.std(ddof=1) / np.sqrt(len(arr))) if len(arr) > 1 else None
        out[variant] = {"outcomes": len(arr), "outcome_mse": float(arr.mean()), "outcome_se": se}
    return out


def duration(seconds: float) -> str:
    """A stage's age or minimum in the unit a person reads: s, min, h or days."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def criteria(
    cfg: Any,
    state: RolloutState,
    champ: dict[str, Any],
    cand: dict[str, Any],
    now: float,
    score_psi: float | None = None,
    min_outcomes: int | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The stage's criteria (name, ok, detail) and the reasons to roll back, if any.

    `min_outcomes` defaults to `outcomes_needed(cfg, None)`; a score PSI above
    `max_score_psi` fails its criterion (no advance, so no promotion, and no rollback) until
    enough outcomes per variant are in for the outcome comparison to decide."""
    out: list[dict[str, Any]] = []
    back: list[str] = []
    n = cand.get("requests", 0)
    out.append(
        {
            "name": "min_requests",
            "ok": n >= cfg.min_requests,
            "detail": f"challenger records {n} (need {cfg.min_requests})",
        }
    )
    age = now - state.stage_started_at
    out.append(
        {
            "name": "min_duration",
            "ok": age >= cfg.min_duration_s,
            "detail": f"stage age {duration(age)} (need {duration(cfg.min_duration_s)})",
        }
    )
    err_c, err_0 = cand.get("error_rate", 0.0), champ.get("error_rate", 0.0)
    allowed = max(cfg.max_error_ratio * err_0, cfg.min_error_rate)
    ok = err_c <= allowed
    detail = f"error rate {err_c:.2%} vs champion {err_0:.2%} (allowed {allowed:.2%})"
    out.append({"name": "error_rate", "ok": ok, "detail": detail})
    if not ok and n >= cfg.min_window_requests:
        back.append(detail)
    p99 = cand.get("scoring_p99_ms")
    ok = p99 is None or p99 <= cfg.sla_ms
    shown = "-" if p99 is None else f"{p99:.1f}"
    detail = f"scoring p99 {shown} ms, model and features, no HTTP (SLA {cfg.sla_ms:.0f} ms)"
    out.append({"name": "scoring_p99", "ok": ok, "detail": detail})
    if not ok and n >= cfg.min_window_requests:
        back.append(detail)
    needed = outcomes_needed(cfg, None) if min_outcomes is None else min_outcomes
    nc, n0 = cand.get("outcomes", 0), champ.get("outcomes", 0)
    compared = nc >= needed and n0 >= needed
    # Scores far from the champion's: the models disagree, so the stage waits for outcomes to
    # show the challenger not worse (a better model may well disagree; only outcomes can say).
    ok = score_psi is None or score_psi <= cfg.max_score_psi or compared
    shown = "- (too few scores)" if score_psi is None else f"{score_psi:.3f}"
    detail = f"score PSI vs champion {shown} (at most {cfg.max_score_psi:g}"
    detail += ", or outcomes compared)" if not compared else "; outcomes compared below)"
    out.append({"name": "score_psi", "ok": ok, "detail": detail})
    if compared:
        diff = cand["outcome_mse"] - champ["outcome_mse"]
        se = float(np.hypot(cand.get("outcome_se") or 0.0, champ.get("outcome_se") or 0.0))
        ok = diff <= 1.96 * se
        detail = (
            f"outcome loss {cand['outcome_mse']:.4f} vs champion {champ['outcome_mse']:.4f} "
            f"(n={nc}/{n0}; worse by {diff:+.4f}, 95 % margin {1.96 * se:.4f})"
        )
        out.append({"name": "outcomes", "ok": ok, "detail": detail})
        if not ok:
            back.append(detail)
    else:
        out.append(
            {
                "name": "outcomes",
                "ok": True,
                "detail": f"outcomes {nc}/{n0}: fewer than {needed} per variant, not compared",
            }
        )
    return out, back
