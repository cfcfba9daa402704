"""Process, port and waiting helpers for tests (not part of the pack).

- `wait_until`: poll a condition until a deadline, never a fixed sleep.
- `on_a_free_port`: start a server on a candidate port and, when its bind fails because another
  process took the port meanwhile, again on another one. A port found free is only a candidate:
  nothing holds it between the check and the server's own bind.
- `stop_group`: stop a process started with `start_new_session=True` and everything it spawned,
  and wait until none is left.
- `REAPER`: the same stop on a thread of its own, for a server nothing reads after it stops; the
  session waits for every such stop at its end and fails if one went wrong.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from tests import loopback

T = TypeVar("T")
BIND_ATTEMPTS = 5


class PortTaken(RuntimeError):
    """The server could not bind its port: another process holds it."""


def wait_until(check: Callable[[], object], timeout: float = 15, what: str = "") -> None:
    """Return as soon as `check()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or check.__doc__ or check}")
        time.sleep(0.05)


def candidate_port() -> int:
    """A loopback port free right now (the caller's bind may still lose it: see on_a_free_port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(log: str) -> bool:
    """Whether a server's output says its bind failed because the address is in use."""
    text = log.lower()
    return "address already in use" in text or "errno 98" in text


def on_a_free_port(start: Callable[[int], T], attempts: int = BIND_ATTEMPTS) -> T:
    """`start(port)` on candidate ports until one binds; `start` raises PortTaken when it lost
    the port to another process."""
    for _ in range(attempts):
        try:
            return start(candidate_port())
        except PortTaken:
            continue
    raise RuntimeError(f"no loopback port could be bound in {attempts} attempts")


def start_until_ready(
    cmd: list[str], log: Path, ready_url: str, timeout: float = 30, output_to_log: bool = False
) -> subprocess.Popen:
    """A daemon in its own process group, once `ready_url` answers 2xx. PortTaken when its log
    says the port was taken; it is stopped if it dies or is not ready in time."""
    out = log.open("wb")
    stdout = out if output_to_log else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd, stdout=stdout, stderr=subprocess.STDOUT if output_to_log else out,
        start_new_session=True,
    )  # fmt: skip

    def ready() -> bool:
        if proc.poll() is not None:
            if port_taken(log.read_text(errors="replace")):
                raise PortTaken(ready_url)
            raise AssertionError(f"{cmd[0]} exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            return loopback.get(ready_url, timeout=2).is_success
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout, what=f"{ready_url} answers")
    except BaseException:
        stop_group(proc)
        raise
    return proc


def stop_group(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to the leader (it stops its own children cleanly), then SIGTERM and SIGKILL to
    whatever of its process group is left, waiting each time until none runs. Children can
    outlive their parent and keep writing to its files (Chromium into its profile, a server
    worker into its log): removing those files earlier fails or races."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(proc.pid):
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    proc.wait(timeout)


def group_alive(pgid: int) -> bool:
    """Whether a process of this group still runs. Zombies do not count: orphans are reaped by
    init, which in a container may never do it."""
    proc_fs = Path("/proc")
    if not proc_fs.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_fs.glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # exited while listing
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


class Reaper:
    """Stops process groups in the background: a graceful server stop takes about 0.8 s, mostly
    waiting, which the test that started the server need not spend. `join` waits for them all."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []

    def stop(self, proc: subprocess.Popen, what: str) -> None:
        """`stop_group(proc)` on a thread of its own; an error is kept for `join`."""

        def run() -> None:
            try:
                stop_group(proc)
            except BaseException as e:  # noqa: BLE001 (reported by join, on the test thread)
                self._errors.append(f"stopping {what}: {e!r}")

        thread = threading.Thread(target=run, name=f"stop {what}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def join(self) -> list[str]:
        """Wait for every stop started so far; the errors they met (none when all went well)."""
        while self._threads:
            self._threads.pop().join()
        errors, self._errors = self._errors, []
        return errors


REAPER = Reaper()
