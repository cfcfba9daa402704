"""A rollout end to end with the real pieces: the session's MLflow registry (temporary SQLite),
BentoML's model store, one real `bentoml serve` of churn, its prediction log in SQLite.

The champion is the session's trained churn model (alias set here, no pin: the service
resolves it from the registry). Challengers are new registered versions of that run whose
stored model differs on purpose: a threshold above 1 (every `contact` false: visible when it
answers) or a broken threshold (every scoring fails: a challenger that fails on purpose).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from shared.core.store import load_model, save_model
from shared.core.tracking import CHAMPION, PREVIOUS, mlflow_client, model_aliases
from shared.core.usecase import get_use_case
from shared.ops import rollout as ro
from shared.serve.predlog import open_log
from shared.serve.privacy import pseudonym
from shared.serve.router import to_challenger
from shared.serve.services import example_payload
from tests.servers import Server

pytestmark = pytest.mark.serve
UC = get_use_case("churn")
TASK = UC.task
KEY = UC.id_column
REFRESH = UC.load_config().rollout.refresh_s


@pytest.fixture(scope="module")
def champion(trained):
    model = trained(UC.name)
    client = mlflow_client()
    before = model_aliases(UC.name, client).get(CHAMPION)
    client.set_registered_model_alias(UC.name, CHAMPION, model.model_version)
    yield model
    state, _ = ro.read_state(UC.name, client)
    if state.active:
        ro.abort(UC.name, "test module teardown")
    if before:
        client.set_registered_model_alias(UC.name, CHAMPION, before)


def new_version(model, **metadata) -> str:
    """A registered version of the champion's run whose stored model has `metadata` changed."""
    client = mlflow_client()
    mv = client.get_model_version(UC.name, model.model_version)
    new = client.create_model_version(UC.name, mv.source, run_id=mv.run_id)
    client.set_model_version_tag(UC.name, new.version, "gates_passed", "true")
    stored = load_model(model.bento_tag)
    profile = json.loads((stored.path / "reference_profile.json").read_text())
    meta = stored.metadata | {"mlflow_version": str(new.version)} | metadata
    save_model(UC.name, stored.onnx_path.read_bytes(), meta, profile)
    return str(new.version)


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("predlog") / "predictions.db"
    old = os.environ.get("PILOTPACK_PREDICTION_LOG")
    os.environ["PILOTPACK_PREDICTION_LOG"] = str(path)  # `rollout status` here reads it too
    yield path
    if old is None:
        os.environ.pop("PILOTPACK_PREDICTION_LOG", None)
    else:
        os.environ["PILOTPACK_PREDICTION_LOG"] = old


@pytest.fixture(scope="module")
def server(champion, log_path):
    with Server(UC.service, env={"PILOTPACK_PREDICTION_LOG": str(log_path)}, timeout=120) as s:
        yield s


def post(server: Server, records: list[dict], rid: str | None = None) -> httpx.Response:
    headers = {"X-Request-ID": rid} if rid else {}
    return httpx.post(
        server.url + TASK.route, json={"records": records}, headers=headers, timeout=30
    )


def record(key: str, **changes) -> dict:
    return example_payload(UC, 1)["records"][0] | {KEY: key} | changes


def wait_for(check: Callable[[], bool], timeout: float = 4 * REFRESH + 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout:.0f} s: {check.__doc__ or check}")


def log_rows(log_path, rid: str) -> list[tuple]:
    log = open_log(str(log_path))
    try:
        return log.query(
            "SELECT variant, model_version, routing_key, outputs, error FROM predictions "
            "WHERE request_id = ? ORDER BY item, variant",
            [rid],
        )
    finally:
        log.close()


def force_to(percent: float) -> ro.RolloutState:
    state, _ = ro.read_state(UC.name)
    while state.percent < percent:
        state = ro.advance(UC, force=True, who="test", reason="test: straight to the stage")
    return state


def test_every_answer_names_variant_and_version_and_is_logged_before_it_leaves(
    server, champion, log_path
):
    rid = f"test-{uuid.uuid4().hex}"
    r = post(server, [record("c-1"), record("c-2")], rid)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == rid
    assert [(b["variant"], b["model_version"]) for b in r.json()] == [
        ("champion", champion.model_version)
    ] * 2
    # read right after the answer: the rows were committed before it left
    rows = log_rows(log_path, rid)
    assert [(v, m, k) for v, m, k, _, _ in rows] == [  # routing keys: keyed hashes (privacy)
        ("champion", champion.model_version, pseudonym("c-1")),
        ("champion", champion.model_version, pseudonym("c-2")),
    ]
    generated = post(server, [record("c-3")]).headers["x-request-id"]
    assert len(generated) == 32 and log_rows(log_path, generated)
    bad = post(server, [record("c-4")], rid="bad id with spaces")
    assert bad.headers["x-request-id"] != "bad id with spaces"


def test_shadow_scores_every_request_but_never_changes_a_response(server, champion, log_path):
    keys = [f"s-{i}" for i in range(20)]
    before = [post(server, [record(k)]).json() for k in keys]
    version = new_version(champion, threshold=1.01)  # its `contact` is always false
    ro.start(UC, version, who="test", reason="shadow test")
    probe = f"probe-{uuid.uuid4().hex}"

    def shadow_logged() -> bool:
        """the service scores in shadow"""
        post(server, [record("s-probe")], probe)
        return any(v == "shadow" for v, *_ in log_rows(log_path, probe))

    try:
        wait_for(shadow_logged)
        rids = [f"shadow-{i}-{uuid.uuid4().hex}" for i in range(len(keys))]
        after = [post(server, [record(k)], rid).json() for k, rid in zip(keys, rids, strict=True)]
        assert after == before  # byte for byte the champion's answers
        assert all(b[0]["variant"] == "champion" for b in after)

        def shadow_rows() -> list[tuple]:
            """every shadow row is logged (they are written after the response)"""
            return [r for rid in rids for r in log_rows(log_path, rid) if r[0] == "shadow"]

        wait_for(lambda: len(shadow_rows()) >= len(keys))
        shadow = shadow_rows()
        assert len(shadow) == len(keys)
        assert {r[1] for r in shadow} == {version}
        assert all(json.loads(r[3])["decision"] is False for r in shadow)
        assert any(b[0]["contact"] for b in after)  # the champion would contact some
        report = ro.status(UC)
        assert report["stage"] == "shadow" and report["variants"]["shadow"]["requests"] >= 20
        assert report["recommendation"] == "hold"  # too few requests, too young
    finally:
        ro.abort(UC.name, "end of the shadow test", who="test")


def test_advance_refuses_unless_criteria_hold_and_force_is_recorded(champion):
    version = new_version(champion, threshold=1.01)
    ro.start(UC, version, who="test")
    try:
        with pytest.raises(ro.CriteriaNotMet) as refused:
            ro.advance(UC, who="test")
        assert {c["name"] for c in refused.value.failed} >= {"min_requests", "min_duration"}
        state = ro.advance(UC, force=True, who="ana", reason="demo")
        assert state.percent == 5.0 and state.forced.startswith("forced by ana")
        tags = mlflow_client().get_registered_model(UC.name).tags
        assert tags["rollout.stage_name"] == "5 %" and "forced by ana" in tags["rollout.forced"]
        assert json.loads(tags["rollout.history"])[-1]["action"] == "advance"
    finally:
        ro.abort(UC.name, "end of the advance test", who="test")


def test_a_canary_routes_each_key_as_the_stable_hash_says(server, champion, log_path):
    version = new_version(champion, threshold=1.01)
    ro.start(UC, version, who="test", reason="canary test")
    state = force_to(20)
    keys = [f"canary-{i}" for i in range(400)]
    expected = [to_challenger(state.salt, k, 20) for k in keys]

    def canary_on() -> bool:
        """the service routes the 20 % canary (not yet the 5 % stage it went through)"""
        body = post(server, [record(k) for k in keys[:100]]).json()
        return [b["variant"] == "challenger" for b in body] == expected[:100]

    try:
        wait_for(canary_on)
        body = post(server, [record(k) for k in keys]).json()
        got = [b["variant"] == "challenger" for b in body]
        assert got == expected  # the server process hashed exactly as this one does
        assert 0.14 <= sum(got) / len(got) <= 0.26
        for b, ch in zip(body, got, strict=True):
            assert b["model_version"] == (version if ch else champion.model_version)
            if ch:
                assert b["contact"] is False
        report = ro.status(UC)
        assert report["variants"]["challenger"]["requests"] >= sum(got)
        assert report["variants"]["challenger"]["p99_ms"] is not None
    finally:
        ro.abort(UC.name, "end of the canary test", who="test")

    def canary_off() -> bool:
        """the service follows the rollback: the champion answers every key"""
        return all(
            b["variant"] == "champion" for b in post(server, [record(k) for k in keys]).json()
        )

    wait_for(canary_off)


def answered_by_champion_only(server: Server, keys: list[str], version: str) -> None:
    """Every record gets a 200 and no answer comes from the failing `version`.

    (Until a worker's next refresh it may still route by the previous test's rollout: its
    working challenger may answer, which is not what is checked here.)"""
    r = post(server, [record(k) for k in keys])
    assert r.status_code == 200, r.text  # the champion answers instead
    assert not [b for b in r.json() if b["model_version"] == version]


def test_a_failing_challenger_is_rolled_back_automatically_and_the_registry_says_why(
    server, champion
):
    version = new_version(champion, threshold="broken")  # every scoring raises
    mlflow_client().set_registered_model_alias(UC.name, "challenger", version)  # as train sets it
    ro.start(UC, None, who="test", reason="failing on purpose")  # takes the challenger alias
    state = force_to(50)
    keys = [k for k in (f"fail-{i}" for i in range(400)) if to_challenger(state.salt, k, 50)]

    def challenger_tried() -> bool:
        """the service routes to the failing challenger and rolls it back"""
        answered_by_champion_only(server, keys[:20], version)
        state, _ = ro.read_state(UC.name)
        return state.status == "rolled_back"

    try:
        wait_for(challenger_tried)  # 50 challenger records fill rollout.min_window_requests
    finally:
        state, _ = ro.read_state(UC.name)
        if state.active:
            ro.abort(UC.name, "end of the failing-challenger test", who="test")
    client = mlflow_client()
    state, _ = ro.read_state(UC.name, client)
    assert state.status == "rolled_back" and "error rate" in state.reason
    assert state.by.startswith("auto")
    tags = client.get_model_version(UC.name, version).tags
    assert "error rate" in tags["rollout_rolled_back_reason"]
    metrics = httpx.get(server.url + "/metrics").text
    assert any(
        line.startswith("pilotpack_rollout_rollbacks_total") and 'cause="error_rate"' in line
        for line in metrics.splitlines()
    )
    after = post(server, [record(k) for k in keys[:20]]).json()
    assert all(b["variant"] == "champion" for b in after)
    # The broken version lost the challenger alias: the next start cannot pick it again.
    assert "challenger" not in model_aliases(UC.name, client)
    with pytest.raises(ValueError, match="no challenger"):
        ro.start(UC, None, who="test")


def test_promote_and_rollback_move_the_aliases_and_record_who_when_why(server, champion):
    from typer.testing import CliRunner

    from shared.app.cli import app

    version = new_version(champion)
    cli = CliRunner()
    env = {"PILOTPACK_USER": "ana"}
    res = cli.invoke(app, ["promote", UC.name, "--version", version, "--reason", "better"], env=env)
    assert res.exit_code == 0, res.output
    client = mlflow_client()
    aliases = model_aliases(UC.name, client)
    assert aliases[CHAMPION] == version and aliases[PREVIOUS] == champion.model_version
    tags = client.get_model_version(UC.name, version).tags
    assert tags["promoted_by"] == "ana" and tags["promoted_reason"] == "better"
    assert tags["promoted_at"].startswith("20")

    def serves(v: str) -> Callable[[], bool]:
        def check() -> bool:
            return post(server, [record("p-1")]).json()[0]["model_version"] == v

        check.__doc__ = f"the service answers with version {v}"
        return check

    wait_for(serves(version))  # no restart
    res = cli.invoke(app, ["rollback", UC.name, "--reason", "complaints"], env=env)
    assert res.exit_code == 0, res.output
    assert model_aliases(UC.name, client)[CHAMPION] == champion.model_version
    assert client.get_model_version(UC.name, version).tags["rolled_back_reason"] == "complaints"
    wait_for(serves(champion.model_version))
    res = cli.invoke(app, ["rollback", UC.name])  # nothing left to roll back to
    assert res.exit_code == 2 and "no previous champion" in res.output


def test_kill_9_of_the_worker_under_load_loses_no_acknowledged_prediction(server, log_path):
    import psutil

    acked: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                rid = f"kill-{uuid.uuid4().hex}"
                try:
                    r = client.post(
                        server.url + TASK.route,
                        json={"records": [record(rid)]},
                        headers={"X-Request-ID": rid},
                    )
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.append(rid)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()

    def loaded() -> bool:
        """the service acknowledged more than 50 predictions under load"""
        with lock:
            return len(acked) > 50

    wait_for(loaded, timeout=60)
    workers = [
        p
        for p in psutil.Process(server.proc.pid).children(recursive=True)
        if "worker" in " ".join(p.cmdline())
    ]
    assert workers, [p.cmdline() for p in psutil.Process(server.proc.pid).children(True)]
    with lock:
        before_kill = len(acked)
    for p in workers:
        p.kill()  # SIGKILL: no clean-up, no flush
    gone, alive = psutil.wait_procs(workers, timeout=10)  # the load keeps running meanwhile
    assert not alive, alive
    stop.set()
    for t in threads:
        t.join()
    assert before_kill > 50
    log = open_log(str(log_path))
    logged = {
        r[0] for r in log.query("SELECT request_id FROM predictions WHERE request_id LIKE 'kill-%'")
    }
    log.close()
    lost = [rid for rid in acked if rid not in logged]
    print(f"kill -9: {len(acked)} acknowledged ({before_kill} before the kill), {len(lost)} lost")
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged predictions are not in the log"
