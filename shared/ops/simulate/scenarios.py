"""The scenarios of a simulated pilot: each builds a world whose right decision is known,
runs the pack's real verbs on it, and says what the pack decided.

One `Decision` per checked decision: what was expected (the truth by construction), what the
pack did, whether they agree, and how long it took to detect (simulated days, records or
minutes). A scenario that does not apply to a task says so (`ok` None, with the reason).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.core.store import reports_dir
from shared.core.tracking import CHALLENGER, stored_version
from shared.ops.monitoring import ab
from shared.ops.monitoring.monitor import run as run_monitor
from shared.ops.monitoring.retrain import retrain
from shared.ops.simulate import alerts, world
from shared.ops.simulate.pilot import Pilot, control, copy_version, reset, train_on


@dataclass
class Decision:
    scenario: str
    decision: str
    expected: str
    got: str
    ok: bool | None  # None: skipped (the reason is in `got`)
    detect: str = "-"  # time to detect / decide
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sim:
    """What every scenario of one seed shares: the use case (simulation config), the folder,
    the models trained once (a weak champion, a good model) and the world's base rate."""

    uc: Any
    seed: int
    days: int
    folder: Path
    per_day: int = 600
    weak: str = ""
    good: str = ""
    base_rate: float = 0.0
    margin: float = 0.0  # the good model's true AUC minus the weak one's, on fresh rows
    trained: int = 0  # training runs (the scorecard's retrains)
    weak_error: str = ""  # why the weak model could not be trained, when it could not
    series_figures: dict[str, Any] = field(default_factory=dict)  # a forecaster's margin, measured
    holdout: pd.DataFrame | None = None  # fresh rows: the base rate, then the true margin

    def prefix(self, scenario: str, day: int) -> str:
        return f"{scenario[:3]}{self.seed}d{day:03d}-"

    def day_seed(self, scenario: str, day: int) -> int:
        return 100_000 * (self.seed + 1) + 1000 * (sum(map(ord, scenario)) % 97) + day


def applies(uc: Any) -> str | None:
    """None when the simulator drives this use case, else why not."""
    if uc.task.serves != "records" or uc.history:
        return (
            f"task {uc.task.name!r} serves {'entity histories' if uc.history else 'series'}: "
            "the simulator drives one-record-per-unit services"
        )
    if uc.task.monitoring != "classifier":
        return f"task {uc.task.name!r} has no yes/no outcome for A/B, CBPE or its world"
    return None


# --------------------------------------------------------------------------- set-up


def weakened(uc: Any, raw: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Training rows whose every other numeric raw column, and every other text column, are
    shuffled across rows (ids, target and time kept): a champion that cannot use them is
    worse by construction (the true margin is measured and reported)."""
    rng = np.random.default_rng(seed)
    out = raw.copy()
    keep = {uc.id_column, uc.target, uc.time_column, *uc.leaky_columns}
    cols = [c for c in out.columns if c not in keep]
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(out[c])]
    text = [c for c in cols if c not in numeric]
    for col in (*numeric[::2], *text[::2]):
        out[col] = out[col].to_numpy()[rng.permutation(len(out))]
    return out


GOOD_POSITIVES = 800  # positives the good model is trained on, at least
WEAK_ROWS = 4000  # the weak champion's training rows (the good model's: twice, at least)
HOLDOUT_ROWS = 20_000  # fresh rows of the base rate and of the true margin


def prepare(sim: Sim, log: Callable[[str], None]) -> None:
    """Train the good model once per seed and measure the world's base rate. The weak
    champion is trained when a scenario first needs it (`weak_model`): only the challenger
    rollouts do, and a drift or A/B run was paying a whole training run for nothing."""
    uc = sim.uc
    log(f"training the good model of {uc.name} (seed {sim.seed}) ...")
    sim.holdout = world.fresh(uc, HOLDOUT_ROWS, 10 * sim.seed + 3, f"ho{sim.seed}-")
    sim.base_rate = float(world.truth(uc, sim.holdout).mean())
    # calibrated well (CBPE reads its probabilities): enough positives for a rare event too
    rows = max(2 * WEAK_ROWS, math.ceil(GOOD_POSITIVES / max(sim.base_rate, 1e-3)))
    clean = world.fresh(uc, rows, 10 * sim.seed + 2, f"tg{sim.seed}-")
    good = train_on(uc, clean, sim.folder / "good.parquet")
    sim.good = good.model_version
    save(sim, "report.json", good.report())  # the scorecard's expected KPI and fairness
    sim.trained = 1


def weak_model(sim: Sim) -> None:
    """The weak champion of the challenger rollouts (once per seed), and the true margin: the
    good model's ROC AUC minus the weak one's on the holdout rows of the base rate."""
    from sklearn.metrics import roc_auc_score  # heavy: only when a simulation runs

    if sim.weak:
        return
    uc, holdout = sim.uc, sim.holdout
    if holdout is None:  # prepare() draws it
        raise RuntimeError(f"{uc.name}: the weak model is measured after prepare()")
    print(f"training the weak champion of {uc.name} (seed {sim.seed}) ...", file=sys.stderr,
          flush=True)  # fmt: skip
    base = world.fresh(uc, WEAK_ROWS, 10 * sim.seed + 1, f"tr{sim.seed}-")
    sim.weak = train_on(uc, weakened(uc, base, sim.seed), sim.folder / "weak.parquet").model_version
    sim.trained += 1
    y = world.truth(uc, holdout)
    scores = {}
    for version in (sim.weak, sim.good):
        reset(uc, version)
        p = Pilot(uc, sim.folder / f"holdout-{version}.db")
        scores[version] = p.deployment.plan.champion.values(
            world.configured(uc).build_features(holdout.drop(columns=[uc.target]))
        )
        p.close()
    sim.margin = float(roc_auc_score(y, scores[sim.good]) - roc_auc_score(y, scores[sim.weak]))


def save(sim: Sim, name: str, report: dict[str, Any]) -> None:
    """A report where the pack's commands write theirs (the simulation's reports folder)."""
    folder = reports_dir(sim.uc.name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(report, indent=2, default=str))


def _pilot(sim: Sim, name: str) -> Pilot:
    return Pilot(sim.uc, sim.folder / f"{name}.db")


def _deliver(pilot: Pilot, uc: Any, raw: pd.DataFrame, y: np.ndarray) -> None:
    pilot.outcomes(list(raw[pilot.key]), y)


# --------------------------------------------------------------------------- rollouts


def better_challenger(sim: Sim) -> list[Decision]:
    """The good model against the weak champion: shadow -> canary -> promoted."""
    return challenger_rollout(sim, better=True)


def worse_challenger(sim: Sim) -> list[Decision]:
    """The weak model against the good champion: rolled back or held, never promoted."""
    return challenger_rollout(sim, better=False)


# Records a day in the challenger rollouts: the 20 % canary's outcomes are unpaired, and on
# 600 a day (120 challenger outcomes) a better churn model was not yet shown non-inferior
# after one day on seeds 0 and 3 (within 5 % of the champion's loss it takes thousands).
ROLLOUT_PER_DAY = 1500


def challenger_rollout(sim: Sim, better: bool) -> list[Decision]:
    """A challenger better (or worse) by the known margin, rolled out day by day as an
    operator would: `advance` when `rollout status` recommends it, stop on `roll back`."""
    uc = sim.uc
    weak_model(sim)
    name = "better" if better else "worse"
    champion, challenger = (sim.weak, sim.good) if better else (sim.good, sim.weak)
    reset(uc, champion, challenger)
    pilot = _pilot(sim, name)
    control(uc, "start", version=challenger)
    pilot.refresh()
    got, day_done, pending, estimated = "still rolling out", None, None, None
    stages, stage = uc.load_config().rollout.stages, 0
    per_day = max(sim.per_day, ROLLOUT_PER_DAY)
    waiting: list[str] = []  # the criteria that held the last stage, when it never ends
    try:
        for day in range(sim.days):
            raw = world.fresh(uc, per_day, sim.day_seed(name, day), sim.prefix(name, day))
            pilot.predict(raw)
            if pending is not None:  # yesterday's outcomes arrive today
                _deliver(pilot, uc, *pending)
            pending = (raw, world.truth(uc, raw))
            report = control(uc, "status", log=pilot.log())
            estimated = report.get("estimated_auc") or estimated  # CBPE per variant, no outcomes
            waiting = [c["detail"] for c in report.get("criteria", []) if not c["ok"]]
            verdict, stage = operator_turn(uc, pilot, report, stage, len(stages))
            if verdict is not None:
                got, day_done = verdict, (day if verdict == "promoted" else day_done)
                break
    finally:
        pilot.close()
    if not better:
        return [
            Decision("worse_challenger", "roll out a challenger worse by a known margin",
                     "rolled back or held, never promoted", got[:300],
                     got != "promoted" and sim.margin > 0.01, f"{sim.days} days",
                     {"true_auc_margin": round(-sim.margin, 4), "waiting_on": waiting}),
        ]  # fmt: skip
    return [
        Decision("better_challenger", "roll out a challenger better by a known margin",
                 "promoted", got, got == "promoted" and sim.margin > 0.01,
                 "-" if day_done is None else f"day {day_done}",
                 {"true_auc_margin": round(sim.margin, 4), "status_estimated_auc": estimated,
                  "waiting_on": waiting if got != "promoted" else []}),
    ]  # fmt: skip


def operator_turn(
    uc: Any, pilot: Pilot, report: dict[str, Any], stage: int, n_stages: int
) -> tuple[str | None, int]:
    """The simulated operator reads `rollout status`: rolls back when it says so, advances once
    the stage's own outcomes are in (at 0 s a worse RUL model whose predictions spread like the
    champion's was promoted on day 2); (verdict or None, the stage now). A rollout the
    service itself stopped (its window: error rate or scoring p99) is that verdict: read as
    "no recommendation" it was reported as "still rolling out" (RUL seed 0, issue 18)."""
    if report.get("status") not in (None, "active"):
        return f"{report['status']} by the service: {report.get('reason') or '-'}", stage
    if report["recommendation"] == "roll back":
        return "rolled back: " + "; ".join(report["reasons"]), stage
    if report["recommendation"] in ("advance", "promote") and stage_done(report, stage, n_stages):
        state = control(uc, "advance")
        pilot.refresh()
        if state.status == "promoted":
            return "promoted", stage + 1
        return None, stage + 1
    return None, stage


def stage_done(report: dict[str, Any], stage: int, n_stages: int) -> bool:
    """The simulated operator advances a stage once `rollout status` has compared its own
    outcomes (a stage of days holds a one-day delay; at 0 s a stage whose scores spread like
    the champion's advanced before any of its outcomes arrived, and a churn model worse by
    0.08 in AUC was promoted on seed 2); the last stage has no champion traffic to compare."""
    compared = not any(
        c["name"] == "outcomes" and "not compared" in c["detail"]
        for c in report.get("criteria", [])
    )
    return compared or stage == n_stages - 1


def _faulty(sim: Sim, fault: str) -> str:
    """A challenger that fails: `erroring` loads and fails every scoring (a required input
    the service never feeds), `unloadable` is not an ONNX model at all."""
    import onnx  # heavy: only this scenario edits a graph

    stored = stored_version(sim.uc.name, sim.good)
    if fault == "unloadable":
        data = b"this is not an ONNX model"
    else:
        model = onnx.load(str(stored.onnx_path))
        model.graph.input.append(
            onnx.helper.make_tensor_value_info(
                "__simulated_fault__", onnx.TensorProto.FLOAT, [None, 1]
            )
        )
        data = model.SerializeToString()
    return copy_version(sim.uc, sim.good, data, note=f"simulated {fault} challenger")


def faulty_challenger(sim: Sim, fault: str) -> list[Decision]:
    """A challenger that errors (or cannot be loaded) is rolled back automatically, within its
    rollback window, and the rollout's state says why."""
    uc = sim.uc
    cfg = uc.load_config().rollout
    bad = _faulty(sim, fault)
    reset(uc, sim.good, bad)
    pilot = _pilot(sim, fault)
    control(uc, "start", version=bad)
    pilot.refresh()
    served, state = 0, pilot.state()
    try:
        for day in range(sim.days):
            raw = world.fresh(uc, sim.per_day, sim.day_seed(fault, day), sim.prefix(fault, day))
            for i in range(0, len(raw), 100):
                pilot.predict(raw.iloc[i : i + 100])
                served += min(100, len(raw) - i)
                state = pilot.wait_state(lambda s: s.status != "active", timeout=2.0)
                if state.status != "active":
                    break
            if state.status != "active":
                break
            report = control(uc, "status", log=pilot.log())  # an operator reads it daily
            if report["recommendation"] in ("advance", "promote"):
                control(uc, "advance")
                pilot.refresh()
    finally:
        pilot.close()
    return rollback_decision(fault, state, served, cfg.window)


def rollback_decision(
    fault: str, state: Any, served: int, window: int, slack: int = 0, unit: str = "records"
) -> list[Decision]:
    """Right when the faulty challenger was rolled back within its window (+ `slack` units
    that were in flight when it tripped) and the state says why."""
    rolled = state.status == "rolled_back"
    says_why = bool(state.reason) and (fault != "unloadable" or "load" in state.reason.lower())
    got = f"{state.status}: {state.reason or '-'}"
    return [
        Decision(f"{fault}_challenger", f"stop a challenger that is {fault}",
                 f"rolled back within its window ({window} {unit}), reason given",
                 got[:300], rolled and served <= window + slack and says_why, f"{served} {unit}"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- drift


def _monitor_file(sim: Sim, raw: pd.DataFrame, name: str, with_target: bool) -> dict[str, Any]:
    path = sim.folder / f"{name}.parquet"
    (raw if with_target else raw.drop(columns=[sim.uc.target])).to_parquet(path, index=False)
    return run_monitor(sim.uc, sim.uc.load_config(), data=path)


CBPE_ROWS = 5000  # drifted records the CBPE check is made on, at least
CBPE_POSITIVES = 500  # ... and enough for this many positives (a rare-event target)


def covariate_drift(sim: Sim) -> list[Decision]:
    """Inputs shift from day k (the link to the outcome does not): a drift alert on or after
    k and none before; CBPE's estimate within 0.03 of the AUC realised later."""
    uc = sim.uc
    k = max(1, sim.days // 2)
    reset(uc, sim.good)
    pilot = _pilot(sim, "covariate")
    first, early, drifted = None, [], []
    try:
        for day in range(sim.days):
            seed, prefix = sim.day_seed("covariate", day), sim.prefix("covariate", day)
            raw = (world.shifted(uc, sim.per_day, seed, prefix) if day >= k
                   else world.fresh(uc, sim.per_day, seed, prefix))  # fmt: skip
            pilot.predict(raw)
            report = _monitor_file(sim, raw, f"covariate-{day}", with_target=False)
            if any(a.startswith("drift") for a in report["alerts"]):
                if day < k:
                    early.append(day)
                elif first is None:
                    first = day
            if day >= k:
                drifted.append(raw)
    finally:
        pilot.close()
    ok = not early and first is not None
    got = f"first alert day {first}" + (f"; false alarms on days {early}" if early else "")
    out = [
        Decision("covariate_drift", f"drift alert for inputs shifted from day {k}",
                 f"an alert on a day >= {k}, none before", got, ok,
                 "-" if first is None else f"{first - k} days after the shift"),
    ]  # fmt: skip
    # the estimate and the realised AUC on enough drifted records that sampling noise in the
    # realised figure (about 0.5 / sqrt(n)) stays well inside the 0.03 allowed
    # (a realised AUC rests on the positives: 5,000 maintenance records hold about 180)
    rows = max(CBPE_ROWS, math.ceil(CBPE_POSITIVES / max(sim.base_rate, 1e-3)))
    extra = rows - sum(len(d) for d in drifted)
    if extra > 0:
        more = world.shifted(
            uc, extra, sim.day_seed("covariate", 999), sim.prefix("covariate", 999)
        )
        pilot = _pilot(sim, "covariate-more")
        try:
            pilot.predict(more)
        finally:
            pilot.close()
        drifted.append(more)
    pooled = pd.concat(drifted, ignore_index=True)
    estimate = (_monitor_file(sim, pooled, "covariate-all", False).get("estimated") or {}).get(
        "roc_auc"
    )
    labelled = _monitor_file(sim, pooled, "covariate-labelled", True)
    save(sim, "monitor.json", labelled)  # the scorecard reads the last monitor report
    perf = labelled["performance"]
    realised = perf[0]["realised"] if perf else None
    close = estimate is not None and realised is not None and abs(estimate - realised) <= 0.03
    out.append(
        Decision("covariate_drift", "CBPE estimate before outcomes arrive",
                 "within 0.03 of the realised ROC AUC",
                 f"estimated {estimate if estimate is None else round(estimate, 4)} vs realised "
                 f"{realised if realised is None else round(realised, 4)}", close,
                 f"{len(pooled)} drifted records",
                 {"estimated_auc": estimate, "realised_auc": realised})
    )  # fmt: skip
    return out


def concept_drift(sim: Sim) -> list[Decision]:
    """The outcome's link changes from day k: a performance alert once the outcomes are in
    (none before k); a retrain on the new world, compared on the log's outcomes, is accepted
    and enters shadow."""
    uc = sim.uc
    k = max(1, sim.days // 2)
    reset(uc, sim.good)
    pilot = _pilot(sim, "concept")
    first, early, pending, since_k = None, [], None, None
    concept = None
    try:
        for day in range(sim.days + 1):  # one more day: the last day's outcomes arrive
            if pending is not None:
                raw_p, y_p, day_p = pending
                _deliver(pilot, uc, raw_p, y_p)
                report = _monitor_file(
                    sim, world.relabelled(uc, raw_p, y_p), f"concept-{day_p}", True
                )
                if any(a.startswith("performance") for a in report["alerts"]):
                    if day_p < k:
                        early.append(day_p)
                    elif first is None:
                        first = day_p
                pending = None
            if day == sim.days:
                break
            if day == k:
                since_k = time.time()
            raw = world.fresh(
                uc, sim.per_day, sim.day_seed("concept", day), sim.prefix("concept", day)
            )
            concept = concept or world.concept_of(uc, raw)
            y = world.truth(uc, raw)
            pilot.predict(raw)
            if day >= k:
                y = world.with_concept(uc, y, raw, concept, sim.day_seed("concept", day))
            pending = (raw, y, day)
        ok = not early and first is not None
        got = f"first alert on day {first}'s outcomes" + (f"; early on {early}" if early else "")
        out = [
            Decision("concept_drift", f"performance alert for a concept changed on day {k}",
                     f"an alert on a window >= day {k}, none before", got, ok,
                     "-" if first is None else f"{first - k + 1} days after the change (outcomes 1 day late)"),
        ]  # fmt: skip
        new = world.fresh(uc, 8000, sim.day_seed("concept-train", 0), f"cn{sim.seed}-")
        y_new = world.with_concept(
            uc, world.truth(uc, new), new, concept, sim.day_seed("concept-train", 1)
        )
        new = world.relabelled(uc, new, y_new)
        data = sim.folder / "concept-new.parquet"
        new.to_parquet(data, index=False)
        window = f"{max(time.time() - (since_k or time.time()), 1.0):.0f}s"
        report = retrain(uc, data, None, window, start_shadow=True)
        sim.trained += 1
        state = pilot.state()
        accepted = bool(report["accepted"]) and state.active and state.shadow
        cmp = report.get("comparison") or {}
        got = ("accepted, shadow started" if accepted else "rejected") + (
            f" (gain {cmp.get('gain', math.nan):+.4f}, 95 % CI {cmp['gain_ci'][0]:+.4f} to "
            f"{cmp['gain_ci'][1]:+.4f})"
            if cmp
            else ": " + "; ".join(report.get("lines", []))  # the gates that failed, say which
        )
        out.append(
            Decision("concept_drift", "retrain from the log after the concept changed",
                     "accepted and in shadow", got, accepted, f"{report.get('rows', 0)} labelled records")
        )  # fmt: skip
    finally:
        pilot.close()
    return out


# --------------------------------------------------------------------------- A/B


# The one-run A/B check's power: with four use cases x five seeds of `lift`, 0.99 would miss
# somewhere one matrix in five (maintenance seed 1 did: p = 0.025 at alpha 0.01)
POWER = 0.999


def _ab(sim: Sim, name: str, effect: float) -> Decision:
    """A 20 % canary of a challenger equal to the champion, with an intervention effect on the
    units it answers (0: an A/A test); the plan is made for that split and read from the log."""
    uc = sim.uc
    cfg = uc.load_config()
    better = cfg.monitoring.outcome_is_good
    # the planned improvement: 30 % of the base rate, in the business's direction
    planned = (0.3 if better else -0.3) * sim.base_rate
    split = 0.2
    p = ab.plan(sim.base_rate, planned, alpha=0.01, power=POWER, split=split,
                higher_is_better=better)  # fmt: skip
    total = p.n_control + p.n_treated
    per_day = math.ceil(1.05 * total / sim.days) + 100
    twin = copy_version(uc, sim.good, note="simulated equal challenger")
    reset(uc, sim.good, twin)
    pilot = _pilot(sim, name)
    control(uc, "start", version=twin)
    pilot.refresh()
    try:
        warm = world.fresh(uc, 150, sim.day_seed(name, 999), sim.prefix(name, 999))
        pilot.predict(warm)  # the shadow stage's records
        # straight to the canary the A/B plan is made for: the twin's shadow has no outcomes
        # yet, and the outcome criterion no longer passes without them (recorded as forced)
        control(uc, "advance", force=True, reason="simulated A/B: the 20 % canary under test")
        pilot.refresh()
        start = time.time()
        for day in range(sim.days):
            raw = world.fresh(uc, per_day, sim.day_seed(name, day), sim.prefix(name, day))
            variants = np.asarray(pilot.predict(raw))
            y = world.truth(uc, raw)
            if effect:
                moved = world.treated(y, effect, sim.base_rate, sim.day_seed(name, day))
                y = np.where(variants == CHALLENGER, moved, y)
            _deliver(pilot, uc, raw, y)
        frame = ab.log_frame(uc.name, f"{time.time() - start + 60:.0f}s")
        frame = frame[frame["time"] >= start]  # the canary stage only, not the shadow warm-up
        report = ab.analyze_frame(frame, p)
        save(sim, "ab_analysis.json", report)
    finally:
        pilot.close()
    code = report["verdict_code"]
    if effect == 0:
        expected, ok = "no winner, no SRM", code in ("no_difference", "keep_running")
    else:
        expected, ok = (
            f"{p.treatment} wins ({'higher' if better else 'lower'} rate is better)",
            code == "treatment_wins",
        )
    rates = {g["group"]: round(g["rate"], 4) for g in report["groups"]}
    return Decision(name, f"A/B at a {split:.0%} canary, effect {effect:+.3f}", expected,
                    f"{code}: {report['verdict'][:160]}", ok, f"{total} planned units",
                    {"rates": rates, "srm_p": report["srm"]["p_value"], "lift": report["lift"]})  # fmt: skip


def aa(sim: Sim) -> list[Decision]:
    return [_ab(sim, "aa", 0.0)]


def lift(sim: Sim) -> list[Decision]:
    better = sim.uc.load_config().monitoring.outcome_is_good
    return [_ab(sim, "lift", (0.3 if better else -0.3) * sim.base_rate)]


# --------------------------------------------------------------------------- alerts


def service_down(sim: Sim) -> list[Decision]:
    """The service serves for 30 simulated minutes, then stops: the down alert fires (promtool
    on the recorded series), and no alert fires while it is healthy."""
    uc = sim.uc
    cfg = uc.load_config()
    if alerts.promtool() is None:
        return [Decision("service_down", "down alert", "fires", "promtool is not installed", None)]
    reset(uc, sim.good)
    pilot = _pilot(sim, "down")
    up, total = 30, 60
    per_minute = []
    try:
        for minute in range(up):
            raw = world.fresh(uc, 20, sim.day_seed("down", minute), sim.prefix("down", minute))
            pilot.predict(raw)  # one request a minute
            per_minute.append(1)
    finally:
        pilot.close()
    return down_decision(sim, cfg, per_minute, up, total)


def down_decision(sim: Sim, cfg: Any, per_minute: list[int], up: int, total: int) -> list[Decision]:
    """The alert rules (promtool) on a service that answered `per_minute` requests for `up`
    minutes, then stopped, until `total`: a down alert after `up`, none before."""
    uc = sim.uc
    series = alerts.service_series(uc, per_minute, up, total)
    minutes = list(range(5, total + 1, 5))
    fired = alerts.fired(uc, cfg, series, minutes, sim.folder / "promtool")
    down = alerts.down_alerts(uc, cfg)
    healthy = set().union(*(fired[m] for m in minutes if m <= up))
    after = [m for m in minutes if m > up and fired[m] & down]
    got = (f"down alert at minute {after[0]} ({', '.join(sorted(fired[after[0]] & down))})"
           if after else f"no down alert (rules watching the service: {sorted(down) or 'none'})")  # fmt: skip
    if healthy:
        got += f"; while healthy: {sorted(healthy)}"
    return [
        Decision("service_down", "the service stops answering", "a down alert fires; none while healthy",
                 got, bool(after) and not healthy, "-" if not after else f"{after[0] - up} minutes"),
    ]  # fmt: skip


SCENARIOS: dict[str, Callable[[Sim], list[Decision]]] = {
    "better_challenger": better_challenger,
    "worse_challenger": worse_challenger,
    "erroring_challenger": lambda sim: faulty_challenger(sim, "erroring"),
    "unloadable_challenger": lambda sim: faulty_challenger(sim, "unloadable"),
    "covariate_drift": covariate_drift,
    "concept_drift": concept_drift,
    "aa": aa,
    "lift": lift,
    "service_down": service_down,
}
SHORT = ("better_challenger", "erroring_challenger", "covariate_drift", "aa", "service_down")
