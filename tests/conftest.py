"""The pack's test plugin: isolated stores for every test session, and the helpers and
fixtures every test file shares (tests/ and, through usecases/conftest.py, usecases/*/tests).

Real things only: a SQLite MLflow store in a temporary folder, BentoML's real model store,
onnxruntime sessions and `bentoml serve` subprocesses on free loopback ports.

No test depends on another having run first: a test that needs a trained model asks for one
(`trained`, cached per use case for the session) and a served one pins that model's tag
(`serve`), so whatever else trained the same use case meanwhile does not matter.

Heavy imports (shared.*, mlflow, bentoml) stay inside functions: this module is imported
before `pytest_configure` points BENTOML_HOME and MLFLOW_TRACKING_URI at the test folders.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.scheduling import CostScheduling

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shared.core.usecase import UseCase
    from shared.tasks.base import RunResult
    from tests.servers import Server

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Enough to exercise every step; the full grids run in `make demo` and the real-data tests.
# Each is set only where the use case's config has that key (tasks' configs differ).
FAST = {
    "gates.n_bootstrap": 100,
    "model.cv_folds": 2,
    "data.n_series": 60,  # many-series tasks: fewer series
    "model.params.n_estimators": 120,
    "model.search.trials": 2,  # budgeted search: LightGBM's defaults and the configured params
    # forecasting: the baselines the gate and the intermittent routing need, on one thread
    "baselines.models": "[naive, seasonal_naive, seasonal_level, seasonal_ses, auto_ets, tsb]",
    "baselines.n_jobs": 1,
}
# Built-in rows above this are cut to it (the fleet's and remaining life's history generators);
# the gates still pass on what is left.
FAST_SYNTHETIC_ROWS = 16_000


_HOMES: list[Path] = []  # the session stores pytest_configure made in this process


def pytest_configure(config: pytest.Config) -> None:
    """Set before anything imports bentoml or mlflow, so no test touches the user's stores.

    usecases/conftest.py re-exports this module, so `pytest usecases/<name>/tests` is isolated
    too; the marker keeps one set of folders per process when both conftests load. Under
    pytest-xdist each worker is a process of its own, started with the controller's marker, so
    each makes its own folders: workers never share a store, a database or a metrics folder.
    """
    # A test process keeps a large heap for the whole session (the stack, trained models, the
    # collected tests): with CPython's default thresholds a full collection walked it every few
    # thousand allocations, ~9 % of a worker's CPU on test_rollout_serve, test_cli, test_tracking
    # and test_governance together (then ~3 %; reference cycles are still collected).
    gc.set_threshold(50_000, 20, 100)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # One xdist worker a core. OpenBLAS (numpy, scipy) and OpenMP (LightGBM, sklearn) start
        # a thread per core, so each worker, and the servers and CLI runs it starts, would
        # contend for both cores, their waiting threads spinning. Set before any of them loads
        # (none has at this point); subprocesses inherit it. The whole suite took 21-27 fewer
        # CPU-seconds and 13-16 s less with it (docs/testing.md).
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
    if os.environ.get("PILOTPACK_TEST_HOME") == str(os.getpid()):
        return
    os.environ["PILOTPACK_TEST_HOME"] = str(os.getpid())
    home = Path(tempfile.mkdtemp(prefix="pilotpack-tests-"))
    _HOMES.append(home)
    os.environ["BENTOML_HOME"] = str(home / "bentoml")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    os.environ["PILOTPACK_HOME"] = str(home)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def pytest_unconfigure(config: pytest.Config) -> None:
    """The stores this process made go with its session (up to ~40 MB each: `make test` makes
    one per xdist worker, where the models are trained, and one for the controller)."""
    while _HOMES:
        shutil.rmtree(_HOMES.pop(), ignore_errors=True)


# --------------------------------------------------------------------------- distribution
# `make test` runs pytest-xdist with `--dist loadfile`: a file's tests stay together on one
# worker, so its module-scoped servers and models start once. tests/scheduling.py refines it:
# a few heavy, self-contained tests are units of their own and the costliest unit goes first.
# (xdist's `--dist loadgroup` cannot do it: pytest-xdist 3.8 marks groups in `item._nodeid`,
# which pytest 9 no longer reads, so the groups are silently ignored; and xdist's loadfile
# orders files by their number of tests, which put a file of a few long tests last.)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` as tests/scheduling.py spreads it; any other mode as xdist does."""
    if config.getvalue("dist") != "loadfile":
        return None
    return CostScheduling(config, log)


# --------------------------------------------------------------------------- helpers


def real_data(relative: str) -> Path:
    """A file under ../shared/data; skips when absent, fails instead in CI (PILOTPACK_REQUIRE_REAL_DATA=1)."""
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"real data file {path} is absent"
        if os.environ.get("PILOTPACK_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + " and PILOTPACK_REQUIRE_REAL_DATA=1")
        pytest.skip(reason)
    return path


def repeated_real_splits(name: str, relative: str, k: int = 3) -> dict[str, Any]:
    """`train --repeats k` on a real file, the search cut to its two fixed trials (LightGBM's
    defaults and the configured params) to stay fast: floors are checked on the mean of k
    splits, not on one lucky split."""
    from shared.core.io import read_table
    from shared.core.usecase import get_use_case

    uc = get_use_case(name)
    cfg = uc.load_config(["model.search.trials=2", "gates.n_bootstrap=50"])
    raw = read_table(real_data(relative), cfg.data.reader)
    summary = uc.task.training.repeated_splits(uc.with_config(cfg), cfg, raw, k, lambda m: None)
    print(
        {
            c: {m: round(v["mean"], 4) for m, v in s.items()}
            for c, s in summary["candidates"].items()
        }
    )
    return summary


def fast_overrides(uc: UseCase) -> list[str]:
    """One grid point per candidate, fewer trees, folds and bootstrap draws: the flow, not the
    tuning, is under test. Only keys the use case's config has are set (tasks differ)."""
    from shared.core.config import has_setting  # after the stores' environment is set

    cfg = uc.load_config()
    out = [f"{key}={value}" for key, value in FAST.items() if has_setting(cfg, key)]
    rows = getattr(cfg.data, "synthetic_rows", None)
    if rows and rows > FAST_SYNTHETIC_ROWS:  # the fleet's 40,000 readings trained 3x longer
        out.append(f"data.synthetic_rows={FAST_SYNTHETIC_ROWS}")
    for i, cand in enumerate(getattr(cfg.model, "candidates", None) or []):
        if getattr(cand, "grid", None):
            out.append(f"model.candidates.{i}.grid={{}}")
        params = getattr(cand, "params", None)
        if getattr(params, "kind", None) == "lightgbm" and hasattr(params, "n_estimators"):
            out.append(f"model.candidates.{i}.params.n_estimators=100")
    return out


def cli_sets(uc: UseCase, *extra: str) -> list[str]:
    """`fast_overrides` (and `extra`) as `--set` options of `pilotpack train`."""
    return [arg for o in (*fast_overrides(uc), *extra) for arg in ("--set", o)]


def train_fast(uc: UseCase, extra: list[str] | None = None, **kwargs: Any) -> RunResult:
    """One training run with `fast_overrides` (+ `extra`); `train`'s keywords pass through
    (`allow_synthetic` defaults to True here)."""
    from shared.ops.training import train

    overrides = fast_overrides(uc) + (extra or [])
    kwargs.setdefault("allow_synthetic", True)  # the suite serves what it trains on built-in data
    return train(uc, uc.load_config(overrides), overrides=overrides, **kwargs)


_TRAINED: dict[str, RunResult] = {}


def trained_model(name: str) -> RunResult:
    """A fast, tracked and stored run of one use case that passed its gates; trained on the
    first call in this process, the same result afterwards (tests/ and usecases/ share it)."""
    from shared.core.usecase import get_use_case

    if name not in _TRAINED:
        result = train_fast(get_use_case(name))
        assert result.gates_passed and result.bento_tag, (name, result.gate_reasons)
        _TRAINED[name] = result
    return _TRAINED[name]


def pinned(uc: UseCase, tag: str) -> dict[str, str]:
    """The environment that makes a service load exactly this stored model (not `:latest`)."""
    return {f"PILOTPACK_MODEL_{uc.name.upper()}": tag}


@contextmanager
def serving(
    target: str,
    names: list[str],
    timeout: float = 120,
    env: dict[str, str] | None = None,
    background_stop: bool = True,
) -> Iterator[Server]:
    """A real `bentoml serve target` with the `trained_model` of each named use case pinned
    (and `env` on top, e.g. authentication on). It stops in the background (`Server`'s
    `background_stop`) unless told otherwise: pass False when something is read or removed after."""
    from shared.core.usecase import get_use_case
    from tests.servers import Server

    env = dict(env or {})
    for name in names:
        env |= pinned(get_use_case(name), trained_model(name).bento_tag)
    with Server(target, env=env, timeout=timeout, background_stop=background_stop) as server:
        yield server


def onnx_scorer(uc: UseCase) -> Callable[[pd.DataFrame], np.ndarray]:
    """Raw frame -> the task's output from the ONNX graph of the session's `trained_model` (the
    same fast training, done once per process and shared with every test that reads it)."""
    from shared.core.onnx_export import make_feed, session

    task = uc.task.training
    cfg = uc.load_config()
    configured = uc.with_config(cfg)
    sess = session(trained_model(uc.name).onnx_bytes)

    def score(raw: pd.DataFrame) -> np.ndarray:
        features = configured.build_features(raw)
        feed = make_feed(features, configured.numeric_features, configured.categorical_features)
        return task.onnx_output(sess, feed)

    return score


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def trained() -> Callable[[str], RunResult]:
    """`trained("churn")`: the session's fast, stored run of that use case (see trained_model)."""
    return trained_model


@pytest.fixture(scope="session")
def serve() -> Callable[..., Any]:
    """`with serve("churn") as server:` a real `bentoml serve` of that use case's own service,
    its session model pinned; use it from a module-scoped fixture to start one per module."""

    def start(
        name: str,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        background_stop: bool = True,
    ) -> Any:
        from shared.core.usecase import get_use_case

        return serving(get_use_case(name).service, [name], timeout, env, background_stop)

    return start


@pytest.fixture(scope="session", autouse=True)
def _servers_stopped() -> Iterator[None]:
    """Every server stopped in the background has stopped, cleanly, before the session ends."""
    from tests.processes import REAPER

    yield
    errors = REAPER.join()
    assert not errors, errors
