"""`bentoml serve` at the root serves every registered use case under its own name."""

from __future__ import annotations

import importlib

import httpx
import pytest

from shared.benchmark import Server
from shared.usecase import registry
from tests.helpers import train_fast

pytestmark = pytest.mark.serve


def _served() -> dict[str, str]:
    """Use case name -> service target, once per service (a variant shares its parent's)."""
    out: dict[str, str] = {}
    for uc in registry().values():
        if uc.service not in out.values():
            out[uc.name] = uc.service
    return out


SERVED = _served()


@pytest.fixture(scope="module")
def root():
    for uc in registry().values():
        result = train_fast(uc)
        assert result.gates_passed, (uc.name, result.gate_reasons)
    with Server("shared.service:PilotPack", timeout=180) as server:
        yield server


@pytest.mark.parametrize("name", list(SERVED))
def test_every_use_case_answers_under_its_name(root, name):
    module = importlib.import_module(SERVED[name].partition(":")[0])
    url = f"{root.url}/{name}{module.ROUTE}"
    good = httpx.post(url, json=module.example_payload(2), timeout=30)
    assert good.status_code == 200, good.text
    bad = httpx.post(url, json={}, timeout=30)
    assert 400 <= bad.status_code < 500


def test_openapi_lists_every_route_of_every_service(root):
    paths = set(httpx.get(f"{root.url}/docs.json").json()["paths"])
    for name, target in SERVED.items():
        module, _, attr = target.partition(":")
        service = getattr(importlib.import_module(module), attr)
        assert {f"/{name}{api.route}" for api in service.apis.values()} <= paths
