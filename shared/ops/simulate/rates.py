"""Error rates of the pack's decisions over many seeded worlds (`pilotpack simulate
--error-rates`), in process: HTTP adds nothing to a statistical decision.

- A/A: units routed by the router's own hash at a planned split (50/50 and 20/80), equal
  outcome rates, analysed as `ab analyze` analyses the log: the false-winner rate must lie
  inside the 95 % binomial interval of alpha.
- Power: the same with the planned effect in the business's direction: the right winner in at
  least 75 % of runs (planned at 80 %).
- Drift: windows of the use case's generator against a reference profile, PSI as `monitor`
  flags it: at most 5 % false alarms on undrifted windows; at least 95 % detection of a
  shift whose PSI (on a large sample) is at least 0.25.
- Retrain: `retrain`'s paired comparison and non-inferiority rule on worlds where the new
  model is truly better (accept at least 90 %) or truly worse (reject at least 95 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from shared.core.drift import drift_table
from shared.ops.monitoring import ab
from shared.ops.monitoring.retrain import NON_INFERIORITY, not_worse, paired_difference
from shared.ops.simulate import world
from shared.ops.simulate.scenarios import applies
from shared.serve.router import to_challenger
from shared.tasks.base import numeric_profile

DRIFT_WINDOW = 500  # records per monitored window
BASE_RATE = 0.27  # A/B control rate (churn's); the decision's error rates do not depend on it much


def binomial_interval(runs: int, p: float) -> tuple[int, int]:
    """Central 95 % interval of a Binomial(runs, p) count."""
    from scipy.stats import binom  # heavy: only here

    lo, hi = binom.interval(0.95, runs, p)
    return int(lo), int(hi)


def figure(name: str, hits: int, runs: int, bound: str, ok: bool, **extra: Any) -> dict[str, Any]:
    rate = hits / runs if runs else math.nan
    return {"name": name, "hits": hits, "runs": runs, "rate": rate,
            "shown": f"{rate:.1%} ({hits}/{runs})", "bound": bound, "ok": bool(ok)} | extra  # fmt: skip


# --------------------------------------------------------------------------- A/B


def ab_run(p: ab.Plan, effect: float, seed: int) -> str:
    """One experiment at the plan's size: units hashed to the challenger at the plan's split
    (the router's function), outcomes drawn, the verdict of `ab analyze`."""
    rng = np.random.default_rng(seed)
    # enough units that both groups reach their planned size (the hash splits at random)
    n = math.ceil(1.15 * (p.n_control + p.n_treated))
    units = [f"u{seed}-{i}" for i in range(n)]
    salt = f"salt-{seed}"
    group = np.array(
        ["challenger" if to_challenger(salt, u, 100 * p.split) else "champion" for u in units]
    )
    rate = np.where(group == "challenger", p.baseline_rate + effect, p.baseline_rate)
    frame = pd.DataFrame({"group": group, "unit": units,
                          "converted": (rng.random(n) < rate).astype(int)})  # fmt: skip
    # read once, at the planned size: each group's first units up to its planned number
    rank = frame.groupby("group").cumcount()
    size = np.where(frame["group"] == "challenger", p.n_treated, p.n_control)
    return ab.analyze_frame(frame[rank < size], p)["verdict_code"]


def ab_rates(runs: int, seed: int, higher_is_better: bool) -> list[dict[str, Any]]:
    out = []
    mde = 0.05 if higher_is_better else -0.05
    for split in (0.5, 0.2):
        p = ab.plan(BASE_RATE, mde, alpha=0.05, power=0.8, split=split,
                    higher_is_better=higher_is_better)  # fmt: skip
        false = sum(
            ab_run(p, 0.0, seed + i) in ("treatment_wins", "control_wins") for i in range(runs)
        )
        lo, hi = binomial_interval(runs, p.alpha)
        out.append(figure(f"A/A false winners, split {1 - split:.0%}/{split:.0%}", false, runs,
                          f"in [{lo}, {hi}] of {runs} (alpha {p.alpha:g})", lo <= false <= hi))  # fmt: skip
        right = sum(ab_run(p, mde, seed + 10_000 + i) == "treatment_wins" for i in range(runs))
        out.append(figure(f"power at the planned effect {mde:+.2f}, split {1 - split:.0%}/{split:.0%}",
                          right, runs, ">= 75 % (planned 80 %)", right / runs >= 0.75))  # fmt: skip
    return out


# --------------------------------------------------------------------------- drift


def profile_of(uc: Any, raw: pd.DataFrame) -> dict[str, Any]:
    """The reference profile training stores, for a frame of the generator."""
    X = pd.DataFrame(dict(uc.build_features(raw)))
    return {
        "rows": len(X),
        "numeric": numeric_profile(X, uc.numeric_features),
        "categorical": {c: X[c].value_counts(normalize=True).round(6).to_dict()
                        for c in uc.categorical_features},
    }  # fmt: skip


def alarms(uc: Any, profile: dict[str, Any], raw: pd.DataFrame, cfg: Any) -> set[str]:
    """Inputs `monitor` flags as an alert on this window."""
    features = dict(uc.build_features(raw))
    return {r.feature for r in drift_table(profile, features, None, None, cfg) if r.flag == "alert"}


def drift_rates(uc: Any, runs: int, seed: int) -> list[dict[str, Any]]:
    cfg = uc.load_config().monitoring
    uc = world.configured(uc)
    reference = world.fresh(uc, 20_000, seed, "ref-")
    profile = profile_of(uc, reference)
    col = world.drift_column(uc, reference)
    false = sum(bool(alarms(uc, profile, world.fresh(uc, DRIFT_WINDOW, seed + 1 + i, "w-"), cfg))
                for i in range(runs))  # fmt: skip
    out = [figure("drift false alarms, undrifted windows", false, runs, "<= 5 %", false / runs <= 0.05,
                  window=DRIFT_WINDOW)]  # fmt: skip
    strength, true_psi = 1.0, 0.0
    while true_psi < 0.25 and strength < 8:  # the mildest shift of this kind with PSI >= 0.25
        strength += 0.25
        big = world.shifted(uc, 20_000, seed + 77, "big-", strength)
        rows = drift_table(profile, dict(uc.build_features(big)), None, None, cfg)
        true_psi = next(r.psi for r in rows if r.feature == col)
    hit = sum(col in alarms(uc, profile, world.shifted(uc, DRIFT_WINDOW, seed + 5000 + i, "s-", strength), cfg)
              for i in range(runs))  # fmt: skip
    out.append(figure(f"drift detected, shift of {col} with PSI {true_psi:.2f}", hit, runs,
                      ">= 95 %", hit / runs >= 0.95, window=DRIFT_WINDOW, psi=true_psi))  # fmt: skip
    return out


# --------------------------------------------------------------------------- retrain


def retrain_world(n: int, noise_new: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outcomes, new model's scores, champion's scores): both read a latent risk z with noise;
    the champion's noise is 1.0, the new model's `noise_new` (smaller: truly better)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 1)))).astype(float)
    old = 1 / (1 + np.exp(-(z + rng.normal(0, 1.0, n) - 1)))
    new = 1 / (1 + np.exp(-(z + rng.normal(0, noise_new, n) - 1)))
    return y, new, old


def retrain_rates(runs: int, seed: int, rows: int = 2000) -> list[dict[str, Any]]:
    from sklearn.metrics import roc_auc_score  # heavy: only here

    margin = NON_INFERIORITY["roc_auc"]
    out = []
    for label, noise, want in (("better", 0.4, True), ("worse", 1.5, False)):
        y, new, old = retrain_world(200_000, noise, seed)
        gain = roc_auc_score(y, new) - roc_auc_score(y, old)
        right = 0
        for i in range(runs):
            y, new, old = retrain_world(rows, noise, seed + 1 + i)
            accepted = not_worse(paired_difference("classifier", y, new, old, seed=i), margin)
            right += accepted == want
        bound = ">= 90 % accepted" if want else ">= 95 % rejected"
        need = 0.9 if want else 0.95
        out.append(figure(f"retrain, new model truly {label} (AUC {gain:+.3f})", right, runs, bound,
                          right / runs >= need, rows=rows, true_gain=gain))  # fmt: skip
    return out


def error_rates(
    uc: Any, runs: int, seed: int = 0, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every figure, with its bound; retrain uses runs // 4 (each run bootstraps 300 times)."""
    better = uc.load_config().monitoring.outcome_is_good
    log(f"A/B: {runs} runs per figure ...")
    figures = ab_rates(runs, seed, better)
    if applies(uc) is None:  # windows of one-record-per-unit inputs
        log(f"drift: {runs} windows per figure ...")
        figures += drift_rates(uc, runs, seed)
    log(f"retrain: {max(runs // 4, 20)} runs per figure ...")
    figures += retrain_rates(max(runs // 4, 20), seed)
    return {"use_case": uc.name, "runs": runs, "seed": seed, "figures": figures}
