"""Latency and throughput against the SLA: ONNX vs native in-process, then HTTP through a real
`bentoml serve` on 127.0.0.1. Ratios are measured in the same run, on the same machine."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from shared.paths import project_root
from shared.tasks import get_task
from shared.usecase import UseCase

Log = Callable[[str], None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def offline_benchmark(uc: UseCase, quick: bool) -> dict[str, float]:
    """In-process latency, ONNX vs native, as the use case's task measures it."""
    return get_task(uc.task).offline_benchmark(uc, quick)


class Server:
    """`bentoml serve` in a subprocess on a free loopback port; stopped on exit."""

    def __init__(self, target: str, env: dict[str, str] | None = None, timeout: float = 90):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target, self.env, self.timeout = target, env, timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pilotpack-serve-{self.port}.log"

    def __enter__(self) -> Server:
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
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, **(self.env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"bentoml serve exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if "Application startup failed" in self.log_tail(200):
                # BentoML keeps the arbiter alive and restarts the worker: stop it here.
                self.__exit__()
                raise RuntimeError(
                    f"bentoml serve could not start {self.target}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise TimeoutError(f"bentoml serve not ready after {self.timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def http_benchmark(
    url: str, payload: dict[str, Any], sequential: int, concurrent: int, clients: int
) -> dict[str, float]:
    """Sequential single-request latencies, then `clients` threads sharing `concurrent` requests."""
    import httpx

    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json"}
    errors = 0
    lat = []
    with httpx.Client(timeout=10) as client:
        for _ in range(5):  # warm-up
            client.post(url, content=body, headers=headers)
        for _ in range(sequential):
            t0 = time.perf_counter()
            r = client.post(url, content=body, headers=headers)
            lat.append(time.perf_counter() - t0)
            errors += r.status_code != 200
    remaining = [concurrent]
    lock = threading.Lock()
    load_lat: list[float] = []

    def worker() -> None:
        nonlocal errors
        with httpx.Client(timeout=10) as client:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                t0 = time.perf_counter()
                try:
                    ok = client.post(url, content=body, headers=headers).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    load_lat.append(time.perf_counter() - t0)
                    errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    load_ms = np.array(load_lat) * 1000
    return {
        "http_p50_ms": float(np.percentile(ms, 50)),
        "http_p95_ms": float(np.percentile(ms, 95)),
        "http_p99_ms": float(np.percentile(ms, 99)),
        "http_requests_sequential": sequential,
        "load_p50_ms": float(np.percentile(load_ms, 50)),
        "load_p99_ms": float(np.percentile(load_ms, 99)),
        "load_clients": clients,
        "load_requests": concurrent,
        "throughput_rps": concurrent / wall,
        "errors": int(errors),
    }


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            p: metadata.version(p) for p in ("onnxruntime", "bentoml", "scikit-learn", "lightgbm")
        },
    }


def run_benchmark(
    uc: UseCase, quick: bool = False, sla_ms: float = 200.0, log: Log = print
) -> dict[str, Any]:
    """Offline and HTTP figures for one use case; writes benchmarks/results/<name>.json and .md."""
    task = get_task(uc.task)
    log(f"{uc.name}: offline ONNX vs native ...")
    result: dict[str, Any] = {"use_case": uc.name, "quick": quick, "sla_ms": sla_ms}
    result |= offline_benchmark(uc, quick)
    log(f"{uc.name}: starting bentoml serve {uc.service} ...")
    with Server(uc.service) as server:
        url = server.url + task.route
        log(f"{uc.name}: HTTP load on {url} ...")
        result |= http_benchmark(
            url,
            task.example_payload(uc, 1),
            sequential=200 if quick else 1000,
            concurrent=400 if quick else 3000,
            clients=8,
        )
    result["sla_ok"] = result["http_p99_ms"] <= sla_ms and result["errors"] == 0
    result |= machine() | {"timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
    write_results(result)
    log(markdown_row_header() + markdown_row(result).rstrip())
    return result


def results_dir() -> Path:
    return project_root() / "benchmarks" / "results"


def markdown_row_header() -> str:
    return (
        "| use case | ONNX 1 row (us) | native 1 row (us) | ONNX 1000 rows (us) | native 1000 rows (us) "
        "| HTTP p50 (ms) | p95 | p99 | req/s (8 clients) | errors | SLA 200 ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )


def markdown_row(r: dict[str, Any]) -> str:
    def f(key: str, fmt: str = "{:.0f}") -> str:
        return fmt.format(r[key]) if key in r else "-"

    return (
        f"| {r['use_case']} | {f('onnx_row_us')} | {f('native_row_us')} | {f('onnx_1000_rows_us')} "
        f"| {f('native_1000_rows_us')} | {f('http_p50_ms', '{:.2f}')} | {f('http_p95_ms', '{:.2f}')} "
        f"| {f('http_p99_ms', '{:.2f}')} | {f('throughput_rps')} | {r['errors']} | {'ok' if r['sla_ok'] else 'FAILED'} |\n"
    )


def write_results(result: dict[str, Any]) -> None:
    """One JSON per use case, and a Markdown table of every JSON present."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{result['use_case']}.json").write_text(json.dumps(result, indent=2))
    rows = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    head = f"# Benchmark results\n\nMachine: {result['cores']} cores, Python {result['python']}, {result['platform']}.\n\n"
    (folder / "results.md").write_text(
        head + markdown_row_header() + "".join(markdown_row(r) for r in rows)
    )
