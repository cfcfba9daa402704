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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
                _LOADED[key] = build(*self._materialize())
            return _LOADED[key]

    def _materialize(self) -> tuple[Any, Any, Any]:
        from shared.core.store import ONNX_FILE, StoredModel
        from shared.core.usecase import get_use_case

        uc = get_use_case(self.use_case)
        cfg = uc.task.config_model(uc).model_validate(self.config)
        folder = Path(tempfile.mkdtemp(prefix=f"pilotpack-{self.use_case}-"))
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
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield DaskEngine(client)
        return
    n = workers or os.cpu_count() or 1
    with (
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
    import numpy as np

    n_parts = max(1, min(w.n, parts or 4 * engine.cores))
    groups = [take_windows(w, rows) for rows in np.array_split(np.arange(w.n), n_parts)]
    outs = list(engine.map(forecast_part, payload, groups))
    levels = outs[0]["bounds"].keys()
    return {
        "forecast": np.concatenate([o["forecast"] for o in outs]),
        "fallback": np.concatenate([o["fallback"] for o in outs]),
        "observed": np.concatenate([o["observed"] for o in outs]),
        "bounds": {
            level: tuple(np.concatenate([o["bounds"][level][i] for o in outs]) for i in (0, 1))
            for level in levels
        },
    }


def forecast_part(payload: ModelPayload, w: Any) -> dict[str, Any]:
    """One group of series on a worker (or here, with the local engine)."""
    from shared.tasks.forecast.predictor import ForecastPredictor

    predictor = payload.load("forecast", lambda uc, stored, cfg: ForecastPredictor(uc, stored))
    return predictor.predict_windows(w)


def take_windows(w: Any, rows: Any) -> Any:
    """The windows of some series (rows), every per-series array sliced alike."""
    from dataclasses import replace

    return replace(
        w,
        y=w.y[rows],
        holiday=w.holiday[rows],
        future_holiday=w.future_holiday[rows],
        origin=w.origin[rows],
        scale=w.scale[rows],
        static={k: v[rows] for k, v in w.static.items()},
        future_flags={k: v[rows] for k, v in w.future_flags.items()},
    )


# --------------------------------------------------------------------------- benchmark


def run_scale_benchmark(
    rows: int = 200_000,
    series: int = 2_000,
    workers: int | None = None,
    classifier: str = "churn",
    forecaster: str = "demand_forecasting",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Rows/s of `score` and series/s of `forecast`, local engine vs a Dask LocalCluster of
    `workers` processes on this machine, with the served models (run `make demo` first).

    Dask is timed twice: cold (worker start, imports and model load included) and warm
    (the same cluster again), which is what a long-lived cluster costs per job.
    """
    import platform
    import time
    from importlib import metadata

    from shared.core.usecase import get_use_case
    from shared.ops.batch import score_file
    from shared.tasks.forecast.batch import batch_forecast

    workers = workers or os.cpu_count() or 1
    cuc, fuc = get_use_case(classifier), get_use_case(forecaster)
    folder = Path(tempfile.mkdtemp(prefix="pilotpack-scale-"))
    data = folder / "records.parquet"
    cuc.make_synthetic(rows, 7).drop(columns=[cuc.target]).to_parquet(data, index=False)
    fcfg = fuc.load_config([f"data.n_series={series}"])
    history, _ = fuc.task.synthetic(fuc, fcfg)
    horizon = int(fcfg.backtest.horizon)

    def timed(fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def score(engine: Any) -> float:
        return timed(lambda: score_file(cuc, data, folder / "scores.parquet", engine=engine))

    def forecast(engine: Any) -> float:
        return timed(lambda: batch_forecast(fuc, history, horizon, run=windows_on(engine)))

    result: dict[str, Any] = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "versions": {p: metadata.version(p) for p in ("dask", "distributed", "onnxruntime")},
        "rows": rows,
        "series": series,
        "horizon": horizon,
        "workers": workers,
        "classifier": classifier,
        "forecaster": forecaster,
    }
    with open_engine("local") as local:
        score(local)  # warm: imports and the model's first load are not the throughput
        result["score_local_s"] = score(local)
        forecast(local)
        result["forecast_local_s"] = forecast(local)
    log(
        f"local: score {result['score_local_s']:.1f} s, forecast {result['forecast_local_s']:.1f} s"
    )
    start = time.perf_counter()
    with open_engine("dask", workers=workers) as dask:
        result["dask_start_s"] = time.perf_counter() - start
        result["score_dask_cold_s"] = score(dask)
        result["score_dask_s"] = score(dask)
        result["forecast_dask_cold_s"] = forecast(dask)
        result["forecast_dask_s"] = forecast(dask)
    log(f"dask ({workers} workers): score {result['score_dask_s']:.1f} s, forecast "
        f"{result['forecast_dask_s']:.1f} s (start {result['dask_start_s']:.1f} s)")  # fmt: skip
    for kind, n, unit in (("score", rows, 1e6), ("forecast", series, 1e3)):
        for engine, cores in (("local", 1), ("dask", workers)):
            seconds = result[f"{kind}_{engine}_s"]
            result[f"{kind}_{engine}_per_s"] = n / seconds
            # core-seconds per million rows / per thousand series
            result[f"{kind}_{engine}_core_s_per_unit"] = seconds * cores * unit / n
    return result


def scale_markdown(result: dict[str, Any]) -> str:
    """The README's scaling table, from the benchmark's JSON."""
    r = result
    w = r["workers"]
    lines = [
        "| job | engine | throughput | cost (core-seconds) | wall time |",
        "|---|---|---|---|---|",
    ]
    for kind, label, unit, what in (
        ("score", f"score {r['classifier']}, {r['rows']:,} rows", "million rows", "rows/s"),
        ("forecast", f"forecast {r['forecaster']}, {r['series']:,} series x {r['horizon']}",
         "thousand series", "series/s"),
    ):  # fmt: skip
        for engine, name in (("local", "local, 1 process"), ("dask", f"dask, {w} workers")):
            lines.append(
                f"| {label} | {name} | {r[f'{kind}_{engine}_per_s']:,.0f} {what} "
                f"| {r[f'{kind}_{engine}_core_s_per_unit']:,.1f} per {unit} "
                f"| {r[f'{kind}_{engine}_s']:.1f} s |"
            )
    lines.append(
        f"\nDask cluster start {r['dask_start_s']:.1f} s; first job on a new cluster (imports, "
        f"model load): score {r['score_dask_cold_s']:.1f} s, forecast "
        f"{r['forecast_dask_cold_s']:.1f} s. Machine: {r['machine']['cores']} cores."
    )
    return "\n".join(lines) + "\n"
