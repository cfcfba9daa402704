"""`bentoml serve` at the root serves every registered use case and variant under its own name,
each through its task's route with its task's example payload."""

from __future__ import annotations

import time

import psutil
import pytest

from shared.core.usecase import registry
from shared.serve.isolate import own_process
from shared.serve.services import example_payload, service_for
from tests import loopback
from tests.conftest import serving

pytestmark = pytest.mark.serve
NAMES = list(registry())
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def root():
    with serving("shared.serve.root:PilotPack", NAMES, timeout=180) as server:
        yield server


@pytest.mark.parametrize("name", NAMES)
def test_every_use_case_answers_under_its_name(root, trained, name):
    uc = registry()[name]
    task = uc.task
    url = f"{root.url}/{name}{task.route}"
    good = loopback.post(url, json=example_payload(uc, 2), timeout=30)
    assert good.status_code == 200, good.text
    body = good.json()
    assert body and all(b["model_version"] == trained(name).model_version for b in body)
    bad = loopback.post(url, json={}, timeout=30)
    assert 400 <= bad.status_code < 500


def test_openapi_lists_every_route_of_every_service(root):
    paths = set(loopback.get(f"{root.url}/docs.json").json()["paths"])
    for name in NAMES:
        assert {f"/{name}{api.route}" for api in service_for(name).apis.values()} <= paths


def test_forecasts_run_in_their_own_process_and_are_refused_once(root):
    """A forecast holds the interpreter for 100 ms and more, so the root hands it, unparsed, to
    the use case's own service in a process of its own (shared/serve/isolate.py); that service's
    guard refuses a bad body, and the refusal is logged once, not by both processes."""
    apart = [n for n in NAMES if own_process(registry()[n])]
    assert apart, "no use case serves series"
    workers = [
        " ".join(p.cmdline()) for p in psutil.Process(root.proc.pid).children(recursive=True)
    ]
    for name in apart:
        assert any(f"--service-name {service_for(name).name}" in w for w in workers), workers
        uc = registry()[name]
        marker = f"/{name}{uc.task.route}"
        before = _rejections(root, uc.task.route)
        bad = loopback.post(f"{root.url}{marker}", content=b'{"nope', timeout=30, headers=JSON)
        assert bad.status_code == 400, bad.text
        assert _rejections(root, uc.task.route) == before + 1


def _rejections(root, route: str) -> int:
    """Rejection lines for `route`, under the use case's prefix (root) or not (its own process)."""
    lines = root.log_path.read_text().splitlines()
    return sum("rejected POST" in line and f"{route} 400" in line for line in lines)


def test_a_dead_forecast_process_gets_a_503_then_its_restart_answers(root):
    """Killed, the forecaster's process is restarted by BentoML's supervisor; meanwhile the root
    answers 503 with Retry-After (never a 500, never a hang) and every other use case still 200."""
    name = next(n for n in NAMES if own_process(registry()[n]))
    uc = registry()[name]
    url, body = f"{root.url}/{name}{uc.task.route}", example_payload(uc, 1)
    others = [n for n in NAMES if not own_process(registry()[n])]
    flag = f"--service-name {service_for(name).name}"
    worker = next(
        p
        for p in psutil.Process(root.proc.pid).children(recursive=True)
        if flag in " ".join(p.cmdline())
    )
    worker.kill()
    worker.wait(timeout=10)
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        r = loopback.post(url, json=body, timeout=30)
        seen.add(r.status_code)
        if r.status_code == 200:
            break
        assert r.status_code == 503 and r.headers.get("retry-after"), (r.status_code, r.text)
        other = registry()[others[0]]
        ok = loopback.post(
            f"{root.url}/{others[0]}{other.task.route}", json=example_payload(other, 1)
        )
        assert ok.status_code == 200, ok.text
        time.sleep(0.2)
    assert 200 in seen, seen
