"""Where batch work runs: in this process (`local`) or on a Dask cluster (`dask`).

Both engines run the same function on the same parts (row chunks for scoring, groups of
series for forecasting) with the same model, so their results are identical; Dask only
decides where each part runs. The model travels once: its ONNX bytes, store metadata and
resolved config are scattered to every worker (`ModelPayload`), and each worker process
loads the onnxruntime session on first use and keeps it (`ModelPayload.load`).

Workers need this package importable (`pip install` the same pilotpack), not the BentoML
store, the MLflow registry or the data file: the client reads the file and ships the parts.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shared.core.store import ONNX_FILE, StoredModel
from shared.core.usecase import get_use_case
from shared.tasks.forecast.predictor import ForecastPredictor

EngineName = Literal["local", "dask"]
ENGINES: tuple[str, ...] = ("local", "dask")


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelPayload:
    """Everything a worker needs to score with one stored model, and nothing it must look up."""

    use_case: str
    tag: str
    metadata: dict[str, Any]
    onnx: bytes = field(repr=False)
    config: dict[str, Any]

    @classmethod
    def of(cls, uc: Any, stored: Any, cfg: Any) -> ModelPayload:
        return cls(
            uc.name,
            stored.tag,
            dict(stored.metadata),
            Path(stored.onnx_path).read_bytes(),
            cfg.model_dump(mode="json"),
        )

    def load(self, kind: str, build: Callable[[Any, Any, Any], Any]) -> Any:
        """`build(use case, stored model, config)` once per process and payload, then cached:
        a worker scoring its hundredth part reuses the session of its first."""
        key = (kind, self.use_case, self.tag)
        with _LOCK:
            if key not in _LOADED:
                # The predictor reads the ONNX file into its session as it is built: the file
                # goes right after, not at the worker's exit (each load would leave one behind).
                with tempfile.TemporaryDirectory(prefix=f"pilotpack-{self.use_case}-") as tmp:
                    _LOADED[key] = build(*self._materialize(Path(tmp)))
            return _LOADED[key]

    def _materialize(self, folder: Path) -> tuple[Any, Any, Any]:
        uc = get_use_case(self.use_case)
        cfg = uc.task.config_model(uc).model_validate(self.config)
        (folder / ONNX_FILE).write_bytes(self.onnx)
        return uc, StoredModel(self.tag, folder, self.metadata), cfg


_LOADED: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


# --------------------------------------------------------------------------- engines


class LocalEngine:
    """One process, parts one after the other: the default, and the reference for Dask."""

    name = "local"
    cores = 1

    def map(self, fn: Callable[[Any, Any], Any], payload: Any, parts: Iterable[Any]) -> Iterator:
        for part in parts:
            yield fn(payload, part)

    def predict_windows(self, uc: Any, predictor: Any, cfg: Any, w: Any) -> dict[str, Any]:
        """The forecast task's windows, here: the predictor it already holds."""
        return predictor.predict_windows(w)

    def describe(self) -> str:
        return "local (1 process)"


class DaskEngine:
    """Parts as tasks on a Dask cluster (`distributed`), results back in part order.

    A scheduler address joins an existing cluster; none starts a LocalCluster of `workers`
    processes (default: one per core), one thread each (onnxruntime runs one intra-op thread
    per session). At most `2 x threads` parts are in flight, so a file larger than memory
    streams through.
    """

    name = "dask"

    def __init__(self, client: Any, cluster: Any = None):
        self.client, self.cluster = client, cluster

    @property
    def cores(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def map(self, fn: Callable[[Any, Any], Any], payload: Any, parts: Iterable[Any]) -> Iterator:
        shared = self.client.scatter(payload, broadcast=True)  # the model goes over once
        window = 2 * self.cores
        pending: deque[Any] = deque()
        try:
            for part in parts:
                pending.append(self.client.submit(fn, shared, part, pure=False))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def predict_windows(self, uc: Any, predictor: Any, cfg: Any, w: Any) -> dict[str, Any]:
        """The forecast task's windows on the cluster, in groups of series."""
        return forecast_windows(self, ModelPayload.of(uc, predictor.stored, cfg), w)

    def describe(self) -> str:
        return f"dask ({self.client.scheduler.address}, {self.cores} worker threads)"


@contextmanager
def open_engine(
    name: str = "local", scheduler: str | None = None, workers: int | None = None
) -> Iterator[LocalEngine | DaskEngine]:
    """The engine by name; a Dask cluster started here is closed on exit."""
    if name == "local":
        if scheduler:
            raise ValueError("--scheduler needs --engine dask")
        yield LocalEngine()
        return
    if name != "dask":
        raise ValueError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield DaskEngine(client)
        return
    n = workers or os.cpu_count() or 1
    with (
        # the workers' scratch space goes with the cluster (Dask's default, a shared
        # `dask-scratch-space` in the temporary folder, stays behind)
        tempfile.TemporaryDirectory(prefix="pilotpack-dask-") as scratch,
        dask.config.set({"temporary-directory": scratch}),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield DaskEngine(client, cluster)


# --------------------------------------------------------------------------- forecasting


def windows_on(engine: Any) -> Callable[..., dict] | None:
    """How `batch_forecast` runs its windows on `engine` (None: in this process)."""
    if engine is None or engine.name == "local":
        return None
    return lambda uc, pred, cfg, w: forecast_windows(
        engine, ModelPayload.of(uc, pred.stored, cfg), w
    )


def forecast_windows(engine: Any, payload: ModelPayload, w: Any, parts: int | None = None) -> dict:
    """`ForecastPredictor.predict_windows` over groups of series, merged in series order:
    statsforecast baselines and the global ONNX model run per group on the engine."""
    n_parts = max(1, min(w.n, parts or 4 * engine.cores))
    smoothing = (payload.metadata.get("baselines") or {}).get("smoothing") or {}
    rows = partitions(w, n_parts, smoothing.get("group"))
    outs = list(engine.map(forecast_part, payload, [take_windows(w, r) for r in rows]))
    back = np.argsort(np.concatenate(rows))  # part order -> series order

    def merged(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)[back]

    return {
        "forecast": merged([o["forecast"] for o in outs]),
        "fallback": merged([o["fallback"] for o in outs]),
        "observed": merged([o["observed"] for o in outs]),
        "bounds": {
            level: tuple(merged([o["bounds"][level][i] for o in outs]) for i in (0, 1))
            for level in outs[0]["bounds"]
        },
    }


def partitions(w: Any, n_parts: int, group: str | None) -> list[np.ndarray]:
    """Series rows of at most `n_parts` parts: consecutive runs, or, when the baselines smooth
    series by `group` (an id column), whole groups: a group's series are smoothed together,
    and a group split across parts would be smoothed differently than in one process."""
    if group is None or group not in w.static:
        return [r for r in np.array_split(np.arange(w.n), n_parts) if len(r)]
    _, codes = np.unique(w.static[group], return_inverse=True)
    order = np.argsort(codes, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)  # rows of each group
    split = np.array_split(np.arange(len(members)), min(n_parts, len(members)))
    return [np.concatenate([members[g] for g in part]) for part in split if len(part)]


def forecast_part(payload: ModelPayload, w: Any) -> dict[str, Any]:
    """One group of series on a worker (or here, with the local engine)."""
    predictor = payload.load("forecast", lambda uc, stored, cfg: ForecastPredictor(uc, stored))
    return predictor.predict_windows(w)


def take_windows(w: Any, rows: Any) -> Any:
    """The windows of some series (rows), every per-series array sliced alike."""
    return replace(
        w,
        y=w.y[rows],
        holiday=w.holiday[rows],
        future_holiday=w.future_holiday[rows],
        origin=w.origin[rows],
        scale=w.scale[rows],
        static={k: v[rows] for k, v in w.static.items()},
        future_flags={k: v[rows] for k, v in w.future_flags.items()},
        history=None if w.history is None else w.history[rows],
    )
