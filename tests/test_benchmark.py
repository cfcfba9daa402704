"""The benchmark's request bodies: one routing key per body, each a valid request, so that the
canary in `pilotpack bench` splits real traffic and never measures 400s."""

from __future__ import annotations

import pytest

from shared.core.usecase import registry
from shared.ops.benchmark import keyed_payloads, routing_keys
from shared.serve.factory import request_model
from shared.serve.services import example_payload

RECORD_USE_CASES = [n for n, uc in registry().items() if uc.task.serves == "records"]


@pytest.mark.parametrize("name", RECORD_USE_CASES)
def test_keyed_bodies_are_valid_requests_with_distinct_routing_keys(name):
    uc = registry()[name]
    keys = routing_keys(uc)
    bodies = keyed_payloads(example_payload(uc, 1), keys)
    model = request_model(uc.raw_schema, exclude=[uc.target], name="BenchRecord")
    for body in bodies:
        for record in body["records"]:
            model.model_validate(record)  # raises on a key of the wrong type or shape
    assert len({b["records"][0][keys[0]] for b in bodies}) == len(keys) - 1


def test_a_body_without_the_routing_field_is_used_as_it_is():
    body = {"series": [{"id": "s1"}]}
    assert keyed_payloads(body, ["store", "a", "b"]) == [body]
    assert keyed_payloads(body, []) == [body]


def test_the_sla_is_the_use_cases_own_unless_given(tmp_path):
    """`pilotpack bench` checks a fork that tightens rollout.sla_ms to 100 ms against 100 ms,
    not against a default of 200."""
    import dataclasses

    import yaml

    from shared.core.usecase import get_use_case
    from shared.ops.benchmark import sla_budget

    uc = get_use_case("churn")
    cfg = yaml.safe_load(uc.config_path.read_text())
    cfg["rollout"]["sla_ms"] = 100
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    tight = dataclasses.replace(uc, folder=tmp_path)
    assert sla_budget(tight) == 100.0
    assert sla_budget(uc) == uc.load_config().rollout.sla_ms
    assert sla_budget(tight, 250) == 250.0
