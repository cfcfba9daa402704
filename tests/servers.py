"""A real `bentoml serve` for tests, on a loopback port it binds itself (another port when the
bind fails), stopped with its whole process group. The pack's own benchmark keeps its server
in shared/ops/benchmark.py; tests do not depend on it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests import loopback
from tests.processes import REAPER, PortTaken, on_a_free_port, port_taken, stop_group, wait_until

ROOT = Path(__file__).resolve().parents[1]
# First on every test server's PYTHONPATH: only the serve set is importable (its docstring).
SERVE_SET = Path(__file__).resolve().parent / "serve_set"


def serve_set_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with tests/serve_set first on PYTHONPATH, so the process runs as in a Bento."""
    path = [str(SERVE_SET), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


class Server:
    """`with Server("shared.serve.services:churn", env=...) as s:` serves on `s.url` until exit;
    `s.log_path` holds its output, `s.proc` is the arbiter process. `cwd`: the folder it serves
    from (the repository, or a copy of the code with PYTHONPATH pointing at it).
    `background_stop`: on a clean exit, stop it on another thread (`REAPER`) and go on; only for
    a server whose files, port and dependencies nothing reads or removes after it stops."""

    def __init__(
        self,
        target: str,
        env: dict[str, str] | None = None,
        timeout: float = 90,
        cwd: Path = ROOT,
        background_stop: bool = False,
    ):
        self.target, self.env, self.timeout, self.cwd = target, env, timeout, cwd
        self.background_stop = background_stop
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.url = ""
        self.log_path = Path()

    def __enter__(self) -> Server:
        return on_a_free_port(self._start)

    def _start(self, port: int) -> Server:
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        fd, name = tempfile.mkstemp(prefix=f"pilotpack-serve-{port}-", suffix=".log")
        self.log_path = Path(name)
        cmd = [sys.executable, "-m", "bentoml", "serve", self.target,
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                env=serve_set_env({**os.environ, **(self.env or {})}),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        try:
            wait_until(self._ready, self.timeout, f"bentoml serve {self.target} ready")
        except AssertionError:
            stop_group(self.proc)
            tail = self.log_tail()
            self.log_path.unlink(missing_ok=True)
            raise TimeoutError(f"bentoml serve not ready after {self.timeout} s:\n{tail}") from None
        except BaseException:
            stop_group(self.proc)
            self.log_path.unlink(missing_ok=True)  # _ready's errors carry the log's tail
            raise
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            if port_taken(self.log_tail(200)):
                raise PortTaken(self.url)
            raise RuntimeError(
                f"bentoml serve exited with {self.proc.returncode}:\n{self.log_tail()}"
            )
        if "Application startup failed" in self.log_tail(200):
            # BentoML keeps the arbiter alive and restarts the worker: stop here, say why.
            raise RuntimeError(f"bentoml serve could not start {self.target}:\n{self.log_tail()}")
        try:
            return loopback.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.background_stop and not any(exc):
            REAPER.stop(self.proc, f"bentoml serve {self.target}")
        else:
            stop_group(self.proc)
        self.log_path.unlink(missing_ok=True)  # a stopping server may still write: it is unlinked
