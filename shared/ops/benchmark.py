"""Latency and throughput against the SLA: ONNX vs native in-process, then HTTP through a real
`bentoml serve` on 127.0.0.1. Ratios are measured in the same run, on the same machine."""

from __future__ import annotations

import gc
import inspect
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from shared.core.store import ONNX_FILE, PROFILE_FILE, ModelNotFound, project_root, save_model
from shared.core.tracking import CHAMPION, champion_stored, mlflow_client, pinned_tag, tracking_uri
from shared.core.usecase import UseCase, get_use_case, latest_positions, registry
from shared.ops import rollout as ro
from shared.serve import metrics as live
from shared.serve.auth import check_cost_us, key_entry, new_key
from shared.serve.explain import EXPLAIN_ROUTE
from shared.serve.factory import (
    RecordPredictor,
    dispatch,
    freeze_heap,
    request_model,
    service_options,
)
from shared.serve.forecast import histories
from shared.serve.guard import fixed_media_type
from shared.serve.predlog import open_log
from shared.serve.privacy import protect_rows
from shared.serve.services import example_payload, protect_cost_us, service_for
from shared.tasks.forecast.predictor import ForecastPredictor, forecast_histories

Log = Callable[[str], None]


def free_port() -> int:
    """A loopback port free a moment ago. Another process may take it before it is bound:
    `Server` starts again on a new port when its bind fails."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BIND_FAILED = ("address already in use", "errno 98", "error while attempting to bind")


def offline_benchmark(uc: UseCase, quick: bool) -> dict[str, float]:
    """In-process latency, ONNX vs native, as the use case's task measures it."""
    return uc.task.training.offline_benchmark(uc, quick)


class Server:
    """`bentoml serve` in a subprocess on a free loopback port; stopped on exit. When another
    process takes the port between `free_port()` and the bind, it starts again on a new one."""

    attempts = 3

    def __init__(self, target: str, env: dict[str, str] | None = None, timeout: float = 90):
        self.target, self.env, self.timeout = target, env, timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._pick_port()

    def _pick_port(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pilotpack-serve-{self.port}.log"

    def __enter__(self) -> Server:
        for attempt in range(self.attempts):
            try:
                return self._start()
            except PortTaken:
                if attempt == self.attempts - 1:
                    raise
                self._pick_port()
        raise AssertionError("unreachable")

    def _bind_failed(self) -> bool:
        tail = self.log_tail(200).lower()
        return any(text in tail for text in BIND_FAILED)

    def _start(self) -> Server:
        import httpx

        cmd = [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=Path(__file__).resolve().parents[2],
                env={**os.environ, **(self.env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.timeout
        # One client for the whole wait: `httpx.get` builds one per call, with an SSL context
        # (~20 ms of CPU), taken every 0.1 s from the server starting beside it.
        with httpx.Client(timeout=1) as probe:
            while time.monotonic() < deadline:
                if self._bind_failed():
                    raise self._stopped(PortTaken(self.port))
                if self.proc.poll() is not None:
                    raise self._stopped(RuntimeError(
                        f"bentoml serve exited with {self.proc.returncode}:\n{self.log_tail()}"
                    ))  # fmt: skip
                if "Application startup failed" in self.log_tail(200):
                    # BentoML keeps the arbiter alive and restarts the worker: stop it here.
                    raise self._stopped(RuntimeError(
                        f"bentoml serve could not start {self.target}:\n{self.log_tail()}"
                    ))  # fmt: skip
                try:
                    if probe.get(f"{self.url}/readyz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)  # poll interval; the deadline above bounds the wait
        raise self._stopped(
            TimeoutError(f"bentoml serve not ready after {self.timeout} s:\n{self.log_tail()}")
        )

    def _stopped(self, error: Exception) -> Exception:
        """`error` (which quotes the log's tail) once the server is stopped and its log gone."""
        self.__exit__()
        return error

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the server's worker processes have used so far: what
        a request costs the service itself, whatever else the machine runs meanwhile."""
        if self.proc is None:
            return 0.0
        total = 0.0
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if "worker" in " ".join(child.cmdline()):
                    times = child.cpu_times()
                    total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __exit__(self, *exc: object) -> None:
        """Stop the server and delete its log (its errors above quote the log's tail)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log_path.unlink(missing_ok=True)


class PortTaken(RuntimeError):
    """Another process bound the port first."""


@dataclass
class Target:
    """One endpoint under load: its URL, request bodies (one per routing key) and headers."""

    url: str
    bodies: list[bytes]
    headers: dict[str, str]
    lat: list[float] = field(default_factory=list)  # sequential, seconds
    load_lat: list[float] = field(default_factory=list)  # under load, seconds
    load_wall: float = 0.0  # seconds spent in load phases
    load_requests: int = 0
    errors: int = 0
    cpu: Callable[[], float] | None = None  # the server's worker CPU seconds so far
    load_cpu: float = 0.0  # worker CPU seconds spent in load phases


def target(
    url: str,
    payload: dict[str, Any],
    auth: dict[str, str] | None = None,
    keys: list[str] | None = None,
    cpu: Callable[[], float] | None = None,
) -> Target:
    """An endpoint with its bodies; with `keys` (a field of `payload["records"]`), request i
    carries routing key keys[i % n]; with `cpu` (the server's `cpu_seconds`), its worker CPU
    per request under load is measured too."""
    bodies = [json.dumps(p).encode() for p in keyed_payloads(payload, keys)]
    return Target(url, bodies, {"content-type": "application/json", **(auth or {})}, cpu=cpu)


def one_by_one(t: Target, n: int, warm_up: int = 0) -> None:
    """`n` requests one after the other, each timed (after `warm_up` untimed ones)."""
    import httpx

    with httpx.Client(timeout=10) as client:
        for i in range(warm_up):
            client.post(t.url, content=t.bodies[i % len(t.bodies)], headers=t.headers)
        for i in range(n):
            t0 = time.perf_counter()
            r = client.post(t.url, content=t.bodies[i % len(t.bodies)], headers=t.headers)
            t.lat.append(time.perf_counter() - t0)
            t.errors += r.status_code != 200


def under_load(t: Target, n: int, clients: int) -> None:
    """`clients` threads sharing `n` requests; each timed, and the phase's wall time. The clock
    starts once every client is open: opening one (httpx builds an SSL context) took ~15 ms,
    so 8 of them were most of a quick run's 66-request phase, the same for every server, and
    pulled the ratios between servers towards 1."""
    import httpx

    remaining = [n]
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    failed: list[Exception] = []

    def worker() -> None:
        try:
            client = httpx.Client(timeout=10)
        except Exception as exc:  # the phase cannot start: every waiter stops now
            failed.append(exc)
            ready.abort()
            return
        with client:
            try:
                ready.wait(timeout=60)
            except threading.BrokenBarrierError:
                return
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                    body = t.bodies[remaining[0] % len(t.bodies)]
                t0 = time.perf_counter()
                try:
                    ok = client.post(t.url, content=body, headers=t.headers).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    t.load_lat.append(time.perf_counter() - t0)
                    t.errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    try:
        ready.wait(timeout=60)  # every client open
    except threading.BrokenBarrierError:
        for th in threads:
            th.join()
        cause = failed[0] if failed else None
        raise RuntimeError(f"load clients for {t.url} did not open: {cause!r}") from cause
    cpu0 = t.cpu() if t.cpu else 0.0
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    t.load_wall += time.perf_counter() - t0
    t.load_cpu += (t.cpu() - cpu0) if t.cpu else 0.0
    t.load_requests += n


def figures(t: Target, clients: int) -> dict[str, float]:
    """Percentiles, throughput and errors of what a target went through."""
    ms = np.array(t.lat) * 1000
    load_ms = np.array(t.load_lat or [np.nan]) * 1000  # no load phase: NaN, not an error
    cpu = {"load_cpu_us": t.load_cpu / t.load_requests * 1e6} if t.cpu and t.load_requests else {}
    return cpu | {
        "http_p50_ms": float(np.percentile(ms, 50)),
        "http_p95_ms": float(np.percentile(ms, 95)),
        "http_p99_ms": float(np.percentile(ms, 99)),
        "http_requests_sequential": len(t.lat),
        "load_p50_ms": float(np.percentile(load_ms, 50)),
        "load_p99_ms": float(np.percentile(load_ms, 99)),
        "load_clients": clients,
        "load_requests": t.load_requests,
        "throughput_rps": t.load_requests / t.load_wall if t.load_requests else 0.0,
        "errors": int(t.errors),
    }


def http_benchmark(
    url: str,
    payload: dict[str, Any],
    sequential: int,
    concurrent: int,
    clients: int,
    auth: dict[str, str] | None = None,
    keys: list[str] | None = None,
) -> dict[str, float]:
    """Sequential single-request latencies, then `clients` threads sharing `concurrent` requests.
    With `keys` (a field of `payload["records"]`), request i carries routing key keys[i % n]."""
    t = target(url, payload, auth, keys)
    one_by_one(t, sequential, warm_up=5)
    if concurrent:
        under_load(t, concurrent, clients)
    return figures(t, clients)


ROUNDS = 6  # a multiple of the three targets: each goes first equally often
WARM_UP = 5  # untimed sequential requests per target before the rounds


def warm_up(t: Target, clients: int) -> None:
    """Untimed: a few sequential requests, then one concurrent burst of `clients` clients, so
    start-up work done on first concurrent use is not charged to the first timed phase (the
    full path's worker spent ~150 ms of CPU there once: 2,900 us per request over its first 100
    against 1,200-1,500 afterwards, a third of a quick run's load)."""
    scratch = Target(t.url, t.bodies, t.headers)
    one_by_one(scratch, 0, warm_up=WARM_UP)
    under_load(scratch, max(8 * clients, len(t.bodies)), clients)


def interleaved_benchmark(
    targets: list[Target],
    sequential: int,
    concurrent: int,
    clients: int,
    rounds: int = ROUNDS,
) -> list[dict[str, float]]:
    """Several endpoints, all serving at once, loaded in interleaved rounds (each round another
    one goes first; the load phase runs in reverse order), so a slow minute on a shared machine slows them alike and their
    ratios stay honest."""
    for t in targets:
        warm_up(t, clients)
    for r in range(rounds):
        order = targets[r % len(targets) :] + targets[: r % len(targets)]
        for t in order:
            one_by_one(t, sequential // rounds)
        for t in reversed(order):
            under_load(t, concurrent // rounds, clients)
    return [figures(t, clients) for t in targets]


def keyed_payloads(payload: dict[str, Any], keys: list[str] | None) -> list[dict[str, Any]]:
    """`payload` once per routing key (field `keys[0]` of each record), or as it is. A key
    takes the type of the example's value: integer ids stay integers (e.g. UDI 1, 2, ...)."""
    records = payload.get("records")
    if not keys or not records or keys[0] not in records[0]:
        return [payload]
    field, example = keys[0], records[0][keys[0]]
    values = [
        example + i if isinstance(example, int) and not isinstance(example, bool) else k
        for i, k in enumerate(keys[1:])
    ]
    return [payload | {"records": [r | {field: v} for r in records]} for v in values]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            p: metadata.version(p) for p in ("onnxruntime", "bentoml", "scikit-learn", "lightgbm")
        },
    }


def sla_budget(uc: UseCase, sla_ms: float | None = None) -> float:
    """The p99 budget: the one given, else the use case's own `rollout.sla_ms` (one SLA: a
    fork that tightens it is benchmarked against it, and its alerts use the same edge)."""
    return float(sla_ms) if sla_ms is not None else float(uc.load_config().rollout.sla_ms)


def ratios(r: dict[str, Any]) -> dict[str, float]:
    """The full path over each floor, and the scored floor over the bare one (what scoring
    alone costs over an endpoint that does nothing)."""
    return (
        {
            "p50_vs_floor": r["http_p50_ms"] / r["floor_http_p50_ms"],
            "throughput_vs_floor": r["throughput_rps"] / r["floor_throughput_rps"],
            "p50_vs_scored_floor": r["http_p50_ms"] / r["scored_floor_http_p50_ms"],
            "throughput_vs_scored_floor": r["throughput_rps"] / r["scored_floor_throughput_rps"],
            "scored_floor_p50_vs_floor": r["scored_floor_http_p50_ms"] / r["floor_http_p50_ms"],
            "scored_floor_throughput_vs_floor": (
                r["scored_floor_throughput_rps"] / r["floor_throughput_rps"]
            ),
        }
        | (
            # the bound floor over the bare one: the best ratio any full path could reach
            {
                "bound_p50_vs_floor": r["bound_floor_http_p50_ms"] / r["floor_http_p50_ms"],
                "bound_throughput_vs_floor": r["bound_floor_throughput_rps"]
                / r["floor_throughput_rps"],
            }
            if "bound_floor_http_p50_ms" in r
            else {}
        )
        | (
            # worker CPU per request under load: steadier than req/s on a shared machine (another
            # process's burst slows a phase's wall time, not the service's own work)
            {"cpu_vs_scored_floor": r["load_cpu_us"] / r["scored_floor_load_cpu_us"]}
            if r.get("load_cpu_us") and r.get("scored_floor_load_cpu_us")
            else {}
        )
    )


def run_benchmark(
    uc: UseCase, quick: bool = False, sla_ms: float = 200.0, log: Log = print
) -> dict[str, Any]:
    """Offline and HTTP figures for one use case; writes benchmarks/results/<name>.json and .md.

    The compared run has everything a production service has on: the prediction log, a 50 %
    canary and authentication (an API key per request); the floor is a bare endpoint with the
    same request model, measured in the same run."""
    champion_stored(uc.name)  # nothing trained: the "train first" error now, not minutes later
    task = uc.task
    log(f"{uc.name}: offline ONNX vs native ...")
    result: dict[str, Any] = {"use_case": uc.name, "quick": quick, "sla_ms": sla_ms}
    result |= offline_benchmark(uc, quick)
    load = {
        "payload": example_payload(uc, 1),
        "sequential": 200 if quick else 1000,
        "concurrent": 400 if quick else 3000,
        "clients": 8,
    }
    floor_target = f"{__name__}:{FLOOR_PREFIX}{uc.name}"
    scored_target = f"{__name__}:{SCORED_FLOOR_PREFIX}{uc.name}"
    bound_target = f"{__name__}:{BOUND_FLOOR_PREFIX}{uc.name}"
    auth, header = auth_env()
    with canary(uc, CANARY_PERCENT, log) as (env, log_path):
        log(f"{uc.name}: bentoml serve {uc.service} (prediction log, canary and auth on), the "
            f"floor (a bare endpoint: bentoml serve {floor_target}), the scored floor "
            f"(bare + features and ONNX: {scored_target}) and the bound floor (bare + the "
            f"model's ONNX runs + a committed log row: {bound_target}) ...")  # fmt: skip
        with (
            Server(floor_target) as bare,
            Server(scored_target) as scoring,
            Server(bound_target, env={BOUND_LOG_ENV: str(log_path.with_name("bound.db"))}) as least,
            Server(uc.service, env=env | auth) as server,
        ):
            url = server.url + task.route
            log(f"{uc.name}: HTTP load on {url} and the floors, {ROUNDS} interleaved rounds ...")
            floor, scored, bound, pack = interleaved_benchmark(
                [
                    target(bare.url + task.route, load["payload"], cpu=bare.cpu_seconds),
                    target(scoring.url + task.route, load["payload"], cpu=scoring.cpu_seconds),
                    target(least.url + task.route, load["payload"], cpu=least.cpu_seconds),
                    target(url, load["payload"], header, routing_keys(uc), server.cpu_seconds),
                ],
                load["sequential"],
                load["concurrent"],
                load["clients"],
            )
            result |= pack
            result |= log_figures(uc, log_path, 0.0, loaded_seconds(pack))
            result |= explain_figures(uc, server.url, load["payload"], quick, log, header)
        result["compared_with"] = {
            "prediction_log": True,
            "canary_percent": CANARY_PERCENT if "MLFLOW_TRACKING_URI" in env else 0.0,
            "auth": True,
        }
        if not quick:  # what authentication costs: the same run with it off
            log(f"{uc.name}: the same with authentication off ...")
            with Server(uc.service, env=env) as server:
                open_ = http_benchmark(server.url + task.route, **load, keys=routing_keys(uc))
            result |= {f"auth_off_{k}": v for k, v in open_.items() if k.startswith("http_p")}
            result["auth_p50_vs_off"] = result["http_p50_ms"] / open_["http_p50_ms"]
    with as_served_heap():
        result |= request_path_costs(uc)
        result |= live_drift_cost(uc, load["payload"])
        result |= history_request_cost(uc)
    kept = ("http_", "load_p", "load_cpu", "thr")
    result |= {f"floor_{k}": v for k, v in floor.items() if k.startswith(kept)}
    result |= {f"scored_floor_{k}": v for k, v in scored.items() if k.startswith(kept)}
    result |= {f"bound_floor_{k}": v for k, v in bound.items() if k.startswith(kept)}
    result["floor_errors"] = floor["errors"] + scored["errors"] + bound["errors"]
    result |= ratios(result)
    if uc.name == HEAD_OF_LINE_RECORDS:
        result |= head_of_line(quick, log)
        if "hol_p99_ms" in result:  # reported beside the SLA, not yet part of it
            result["hol_ok"] = result["hol_p99_ms"] <= sla_ms and result["hol_errors"] == 0
    result["sla_ok"] = (
        result["http_p99_ms"] <= sla_ms
        and result["errors"] == 0
        and result.get("explain_http_p99_ms", 0.0) <= sla_ms
        and result.get("explain_errors", 0) == 0
    )
    result |= machine() | {"timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
    write_results(result)
    log(markdown_row_header() + markdown_row(result).rstrip())
    return result


# The head-of-line line: one-record requests of this use case on the root service while
# clients loop the largest valid request of the forecaster (CPU-heavy: statsforecast + ONNX).
HEAD_OF_LINE_RECORDS = "churn"
HEAD_OF_LINE_SERIES = "demand_forecasting"
ROOT_SERVICE = "shared.serve.root:PilotPack"


def head_of_line(quick: bool, log: Log, heavy_clients: int = 2) -> dict[str, Any]:
    """p50/p99 of one-record `HEAD_OF_LINE_RECORDS` requests on the root service while
    `heavy_clients` clients loop the largest valid forecast request (the most series, the
    longest horizon); a request must not wait behind another one's CPU work."""
    import httpx

    records, series = get_use_case(HEAD_OF_LINE_RECORDS), get_use_case(HEAD_OF_LINE_SERIES)
    try:  # the root service serves every use case: each needs its model
        for name in registry():
            champion_stored(name)
    except ModelNotFound as exc:
        log(f"head-of-line: skipped, the root service cannot start ({exc})")
        return {}
    heavy_task = series.task
    max_series = int(series.load_config().serving.max_series)
    heavy = json.dumps(example_payload(series, max_series)).encode()
    light = example_payload(records, 1)
    n = 30 if quick else 400  # quick: each may wait behind a forecast when the loop blocks
    log(f"head-of-line: {n} {records.name} requests while {heavy_clients} clients loop "
        f"{max_series}-series {series.name} forecasts on {ROOT_SERVICE} ...")  # fmt: skip
    stop = threading.Event()
    heavy_done: list[float] = []
    with Server(ROOT_SERVICE, timeout=180) as server:
        heavy_url = f"{server.url}/{series.name}{heavy_task.route}"

        def loop() -> None:
            with httpx.Client(timeout=120) as client:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    r = client.post(heavy_url, content=heavy, headers=JSON)
                    if r.status_code == 200:
                        heavy_done.append(time.perf_counter() - t0)

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(heavy_clients)]
        for t in threads:
            t.start()
        try:
            url = f"{server.url}/{records.name}{records.task.route}"
            figures = http_benchmark(url, light, sequential=n, concurrent=0, clients=0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=130)
    return {
        "hol_p50_ms": figures["http_p50_ms"],
        "hol_p99_ms": figures["http_p99_ms"],
        "hol_errors": figures["errors"],
        "hol_heavy_series": max_series,
        "hol_heavy_requests": len(heavy_done),
        "hol_heavy_p50_ms": float(np.median(heavy_done) * 1000) if heavy_done else None,
    }


JSON = {"content-type": "application/json"}


def auth_env() -> tuple[dict[str, str], dict[str, str]]:
    """A service environment with auth on and one fresh key (no rate limit in reach), and the
    header that carries it."""
    key = new_key()
    doc = {
        "keys": [key_entry("bench", key, ["predict", "explain"])],
        "rate_per_minute": 1e9,
        "burst": 10**6,
    }
    return {"PILOTPACK_AUTH": "on", "PILOTPACK_API_KEYS": json.dumps(doc)}, {
        "authorization": f"Bearer {key}"
    }


@contextmanager
def as_served_heap() -> Iterator[None]:
    """The in-process costs are measured with this process's heap frozen, as a ready service
    runs (`freeze_heap`). Otherwise a full collection of the benchmark's own heap, larger
    than a worker's, now and then lands in a mean: churn's live drift read 94 us in one
    run, against 7-10 us in a fresh process."""
    freeze_heap()
    try:
        yield
    finally:
        gc.unfreeze()


def request_path_costs(uc: UseCase, n: int = 2000) -> dict[str, float]:
    """Microseconds per request of the key check (the middleware, in process) and of storing
    one logged record's identifiers as keyed hashes."""
    return {"auth_check_us": check_cost_us(n), "privacy_row_us": protect_cost_us(uc, n)}


CANARY_PERCENT = 50.0


def live_drift_cost(uc: UseCase, payload: dict[str, Any], n: int = 3000) -> dict[str, float]:
    """Mean microseconds per one-record prediction, in process, with the live drift window on
    and off (shared/serve/metrics.py, live drift): its cost on the request path, amortised over the
    batches it refreshes PSI on. Tasks with a live window only, one record at a time (features
    read from a history need the entity's past records)."""
    if not uc.task.live_drift or uc.history:
        return {}
    predictor = RecordPredictor.from_store(uc)
    model = request_model(uc.raw_schema, exclude=[uc.target], name="BenchRecord")
    records = [model.model_validate(r) for r in payload["records"][:1]]
    before = os.environ.get("PILOTPACK_LIVE_DRIFT")
    out = {}
    try:
        for label, switch in (("off", "0"), ("on", "1")):
            os.environ["PILOTPACK_LIVE_DRIFT"] = switch
            live.reset()
            predictor.predict(records)  # warm-up: loads the reference bins when on
            t0 = time.perf_counter()
            for _ in range(n):
                predictor.predict(records)
            out[f"predict_drift_{label}_us"] = (time.perf_counter() - t0) / n * 1e6
    finally:
        live.reset()
        if before is None:
            os.environ.pop("PILOTPACK_LIVE_DRIFT", None)
        else:
            os.environ["PILOTPACK_LIVE_DRIFT"] = before
    out["live_drift_us"] = out["predict_drift_on_us"] - out["predict_drift_off_us"]
    return out


HISTORY_ENTITIES, HISTORY_RECORDS = 20, 50  # a request of 20 entities' last 50 records


def history_request_cost(uc: UseCase, n: int = 100) -> dict[str, float]:
    """Median microseconds to build the features of a history request (20 entities x their
    last 50 records), in process: of the records scored only (`UseCase.features_at`, each
    entity's latest) and of every record, then those kept (a use case without
    `build_features_at`). History use cases that declare it only."""
    if not uc.history or uc.build_features_at is None:
        return {}
    uc = uc.with_config(uc.load_config())
    raw = uc.make_synthetic(HISTORY_ENTITIES * HISTORY_RECORDS * 10, 0)
    recent = raw.sort_values(uc.time_column).groupby(uc.id_column).tail(HISTORY_RECORDS)
    counts = recent[uc.id_column].value_counts()
    ids = counts[counts == HISTORY_RECORDS].index[:HISTORY_ENTITIES]
    request = recent[recent[uc.id_column].isin(ids)].drop(columns=[uc.target])
    columns = {c: request[c].to_numpy() for c in request.columns}
    keys, times = columns[uc.id_column].tolist(), columns[uc.time_column].tolist()
    rows = np.fromiter(latest_positions(keys, times).values(), dtype=np.int64)
    every_row = replace(uc, build_features_at=None)
    out = {"history_request_records": float(len(request))}
    for label, which in (("scored_rows", uc), ("every_row", every_row)):
        times_us = []
        for _ in range(n):
            t0 = time.perf_counter()
            which.features_at(columns, rows)
            times_us.append((time.perf_counter() - t0) * 1e6)
        out[f"history_features_{label}_us"] = float(np.median(times_us))
    return out


def explain_figures(
    uc: UseCase,
    base_url: str,
    payload: dict[str, Any],
    quick: bool,
    log: Log,
    auth: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Latency of POST /explain (per-record contributions) on the same server, when it has one."""
    if EXPLAIN_ROUTE not in {a.route for a in service_for(uc.name).apis.values()}:
        return {}
    log(f"{uc.name}: {EXPLAIN_ROUTE} latency ...")
    n = 100 if quick else 500
    r = http_benchmark(
        base_url + EXPLAIN_ROUTE, payload, sequential=n, concurrent=n, clients=8, auth=auth
    )
    return {f"explain_{k}": v for k, v in r.items() if k.startswith(("http_p", "thr", "err"))}


def routing_keys(uc: UseCase, n: int = 64) -> list[str]:
    """[field, key 0, key 1, ...]: distinct routing keys, so the canary splits the load."""
    field = uc.load_config().rollout.routing_key or uc.id_column
    return [field, *(f"bench-{i}" for i in range(n))] if field else []


@contextmanager
def canary(uc: UseCase, percent: float, log: Log) -> Iterator[tuple[dict[str, str], Path]]:
    """The service's environment for a run with its prediction log in a temporary file and,
    on a SQLite registry, a `percent` % canary of the champion against a copy of itself: the
    run uses a copy of the registry, and the copied model leaves the store afterwards, so the
    benchmark changes neither the team's registry nor its log. Yields (env, log path)."""
    import bentoml

    with tempfile.TemporaryDirectory(prefix="pilotpack-bench-") as tmp:
        log_path = Path(tmp) / "predictions.db"
        env = {"PILOTPACK_PREDICTION_LOG": str(log_path)}
        uri = tracking_uri()
        if not uri.startswith("sqlite:///") or pinned_tag(uc.name):
            log(f"{uc.name}: no canary (registry {uri} is not a local SQLite file, or pinned)")
            yield env, log_path
            return
        registry = Path(tmp) / "mlflow.db"
        registry.write_bytes(Path(uri.removeprefix("sqlite:///")).read_bytes())
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{registry}"
        before = os.environ.get("MLFLOW_TRACKING_URI")
        os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
        copied = ""
        try:
            client = mlflow_client()
            champion = client.get_model_version_by_alias(uc.name, CHAMPION)
            new = client.create_model_version(uc.name, champion.source, run_id=champion.run_id)
            client.set_model_version_tag(uc.name, new.version, "gates_passed", "true")
            stored = champion_stored(uc.name)
            copied = copy_stored(uc.name, stored, str(new.version))
            # a copy of the serving champion, in a throwaway registry: already allowed to serve
            ro.start(
                uc,
                str(new.version),
                who="benchmark",
                reason="benchmark canary",
                allow_synthetic=True,
            )
            state = ro.read_state(uc.name, client)[0]
            while state.active and state.percent < percent:
                state = ro.advance(uc, force=True, who="benchmark", reason="benchmark canary")
            log(f"{uc.name}: {state.percent:g} % canary of version {new.version} (a copy)")
            yield env, log_path
        finally:
            if before is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = before
            if copied:
                bentoml.models.delete(copied)


def copy_stored(name: str, stored: Any, version: str) -> str:
    """A copy of a stored model labelled as registered `version`; its store tag."""
    extra = {
        p.name: p.read_bytes()
        for p in stored.path.iterdir()
        # model.yaml is BentoML's own record of the model, written again by `save_model`
        if p.is_file() and p.name not in (ONNX_FILE, PROFILE_FILE, "model.yaml")
    }
    return save_model(
        name,
        stored.onnx_path.read_bytes(),
        stored.metadata | {"mlflow_version": version},
        json.loads((stored.path / PROFILE_FILE).read_text()),
        extra,
    )


def loaded_seconds(figures: dict[str, float]) -> float:
    """Seconds a target spent under load (its load phases; sequential time is small beside)."""
    rps = figures["throughput_rps"]
    return figures["load_requests"] / rps if rps else 0.0


def log_figures(uc: UseCase, log_path: Path, t0: float, t1: float) -> dict[str, Any]:
    """Rows the service wrote to its prediction log per second of load, per variant, and the
    log's own cost per request (one committed one-record write, in this process)."""
    if not log_path.exists():
        return {}
    with open_log(str(log_path)) as log:
        rows = log.query(
            "SELECT variant, count(*) FROM predictions WHERE use_case = ? GROUP BY variant",
            [uc.name],
        )
        cost = log_write_us(log, uc.name)
    total = sum(n for _, n in rows)
    return {
        "log_rows": int(total),
        "log_rows_per_s": total / max(t1 - t0, 1e-9),
        "log_rows_by_variant": {str(v): int(n) for v, n in rows},
        "log_write_us": cost,
    }


def log_write_us(log: Any, name: str, n: int = 300) -> float:
    """Median microseconds of one committed write of one scored record."""
    row = ("bench", time.time(), name, "champion", "0", "k", 0, "{}", "{}", 0.5, 1.0, None)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        log.write_predictions(protect_rows([(f"cost-{i}", *row[1:])]))
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


FLOOR_PREFIX = "floor_"
SCORED_FLOOR_PREFIX = "floor_scored_"
BOUND_FLOOR_PREFIX = "floor_bound_"
BOUND_LOG_ENV = "PILOTPACK_BOUND_LOG"
FLOOR_KINDS = ("bare", "scored", "bound")


def floor_scorer(uc: UseCase) -> tuple[Any, Callable[[list[Any]], list[Any]]]:
    """What the scored floor does per request: the champion's features and ONNX, nothing else
    (no router, no log, no guard, no auth). Returns (the predictor, its scoring function);
    built once in the worker."""
    if uc.task.serves == "series":
        series_predictor = ForecastPredictor.from_store(uc)
        return series_predictor, lambda series: forecast_histories(
            series_predictor,
            histories(uc, series),
            [s.horizon for s in series],
            [getattr(s, "future_holidays", None) for s in series],
        )
    predictor = RecordPredictor.from_store(uc)
    return predictor, predictor.predict_latest if uc.history else predictor.predict


class RecordedRuns:
    """An ONNX session that keeps the runs made through it (outputs asked for, feed)."""

    def __init__(self, session: Any):
        self.session = session
        self.runs: list[tuple[Any, Any]] = []

    def run(self, output_names: Any, feed: Any, *args: Any, **kwargs: Any) -> Any:
        self.runs.append((output_names, feed))
        return self.session.run(output_names, feed, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class BoundLog:
    """The least a prediction log that keeps every acknowledged answer can do: the answers'
    JSON text in one committed SQLite row each, WAL and `synchronous=NORMAL` as the pack's log
    (`shared.serve.predlog`), without its columns, pseudonyms, indexes or batching."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS answers (ts REAL, answer TEXT)")
        self.lock = threading.Lock()

    def write(self, answers: list[str]) -> None:
        """Committed when this returns."""
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO answers VALUES (?, ?)", [(time.time(), a) for a in answers]
            )
            self.conn.execute("COMMIT")


def bound_log_path() -> Path:
    """Where the bound floor keeps its log: `PILOTPACK_BOUND_LOG` (the benchmark puts it
    beside the run's own prediction log, removed with it), else a new temporary folder."""
    given = os.environ.get(BOUND_LOG_ENV)
    return Path(given) if given else Path(tempfile.mkdtemp(prefix="pilotpack-bound-")) / "log.db"


def floor_service(name: str, kind: str = "bare") -> Any:
    """A floor: a BentoML endpoint on the use case's route with the same request model (so the
    same parsing and validation). The full path's cost is reported as ratios over the floors,
    measured in the same run (absolute times on shared machines vary up to 4x between hours).

    - `bare`: nothing else; no model, no guard, no logging.
    - `scored`: also runs the champion's features and ONNX, as a bare scoring service would:
      the full path over it is what the pack's production parts cost (router and canary,
      prediction log, guard, auth, metrics), the model's own work aside.
    - `bound`: the least a scoring endpoint the pack's rules allow does per request: the ONNX
      runs the champion makes for the request, on feeds built once, and the answers committed
      to a log before they leave (an acknowledged prediction is never lost), nothing else.
      Features, routing, auth and the rest only add to it, so its ratio over the bare floor
      bounds any full path's. The first request is scored for real, to keep its ONNX runs and
      answer; the benchmark's untimed warm-up sends it.

    Each is dispatched as the service's API is (on the event loop up to `serving.inline_max`
    units, else in the thread pool: `dispatch`; a sync API in BentoML's pool; the same service
    options, the response's media type fixed once as the guard fixes the service's), so the
    ratio is the pack's own work, not the framework's."""
    import bentoml

    if kind not in FLOOR_KINDS:
        raise ValueError(f"floor kind {kind!r}: one of {', '.join(FLOOR_KINDS)}")
    uc = get_use_case(name)
    route = uc.task.route  # the scoring API, not /outcome or others
    api = next(a for a in service_for(name).apis.values() if a.route == route)
    inline_max = uc.load_config().serving.inline_max

    def units(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        return kwargs.get("records", kwargs.get("series", args[0] if args else []))

    def scored(self: Any, items: list[Any]) -> list[Any]:
        return [plain(r) for r in self.score(items)]

    def bound(self: Any, items: list[Any]) -> list[Any]:
        if self.runs is None:
            with self.first:  # scored for real once; its ONNX runs are kept to replay
                if self.runs is None:
                    recorder = RecordedRuns(self.predictor.session)
                    self.predictor.session = recorder
                    try:
                        self.answer = scored(self, items)
                    finally:
                        self.predictor.session = recorder.session
                    self.texts = [json.dumps(a) for a in self.answer]
                    self.runs = recorder.runs
        for output_names, feed in self.runs:
            self.predictor.session.run(output_names, feed)
        self.log.write(self.texts)
        return self.answer

    work = {"bare": lambda self, items: [], "scored": scored, "bound": bound}[kind]

    if inspect.iscoroutinefunction(api.func):  # the service's dispatch: loop or thread

        async def endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
            items = units(args, kwargs)
            return await dispatch(len(items), inline_max, work, self, items)
    else:

        def endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
            return work(self, units(args, kwargs))

    signature = inspect.signature(api.func)
    if kind != "bare":  # its answer is the scorer's own dicts, not the service's response model
        signature = signature.replace(return_annotation=list[dict[str, Any]])
    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = api.name

    def __init__(self: Any) -> None:
        if kind != "bare":
            self.predictor, self.score = floor_scorer(uc)
        if kind == "bound":
            self.log, self.first, self.runs = BoundLog(bound_log_path()), threading.Lock(), None
        freeze_heap()  # as the service does once it is ready

    label = "" if kind == "bare" else kind.title()
    cls = type(
        f"Floor{label}{name.title().replace('_', '')}",
        (),
        {
            "__init__": __init__,
            api.name: bentoml.api(route=api.route)(endpoint),
            "__module__": __name__,
        },
    )
    suffix = "_floor" if kind == "bare" else f"_floor_{kind}"
    svc = bentoml.service(**service_options(f"{name}{suffix}", uc.load_config()))(cls)
    # The framework set as the service sets it (`fixed_media_type`): left alone, BentoML
    # rebuilds a list response's JSON schema on every response, about 330 of the ~860 us of
    # CPU a bare churn floor spent per request. The service never pays that, so a floor paying
    # it credited the pack with BentoML's cost: the ratios flattered the full path.
    for spec in svc.apis.values():
        fixed_media_type(spec.output_spec)
    return svc


def plain(value: Any) -> Any:
    """A scorer's result as JSON-ready Python (numpy scalars and dates to plain values)."""
    return json.loads(
        json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )


def __getattr__(name: str) -> Any:
    """`bentoml serve shared.ops.benchmark:floor_<use case>` (and `floor_scored_<use case>`,
    `floor_bound_<use case>`)."""
    if name.startswith(SCORED_FLOOR_PREFIX):
        return floor_service(name.removeprefix(SCORED_FLOOR_PREFIX), "scored")
    if name.startswith(BOUND_FLOOR_PREFIX):
        return floor_service(name.removeprefix(BOUND_FLOOR_PREFIX), "bound")
    if name.startswith(FLOOR_PREFIX):
        return floor_service(name.removeprefix(FLOOR_PREFIX))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def results_dir() -> Path:
    return project_root() / "benchmarks" / "results"


def markdown_row_header() -> str:
    return (
        "| use case | ONNX 1 row (us) | native 1 row (us) | ONNX 1000 rows (us) | native 1000 rows (us) "
        "| HTTP p50 (ms) | p95 | p99 | req/s (8 clients) | errors | SLA 200 ms "
        "| floor p50 (ms) | floor req/s | p50 / floor | req/s / floor | scored floor p50 (ms) "
        "| p50 / scored floor | req/s / scored floor | CPU/req / scored floor "
        "| bound p50 / floor | bound req/s / floor | log rows/s "
        "| log write (us) "
        "| auth p50 / off | live drift (us) | /explain p50 (ms) | /explain p99 (ms) "
        "| head-of-line p99 (ms) |\n" + "|---" * 28 + "|\n"
    )


def markdown_row(r: dict[str, Any]) -> str:
    def f(key: str, fmt: str = "{:.0f}") -> str:
        return fmt.format(r[key]) if key in r else "-"

    return (
        f"| {r['use_case']} | {f('onnx_row_us')} | {f('native_row_us')} | {f('onnx_1000_rows_us')} "
        f"| {f('native_1000_rows_us')} | {f('http_p50_ms', '{:.2f}')} | {f('http_p95_ms', '{:.2f}')} "
        f"| {f('http_p99_ms', '{:.2f}')} | {f('throughput_rps')} | {r['errors']} | {'ok' if r['sla_ok'] else 'FAILED'} "
        f"| {f('floor_http_p50_ms', '{:.2f}')} | {f('floor_throughput_rps')} "
        f"| {f('p50_vs_floor', '{:.2f}x')} | {f('throughput_vs_floor', '{:.2f}x')} "
        f"| {f('scored_floor_http_p50_ms', '{:.2f}')} | {f('p50_vs_scored_floor', '{:.2f}x')} "
        f"| {f('throughput_vs_scored_floor', '{:.2f}x')} | {f('cpu_vs_scored_floor', '{:.2f}x')} "
        f"| {f('bound_p50_vs_floor', '{:.2f}x')} | {f('bound_throughput_vs_floor', '{:.2f}x')} "
        f"| {f('log_rows_per_s')} | {f('log_write_us')} | {f('auth_p50_vs_off', '{:.2f}x')} "
        f"| {f('live_drift_us', '{:.1f}')} "
        f"| {f('explain_http_p50_ms', '{:.2f}')} | {f('explain_http_p99_ms', '{:.2f}')} "
        f"| {f('hol_p99_ms', '{:.1f}')} |\n"
    )


def write_results(result: dict[str, Any]) -> None:
    """One JSON per use case, and a Markdown table of every JSON present."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{result['use_case']}.json").write_text(json.dumps(result, indent=2))
    rows = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    rows = [
        r for r in rows if "use_case" in r
    ]  # scale.json is `bench-scale`'s (shared/ops/scale.py)
    head = f"# Benchmark results\n\nMachine: {result['cores']} cores, Python {result['python']}, {result['platform']}.\n\n"
    (folder / "results.md").write_text(
        head + markdown_row_header() + "".join(markdown_row(r) for r in rows)
    )
