"""Batch throughput, measured in one run on this machine (run `make demo` first).

- `run_batch_benchmark`: `pilotpack score` against the floor, a plain pandas + onnxruntime
  script on the same file and model (benchmarks/batch_floor.py): rows/s of both and the ratio
  (benchmarks/results/batch.json). `python -m shared.ops.batch_benchmark [use case] [rows] [pairs]`
  (`make bench` runs it).
- `run_scale_benchmark`: rows/s of `score` and series/s of `forecast`, the local engine vs a
  Dask LocalCluster (`pilotpack bench-scale`: benchmarks/results/scale.json and scale.md).
"""

from __future__ import annotations

import json
import os
import platform
import runpy
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.core.store import project_root
from shared.core.usecase import get_use_case
from shared.ops.batch import score_file
from shared.ops.scale import open_engine, windows_on
from shared.tasks.forecast.batch import batch_forecast

FLOOR_SCRIPT = "benchmarks/batch_floor.py"
SOURCE = Path(__file__).resolve().parents[2]  # the checkout: the floor script is beside shared/


def timed(fn: Callable[[], Any]) -> float:
    """Seconds `fn()` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def floor_rows_per_s(name: str, data: Path, out: Path | None = None, warm: bool = True) -> float:
    """Rows/s of the floor script (benchmarks/batch_floor.py, run in this process), writing
    its scores to `out` when given."""
    score_floor = runpy.run_path(str(SOURCE / FLOOR_SCRIPT))["score_floor"]
    if warm:  # imports and the session's first load are not throughput
        score_floor(name, data, out)
    rows, seconds = score_floor(name, data, out)
    return rows / seconds


def score_rows_per_s(name: str, data: Path, out: Path, warm: bool = True) -> float:
    """Rows/s of `pilotpack score` (local engine, rejects checked, scores written)."""
    uc = get_use_case(name)
    if warm:  # as the floor
        score_file(uc, data, out)
    summary = score_file(uc, data, out)
    return summary.rows / summary.seconds


FLOOR_WRITES = (
    "both write the scores file: the floor writes pilotpack score's columns (row, id, "
    "probability, decision, model version) in the same format (CSV or Parquet)"
)


def run_batch_benchmark(
    name: str = "churn",
    rows: int = 200_000,
    repeats: int = 3,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`pilotpack score` against the floor on the same `rows`-row file (made by the use case's
    synthetic generator, without the target) and the same served model, CSV and Parquet.

    Timings on a shared machine vary severalfold between hours, so the two run as a pair,
    one right after the other, `repeats` times per format: the ratio of each pair, and their
    median (`<fmt>_score_vs_floor`), are what the result reports. Both write the scores file
    in the input's format (FLOOR_WRITES)."""
    uc = get_use_case(name)
    folder = Path(tempfile.mkdtemp(prefix="pilotpack-batch-"))
    raw = uc.make_synthetic(rows, 7).drop(columns=[uc.target])
    result: dict[str, Any] = {
        "benchmark": "batch",
        "classifier": name,
        "rows": rows,
        "repeats": repeats,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "floor": FLOOR_SCRIPT,
        "output": FLOOR_WRITES,
    }
    for fmt in ("csv", "parquet"):
        data = folder / f"records.{fmt}"
        raw.to_csv(data, index=False) if fmt == "csv" else raw.to_parquet(data, index=False)
        floor_out, score_out = folder / f"floor.{fmt}", folder / f"scores.{fmt}"
        pairs = []
        for i in range(repeats):
            floor = floor_rows_per_s(name, data, floor_out, warm=i == 0)
            score = score_rows_per_s(name, data, score_out, warm=i == 0)
            pairs.append((floor, score, score / floor))
            log(
                f"batch {name} {fmt} pair {i + 1}/{repeats}: score {score:,.0f} rows/s, "
                f"floor {floor:,.0f} rows/s ({score / floor:.2f}x)"
            )
        floor, score, ratio = sorted(pairs, key=lambda p: p[2])[len(pairs) // 2]  # the median
        result |= {
            f"{fmt}_floor_rows_per_s": floor,
            f"{fmt}_score_rows_per_s": score,
            f"{fmt}_score_vs_floor": ratio,
            f"{fmt}_pairs": [
                {"floor_rows_per_s": round(f), "score_rows_per_s": round(s), "ratio": round(r, 3)}
                for f, s, r in pairs
            ],
        }
    result["score_vs_floor"] = min(result["csv_score_vs_floor"], result["parquet_score_vs_floor"])
    return result


def write_batch_results(result: dict[str, Any]) -> Path:
    """benchmarks/results/batch.json (no `use_case` key: results.md lists the HTTP runs)."""
    path = project_root() / "benchmarks" / "results" / "batch.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def batch_markdown(result: dict[str, Any]) -> str:
    """The batch line: score vs the floor per file format."""
    lines = [
        "| job | file | score rows/s | floor rows/s | score / floor |",
        "|---|---|---|---|---|",
    ]
    for fmt in ("csv", "parquet"):
        lines.append(
            f"| score {result['classifier']}, {result['rows']:,} rows | {fmt} "
            f"| {result[f'{fmt}_score_rows_per_s']:,.0f} | {result[f'{fmt}_floor_rows_per_s']:,.0f} "
            f"| {result[f'{fmt}_score_vs_floor']:.2f}x |"
        )
    return "\n".join(lines) + (
        f"\n\nMedian of {result.get('repeats', 1)} score/floor pairs run back to back; "
        f"{result.get('output', 'the floor writes no file')}. Machine: {result['cores']} cores.\n"
    )


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
    workers = workers or os.cpu_count() or 1
    cuc, fuc = get_use_case(classifier), get_use_case(forecaster)
    folder = Path(tempfile.mkdtemp(prefix="pilotpack-scale-"))
    data = folder / "records.parquet"
    cuc.make_synthetic(rows, 7).drop(columns=[cuc.target]).to_parquet(data, index=False)
    fcfg = fuc.load_config([f"data.n_series={series}"])
    history, _ = fuc.task.training.synthetic(fuc, fcfg)
    horizon = int(fcfg.backtest.horizon)

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
        # the same file, its scores written as score writes them
        result["score_floor_per_s"] = floor_rows_per_s(classifier, data, folder / "floor.parquet")
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
    if "score_floor_per_s" in r:  # the plain pandas + onnxruntime script on the same file
        lines.append(
            f"| score {r['classifier']}, {r['rows']:,} rows | floor: {FLOOR_SCRIPT} "
            f"| {r['score_floor_per_s']:,.0f} rows/s | - | {r['rows'] / r['score_floor_per_s']:.1f} s |"
        )
    lines.append(
        f"\nDask cluster start {r['dask_start_s']:.1f} s; first job on a new cluster (imports, "
        f"model load): score {r['score_dask_cold_s']:.1f} s, forecast "
        f"{r['forecast_dask_cold_s']:.1f} s. Machine: {r['machine']['cores']} cores."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    args = sys.argv[1:]
    out = run_batch_benchmark(
        args[0] if args else "churn",
        int(args[1]) if len(args) > 1 else 200_000,
        int(args[2]) if len(args) > 2 else 3,
    )
    print(batch_markdown(out))
    print(f"wrote {write_batch_results(out)}")
