"""One simulation run, in a process of its own (`python -m shared.ops.simulate.run`).

`pilotpack simulate` starts it with BENTOML_HOME, MLFLOW_TRACKING_URI, PILOTPACK_HOME and the
prediction log pointed at a temporary folder (BentoML reads its home once, at import), so a
simulation never touches the team's registry, model store or log. It writes the JSON report
(and the scorecard of the last seed) where it is told, and exits 1 on any wrong decision.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from shared.core.store import reports_dir
from shared.core.usecase import get_use_case
from shared.ops.governance import scorecard
from shared.ops.simulate import series
from shared.ops.simulate.pilot import sim_use_case
from shared.ops.simulate.scenarios import SCENARIOS, SHORT, Decision, Sim, applies, prepare

ENV_HOME = "PILOTPACK_SIMULATE_HOME"  # set by `pilotpack simulate` for this process


def chosen(names: list[str]) -> list[str]:
    """`all`, `short` (the CI set) or scenario names."""
    out: list[str] = []
    for name in names:
        if name == "all":
            out += list(SCENARIOS)
        elif name == "short":
            out += list(SHORT)
        elif name in SCENARIOS:
            out.append(name)
        else:
            raise ValueError(f"scenario {name!r}: one of all, short, {', '.join(SCENARIOS)}")
    return list(dict.fromkeys(out))


def simulate(
    name: str,
    scenarios: list[str],
    seeds: list[int],
    days: int,
    home: Path,
    report_dir: Path,
    bench: Path | None = None,
) -> dict[str, Any]:
    """Every chosen scenario for every seed; the report (and the scorecard in `report_dir`)."""
    base = get_use_case(name)
    names = chosen(scenarios)
    decisions: list[Decision] = []
    # the classifiers' scenarios, or those of series / entity histories (shared/ops/simulate/series.py)
    other = applies(base) is not None
    table: dict[str, Any] = series.plan(base) if other else SCENARIOS
    t0 = time.time()
    sim = None
    for seed in seeds:
        folder = home / f"seed{seed}"
        uc = (series.sim_use_case if other else sim_use_case)(base, folder)
        sim = Sim(uc, seed, days, folder)
        (series.prepare if other else prepare)(sim, lambda m: print(m, file=sys.stderr, flush=True))
        for scenario in names:
            if isinstance(table[scenario], str):  # does not apply to this task: why
                decisions.append(Decision(scenario, "-", "-", f"skipped: {table[scenario]}", None))
                continue
            print(f"seed {seed}: {scenario} ...", file=sys.stderr, flush=True)
            started = time.time()
            try:
                found = table[scenario](sim)
            except Exception as exc:  # a crash is a wrong decision, shown with its cause
                found = [
                    Decision(
                        scenario,
                        "run the scenario",
                        "completes",
                        f"crashed: {type(exc).__name__}: {exc}"[:400],
                        False,
                    )
                ]
            for d in found:
                d.figures |= {"seed": seed, "seconds": round(time.time() - started, 1)}
            decisions += found
    out = report(name, seeds, days, names, decisions, time.time() - t0)
    if sim is not None:
        out["scorecard"] = write_scorecard(sim, report_dir, bench)
    return out


def report(
    name: str,
    seeds: list[int],
    days: int,
    names: list[str],
    decisions: list[Decision],
    seconds: float,
) -> dict[str, Any]:
    wrong = [d for d in decisions if d.ok is False]
    return {
        "use_case": name,
        "seeds": seeds,
        "days": days,
        "scenarios": names,
        "decisions": [d.to_dict() for d in decisions],
        "wrong": len(wrong),
        "skipped": sum(d.ok is None for d in decisions),
        "seconds": round(seconds, 1),
    }


def write_scorecard(sim: Sim, report_dir: Path, bench: Path | None) -> dict[str, Any]:
    """The go/no-go page of the simulated pilot (last seed): the training report, monitor and
    A/B reports the scenarios wrote, the registry's retrains and the team's latest benchmark."""
    cfg = sim.uc.load_config()
    team = get_use_case(sim.uc.name).load_config().rollout.sla_ms  # not the simulation's
    cfg = cfg.model_copy(update={"rollout": cfg.rollout.model_copy(update={"sla_ms": team})})
    inputs = scorecard.gather(sim.uc.name, folder=reports_dir(sim.uc.name), bench=bench)
    md, html, figures = scorecard.write(sim.uc.name, cfg, inputs, sim.trained - 1, report_dir)
    return {"markdown": str(md), "html": str(html), "verdict": scorecard.verdict(figures)}


def unsynced_under(home: Path) -> None:
    """SQLite databases under `home` (the simulation's temporary MLflow registry) commit
    without waiting for the disk (`synchronous = OFF`): the folder is deleted after the run,
    so a commit's fsync guards nothing. A churn run makes about 800 registry commits, and an
    fsync took about 9 ms each on the test machine's disk: seconds of waiting a run."""
    root = str(home.resolve())

    def on_connect(dbapi: Any, _record: Any) -> None:
        if not isinstance(dbapi, sqlite3.Connection):
            return
        path = dbapi.execute("PRAGMA database_list").fetchone()[2]
        if path and str(Path(path).resolve()).startswith(root + os.sep):
            dbapi.execute("PRAGMA synchronous = OFF")

    event.listen(Engine, "connect", on_connect)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shared.ops.simulate.run")
    parser.add_argument("use_case")
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--seed", type=int, action="append", default=[])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report-dir", type=Path, required=True)
    parser.add_argument("--bench", type=Path, default=None)
    args = parser.parse_args(argv)
    home = Path(os.environ[ENV_HOME])
    unsynced_under(home)
    result = simulate(
        args.use_case,
        args.scenario or ["all"],
        args.seed or [0],
        args.days,
        home,
        args.report_dir,
        args.bench,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 1 if result["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
