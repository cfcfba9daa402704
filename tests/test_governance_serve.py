"""POST /explain: each record's contributions by model input and base value add up to the
model's log-odds (1e-6), in process for every binary use case and through a real
`bentoml serve` for one."""

from __future__ import annotations

import numpy as np
import pytest

from shared.core.store import load_model
from shared.core.usecase import get_use_case
from shared.serve.explain import EXPLAIN_ROUTE, explain_records
from shared.serve.factory import RecordPredictor, records_to_columns
from shared.serve.services import example_payload, service_for
from tests import loopback


def _records(uc, n: int = 5):
    api = next(a for a in service_for(uc.name).apis.values() if a.route == EXPLAIN_ROUTE)
    model = api.input_spec.model_fields["records"].annotation.__args__[0]
    raw = uc.make_synthetic(n * 20, 7).drop(columns=[uc.target]).head(n)
    rows = raw.replace({np.nan: None}).to_dict(orient="records")
    return [model.model_validate(r) for r in rows]


@pytest.mark.parametrize("name", ["churn", "lead_scoring"])
def test_explanations_add_up_to_the_served_log_odds(trained, name):
    uc = get_use_case(name)
    cfg = uc.load_config()
    predictor = RecordPredictor(uc.with_config(cfg), load_model(trained(name).bento_tag), cfg)
    records = _records(uc)
    out = explain_records(predictor, records, top=3)
    assert len(out) == len(records)
    p = predictor.values(uc.build_features(records_to_columns(records, predictor.fields)))
    for e, prob in zip(out, p, strict=True):
        total = e.base_value + sum(c.value for c in e.contributions) + e.rest
        assert abs(total - e.output) < 1e-6 and e.output_kind == "log_odds"
        assert len(e.contributions) == 3
        assert abs(e.output - np.log(prob / (1 - prob))) < 1e-3  # ONNX computes in float32
        assert e.model_version == predictor.version


@pytest.mark.serve
def test_explain_endpoint_on_a_real_server(trained, serve):
    uc = get_use_case("lead_scoring")
    trained(uc.name)
    body = example_payload(uc, 2) | {"top": 4}
    with serve(uc.name) as server:
        r = loopback.post(server.url + EXPLAIN_ROUTE, json=body, timeout=30)
        bad = loopback.post(server.url + EXPLAIN_ROUTE, json={"records": []}, timeout=30)
    assert r.status_code == 200, r.text
    for e in r.json():
        assert len(e["contributions"]) == 4
        total = e["base_value"] + sum(c["value"] for c in e["contributions"]) + e["rest"]
        assert abs(total - e["output"]) < 1e-6
    assert bad.status_code == 400
