"""The benchmark's request bodies: one routing key per body, each a valid request, so that the
canary in `pilotpack bench` splits real traffic and never measures 400s."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time

import httpx
import pytest

from shared.core.usecase import get_use_case, registry
from shared.ops.benchmark import (
    HISTORY_ENTITIES,
    HISTORY_RECORDS,
    history_request_cost,
    keyed_payloads,
    routing_keys,
)
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


@pytest.mark.parametrize("name", ["churn", "predictive_maintenance_fleet", "demand_forecasting"])
def test_the_scored_floor_answers_what_the_champion_computes(name, trained, monkeypatch, tmp_path):
    """The scored floor does the model's own work and nothing else: its answer is the stored
    champion's, so the full path over it is the cost of the pack's production parts. The bound
    floor answers the same, from the champion's own ONNX runs kept from its first request, and
    commits every answer to its log before it returns."""
    import sqlite3

    from shared.core.usecase import get_use_case
    from shared.ops.benchmark import BOUND_LOG_ENV, RecordedRuns, floor_scorer, floor_service
    from shared.serve.services import service_for

    uc = get_use_case(name)
    monkeypatch.setenv(f"PILOTPACK_MODEL_{name.upper()}", trained(name).bento_tag)
    api = next(a for a in service_for(name).apis.values() if a.route == uc.task.route)
    items = api.input_spec.model_validate(example_payload(uc, 2))
    (field,) = (f for f in type(items).model_fields if f != "ctx")
    items = getattr(items, field)
    floor = floor_service(name, "scored")
    # dispatched as the service's API is: a coroutine, on the loop or a thread by size
    assert inspect.iscoroutinefunction(floor.apis[api.name].func)
    answered = asyncio.run(getattr(floor.inner(), api.name)(**{field: items}))
    expected = floor_scorer(uc)[1](items)
    assert answered and len(answered) == len(expected)
    assert json.dumps(answered, default=str) == json.dumps(expected, default=float_or_str)
    bare = floor_service(name)
    assert asyncio.run(getattr(bare.inner(), api.name)(**{field: items[:1]})) == []
    monkeypatch.setenv(BOUND_LOG_ENV, str(tmp_path / "bound.db"))
    bound = floor_service(name, "bound")
    least = bound.inner()
    assert asyncio.run(getattr(least, api.name)(**{field: items})) == answered  # scored
    assert least.runs and not isinstance(least.predictor.session, RecordedRuns)  # unwrapped
    replayed = least.predictor.session = RecordedRuns(least.predictor.session)
    for _ in range(2):  # later requests replay the kept ONNX runs, and log
        assert asyncio.run(getattr(least, api.name)(**{field: items})) == answered
    assert len(replayed.runs) == 2 * len(least.runs)
    with sqlite3.connect(tmp_path / "bound.db") as db:
        assert db.execute("SELECT count(*) FROM answers").fetchone()[0] == 3 * len(answered)
    with pytest.raises(ValueError, match="bare, scored, bound"):
        floor_service(name, "scored floor")
    # the framework set as the service sets it: no JSON schema rebuilt on every response
    for svc in (floor, bare, bound, service_for(name)):
        assert svc.apis[api.name].output_spec.media_type == "application/json"


def float_or_str(v):
    return v.item() if hasattr(v, "item") else str(v)


def test_interleaved_rounds_give_every_target_the_same_requests_in_turning_order(monkeypatch):
    from shared.ops import benchmark as b

    seen: list[tuple[str, str, int]] = []
    monkeypatch.setattr(b, "one_by_one", lambda t, n, warm_up=0: seen.append(("seq", t.url, n)))
    monkeypatch.setattr(b, "under_load", lambda t, n, c: seen.append(("load", t.url, n)))
    monkeypatch.setattr(b, "figures", lambda t, clients: {"url": t.url})
    monkeypatch.setattr(b, "warm_up", lambda t, clients: seen.append(("warm", t.url, 0)))
    targets = [b.Target(u, [b""], {}) for u in ("floor", "scored", "pack")]
    out = b.interleaved_benchmark(targets, sequential=30, concurrent=60, clients=8, rounds=3)
    assert [f["url"] for f in out] == ["floor", "scored", "pack"]  # figures in target order
    timed = [s for s in seen if s[2]]
    for url in ("floor", "scored", "pack"):
        assert sum(n for kind, u, n in timed if u == url and kind == "seq") == 30
        assert sum(n for kind, u, n in timed if u == url and kind == "load") == 60
    firsts = [timed[i * 6][1] for i in range(3)]  # who goes first in each round
    assert len(set(firsts)) == 3, firsts
    assert seen[:3] == [("warm", u, 0) for u in ("floor", "scored", "pack")]  # all, untimed, first


def test_the_warm_up_is_untimed_and_loads_the_target_concurrently(monkeypatch):
    from shared.ops import benchmark as b

    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(b, "one_by_one", lambda t, n, warm_up=0: calls.append(("seq", n, warm_up)))
    monkeypatch.setattr(b, "under_load", lambda t, n, c: calls.append(("load", n, c)))
    t = b.Target("pack", [b""] * 100, {})
    b.warm_up(t, clients=8)
    assert calls == [("seq", 0, b.WARM_UP), ("load", 100, 8)]  # every body, all clients at once
    assert (t.lat, t.load_lat, t.load_requests, t.load_cpu) == ([], [], 0, 0.0)


def test_the_cpu_ratio_is_reported_only_when_both_workers_were_measured():
    from shared.ops.benchmark import ratios

    base = {
        "http_p50_ms": 2.0,
        "floor_http_p50_ms": 1.0,
        "scored_floor_http_p50_ms": 1.6,
        "throughput_rps": 90.0,
        "floor_throughput_rps": 120.0,
        "scored_floor_throughput_rps": 100.0,
    }
    assert "cpu_vs_scored_floor" not in ratios(base)
    out = ratios(base | {"load_cpu_us": 1200.0, "scored_floor_load_cpu_us": 1000.0})
    assert out["cpu_vs_scored_floor"] == pytest.approx(1.2)
    assert out["throughput_vs_scored_floor"] == pytest.approx(0.9)
    assert "bound_p50_vs_floor" not in out
    bound = {"bound_floor_http_p50_ms": 1.3, "bound_floor_throughput_rps": 96.0}
    out = ratios(base | bound)
    assert out["bound_p50_vs_floor"] == pytest.approx(1.3)
    assert out["bound_throughput_vs_floor"] == pytest.approx(0.8)


def test_the_worker_cpu_per_request_is_measured_under_load(trained):
    """What a request costs the service itself (its worker's CPU seconds over the load phase),
    beside the req/s that a busy machine bends: more than nothing, and no more than the
    phase's wall time per request on every core."""
    from shared.ops import benchmark as b

    trained("churn")
    uc = registry()["churn"]
    with b.Server("shared.ops.benchmark:floor_churn") as server:
        t = b.target(server.url + uc.task.route, example_payload(uc, 1), cpu=server.cpu_seconds)
        b.one_by_one(t, 10)
        b.under_load(t, 200, 4)
        # the phase is timed from when every client is open: opening one costs the same for
        # every server, and in a short phase it pulled the ratios between servers towards 1
        slow = b.target(server.url + uc.task.route, example_payload(uc, 1))
        opened = httpx.Client.__init__

        def slow_to_open(self, *args, **kwargs):
            time.sleep(1.0)
            opened(self, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(httpx.Client, "__init__", slow_to_open)
            b.under_load(slow, 8, 4)
    assert not server.log_path.exists()  # a stopped server's log goes with it
    out = b.figures(t, 4)
    assert out["errors"] == 0
    assert 0 < out["load_cpu_us"] <= t.load_wall / 200 * 1e6 * (os.cpu_count() or 1)
    assert (slow.load_requests, slow.errors, len(slow.load_lat)) == (8, 0, 8)
    assert slow.load_wall < 1.0  # 8 requests, not the clients' 1 s each of opening


def test_a_client_that_cannot_open_stops_the_load_phase_at_once(monkeypatch):
    """No server needed: every client fails to open, so nothing is sent; the phase fails
    within seconds naming the cause (the barrier is aborted), not after its 60 s wait."""
    from shared.ops import benchmark as b

    def refuse(self, *args, **kwargs):
        raise OSError("no client here")

    monkeypatch.setattr(httpx.Client, "__init__", refuse)
    t = b.target("http://127.0.0.1:9/predict", {"records": []})
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="did not open: OSError\\('no client here'\\)"):
        b.under_load(t, 8, 4)
    assert time.perf_counter() - t0 < 10
    assert (t.load_requests, len(t.load_lat)) == (0, 0)


def test_a_history_request_is_timed_on_both_feature_paths():
    """20 whole recent histories; use cases without history (or without `build_features_at`)
    report nothing."""
    got = history_request_cost(get_use_case("predictive_maintenance_fleet"), n=2)
    assert got["history_request_records"] == HISTORY_ENTITIES * HISTORY_RECORDS
    assert got["history_features_scored_rows_us"] > 0 and got["history_features_every_row_us"] > 0
    assert history_request_cost(get_use_case("churn")) == {}


def test_in_process_costs_are_measured_on_a_frozen_heap_as_a_served_worker_runs():
    import gc

    from shared.ops.benchmark import as_served_heap

    gc.unfreeze()
    with as_served_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_server_that_cannot_start_says_why_and_leaves_no_log():
    """The benchmark's server quotes the end of its log in the error, then deletes the log."""
    from shared.ops import benchmark as b

    server = b.Server("shared.ops.benchmark:no_such_service", timeout=60)
    with pytest.raises(RuntimeError, match="no_such_service") as failed, server:
        pass
    assert "bentoml serve" in str(failed.value) and not server.log_path.exists()
