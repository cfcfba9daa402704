"""A/B tests of a conversion rate: plan the sample size, then analyse without peeking bias.

Plan (`pilotpack ab plan`): the sample size per group of a two-sided two-proportion test
(statsmodels `NormalIndPower` on Cohen's h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))) and the
duration at the daily traffic. The plan is saved before the test starts: its size and its
method are the promise that keeps the false-positive rate at alpha.

Analyse (`pilotpack ab analyze`): per group units, conversions and rate; absolute and relative
lift with 95 % intervals (statsmodels `confint_proportions_2indep`); the two-proportion z-test
(statsmodels `proportions_ztest`); a sample-ratio-mismatch check (chi-square of the units per
group against the planned split, p < 0.001 blocks every verdict: the assignment or the logging
is broken); the power the achieved sizes give for the planned effect; the lift by week since
the start (a lift that fades is a novelty effect).

Peeking: with `method: fixed`, no winner is called before each group reaches the planned size,
however small the p-value looks, because stopping at the first p < alpha among repeated looks
inflates false positives (to ~20 % with ten looks). With `method: msprt`, chosen up front, the
p-value is always valid (mixture sequential probability ratio test, Johari et al. 2017, normal
approximation, mixing variance tau^2 = planned effect^2): a winner may be called at any look.
tests/test_ab.py shows both by A/A simulation.

Units: each unit (customer, lead) counts once, in the first group it was assigned to; units
seen in both groups are dropped and counted; a unit converts when any of its outcomes is > 0.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.store import reports_dir
from shared.ops.monitoring.monitor import parse_since
from shared.serve.predlog import open_log

SRM_P = 0.001  # a sample ratio mismatch below this p-value blocks any verdict
METHODS = ("fixed", "msprt")


@dataclass(frozen=True)
class Plan:
    baseline_rate: float
    target_rate: float
    alpha: float
    power: float
    n_per_group: int
    method: str = "fixed"
    daily_traffic: int | None = None
    days: int | None = None
    control: str = "champion"
    treatment: str = "challenger"
    split: float = 0.5  # share of units in the treatment group (a 20 % canary: 0.2)
    higher_is_better: bool = True  # False when the counted outcome is bad (churn, failure)
    n_treatment: int | None = None  # None: n_per_group (an even split)

    @property
    def n_control(self) -> int:
        return self.n_per_group

    @property
    def n_treated(self) -> int:
        return self.n_per_group if self.n_treatment is None else self.n_treatment

    @property
    def mde(self) -> float:
        return self.target_rate - self.baseline_rate

    @property
    def tau2(self) -> float:
        """mSPRT mixing variance: the planned effect squared."""
        return self.mde**2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"mde": self.mde, "total": self.n_control + self.n_treated}

    @staticmethod
    def describe(p: Plan) -> str:
        lines = [
            f"baseline rate {p.baseline_rate:.4f} -> {p.target_rate:.4f} "
            f"(absolute {p.mde:+.4f}, relative {p.mde / p.baseline_rate:+.1%}), "
            f"alpha {p.alpha:g} two-sided, power {p.power:.0%}",
            (
                f"sample size: {p.n_per_group} units per group, {2 * p.n_per_group} in total"
                if p.n_control == p.n_treated
                else f"sample size: {p.n_control} {p.control} + {p.n_treated} {p.treatment} "
                f"units ({1 - p.split:.0%}/{p.split:.0%}), {p.n_control + p.n_treated} in total"
            ),
            f"direction: the {'higher' if p.higher_is_better else 'lower'} rate is better",
        ]
        if p.days is not None:
            lines.append(f"duration: {p.days} days at {p.daily_traffic} units a day")
        lines.append(
            "method: fixed horizon - no winner is called before both groups reach the size"
            if p.method == "fixed"
            else "method: mSPRT - always-valid p-values, a winner may be called at any look"
        )
        return "\n".join(lines)


def plan(
    baseline_rate: float,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    daily_traffic: int | None = None,
    method: str = "fixed",
    control: str = "champion",
    treatment: str = "challenger",
    split: float = 0.5,
    higher_is_better: bool = True,
) -> Plan:
    """Sample sizes for a two-sided test of baseline_rate vs baseline_rate + mde, with a share
    `split` of the units in the treatment group (the canary stage's percentage)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    if method not in METHODS:
        raise ValueError(f"method {method!r}: one of {', '.join(METHODS)}")
    target = baseline_rate * (1 + mde) if relative else baseline_rate + mde
    if mde == 0 or not 0 < target < 1:
        raise ValueError(f"the target rate {target:g} must differ from the baseline, within (0, 1)")
    if not 0 < split < 1:
        raise ValueError(f"split {split:g}: the treatment's share of units, within (0, 1)")
    h = abs(proportion_effectsize(target, baseline_rate))
    ratio = split / (1 - split)  # treatment units per control unit
    n = NormalIndPower().solve_power(
        effect_size=h, alpha=alpha, power=power, ratio=ratio, alternative="two-sided"
    )
    n_control = math.ceil(float(n))
    n_treatment = math.ceil(float(n) * ratio)
    total = n_control + n_treatment
    days = math.ceil(total / daily_traffic) if daily_traffic else None
    return Plan(
        baseline_rate, target, alpha, power, n_control, method, daily_traffic, days,
        control, treatment, split, higher_is_better, n_treatment,
    )  # fmt: skip


def default_plan_path(use_case: str) -> Path:
    return reports_dir(use_case) / "ab_plan.json"


def load_plan(path: Path) -> Plan:
    raw = json.loads(Path(path).read_text())
    fields = set(Plan.__dataclass_fields__)
    return Plan(**{k: v for k, v in raw.items() if k in fields})


# --------------------------------------------------------------------------- statistics


def ztest(c_t: int, n_t: int, c_c: int, n_c: int) -> tuple[float, float]:
    """(z, two-sided p) of treatment vs control, pooled variance (statsmodels)."""
    from statsmodels.stats.proportion import proportions_ztest

    if min(n_t, n_c) == 0 or c_t + c_c in (0, n_t + n_c):
        return 0.0, 1.0
    z, p = proportions_ztest([c_t, c_c], [n_t, n_c], alternative="two-sided")
    return float(z), float(p)


def msprt_lambda(
    c_t: np.ndarray, n_t: np.ndarray, c_c: np.ndarray, n_c: np.ndarray, tau2: float
) -> np.ndarray:
    """mSPRT likelihood ratio of the difference in rates (normal approximation, N(0, tau2)
    mixture); vectorised over looks or simulated experiments."""
    c_t, n_t, c_c, n_c = (np.asarray(x, dtype=np.float64) for x in (c_t, n_t, c_c, n_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = c_t / n_t - c_c / n_c
        pooled = (c_t + c_c) / (n_t + n_c)
        v = pooled * (1 - pooled) * (1 / n_t + 1 / n_c)
        lam = np.sqrt(v / (v + tau2)) * np.exp(tau2 * diff**2 / (2 * v * (v + tau2)))
    return np.where(np.isfinite(lam) & (v > 0), lam, 1.0)


def always_valid_p(lambdas: np.ndarray) -> float:
    """The always-valid p-value after a sequence of looks: min over looks of 1 / Lambda."""
    lam = np.asarray(lambdas, dtype=np.float64)
    return float(min(1.0, np.min(1.0 / np.maximum(lam, 1e-300)))) if lam.size else 1.0


def srm(n_c: int, n_t: int, split: float) -> dict[str, Any]:
    from scipy.stats import chisquare

    total = n_c + n_t
    expected = [total * (1 - split), total * split]
    p = float(chisquare([n_c, n_t], f_exp=expected).pvalue) if total else 1.0
    return {"p_value": p, "mismatch": p < SRM_P, "expected": f"{1 - split:.0%}/{split:.0%}"}


def achieved_power(plan_: Plan, n_c: int, n_t: int) -> float | None:
    """Power of the achieved sizes for the planned effect (not the observed one: power
    computed from the observed effect says nothing new)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    if min(n_c, n_t) == 0:
        return None
    h = abs(proportion_effectsize(plan_.target_rate, plan_.baseline_rate))
    return float(
        NormalIndPower().power(
            effect_size=h, nobs1=n_c, alpha=plan_.alpha, ratio=n_t / n_c, alternative="two-sided"
        )
    )


def decide(
    n_c: int, c_c: int, n_t: int, c_t: int, plan_: Plan | None, p_fixed: float,
    p_seq: float | None = None, mismatch: bool = False,
) -> tuple[str, str]:  # fmt: skip
    """(code, sentence): srm | no_plan | keep_running | treatment_wins | control_wins |
    no_difference."""
    if mismatch:
        return "srm", (
            "no verdict: sample ratio mismatch - the split of units differs from the plan more "
            "than chance allows; fix the assignment or the logging before reading any result"
        )
    if plan_ is None:
        return "no_plan", (
            "no verdict: no plan saved - run `pilotpack ab plan ... --use-case NAME` before the "
            "test starts (its planned size is what protects against peeking)"
        )
    lift = c_t / n_t - c_c / n_c if min(n_t, n_c) else 0.0
    # Better is the business's direction: a lower churn or failure rate wins.
    treatment_better = lift > 0 if plan_.higher_is_better else lift < 0
    winner = "treatment_wins" if treatment_better else "control_wins"
    who = plan_.treatment if treatment_better else plan_.control
    reached = n_c >= plan_.n_control and n_t >= plan_.n_treated
    if plan_.method == "msprt":
        if p_seq is not None and p_seq < plan_.alpha:
            return winner, f"{who} wins (always-valid p = {p_seq:.4g} < {plan_.alpha:g})"
        if reached:
            return "no_difference", "no significant difference at the planned size (mSPRT)"
        return "keep_running", (
            f"keep running: always-valid p = {p_seq if p_seq is not None else 1:.3g}, "
            f"{n_c} of {plan_.n_control} {plan_.control} and {n_t} of {plan_.n_treated} "
            f"{plan_.treatment} units"
        )
    if not reached:
        return "keep_running", (
            f"keep running: {n_c} of {plan_.n_control} {plan_.control} and {n_t} of "
            f"{plan_.n_treated} {plan_.treatment} units - a fixed-"
            "horizon test is read once, at the planned size (stopping at the first small "
            "p-value inflates false positives)"
        )
    if p_fixed < plan_.alpha:
        return winner, f"{who} wins (p = {p_fixed:.4g} < {plan_.alpha:g}, planned size reached)"
    return "no_difference", (
        f"no significant difference at the planned size (p = {p_fixed:.3g}); the planned "
        f"effect {plan_.mde:+.4f} is unlikely, smaller effects remain possible"
    )


# --------------------------------------------------------------------------- analysis


def units(
    frame: pd.DataFrame, group_col: str, unit_col: str, value_col: str, time_col: str
) -> tuple[pd.DataFrame, int]:
    """One row per unit: group (first assignment), converted (any value > 0), first time;
    and how many units were seen in both groups (dropped)."""
    missing = [c for c in (group_col, unit_col, value_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} missing (have {list(frame.columns)})")
    df = frame.rename(columns={group_col: "group", unit_col: "unit", value_col: "value"})
    df["group"] = df["group"].astype(str)
    df["unit"] = df["unit"].astype(str)
    df["value"] = pd.to_numeric(df["value"], errors="coerce").fillna(0)
    has_time = time_col in frame.columns
    if has_time:
        t = df[time_col]
        df["time"] = (
            pd.to_datetime(t, unit="s", utc=True)
            if pd.api.types.is_numeric_dtype(t)
            else pd.to_datetime(t, utc=True)
        )
    crossed = df.groupby("unit")["group"].nunique()
    both = set(crossed[crossed > 1].index)
    df = df[~df["unit"].isin(both)]
    agg: dict[str, Any] = {"group": ("group", "first"), "value": ("value", "max")}
    if has_time:
        agg["time"] = ("time", "min")
    out = df.groupby("unit").agg(**agg).reset_index()
    out["converted"] = (out["value"] > 0).astype(int)
    return out, len(both)


def analyze_frame(
    frame: pd.DataFrame,
    plan_: Plan | None,
    group_col: str = "group",
    unit_col: str = "unit",
    value_col: str = "converted",
    time_col: str = "time",
) -> dict[str, Any]:
    from statsmodels.stats.proportion import confint_proportions_2indep

    per_unit, crossed = units(frame, group_col, unit_col, value_col, time_col)
    groups = sorted(per_unit["group"].unique())
    if len(groups) != 2:
        raise ValueError(f"an A/B test needs exactly two groups, found {groups}")
    control = plan_.control if plan_ and plan_.control in groups else _control(groups)
    treatment = next(g for g in groups if g != control)
    if plan_ is not None and (plan_.control, plan_.treatment) != (control, treatment):
        plan_ = replace(plan_, control=control, treatment=treatment)
    g = per_unit.groupby("group")["converted"].agg(["size", "sum"])
    n_c, c_c = int(g.loc[control, "size"]), int(g.loc[control, "sum"])
    n_t, c_t = int(g.loc[treatment, "size"]), int(g.loc[treatment, "sum"])
    z, p = ztest(c_t, n_t, c_c, n_c)
    lo, hi = confint_proportions_2indep(c_t, n_t, c_c, n_c, method="wald", compare="diff")
    r_lo, r_hi = (math.nan, math.nan)
    if c_c > 0 and c_t > 0:
        r_lo, r_hi = confint_proportions_2indep(c_t, n_t, c_c, n_c, method="log", compare="ratio")
    rate_c, rate_t = c_c / n_c, c_t / n_t
    split = plan_.split if plan_ else 0.5
    ratio = srm(n_c, n_t, split)
    sequential = None
    if plan_ is not None and plan_.method == "msprt":
        sequential = {"p_value": _sequential_p(per_unit, control, treatment, plan_.tau2)}
    code, verdict = decide(
        n_c, c_c, n_t, c_t, plan_, p, sequential and sequential["p_value"], ratio["mismatch"]
    )
    return {
        "control": control,
        "treatment": treatment,
        "groups": [
            {"group": control, "n": n_c, "conversions": c_c, "rate": rate_c},
            {"group": treatment, "n": n_t, "conversions": c_t, "rate": rate_t},
        ],
        "crossed_units_dropped": crossed,
        "lift": {
            "absolute": rate_t - rate_c,
            "absolute_ci": [float(lo), float(hi)],
            "relative": rate_t / rate_c - 1 if rate_c else math.nan,
            "relative_ci": [float(r_lo) - 1, float(r_hi) - 1],
        },
        "test": {"z": z, "p_value": p, "method": "two-proportion z-test (statsmodels)"},
        "sequential": sequential,
        "srm": ratio,
        "power": achieved_power(plan_, n_c, n_t) if plan_ else None,
        "plan": plan_.to_dict() if plan_ else None,
        "weeks": by_week(per_unit, control, treatment),
        "verdict_code": code,
        "verdict": verdict,
    }


def _control(groups: list[str]) -> str:
    for name in ("champion", "control", "A", "a"):
        if name in groups:
            return name
    return groups[0]


def _sequential_p(per_unit: pd.DataFrame, control: str, treatment: str, tau2: float) -> float:
    """Always-valid p over daily looks in time order (one look when there are no times)."""
    if "time" not in per_unit.columns:
        looks = [per_unit]
    else:
        df = per_unit.sort_values("time")
        day = df["time"].dt.floor("D")
        looks = [df[day <= d] for d in sorted(day.unique())]
    c_t, n_t, c_c, n_c = [], [], [], []
    for look in looks:
        t, c = look[look["group"] == treatment], look[look["group"] == control]
        c_t.append(t["converted"].sum())
        n_t.append(len(t))
        c_c.append(c["converted"].sum())
        n_c.append(len(c))
    return always_valid_p(msprt_lambda(c_t, n_t, c_c, n_c, tau2))


def by_week(per_unit: pd.DataFrame, control: str, treatment: str) -> list[dict[str, Any]]:
    if "time" not in per_unit.columns or per_unit["time"].isna().all():
        return []
    start = per_unit["time"].min()
    week = ((per_unit["time"] - start).dt.days // 7 + 1).astype(int)
    rows = []
    for w, part in per_unit.groupby(week):
        rates = part.groupby("group")["converted"].mean()
        rc, rt = rates.get(control), rates.get(treatment)
        rows.append(
            {
                "week": int(w),
                "n": len(part),
                "control_rate": None if rc is None else float(rc),
                "treatment_rate": None if rt is None else float(rt),
                "lift": None if rc is None or rt is None else float(rt - rc),
            }
        )
    return rows


def log_frame(use_case: str, since: str | None = None) -> pd.DataFrame:
    """Units from the prediction log: group = variant that answered (champion / challenger),
    unit = routing key, converted = an outcome > 0 joined by request id or routing key."""
    start = time.time() - parse_since(since) if since else 0.0
    with open_log() as log:
        preds = log.query(
            "SELECT variant, routing_key, request_id, ts FROM predictions WHERE use_case = ? AND "
            "ts >= ? AND variant != 'shadow' AND error IS NULL AND routing_key IS NOT NULL",
            [use_case, start],
        )
        outcomes = log.query(
            "SELECT request_id, routing_key, value FROM outcomes WHERE use_case = ?", [use_case]
        )
    if not preds:
        raise ValueError(f"no served predictions of {use_case} with a routing key in the log")
    frame = pd.DataFrame(preds, columns=["group", "unit", "request_id", "time"])
    by_request = {r: v for r, _, v in outcomes if r is not None}
    by_key: dict[str, float] = {}
    for _, k, v in outcomes:
        if k is not None:
            by_key[str(k)] = max(by_key.get(str(k), 0.0), float(v))
    frame["converted"] = [
        max(by_request.get(r, 0.0), by_key.get(str(u), 0.0))
        for r, u in zip(frame["request_id"], frame["unit"], strict=True)
    ]
    return frame
