"""`pilotpack new` onto files of other shapes than the templates': the folder it writes
trains, passes the contract suite and serves, with no edit to shared/.

The fork is written into usecases/ (where the registry looks) of a copy of the pack's code,
the sandbox, under a name unique to this process: tests running meanwhile in other processes
(pytest-xdist workers) read the repository's registry, which never holds a half-written fork.
Everything that looks at the fork runs in the sandbox (`pilotpack`, pytest, ruff, bentoml).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shared.app.scaffold.new import TEMPLATES, NewSpec, code_files, columns_option, write_use_case
from tests import loopback
from tests.sandbox import FORK_PARTS, copy_code

ROOT = Path(__file__).resolve().parents[1]


def _bank_file(path: Path) -> Path:
    """A `;`-separated churn file with integer-coded categories and a 0/1 target."""
    rng = np.random.default_rng(0)
    n = 3000
    age = rng.integers(18, 80, n)
    balance = np.round(rng.gamma(2, 30000, n), 2)
    products = rng.integers(1, 5, n)
    active = rng.integers(0, 2, n)
    country = rng.choice(["FR", "DE", "ES"], n)
    logit = -2 + 0.04 * (age - 40) - 1.0 * active + 0.8 * (country == "DE") + 0.3 * (products > 2)
    exited = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    # Known only after the customer left: the exit survey's score (--leaky).
    survey = np.where(exited == 1, rng.integers(1, 4, n), rng.integers(3, 6, n))
    frame = pd.DataFrame(
        {
            "CustomerId": np.arange(15_600_000, 15_600_000 + n),
            "Age": age,
            "Balance": balance,
            "NumOfProducts": products,
            "IsActiveMember": active,
            "Geography": country,
            "ExitSurveyScore": survey,
            "Exited": exited,
        }
    )
    frame.to_csv(path, sep=";", index=False)
    return path


def _visits_file(path: Path) -> Path:
    """A regression file: visitors per day from weather and weekday."""
    rng = np.random.default_rng(1)
    n = 2500
    temp = np.round(rng.normal(15, 8, n), 1)
    weekday = rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], n)
    rain = np.round(rng.exponential(2, n), 1)
    visitors = (
        40 + 2.0 * temp - 3 * rain + 25 * np.isin(weekday, ["Sat", "Sun"]) + rng.normal(0, 5, n)
    )
    pd.DataFrame(
        {
            "visit_id": np.arange(n),
            "temp_c": temp,
            "weekday": weekday,
            "rain_mm": rain,
            "visitors": np.round(visitors, 1),
        }
    ).to_csv(path, index=False)
    return path


def _restaurants_file(path: Path) -> Path:
    """Daily visitors of 12 restaurants, closed on Sundays (no row): a weekly rhythm."""
    rng = np.random.default_rng(2)
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    frames = []
    for r in range(12):
        level = rng.uniform(40, 200)
        dow = np.array([0.8, 0.9, 1.0, 1.1, 1.4, 1.6, 0.0])[days.dayofweek]
        visits = np.round(level * dow * rng.normal(1, 0.1, len(days)))
        open_ = days.dayofweek != 6
        frames.append(
            pd.DataFrame(
                {
                    "restaurant": f"R{r:02d}",
                    "day": days[open_].strftime("%Y-%m-%d"),
                    "visitors": visits[open_],
                }
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


def _fleet_file(path: Path) -> Path:
    """Daily readings of 60 pumps until they fail (or the export ends: no failure day)."""
    rng = np.random.default_rng(3)
    frames = []
    for a in range(60):
        n = int(rng.integers(60, 150))
        days = np.arange(1, n + 1)
        fails = rng.random() < 0.7
        near = np.clip(1 - (n + 1 - days) / 20, 0, 1) if fails else np.zeros(n)
        frames.append(
            pd.DataFrame(
                {
                    "pump": f"P{a:03d}",
                    "day": days,
                    "temp": np.round(60 + rng.normal(0, 1.5, n) + 8 * near**2, 2),
                    "vibration": np.round(3 + rng.normal(0, 0.3, n) + 2 * near**2, 3),
                    "failed_on": float(n + 1) if fails else np.nan,
                }
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


LEAKY = "ExitSurveyScore"  # the binary fork's column known only after the outcome


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    """A copy of the pack's code where `pilotpack new` writes its forks."""
    return copy_code(tmp_path_factory.mktemp("sandbox"), FORK_PARTS)


def _env(root: Path) -> dict[str, str]:
    """The environment that makes a subprocess import the pack from `root`."""
    return {**os.environ, "PYTHONPATH": str(root)}


def _run(root: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *cmd],
        cwd=root,
        capture_output=True,
        text=True,
        env=_env(root),
        timeout=600,
    )


def _pilotpack(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(root, "-m", "shared.app.cli", *args)


# Run in the sandbox, in ONE process: every process there would import the stack and open the
# MLflow store again (about 2 s of CPU each). The steps, in order: the fork as the registry finds
# it, its contract checks and what to send (`inspect`); `pilotpack train` on its synthetic rows
# and on the file, through the command's own entry point (typer's CliRunner on the CLI's app, as
# tests/cli_runs.py's `in_process`); the fork's own tests, last because their conftest points
# the process's stores elsewhere (as a pytest run of its own would). Each step's exit code and
# output land in the JSON of the last line, asserted step by step by the test.
STEPS = """
import contextlib, gc, io, json, sys, traceback
import pytest
from typer.testing import CliRunner
from shared.app.cli import app
from shared.core.usecase import registry
from shared.serve.contract import checks
from shared.serve.services import example_payload
from tests.conftest import fast_overrides
name, data = sys.argv[1:]
steps = {}
# What each step leaves alive (the stack, the trained models) is moved out of the collector's
# sight: its full collections would walk it again and again (a fifth of this process's CPU).
gc.freeze()

def failed(args):
    return {"args": args, "returncode": 1, "stdout": "", "stderr": traceback.format_exc()}

try:
    uc = registry()[name]
    task = uc.task
    for check in [*task.training.contract_checks(uc), *checks(uc)]:
        check(uc)
    seen = {"task": uc.task.name, "folder": str(uc.folder), "service": uc.service,
            "history": bool(uc.history), "route": task.route, "time_column": uc.time_column,
            "payload": example_payload(uc, 2),
            "fast": [a for o in fast_overrides(uc) for a in ("--set", o)]}
    steps["inspect"] = {"args": ["inspect", name], "returncode": 0,
                        "stdout": json.dumps(seen, default=str), "stderr": ""}
except Exception:
    steps["inspect"] = failed(["inspect", name])
    print(json.dumps(steps))
    sys.exit()

def pilotpack(*args):
    gc.freeze()
    result = CliRunner().invoke(app, list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return {"args": list(args), "returncode": result.exit_code, "stdout": result.stdout,
            "stderr": stderr}

steps["train"] = pilotpack("train", name, "--allow-synthetic", *seen["fast"])
steps["on_file"] = pilotpack("train", name, "--data", data, "--no-register", *seen["fast"])
# The stack's plugins (anyio, ...) are imported already here: pytest could not rewrite them.
args = ["-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
        f"usecases/{name}"]
out = io.StringIO()
gc.freeze()
try:
    with contextlib.redirect_stdout(out):
        code = pytest.main(list(args))
    steps["pytest"] = {"args": args, "returncode": int(code), "stdout": out.getvalue(),
                       "stderr": ""}
except Exception:
    steps["pytest"] = failed(args)
for step in steps.values():  # the tails the assertions show
    step["stdout"], step["stderr"] = step["stdout"][-4000:], step["stderr"][-4000:]
print(json.dumps(steps))
"""


def _steps(root: Path, name: str, data: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """STEPS run in the sandbox: each step as `subprocess.run` would have returned it."""
    done = _run(root, "-c", STEPS, name, data)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: subprocess.CompletedProcess(**step) for key, step in steps.items()}


@pytest.fixture(params=["binary", "regression", "forecast", "binary_sequence"])
def fork(request, tmp_path, sandbox):
    name = f"zz_fork_{request.param}_{os.getpid()}"
    if request.param == "binary":
        args = [
            "--from",
            "churn",
            "--data",
            str(_bank_file(tmp_path / "bank.csv")),
            "--target",
            "Exited",
            "--id",
            "CustomerId",
            "--sep",
            ";",
            "--leaky",
            LEAKY,
            "--positive",
            "1",
        ]
    elif request.param == "regression":
        args = ["--from", "churn", "--data", str(_visits_file(tmp_path / "visits.csv"))]
        args += ["--target", "visitors", "--id", "visit_id"]
    elif request.param == "binary_sequence":  # run-to-failure readings, censored pumps
        args = ["--from", "predictive_maintenance", "--task", "binary_sequence"]
        args += ["--data", str(_fleet_file(tmp_path / "pumps.csv")), "--target", "failed_on"]
        args += ["--id", "pump", "--time", "day"]
    else:  # daily visits closed on Sundays: season 7, shorter than the 8-step horizon
        args = [
            "--from",
            "demand_forecasting",
            "--data",
            str(_restaurants_file(tmp_path / "r.csv")),
        ]
        args += ["--target", "visitors", "--id", "restaurant", "--time", "day"]
    done = _pilotpack(sandbox, "new", name, *args)
    try:
        assert done.returncode == 0, done.stderr
        yield name, request.param, args[args.index("--data") + 1]
    finally:
        shutil.rmtree(sandbox / "usecases" / name, ignore_errors=True)
        shutil.rmtree(Path(os.environ["PILOTPACK_HOME"]) / "reports" / name, ignore_errors=True)


@pytest.mark.serve
def test_new_fork_trains_passes_the_contract_and_serves(fork, sandbox):
    from tests.servers import Server

    name, task, data = fork
    steps = _steps(sandbox, name, data)
    inspected = steps["inspect"]
    assert inspected.returncode == 0, inspected.stderr[-3000:]
    uc = json.loads(inspected.stdout)
    assert uc["task"] == task and Path(uc["folder"]) == sandbox / "usecases" / name
    # Its own tests import the fork, not a template.
    own = (sandbox / "usecases" / name / "tests" / "test_usecase.py").read_text()
    assert "from ..usecase import USE_CASE" in own and "churn" not in own
    done = steps["pytest"]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # On its synthetic rows the fork passes its gates and is stored (what serving needs);
    # on the file, gates are the data's verdict: 0 or 1, and a report either way.
    # The flow is under test, not the tuning: the suite's fast settings (fewer trials, trees,
    # folds and bootstrap draws), as every other trained fixture uses.
    trained = steps["train"]
    assert trained.returncode == 0, trained.stderr[-3000:]
    on_file = steps["on_file"]
    assert on_file.returncode in (0, 1), on_file.stderr[-3000:]
    assert "report:" in on_file.stderr
    lint = _run(sandbox, "-m", "ruff", "check", f"usecases/{name}")
    assert lint.returncode == 0, lint.stdout
    env = {"PYTHONPATH": str(sandbox)}
    with Server(uc["service"], env=env, cwd=sandbox, background_stop=True) as server:
        r = loopback.post(server.url + uc["route"], json=uc["payload"], timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        # Two records of one entity's history get one answer: its latest record.
        assert len(body) == (1 if uc["history"] else 2) and body[0]["model_version"]
        if task == "forecast":
            values = [s["forecast"] for s in body[0]["steps"]]
        else:
            values = [body[0]["prediction" if task == "regression" else "probability"]]
        assert values and np.isfinite(values).all()
        if task == "binary":  # --leaky: not an input, and /predict never asks for it
            folder = sandbox / "usecases" / name
            assert LEAKY not in (folder / "wiring.json").read_text()
            assert (
                f'LEAKY_COLUMNS: tuple[str, ...] = (\n    "{LEAKY}",'
                in (folder / "schema.py").read_text()
            )
            assert all(LEAKY not in record for record in uc["payload"]["records"])
        # A key sent twice in one request is a 400 naming it, never a guess.
        if task == "forecast":
            series = uc["payload"]["series"][0]
            twice = {**series, "history": [*series["history"], series["history"][0]]}
            repeated = loopback.post(server.url + uc["route"], json={"series": [twice]}, timeout=30)
            day = series["history"][0][uc["time_column"]]
            assert repeated.status_code == 400 and "duplicate date in one request" in repeated.text
            assert day in repeated.text
        elif uc["history"]:
            first = uc["payload"]["records"][0]
            twice = {"records": [first, dict(first)]}
            repeated = loopback.post(server.url + uc["route"], json=twice, timeout=30)
            assert (
                repeated.status_code == 400
                and "duplicate (pump, day) in one request" in repeated.text
            )
        bad = loopback.post(server.url + uc["route"], json={"nope": [{"nope": 1}]}, timeout=30)
        assert bad.status_code == 400


def test_new_refuses_a_taken_name_and_a_wrong_target(tmp_path, sandbox):
    path = _bank_file(tmp_path / "bank.csv")
    taken = _pilotpack(
        sandbox, "new", "churn", "--data", str(path), "--target", "Exited", "--sep", ";"
    )
    assert taken.returncode == 2 and "exists already" in taken.stderr
    wrong = _pilotpack(
        sandbox, "new", f"zz_x_{os.getpid()}", "--data", str(path), "--target", "Nope", "--sep", ";"
    )
    assert wrong.returncode == 2 and "Nope" in wrong.stderr
    assert not (sandbox / "usecases" / f"zz_x_{os.getpid()}").exists()
    one_column = _pilotpack(
        sandbox, "new", f"zz_y_{os.getpid()}", "--data", str(path), "--target", "Exited"
    )
    assert one_column.returncode == 2 and "separator" in one_column.stderr


def test_template_folders_are_linted_code_that_imports():
    """The templates are real Python: ruff-clean, and every module imports in place (a
    forecast or history usecase.py needs the kpi.py that `new` copies from --from)."""
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(TEMPLATES)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(TEMPLATES)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout
    for family in ("tabular", "forecast", "history"):
        package = f"shared.app.scaffold.templates.{family}"
        for rel in code_files(family):
            if "tests" in rel.parts or (family != "tabular" and rel.name == "usecase.py"):
                continue
            importlib.import_module(f"{package}.{'.'.join(rel.with_suffix('').parts)}")
    tabular = importlib.import_module("shared.app.scaffold.templates.tabular.usecase").USE_CASE
    rows = tabular.make_synthetic(300, 0)
    tabular.raw_schema.validate(rows)
    assert set(tabular.build_features(rows)) == set(tabular.model_inputs)


def _daily_fork(tmp_path: Path, **decided: object) -> Path:
    """A daily fork written next to a link to demand_forecasting, nothing trained: fast."""
    root = tmp_path / "usecases"
    root.mkdir(parents=True)
    (root / "demand_forecasting").symlink_to(ROOT / "usecases" / "demand_forecasting")
    spec = NewSpec(
        name="daily",
        template="demand_forecasting",
        data=_restaurants_file(tmp_path / "r.csv"),
        target="visitors",
        time_column="day",
        id_columns=("restaurant",),
        **decided,  # type: ignore[arg-type]
    )
    return write_use_case(spec, root)


def test_a_daily_fork_takes_its_horizon_and_season_and_speaks_of_periods(tmp_path):
    folder = _daily_fork(tmp_path, horizon=14, season=7, currency="usd")
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    assert cfg["backtest"]["horizon"] == 14 and cfg["backtest"]["season"] == 7
    # Enough synthetic days for two seasons of history and every backtest window.
    assert cfg["data"]["n_periods"] >= 2 * 7 + (cfg["backtest"]["windows"] + 1) * 14
    assert cfg["data"]["freq"] == "D" and not any(cfg["governance"].values())
    text = " ".join(p.read_text() for p in folder.rglob("*") if p.suffix in (".py", ".yaml"))
    for word in ("Walmart", "USD", "same_week_last_year", "weeks_observed", "weekly sales"):
        assert word not in text, word
    assert '"currency": "usd"' in (folder / "wiring.json").read_text()


def test_a_calendar_is_copied_into_the_config_or_refused_naming_its_columns(tmp_path):
    days = pd.date_range("2024-01-01", periods=220, freq="D").strftime("%Y-%m-%d")
    calendar = tmp_path / "holidays.csv"
    pd.DataFrame({"day": days, "holiday_flg": 0}).to_csv(calendar, index=False)
    folder = _daily_fork(tmp_path, calendar=calendar)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    assert cfg["data"]["calendar"] == str(calendar.resolve())
    with pytest.raises(ValueError, match=r"no date column 'calendar_date'; it has \['day'"):
        _daily_fork(tmp_path / "b", calendar=calendar, calendar_date="calendar_date")


@pytest.mark.parametrize(
    ("split", "message"),
    [("random", "--split 'random': one of"), ("group", "--split group needs --id")],
)
def test_a_split_is_checked_before_anything_is_written(tmp_path, split, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        spec = NewSpec(
            name="bank",
            template="churn",
            data=_bank_file(tmp_path / "b.csv"),
            target="Exited",
            sep=";",
            split=split,
        )
        write_use_case(spec, tmp_path)
    assert not (tmp_path / "bank").exists()


def test_column_lists_keep_inner_spaces():
    assert columns_option("Total  day minutes, Churn ,") == ("Total  day minutes", "Churn")
    assert columns_option(None) == ()
