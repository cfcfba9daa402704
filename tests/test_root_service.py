"""`bentoml serve` at the root serves every registered use case and variant under its own name,
each through its task's route with its task's example payload."""

from __future__ import annotations

import httpx
import pytest

from shared.core.usecase import registry
from shared.serve.services import example_payload, service_for
from tests.conftest import serving

pytestmark = pytest.mark.serve
NAMES = list(registry())


@pytest.fixture(scope="module")
def root():
    with serving("shared.serve.root:PilotPack", NAMES, timeout=180) as server:
        yield server


@pytest.mark.parametrize("name", NAMES)
def test_every_use_case_answers_under_its_name(root, trained, name):
    uc = registry()[name]
    task = uc.task
    url = f"{root.url}/{name}{task.route}"
    good = httpx.post(url, json=example_payload(uc, 2), timeout=30)
    assert good.status_code == 200, good.text
    body = good.json()
    assert body and all(b["model_version"] == trained(name).model_version for b in body)
    bad = httpx.post(url, json={}, timeout=30)
    assert 400 <= bad.status_code < 500


def test_openapi_lists_every_route_of_every_service(root):
    paths = set(httpx.get(f"{root.url}/docs.json").json()["paths"])
    for name in NAMES:
        assert {f"/{name}{api.route}" for api in service_for(name).apis.values()} <= paths
