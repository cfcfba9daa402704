"""The scenarios of a simulated pilot for the use cases that are not one-record-per-unit
classifiers: forecasting (`serves: series`) and entity histories (the fleet's
`binary_sequence`, the remaining-useful-life regression).

Their services share the router, the rollback window and the alert rules with the
classifiers', so the faulty challengers and the down alert are the same decisions, driven with
the use case's own traffic: whole series for a forecaster, entity histories (a few records per
entity, the latest scored) for the others. A scenario that needs what a task does not have
(a yes/no outcome for A/B, a model better by a known margin) is skipped with that reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import yaml

from shared.core.config import apply_overrides, has_setting, read_yaml
from shared.core.tracking import stored_version
from shared.ops.monitoring.monitor import run as run_monitor
from shared.ops.simulate import alerts, world
from shared.ops.simulate.pilot import (
    Pilot,
    control,
    copy_version,
    reset,
    sim_overrides,
    train_on,
)
from shared.ops.simulate.scenarios import (
    Decision,
    Sim,
    _faulty,
    down_decision,
    operator_turn,
    rollback_decision,
)
from shared.ops.simulate.world import records
from shared.serve.factory import Outcome
from shared.serve.forecast import make_service, request_models, series_key, series_key_columns
from shared.serve.predlog import open_log

# Forecasting in the simulation: the flow, not the model search (set only where the key exists).
FAST_SERIES = {
    "baselines.models": "[naive, seasonal_naive]",
    "model.ensemble": "false",
    "backtest.windows": 2,
}
SHIFT = 1.6  # a level-shifted series: sales times this over its last season (monitor's test)
ENTITIES = 60  # entities per simulated day of a history use case
# Series per request in a forecaster's rollout. The rollout's latency criterion (and the data
# plane's automatic rollback) is a variant's scoring time per request, which grows with the
# series in it: at 50 a request, shadow scoring took p99 77-107 ms, and on a two-core machine
# at load average 12 one window reached 224.5 ms, over the 200 ms SLA, and rolled back a worse
# challenger for its latency before its outcomes could.
SERIES_PER_REQUEST = 20
RECENT = 40  # records of an entity's history sent (its longest rolling window is 30)
# A history use case's covariate drift: one raw reading offset by this many of its standard
# deviations from day k (a recalibrated sensor: measured PSI above 1 on its rolling features,
# against at most 0.2 for an undrifted day; psi_alert is 0.2)
READING_SHIFT = 1.0
# A history use case's training rows and a day's export of readings, in multiples of the
# config's `data.synthetic_rows`. Rolling features cluster by entity, so PSI's noise goes with
# the entity count: a reference of the config's rows (about 110 assets in the fleet's training
# part) against another draw of the same generator reached PSI 0.26 (over psi_alert 0.2) on an
# undrifted day; 3x the training rows and 2x per day kept it under 0.1 (offline, three seeds).
TRAIN_SCALE = 3
TRAIN_ROWS_PER_ENTITY = {"predictive_maintenance_fleet": 210, "predictive_maintenance_rul": 240}
EXPORT_SCALE = 2


def kind(uc: Any) -> str:
    """`series` (a forecaster), `history` (records scored per entity) or `records`."""
    if uc.task.serves == "series":
        return "series"
    return "history" if uc.history else "records"


def sim_use_case(uc: Any, folder: Path) -> Any:
    """The simulation's config (pilot.py's overrides) plus the forecaster's fast training."""
    raw = read_yaml(uc.config_path.read_text()) or {}
    cfg = uc.load_config()
    extra = [f"{k}={v}" for k, v in FAST_SERIES.items() if has_setting(cfg, k)]
    if uc.history:
        extra.append(f"rollout.min_outcomes={ROLLOUT_OUTCOMES}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uc.name}.config.yaml"
    path.write_text(yaml.safe_dump(apply_overrides(raw, sim_overrides(uc) + extra)))
    return dataclasses.replace(uc, config_file=str(path.resolve()))


# --------------------------------------------------------------------------- traffic


def panel(uc: Any, seed: int) -> pd.DataFrame:
    """Synthetic series of the forecaster (its config's length and count, another seed)."""
    d = uc.load_config().data
    return uc.make_synthetic(d.n_series, d.n_periods, seed)


def level_shifted(uc: Any, raw: pd.DataFrame, periods: int, factor: float) -> pd.DataFrame:
    """Every series' target times `factor` over its last `periods` periods (inputs only: the
    forecaster's input is its history)."""
    out = raw.copy()
    dates = sorted(out[uc.time_column].unique())
    recent = out[uc.time_column] >= dates[-periods]
    out.loc[recent, uc.target] = out.loc[recent, uc.target] * factor
    return out


def histories(uc: Any, n: int, seed: int, prefix: str) -> pd.DataFrame:
    """`n` entities' recent histories (their last RECENT records) from the generator, each
    entity renamed to an id of this day's own (so an entity never carries over from another
    day by chance)."""
    raw = uc.make_synthetic(n * 400, seed).reset_index(drop=True)
    col = uc.id_column
    entities = list(dict.fromkeys(raw[col]))[:n]
    raw = raw[raw[col].isin(entities)].groupby(col, sort=False).tail(RECENT)
    return renamed(uc, raw.reset_index(drop=True), entities, prefix)


def readings(uc: Any, seed: int, prefix: str, entities: int | None = None) -> pd.DataFrame:
    """A day's export of a history use case's readings: whole histories from the generator,
    EXPORT_SCALE x the config's rows (its drift is judged on rows drawn like the training rows: an
    entity's last records alone sit near its failure, PSI above 1 against them), each entity
    renamed to an id of this day's own."""
    rows = EXPORT_SCALE * uc.load_config().data.synthetic_rows
    if entities is not None:  # about this many entities (the generator's rows per entity)
        rows = entities * TRAIN_ROWS_PER_ENTITY.get(uc.name, 250)
    raw = uc.make_synthetic(rows, seed).reset_index(drop=True)
    keep = list(dict.fromkeys(raw[uc.id_column]))[: entities or None]
    raw = raw[raw[uc.id_column].isin(keep)].reset_index(drop=True)
    return renamed(uc, raw, keep, prefix)


def renamed(uc: Any, raw: pd.DataFrame, entities: list[Any], prefix: str) -> pd.DataFrame:
    """`raw` with each entity's id replaced by one of this day's own (prefix + number, or a
    number block per prefix for a numeric id)."""
    col = uc.id_column
    if pd.api.types.is_numeric_dtype(raw[col]):
        block = zlib.crc32(prefix.encode()) * 100_000
        names = {e: block + i + 1 for i, e in enumerate(entities)}
    else:
        names = {e: f"{prefix}{i:05d}" for i, e in enumerate(entities)}
    out = raw.copy()
    out[col] = out[col].map(names)
    return out


def reading_column(uc: Any, raw: pd.DataFrame) -> str:
    """The raw reading a covariate drift offsets: the numeric column, other than the id, time,
    target, leaky and whole-number ones (counters such as an age), with the most distinct
    values."""
    skip = {uc.id_column, uc.time_column, uc.target, *uc.leaky_columns}
    cols = [
        c
        for c in raw.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(raw[c])
        and not pd.api.types.is_bool_dtype(raw[c])
        and not (raw[c].dropna() % 1 == 0).all()
    ]
    if not cols:
        raise ValueError(f"{uc.name}: no raw numeric reading to offset")
    return max(cols, key=lambda c: raw[c].nunique())


def offset(uc: Any, raw: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Every reading of `reading_column` raised by `scale` of its standard deviation: each
    entity's history keeps its records, order, degradation path (slopes) and outcome; only the
    level of one sensor moves."""
    col = reading_column(uc, raw)
    out = raw.copy()
    out[col] = out[col] + scale * float(raw[col].std())
    return out


def recent(uc: Any, raw: pd.DataFrame, n: int) -> pd.DataFrame:
    """The requests of a day: the first `n` entities' last RECENT records (each scored at its
    latest)."""
    col = uc.id_column
    entities = list(dict.fromkeys(raw[col]))[:n]
    return raw[raw[col].isin(entities)].groupby(col, sort=False).tail(RECENT).reset_index(drop=True)


def cut_histories(
    uc: Any, raw: pd.DataFrame, seed: int, n: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each entity of `raw` (its first `n`) as a live fleet sees it on a day: its history cut at a random
    record (at least RECENT in when it can), the last RECENT records sent; and the scored
    (latest) rows, whose outcome is known by construction. An entity's last records alone sit
    at its failure (a remaining life of 0)."""
    rng = np.random.default_rng([seed, 0xC07])  # not the generator's stream
    col = uc.id_column
    parts = []
    for i, (_, rows) in enumerate(raw.groupby(col, sort=False)):
        if n is not None and i >= n:
            break
        rows = rows.sort_values(uc.time_column)
        end = int(rng.integers(min(RECENT, len(rows)) - 1, len(rows)))
        parts.append(rows.iloc[max(0, end - RECENT + 1) : end + 1])
    sent = pd.concat(parts, ignore_index=True)
    return sent, sent.groupby(col, sort=False).tail(1).reset_index(drop=True)


class SeriesPilot(Pilot):
    """A forecasting service (in process) with its own prediction log: POST /forecast."""

    def __init__(self, uc: Any, log_path: Path):
        os.environ["PILOTPACK_PREDICTION_LOG"] = str(log_path)
        self.uc = uc
        self.log_path = log_path
        self.service = make_service(uc)
        self.instance = self.service.inner()
        self.loop = asyncio.new_event_loop()  # the scoring APIs are coroutines (`dispatch`)
        self.request = request_models(uc)[0]
        self.key = None

    def predict(self, raw: pd.DataFrame) -> list[str]:
        """Forecast every series of `raw` (its last history periods), 50 series a request."""
        items = [self.request(**s) for s in series_items(self.uc, raw)]
        variants: list[str] = []
        for i in range(0, len(items), 50):
            out = self.call("forecast", series=items[i : i + 50], ctx=None)
            variants += [str(o.variant) for o in out]
        self.settle()
        return variants

    def forecast_keyed(self, raw: pd.DataFrame) -> list[tuple[str, str]]:
        """Forecast every series of `raw`, SERIES_PER_REQUEST a request, each request sent with
        an X-Request-ID of the caller's (as a planning system would, to post the sales later);
        (request id, routing key) of each series."""
        items = [self.request(**s) for s in series_items(self.uc, raw)]
        columns = series_key_columns(self.uc, self.uc.load_config())
        sent: list[tuple[str, str]] = []
        n = SERIES_PER_REQUEST
        for i in range(0, len(items), n):
            rid = uuid.uuid4().hex
            self.call("forecast", series=items[i : i + n], ctx=_context(rid))
            sent += [(rid, str(series_key(s, columns))) for s in items[i : i + n]]
        self.settle()
        return sent

    def outcomes_by_request(self, sent: list[tuple[str, str]], values: np.ndarray) -> int:
        """Post each series' actual by the request id and routing key of its forecast."""
        items = [
            Outcome(request_id=rid, routing_key=key, value=float(v))
            for (rid, key), v in zip(sent, values, strict=True)
        ]
        return sum(
            self.instance.outcome(outcomes=items[i : i + 5000]).stored
            for i in range(0, len(items), 5000)
        )


def _context(rid: str) -> Any:
    """What the service reads of a request's context: its X-Request-ID header (and where it
    echoes it)."""
    return SimpleNamespace(
        request=SimpleNamespace(headers={"x-request-id": rid}), response=SimpleNamespace(headers={})
    )


class HistoryPilot(Pilot):
    """A record service of entity histories: each request holds whole histories (the service
    scores each entity's latest record from the records it is sent)."""

    def predict(self, raw: pd.DataFrame) -> list[str]:
        recs = [self.request(**r) for r in records(self.uc, raw)]
        col = self.uc.id_column
        variants: list[str] = []
        for ids in np.array_split(raw[col].unique(), max(1, raw[col].nunique() // 10)):
            rows = [recs[i] for i in np.flatnonzero(raw[col].isin(ids).to_numpy())]
            out = self.call("predict", records=rows, ctx=None)
            variants += [str(o.variant) for o in out]
        self.settle()
        return variants


def series_items(uc: Any, raw: pd.DataFrame) -> list[dict[str, Any]]:
    """One request item per series (in key order): its ids, its last history periods (in time
    order) and the horizon. Built from whole columns, not a frame per series: a rollout day
    of 2,000 series spent most of its time in per-group `to_dict` and per-row date parsing."""
    cfg = uc.load_config()
    bt = cfg.backtest
    n = min(max(bt.season, bt.min_history, 2 * bt.horizon) * 2, cfg.serving.max_history)
    ids, t, h = list(uc.forecast.id_columns), uc.time_column, uc.forecast.holiday_column
    if raw.empty:
        return []
    frame = raw.sort_values([*ids, t], kind="stable")
    frame = frame.groupby(ids, sort=False).tail(n)  # keeps the (key, time) order
    # each distinct period parsed once (as a Timestamp's date, whatever the column's type)
    text = {v: pd.Timestamp(v).date().isoformat() for v in frame[t].unique()}
    days = frame[t].map(text).tolist()
    values = frame[uc.target].astype(float).tolist()
    flags = frame[h].astype(bool).tolist() if h else None
    keys = [frame[c].to_numpy() for c in ids]
    starts = run_starts(keys) + [len(frame)]
    out = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        history = [
            {t: days[i], uc.target: values[i]} | ({h: flags[i]} if flags is not None else {})
            for i in range(a, b)
        ]
        item = {
            c: (k[a].item() if hasattr(k[a], "item") else k[a])
            for c, k in zip(ids, keys, strict=True)
        }
        out.append(item | {"history": history, "horizon": bt.horizon})
    return out


def run_starts(columns: list[np.ndarray]) -> list[int]:
    """Where each run of equal keys starts in sorted key columns (a row whose key differs
    from the row before it in any column)."""
    changed = [np.r_[True, c[1:] != c[:-1]] for c in columns]
    return np.flatnonzero(np.logical_or.reduce(changed)).tolist()


def pilot_of(sim: Sim, name: str) -> Pilot:
    path = sim.folder / f"{name}.db"
    return SeriesPilot(sim.uc, path) if kind(sim.uc) == "series" else HistoryPilot(sim.uc, path)


def traffic(sim: Sim, scenario: str, day: int) -> pd.DataFrame:
    """One simulated day of the use case's requests. A forecaster is asked about the stores it
    was trained on (a pilot watches its own series; another draw of the generator is other
    stores, whose features' PSI against the reference alerted on 2 of 10 undrifted days)."""
    if kind(sim.uc) == "series":
        return panel(sim.uc, train_seed(sim))
    return histories(sim.uc, ENTITIES, sim.day_seed(scenario, day), sim.prefix(scenario, day))


# --------------------------------------------------------------------------- set-up


def train_seed(sim: Sim) -> int:
    return 10 * sim.seed + 2


def prepare(sim: Sim, log: Callable[[str], None]) -> None:
    """One model per seed, trained on the generator's data: the champion of every scenario."""
    uc = sim.uc
    log(f"training the champion of {uc.name} (seed {sim.seed}) ...")
    if kind(uc) == "series":
        raw = panel(uc, train_seed(sim))
    else:
        rows = TRAIN_SCALE * uc.load_config().data.synthetic_rows  # a reference of enough entities
        raw = uc.make_synthetic(rows, 10 * sim.seed + 2)
    sim.good = train_on(uc, raw, sim.folder / "good.parquet").model_version
    sim.trained = 1
    if kind(uc) == "history":  # the weak model of better/worse_challenger (shuffled readings)
        rows = uc.load_config().data.synthetic_rows
        for keep_every in (3, 2):  # milder when the first is refused (the fleet's seed 3:
            # its expected cost did not beat running to failure)
            weak = thinned(uc, uc.make_synthetic(rows, 10 * sim.seed + 1), sim.seed, keep_every)
            try:
                sim.weak = train_on(
                    weak_use_case(uc), weak, sim.folder / "weak.parquet"
                ).model_version
                break
            except RuntimeError as exc:  # its scenarios say so (a wrong decision)
                sim.weak_error = str(exc)[:300]
        if not sim.weak:
            return
        sim.trained = 2
        sim.margin = true_margin(sim)


# The weak model's own gates: it is built to be worse (a floor on recall or RMSE is not what
# it tests), and it is the baseline model alone (a LightGBM on shuffled readings was refused
# as significantly worse than the ridge baseline on seed 3)
WEAK_OVERRIDES = {"kpi.min_recall": 0.0, "kpi.max_rmse": "1.0e+6", "kpi.max_late_share": 1.0}


def weak_use_case(uc: Any) -> Any:
    """The simulation's use case with the weak model's config: the baseline candidate only,
    no business floor."""
    raw = read_yaml(uc.config_path.read_text()) or {}
    cfg = uc.load_config()
    extra = [f"{k}={v}" for k, v in WEAK_OVERRIDES.items() if has_setting(cfg, k)]
    raw = apply_overrides(raw, extra)
    base = cfg.model.baseline
    cands = raw.get("model", {}).get("candidates") or []
    raw["model"]["candidates"] = [c for c in cands if c.get("params", {}).get("kind") == base][:1]
    path = uc.config_path.with_name(f"{uc.name}.weak.config.yaml")
    path.write_text(yaml.safe_dump(raw))
    return dataclasses.replace(uc, config_file=str(path.resolve()))


# --------------------------------------------------------------------------- scenarios


def faulty_challenger(sim: Sim, fault: str) -> list[Decision]:
    """A challenger that errors (or cannot be loaded) is rolled back automatically within its
    rollback window (counted in the units it routes: series or entities), the reason recorded."""
    uc = sim.uc
    cfg = uc.load_config().rollout
    bad = _faulty(sim, fault)
    reset(uc, sim.good, bad)
    pilot = pilot_of(sim, fault)
    control(uc, "start", version=bad)
    pilot.refresh()
    served, state = 0, pilot.state()
    try:
        for day in range(sim.days):
            raw = traffic(sim, fault, day)
            served += len(pilot.predict(raw))
            state = pilot.wait_state(lambda s: s.status != "active", timeout=2.0)
            if state.status != "active":
                break
            report = control(uc, "status", log=open_log(str(pilot.log_path)))
            if report["recommendation"] in ("advance", "promote"):
                control(uc, "advance")
                pilot.refresh()
    finally:
        pilot.close()
    unit = "series" if kind(uc) == "series" else "entities"
    # one day's requests may finish after the trip
    return rollback_decision(fault, state, served, cfg.window, 2 * ENTITIES, unit)


# Entities a day in a history use case's rollout, and the outcomes per variant its comparison
# waits for: the rollout compares mean squared errors with an unpaired 95 % margin; with 30
# outcomes a RUL model worse by 2.6 cycles of RMSE (about 12 %) was promoted. A 20 % stage of
# 1,000 entities a day holds about 200.
ROLLOUT_ENTITIES = 1200
ROLLOUT_OUTCOMES = 100  # the fleet's 20 % stage: about 140 a day (censored entities have none)


def _loss(uc: Any, y: np.ndarray, score: np.ndarray) -> float:
    """The task's own figure of the rollout's outcome comparison: RMSE for a number, the Brier
    score for a probability (what `rollout status` compares is the mean squared error)."""
    return float(np.sqrt(np.mean((score - y) ** 2)))


def rollout_decision(sim: Sim, name: str, better: bool) -> list[Decision]:
    """The good model against the weak one as champion (`better`), or the other way round:
    shadow -> 20 % -> 100 % -> promoted for the better one; rolled back (or held, never
    promoted) for the worse one, on outcomes posted a day late: a history use case's true
    remaining life or failure of each entity's scored record, by entity id; a forecaster's
    actual of the period each series' step 1 forecast, by request id and routing key."""
    uc = sim.uc
    if kind(uc) == "series" and not sim.weak:  # built when a scenario first needs it
        sim.weak = biased_copy(sim)
        sim.margin, sim.series_figures = series_margin(sim)
    champion, challenger = (sim.weak, sim.good) if better else (sim.good, sim.weak)
    if not sim.weak:  # the weak model was refused at training
        what = f"a challenger {'better' if better else 'worse'} by a known margin"
        return [Decision(name, f"roll out {what}", "a decision", sim.weak_error, False)]
    reset(uc, champion, challenger)
    pilot = pilot_of(sim, name)
    control(uc, "start", version=challenger)
    pilot.refresh()
    got, day_done, pending, waiting = "still rolling out", None, None, []
    stages, stage = uc.load_config().rollout.stages, 0
    one_day = series_day(sim, name) if kind(uc) == "series" else history_day(sim, name)
    trail = []  # per day: the stage, what status recommended, and its outcome comparison
    try:
        for day in range(sim.days):
            pending = one_day(pilot, day, pending)
            report = control(uc, "status", log=pilot.log())
            waiting = [c["detail"] for c in report.get("criteria", []) if not c["ok"]]
            compared = [c["detail"] for c in report.get("criteria", []) if c["name"] == "outcomes"]
            trail.append(f"day {day} at {report['stage']}: {report['recommendation']}; "
                         + "; ".join(compared))  # fmt: skip
            verdict, stage = operator_turn(uc, pilot, report, stage, len(stages))
            if verdict is not None:
                got, day_done = verdict, day
                break
    finally:
        pilot.close()
    if better:
        expected, ok = "promoted", got == "promoted"
    else:
        expected, ok = "rolled back or held, never promoted", got != "promoted"
    metric = {"regression": "RMSE", "forecast": "MSE"}.get(uc.task.monitoring, "Brier score")
    margin = sim.margin if better else -sim.margin  # the challenger's loss minus the champion's
    shown = f"{margin:+.3g}" if kind(uc) == "series" else f"{margin:+.3f}"
    figures = {f"true_{metric.split()[0].lower()}_margin": round(margin, 4)}
    if kind(uc) == "series":  # the loss is in USD², and what else was measured on fresh weeks
        figures |= sim.series_figures
    return [
        Decision(name, f"roll out a challenger {'better' if better else 'worse'} by a known "
                 f"margin ({metric} {shown})",
                 expected, got[:300], ok and sim.margin < 0,
                 "-" if day_done is None else f"day {day_done}",
                 figures | {"waiting_on": waiting if got != "promoted" else [], "days": trail}),
    ]  # fmt: skip


def history_day(sim: Sim, name: str) -> Callable[[Any, int, Any], Any]:
    """A day of a history use case's rollout: fresh entities' histories cut at a random
    record, scored; yesterday's outcomes posted by entity id; today's kept for tomorrow."""
    uc = sim.uc

    def one_day(pilot: Any, day: int, pending: Any) -> Any:
        seed, prefix = sim.day_seed(name, day), sim.prefix(name, day)
        sent, latest = cut_histories(uc, readings(uc, seed, prefix, ROLLOUT_ENTITIES), seed)
        pilot.predict(sent)
        if pending is not None:  # yesterday's outcomes arrive today
            pilot.outcomes(*pending)
        y = world.truth(uc, latest)
        known = np.asarray(uc.labelled(latest), dtype=bool)
        return list(latest[uc.id_column][known]), y[known]

    return one_day


def series_day(sim: Sim, name: str) -> Callable[[Any, int, Any], Any]:
    """A day of a forecaster's rollout is one period of its world (`rollout_world`): every
    live series forecast through the service from its history so far; yesterday's actuals
    (the period its step 1 forecast) posted by request id and routing key."""
    uc = sim.uc
    raw = rollout_world(uc, sim.day_seed(name, 0), sim.days)

    def one_day(pilot: Any, day: int, pending: Any) -> Any:
        history, actual = period(uc, raw, day)
        sent = pilot.forecast_keyed(history)
        if pending is not None:  # yesterday's actuals arrive today
            pilot.outcomes_by_request(*pending)
        known = [s for s in sent if s[1] in actual]
        return known, np.array([actual[k] for _, k in known], dtype=float)

    return one_day


# --------------------------------------------------------------------------- a forecaster's challengers

# The forecaster's weak model is the champion's own stored model with every model forecast
# times BIAS (a Mul after the ONNX output; the fallback rule of short histories untouched): worse
# by construction, by a margin measured on fresh weeks (`series_margin`).
BIAS = 1.5
# Series a day in a forecaster's rollout (the generator's stores x departments). The rollout
# compares raw squared errors (USD²), which the largest series dominate; see `series_margin`.
ROLLOUT_SERIES = 2000


def biased_copy(sim: Sim) -> str:
    """A new registered version: the good model's ONNX graph with its output times BIAS."""
    import onnx  # heavy: only this set-up edits a graph
    from onnx import helper, numpy_helper

    uc = sim.uc
    model = onnx.load(str(stored_version(uc.name, sim.good).onnx_path))
    graph = model.graph
    out = graph.output[0].name
    dtype = helper.tensor_dtype_to_np_dtype(graph.output[0].type.tensor_type.elem_type)
    for node in graph.node:
        node.output[:] = [f"{out}__unbiased" if o == out else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array([BIAS], dtype=dtype), "__bias__"))
    graph.node.append(helper.make_node("Mul", [f"{out}__unbiased", "__bias__"], [out]))
    onnx.checker.check_model(model)
    note = f"simulated weak challenger: version {sim.good}'s forecasts x {BIAS:g}"
    return copy_version(uc, sim.good, model.SerializeToString(), note=note)


def rollout_world(uc: Any, seed: int, days: int) -> pd.DataFrame:
    """ROLLOUT_SERIES series of the generator over the config's periods plus `days`: day d
    forecasts from the first n_periods + d periods and is judged on the next."""
    return uc.make_synthetic(ROLLOUT_SERIES, uc.load_config().data.n_periods + days, seed)


def period(uc: Any, raw: pd.DataFrame, day: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """The series live on `day` (a row in its last period): their history so far, and each
    one's actual of the next period by routing key (a missing period is 0 under `gaps: zero`,
    unknown under `gaps: missing`)."""
    cfg = uc.load_config()
    t = uc.time_column
    dates = sorted(raw[t].unique())
    last, nxt = dates[cfg.data.n_periods + day - 1], dates[cfg.data.n_periods + day]
    keys = routing_keys(raw, list(uc.forecast.id_columns))
    live = keys.isin(set(keys[raw[t] == last]))
    actual = dict.fromkeys(keys[live & (raw[t] == last)], 0.0) if cfg.data.gaps == "zero" else {}
    ahead = live & (raw[t] == nxt)
    actual |= dict(zip(keys[ahead], raw.loc[ahead, uc.target].astype(float), strict=True))
    return raw[live & (raw[t] <= last)], actual


def routing_keys(raw: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Each row's series key as the service routes it (`Store|Dept`): the columns as text,
    joined column-wise (a row-wise join took seconds on a world of 2,000 series)."""
    text = [raw[c].astype(str) for c in columns]
    out = text[0]
    for part in text[1:]:
        out = out + "|" + part
    return out


def step_one(sim: Sim, version: str, items: list[Any]) -> dict[str, float]:
    """`version`'s step-1 forecast of every series request in `items`, through the service."""
    uc = sim.uc
    reset(uc, version)
    pilot = pilot_of(sim, f"holdout-{version}")
    columns = series_key_columns(uc, uc.load_config())
    out: dict[str, float] = {}
    try:
        n = SERIES_PER_REQUEST
        for i in range(0, len(items), n):
            for f in pilot.call("forecast", series=items[i : i + n], ctx=None):
                out[str(series_key(f, columns))] = float(f.steps[0].forecast)
    finally:
        pilot.close()
    return out


def series_margin(sim: Sim) -> tuple[float, dict[str, Any]]:
    """The good model's step-1 MSE minus the biased one's (USD², negative) on a fresh world's
    first period; with WAPEs and the share of the squared error the largest 5 % of series hold
    (what the rollout's raw squared error weighs)."""
    uc = sim.uc
    history, actual = period(uc, rollout_world(uc, 10 * sim.seed + 3, 1), 0)
    keys = sorted(actual)
    y = np.array([actual[k] for k in keys])
    # the same requests for both models (built and validated once: 2,000 series' histories)
    request = request_models(uc)[0]
    items = [request(**s) for s in series_items(uc, history)]
    err = {}
    for version in (sim.good, sim.weak):
        f = step_one(sim, version, items)
        err[version] = np.array([f[k] for k in keys]) - y
    good, weak = err[sim.good] ** 2, err[sim.weak] ** 2
    top = np.argsort(-np.abs(y))[: max(1, len(y) // 20)]
    figures = {
        "series": len(y),
        "bias": BIAS,
        "mse_ratio": round(float(weak.mean() / good.mean()), 3),
        "wape_good": round(float(np.abs(err[sim.good]).sum() / np.abs(y).sum()), 4),
        "wape_weak": round(float(np.abs(err[sim.weak]).sum() / np.abs(y).sum()), 4),
        "top5pct_share_of_squared_error": round(float(weak[top].sum() / weak.sum()), 3),
    }
    return float(good.mean() - weak.mean()), figures


def thinned(uc: Any, raw: pd.DataFrame, seed: int, keep_every: int = 3) -> pd.DataFrame:
    """Readings of a weak model's training: every numeric raw column but one in `keep_every`
    (id, time, target and leaky ones kept) shuffled across rows. The classifiers' `weakened`
    (every other column) left a RUL model only 2.6 cycles of RMSE behind: sensors that move
    together stand in for each other."""
    rng = np.random.default_rng(seed)
    out = raw.copy()
    skip = {uc.id_column, uc.time_column, uc.target, *uc.leaky_columns}
    cols = [c for c in out.columns if c not in skip and pd.api.types.is_numeric_dtype(out[c])]
    for i, col in enumerate(cols):
        if i % keep_every:
            out[col] = out[col].to_numpy()[rng.permutation(len(out))]
    return out


def true_margin(sim: Sim) -> float:
    """The good model's loss minus the weak one's (RMSE or Brier score, negative: the good one
    is better) on the scored records of fresh histories."""
    uc = sim.uc
    seed = 10 * sim.seed + 3
    sent, latest = cut_histories(uc, readings(uc, seed, f"ho{sim.seed}-", ROLLOUT_ENTITIES), seed)
    known = np.asarray(uc.labelled(latest), dtype=bool)
    y = world.truth(uc, latest)[known]
    last = sent.reset_index(drop=True).groupby(uc.id_column, sort=False).tail(1).index
    features = world.configured(uc).build_features(sent.drop(columns=[uc.target]))
    loss = {}
    for version in (sim.weak, sim.good):
        reset(uc, version)
        p = pilot_of(sim, f"holdout-{version}")
        score = np.asarray(p.deployment.plan.champion.values(features), dtype=float)
        p.close()
        loss[version] = _loss(uc, y, score[np.asarray(last)][known])
    return loss[sim.good] - loss[sim.weak]


def _drift_alert(sim: Sim, raw: pd.DataFrame, name: str) -> tuple[bool, str]:
    """Whether `monitor` raises a drift alert on the day's rows; its largest PSI and where."""
    uc = sim.uc
    path = sim.folder / f"{name}.parquet"
    data = raw if kind(uc) == "series" else raw.drop(columns=[uc.target])
    data.to_parquet(path, index=False)
    report = run_monitor(uc, uc.load_config(), data=path)
    top = max(report.get("drift") or [], key=lambda r: r["psi"], default=None)
    where = "-" if top is None else f"{top['psi']:.3f} on {top['feature']}"
    return any(a.startswith("drift") for a in report["alerts"]), where


def covariate_drift(sim: Sim) -> list[Decision]:
    """From day k the inputs shift (a forecaster: every series' level times 1.6 over its last
    season; a history use case: one sensor's readings offset by READING_SHIFT of its standard
    deviation, each entity's history otherwise kept): a drift alert from `monitor` on or after
    k, none before."""
    uc = sim.uc
    k = max(1, sim.days // 2)
    reset(uc, sim.good)
    pilot = pilot_of(sim, "covariate")
    season = uc.load_config().backtest.season if kind(uc) == "series" else 0
    first, early, column, psi = None, [], "", {}
    try:
        for day in range(sim.days):
            if kind(uc) == "series":
                raw = traffic(sim, "covariate", day)
                raw = level_shifted(uc, raw, season, SHIFT) if day >= k else raw
                asked = raw
            else:  # the day's readings; the service is asked about its first entities
                seed, prefix = sim.day_seed("covariate", day), sim.prefix("covariate", day)
                raw = readings(uc, seed, prefix)
                column = reading_column(uc, raw)
                raw = offset(uc, raw, READING_SHIFT) if day >= k else raw
                asked = recent(uc, raw, ENTITIES)
            pilot.predict(asked)
            alerted, psi[day] = _drift_alert(sim, raw, f"covariate-{day}")
            if alerted:
                if day < k:
                    early.append(day)
                elif first is None:
                    first = day
    finally:
        pilot.close()
    ok = not early and first is not None
    got = f"first alert day {first}" + (f"; false alarms on days {early}" if early else "")
    what = (
        "series level-shifted"
        if kind(uc) == "series"
        else f"readings of {column} offset by {READING_SHIFT:g} sd"
    )
    return [
        Decision("covariate_drift", f"drift alert for {what} from day {k}",
                 f"an alert on a day >= {k}, none before", got, ok,
                 "-" if first is None else f"{first - k} days after the shift",
                 {"largest_psi_by_day": psi}),
    ]  # fmt: skip


def service_down(sim: Sim) -> list[Decision]:
    """The service answers one request a minute for 30 simulated minutes, then stops: a down
    alert fires (promtool on the recorded series), none while it is healthy."""
    uc = sim.uc
    cfg = uc.load_config()
    if alerts.promtool() is None:
        return [Decision("service_down", "down alert", "fires", "promtool is not installed", None)]
    reset(uc, sim.good)
    pilot = pilot_of(sim, "down")
    up, total = 30, 60
    per_minute = []
    try:
        raw = traffic(sim, "down", 0)
        one = _one_unit(uc, raw)
        for _ in range(up):
            pilot.predict(one)  # one request a minute
            per_minute.append(1)
    finally:
        pilot.close()
    return down_decision(sim, cfg, per_minute, up, total)


def _one_unit(uc: Any, raw: pd.DataFrame) -> pd.DataFrame:
    """The rows of one series (or one entity's history): one unit per request."""
    cols = list(uc.forecast.id_columns) if kind(uc) == "series" else [uc.id_column]
    first = raw[cols].iloc[0]
    return raw[np.logical_and.reduce([raw[c] == first[c] for c in cols])]


# --------------------------------------------------------------------------- which apply

NO_RATE = "the A/B test counts a yes/no outcome per unit (a rate); {what} has none to count"


def plan(uc: Any) -> dict[str, Callable[[Sim], list[Decision]] | str]:
    """Scenario -> its function, or why it does not apply to this use case's task."""
    k = kind(uc)
    if uc.task.monitoring == "classifier":  # the fleet: a yes/no outcome, per entity
        ab_reason = (
            "the world's intervention moves the outcome rate of the units a challenger answers; "
            "for entity histories (an outcome per entity's latest record) it is not built yet"
        )
    else:
        what = "a forecast" if k == "series" else f"the {uc.task.name} task (a number)"
        ab_reason = NO_RATE.format(what=what)
    faulty = {
        "erroring_challenger": lambda sim: faulty_challenger(sim, "erroring"),
        "unloadable_challenger": lambda sim: faulty_challenger(sim, "unloadable"),
    }
    out: dict[str, Callable[[Sim], list[Decision]] | str] = {
        "better_challenger": lambda sim: rollout_decision(sim, "better_challenger", True),
        "worse_challenger": lambda sim: rollout_decision(sim, "worse_challenger", False),
        **faulty,
        "covariate_drift": covariate_drift,
        "concept_drift": (
            "a forecaster's input is the series' own history: a change in how sales move is "
            "a level shift of its inputs too (covariate_drift covers it)"
            if k == "series"
            else "the world's concept drift flips a yes/no outcome; none is built for entity "
            "histories yet"
        ),
        "aa": ab_reason,
        "lift": ab_reason,
        "service_down": service_down,
    }
    return out
