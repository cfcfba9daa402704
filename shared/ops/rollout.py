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
from statistics import NormalDist
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
MIN_SIZING_OUTCOMES = 30  # outcomes per variant (or pairs) before their spread sizes the test


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


def outcomes_needed(cfg: Any, expected_rate: float | None, sized: int | None = None) -> int:
    """Outcomes per variant before the outcome comparison counts: `min_outcomes` when set,
    else `sized` (the non-inferiority test's size for the margin, `margin_outcomes`, once the
    losses' spread is known), else the size per group of a two-sided two-proportion test
    (statsmodels, 50/50) that detects baseline -> baseline x (1 + mde) at `alpha` with `power`.
    The baseline is `baseline_rate`, else `expected_rate` (the champion's mean probability)."""
    if cfg.min_outcomes is not None:
        return int(cfg.min_outcomes)
    if sized is not None:
        return max(MIN_SIZING_OUTCOMES, sized)
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


def margin_outcomes(cfg: Any, sd: float, margin: float, paired: bool) -> int:
    """Outcomes (pairs, or per variant) for which a challenger as good as the champion is
    shown non-inferior (upper one-sided bound of the loss difference below `margin`) with
    `power` at `alpha`; `sd` is the spread of the per-record loss difference when paired, else
    the per-variant spread of the loss (statsmodels' normal power, one or two samples)."""
    from statsmodels.stats.power import NormalIndPower  # heavy: only when sizing

    if sd <= 0:
        return MIN_SIZING_OUTCOMES
    n = NormalIndPower().solve_power(
        effect_size=margin / sd,
        alpha=cfg.alpha,
        power=cfg.power,
        ratio=0.0 if paired else 1.0,
        alternative="larger",
    )
    return math.ceil(float(n))


def loss_margin(cfg: Any, champion_loss: float | None) -> float | None:
    """The non-inferiority margin: `loss_margin`, else `loss_margin_ratio` x the champion's loss."""
    if cfg.loss_margin is not None:
        return float(cfg.loss_margin)
    if champion_loss is None or not math.isfinite(champion_loss):
        return None
    return cfg.loss_margin_ratio * champion_loss


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
        # the outcome's id and the scored record: a record both variants scored (shadow)
        # pairs the two losses on the same outcome
        pairs = log.joined_outcomes(
            uc.name, since, "o.id, p.request_id, p.item, p.variant, p.score, o.value"
        )
    finally:
        if own:
            log.close()
    candidate = SHADOW if state.shadow else CHALLENGER
    for variant, loss in _outcome_losses([r[3:] for r in pairs]).items():
        variants.setdefault(variant, {"requests": 0, "errors": 0, "_scores": []}).update(loss)
    champ, cand = variants.get(CHAMPION, {}), variants.get(candidate, {})
    report["paired"] = paired = _paired_losses(pairs, candidate)
    report["psi"] = score_psi = psi(champ.get("_scores", []), cand.get("_scores", []))
    if score_psi is not None and score_psi > cfg.max_score_psi:
        report["flags"].append(
            f"score shift: PSI {score_psi:.3f} of the {candidate}'s scores vs the champion's, "
            f"above {cfg.max_score_psi:g}: the two models disagree; no promotion before the "
            "outcomes compare them"
        )
    probability = champ.get("mean_score") if uc.task.monitoring == "classifier" else None
    report["loss_margin"] = margin = loss_margin(cfg, champ.get("outcome_mse"))
    report["margin_outcomes"] = sized = _sized(cfg, champ, cand, paired, margin)
    report["min_outcomes"] = needed = outcomes_needed(cfg, probability, sized)
    if uc.task.monitoring == "classifier":  # CBPE: expected AUC per variant before outcomes
        report["estimated_auc"] = {k: estimated_auc(v["_scores"]) for k, v in variants.items()}
    for v in variants.values():
        v.pop("_scores", None)
    report["variants"] = variants
    report["candidate"] = candidate
    if not state.active:
        report["reasons"] = [f"rollout {state.status}: {state.reason or '-'}"]
        return report
    crit, back = criteria(cfg, state, champ, cand, time.time(), score_psi, needed, paired)
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


def _paired_losses(rows: list[tuple[Any, ...]], candidate: str) -> dict[str, Any] | None:
    """The candidate's loss minus the champion's on the outcomes of records both scored (the
    shadow stage): n, mean difference, its standard error and the champion's loss there."""
    by: dict[tuple[Any, ...], dict[str, float]] = {}
    for oid, request_id, item, variant, score, value in rows:
        by.setdefault((oid, request_id, item), {})[variant] = (float(score) - float(value)) ** 2
    both = [(v[candidate], v[CHAMPION]) for v in by.values() if candidate in v and CHAMPION in v]
    if len(both) < 2:
        return None
    cand, champ = np.asarray(both, dtype=float).T
    d = cand - champ
    return {
        "outcomes": len(d),
        "diff": float(d.mean()),
        "se": float(d.std(ddof=1) / np.sqrt(len(d))),
        "sd": float(d.std(ddof=1)),
        "champion_mse": float(champ.mean()),
    }


def _sized(
    cfg: Any,
    champ: dict[str, Any],
    cand: dict[str, Any],
    paired: dict[str, Any] | None,
    margin: float | None,
) -> int | None:
    """The non-inferiority test's outcomes for the margin, from the spread seen (paired when
    the stage's records were scored by both), or None before enough outcomes to measure it."""
    if margin is None:
        return None
    if paired is not None and paired["outcomes"] >= MIN_SIZING_OUTCOMES:
        return margin_outcomes(cfg, paired["sd"], margin, paired=True)
    n = min(cand.get("outcomes", 0), champ.get("outcomes", 0))
    if n < MIN_SIZING_OUTCOMES or cand.get("outcome_se") is None or champ.get("outcome_se") is None:
        return None
    sd_c = cand["outcome_se"] * math.sqrt(cand["outcomes"])
    sd_0 = champ["outcome_se"] * math.sqrt(champ["outcomes"])
    return margin_outcomes(cfg, math.sqrt((sd_c**2 + sd_0**2) / 2), margin, paired=False)


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
    paired: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The stage's criteria (name, ok, detail) and the reasons to roll back, if any.

    `min_outcomes` defaults to `outcomes_needed(cfg, None)`; a score PSI above
    `max_score_psi` fails its criterion (no advance, so no promotion, and no rollback) until
    enough outcomes per variant are in for the outcome comparison to decide. The outcomes
    criterion holds only when they show the challenger non-inferior (`non_inferior`), or
    when the stage sends the champion nothing to compare with (100 %); `paired` is the loss
    difference on records both variants scored (`_paired_losses`)."""
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
    if paired is not None and paired["outcomes"] >= needed:
        nc = n0 = paired["outcomes"]
    compared = nc >= needed and n0 >= needed
    # Scores far from the champion's: the models disagree, so the stage waits for outcomes to
    # show the challenger not worse (a better model may well disagree; only outcomes can say).
    ok = score_psi is None or score_psi <= cfg.max_score_psi or compared
    shown = "- (too few scores)" if score_psi is None else f"{score_psi:.3f}"
    detail = f"score PSI vs champion {shown} (at most {cfg.max_score_psi:g}"
    detail += ", or outcomes compared)" if not compared else "; outcomes compared below)"
    out.append({"name": "score_psi", "ok": ok, "detail": detail})
    if compared:
        ok, worse, detail = non_inferior(cfg, champ, cand, paired, needed)
        out.append({"name": "outcomes", "ok": ok, "detail": detail})
        if worse:
            back.append(detail)
    elif _no_champion_traffic(state):
        detail = f"outcomes {nc}/{n0}: the champion answers no one at this stage, not compared"
        out.append({"name": "outcomes", "ok": True, "detail": detail})
    else:
        # absence of evidence advances nothing: the stage waits for its outcomes
        out.append(
            {
                "name": "outcomes",
                "ok": False,
                "detail": f"outcomes {nc}/{n0}: fewer than {needed} per variant, not compared",
            }
        )
    return out, back


def _no_champion_traffic(state: RolloutState) -> bool:
    """A 100 % stage: every record goes to the challenger, so no outcomes to compare with."""
    current = state.current
    return current is not None and current != SHADOW and float(current) >= 100


def non_inferior(
    cfg: Any,
    champ: dict[str, Any],
    cand: dict[str, Any],
    paired: dict[str, Any] | None,
    needed: int,
) -> tuple[bool, bool, str]:
    """The non-inferiority decision on the outcome loss difference (challenger - champion):
    (advance, roll back, detail). Paired on records both scored when there are enough, else
    the two variants' means. Roll back when the lower one-sided (1 - alpha) bound is above 0;
    else advance when the upper bound is below the margin; else hold, with the outcomes
    needed."""
    z = NormalDist().inv_cdf(1 - cfg.alpha)
    if paired is not None and paired["outcomes"] >= needed:
        diff, se, n = paired["diff"], paired["se"], paired["outcomes"]
        base = paired["champion_mse"]
        how = f"paired on {n} records both scored"
    else:
        diff = cand["outcome_mse"] - champ["outcome_mse"]
        se = float(np.hypot(cand.get("outcome_se") or 0.0, champ.get("outcome_se") or 0.0))
        base, n = champ["outcome_mse"], cand.get("outcomes", 0)
        how = f"unpaired, n={cand.get('outcomes', 0)}/{champ.get('outcomes', 0)}"
    margin = loss_margin(cfg, base) or 0.0  # no champion loss to scale by: not worse at all
    lower, upper = diff - z * se, diff + z * se
    level = f"{1 - cfg.alpha:.0%}"
    head = (
        f"outcome loss {cand['outcome_mse']:.4f} vs champion {champ['outcome_mse']:.4f} ({how}; "
        f"worse by {diff:+.4f}, one-sided {level} bounds {lower:+.4f} to {upper:+.4f}, "
        f"margin {margin:.4f})"
    )
    # Significantly worse first, even within the margin (paired outcomes can show a small
    # loss surely): a team does not roll out a model it knows is worse.
    if lower > 0:
        return False, True, f"{head}: significantly worse"
    if upper < margin:
        return True, False, f"{head}: non-inferior"
    gap = margin - diff if diff < margin else diff
    more = math.ceil(n * ((z * se / gap) ** 2 - 1)) if gap > 0 and se > 0 else 0
    goal = "shown non-inferior" if diff < margin else "decided (worse than the margin)"
    return (
        False,
        False,
        f"not yet shown non-inferior: worse by {diff:+.4f}, upper bound {upper:+.4f} > margin "
        f"{margin:.4f}; need about {max(more, 1)} more outcomes to be {goal} ({how})",
    )
