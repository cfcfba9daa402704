"""A rollout end to end with the real pieces: the session's MLflow registry (temporary SQLite),
BentoML's model store, one real `bentoml serve` of churn, its prediction log in SQLite. The
server runs a copy of the code whose churn config re-reads the registry more often (`server`).

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
import psutil
import pytest
from typer.testing import CliRunner

from shared.app.cli import app
from shared.core.config import load_config
from shared.core.store import load_model, save_model
from shared.core.tracking import CHAMPION, PREVIOUS, mlflow_client, model_aliases
from shared.core.usecase import get_use_case
from shared.ops import rollout as ro
from shared.serve.explain import BOOSTER_FILE, EXPLAIN_ROUTE, SPEC_FILE
from shared.serve.predlog import open_log
from shared.serve.privacy import pseudonym
from shared.serve.router import to_challenger
from shared.serve.services import example_payload
from tests import loopback
from tests.processes import wait_until
from tests.sandbox import ROOT, copy_code, set_in_section
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


def new_version(
    model, onnx: bytes | None = None, files: dict[str, str] | None = None, **metadata
) -> str:
    """A registered version of the champion's run whose stored model has `metadata` changed
    (and its ONNX bytes, and extra files such as an explainer, when given)."""
    client = mlflow_client()
    mv = client.get_model_version(UC.name, model.model_version)
    new = client.create_model_version(UC.name, mv.source, run_id=mv.run_id)
    client.set_model_version_tag(UC.name, new.version, "gates_passed", "true")
    stored = load_model(model.bento_tag)
    profile = json.loads((stored.path / "reference_profile.json").read_text())
    meta = stored.metadata | {"mlflow_version": str(new.version)} | metadata
    save_model(UC.name, onnx or stored.onnx_path.read_bytes(), meta, profile, files)
    return str(new.version)


def doubled_explainer(model) -> dict[str, str]:
    """The champion's explainer files rewritten so that every contribution is doubled and the
    base value becomes 2 x base + 0.5: an explanation whose source is known by construction."""
    path = load_model(model.bento_tag).path
    spec = json.loads((path / SPEC_FILE).read_text())
    files = {f.name: f.read_text() for f in path.glob("lightgbm_booster*.txt")}
    if spec["kind"] == "combined":
        spec |= {"weights": [2 * w for w in spec["weights"]], "shift": 2 * spec["shift"] + 0.5}
    else:
        part = dict(spec)
        if spec["kind"] == "lightgbm":
            part["booster_file"] = "lightgbm_booster_0.txt"
            files = {"lightgbm_booster_0.txt": files[BOOSTER_FILE]}
        keep = ("numeric", "categories", "owners", "classifier")
        spec = {k: spec[k] for k in keep} | {
            "kind": "combined",
            "parts": [part],
            "weights": [2.0],
            "shift": 0.5,
        }
    return files | {SPEC_FILE: json.dumps(spec)}


def metric(server: Server, name: str, **labels: str) -> float:
    """The sum of a metric's samples on /metrics whose labels include `labels`."""
    total = 0.0
    for line in loopback.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


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


# The served copy re-reads the registry every half second instead of every `REFRESH` (3) seconds:
# the tests wait for the server to follow each verb, and the module took 42 s at 3 s, 32 s at 0.5.
SERVED_REFRESH = 0.5


@pytest.fixture(scope="module")
def server(champion, log_path, tmp_path_factory):
    """churn's service, from a copy of the code whose config only refreshes more often."""
    code = copy_code(tmp_path_factory.mktemp("code"), skip=["tests"])
    config = code / UC.config_path.relative_to(ROOT)
    set_in_section(config, "rollout", "refresh_s", str(SERVED_REFRESH))
    assert load_config(config, type(UC.load_config())).rollout.refresh_s == SERVED_REFRESH
    env = {"PILOTPACK_PREDICTION_LOG": str(log_path), "PYTHONPATH": str(code)}
    with Server(UC.service, env=env, cwd=code, timeout=120, background_stop=True) as s:
        yield s


def post(server: Server, records: list[dict], rid: str | None = None) -> httpx.Response:
    headers = {"X-Request-ID": rid} if rid else {}
    return loopback.post(
        server.url + TASK.route, json={"records": records}, headers=headers, timeout=30
    )


def record(key: str, **changes) -> dict:
    return example_payload(UC, 1)["records"][0] | {KEY: key} | changes


# A worker stops routing to a challenger it rolls back at once; the registry learns it from a
# thread of that worker, whose first registry write imports the MLflow client (a serving process
# does not load it otherwise: docs/layers.md), a few CPU-seconds that a loaded 2-core machine
# stretched past the 17 s of `wait_for`'s default once.
RECORDED = 60.0


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
        assert report["variants"]["challenger"]["scoring_p99_ms"] is not None
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
    answered = metric(server, "pilotpack_variant_records_total", variant="champion")
    failed = metric(server, "pilotpack_variant_errors_total", variant="challenger")
    sent = 0

    def challenger_tried() -> bool:
        """the service routes to the failing challenger and rolls it back"""
        nonlocal sent
        answered_by_champion_only(server, keys[:20], version)
        sent += 20
        state, _ = ro.read_state(UC.name)
        return state.status == "rolled_back"

    try:
        # 50 challenger records fill rollout.min_window_requests
        wait_for(challenger_tried, RECORDED)
    finally:
        state, _ = ro.read_state(UC.name)
        if state.active:
            ro.abort(UC.name, "end of the failing-challenger test", who="test")
    client = mlflow_client()
    state, _ = ro.read_state(UC.name, client)
    assert state.status == "rolled_back" and "error rate" in state.reason
    assert state.by.startswith("auto")

    def tagged() -> bool:
        """the version carries the rollback's reason (written just after the state)"""
        return "rollout_rolled_back_reason" in client.get_model_version(UC.name, version).tags

    wait_for(tagged, RECORDED)
    tags = client.get_model_version(UC.name, version).tags
    assert "error rate" in tags["rollout_rolled_back_reason"]
    metrics = loopback.get(server.url + "/metrics").text
    assert any(
        line.startswith("pilotpack_rollout_rollbacks_total") and 'cause="error_rate"' in line
        for line in metrics.splitlines()
    )
    # issue 18 (11): every record was answered by the champion and counts there; the failed
    # challenger answered none, its failures are errors
    counted = metric(server, "pilotpack_variant_records_total", variant="champion") - answered
    assert counted == sent
    assert metric(server, "pilotpack_variant_records_total", model_version=version) == 0
    errors = metric(server, "pilotpack_variant_errors_total", variant="challenger") - failed
    assert UC.load_config().rollout.min_window_requests <= errors <= sent
    after = post(server, [record(k) for k in keys[:20]]).json()
    assert all(b["variant"] == "champion" for b in after)
    # The broken version lost the challenger alias: the next start cannot pick it again.
    assert "challenger" not in model_aliases(UC.name, client)
    with pytest.raises(ValueError, match="no challenger"):
        ro.start(UC, None, who="test")


def test_an_unloadable_challenger_is_rolled_back_and_status_says_why(server, champion):
    """Issue 18 (5): a challenger whose ONNX file is garbage was never loaded, all traffic went
    silently to the champion and the registry kept saying "active, 20 %"."""
    version = new_version(champion, onnx=b"this is not an ONNX model")
    ro.start(UC, version, who="test", reason="unloadable on purpose")
    state = force_to(20)
    keys = [k for k in (f"unload-{i}" for i in range(200)) if to_challenger(state.salt, k, 20)]

    def rolled_back() -> bool:
        """the service cannot load the challenger and rolls the rollout back"""
        answered_by_champion_only(server, keys[:10], version)
        return ro.read_state(UC.name)[0].status == "rolled_back"

    try:
        wait_for(rolled_back, RECORDED)
    finally:
        if ro.read_state(UC.name)[0].active:
            ro.abort(UC.name, "end of the unloadable-challenger test", who="test")
    state, _ = ro.read_state(UC.name)
    why = f"challenger version {version} cannot be loaded"
    assert why in state.reason and state.by.startswith("auto"), state.reason
    report = ro.status(UC)
    assert report["status"] == "rolled_back" and any(why in r for r in report["reasons"])
    shown = CliRunner().invoke(app, ["rollout", UC.name, "status"])
    assert shown.exit_code == 0 and why in " ".join(shown.output.split()), shown.output
    loads = metric(server, "pilotpack_model_load_errors_total", model_version=version)
    assert loads >= 1
    assert metric(server, "pilotpack_rollout_rollbacks_total", cause="load_error") >= 1
    body = post(server, [record(k) for k in keys]).json()
    assert {b["variant"] for b in body} == {"champion"}


def explain(server: Server, records: list[dict]) -> list[dict]:
    r = loopback.post(server.url + EXPLAIN_ROUTE, json={"records": records, "top": 100}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_explain_during_a_canary_explains_the_model_that_answered(server, champion):
    """Issue 18 (9): /explain explained the champion even for a customer the challenger
    answered. The challenger's explainer doubles every contribution (and maps the base b to
    2 b + 0.5), so whose explanation came back is known by construction."""
    keys = [f"explain-{i}" for i in range(120)]
    records = [record(k, tenure=i % 72) for i, k in enumerate(keys)]

    def champion_only() -> bool:
        """no earlier rollout routes any more"""
        return {e["variant"] for e in explain(server, records)} == {"champion"}

    wait_for(champion_only)
    before = explain(server, records)
    version = new_version(champion, files=doubled_explainer(champion))
    ro.start(UC, version, who="test", reason="explain test")
    state = force_to(20)
    expected = [to_challenger(state.salt, k, 20) for k in keys]

    def canary_on() -> bool:
        """/explain routes the 20 % canary"""
        return [e["variant"] == "challenger" for e in explain(server, records)] == expected

    try:
        wait_for(canary_on)
        during = explain(server, records)
        answered = post(server, records).json()
    finally:
        ro.abort(UC.name, "end of the explain test", who="test")
    assert 10 <= sum(expected) <= 40
    for e0, e, b, ch in zip(before, during, answered, expected, strict=True):
        assert (e["variant"], e["model_version"]) == (b["variant"], b["model_version"])
        if not ch:
            assert e == e0
            continue
        assert e["model_version"] == version
        assert e["base_value"] == pytest.approx(2 * e0["base_value"] + 0.5, abs=1e-6)
        assert e["output"] == pytest.approx(2 * e0["output"] + 0.5, abs=1e-6)
        got = {c["column"]: c["value"] for c in e["contributions"]}
        want = {c["column"]: 2 * c["value"] for c in e0["contributions"]}
        assert got == pytest.approx(want, abs=1e-6)


def test_promote_and_rollback_move_the_aliases_and_record_who_when_why(server, champion):
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
    acked: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load() -> None:
        # A request sent after the kill waits in the listening socket's queue until it times
        # out: a short timeout lets the load stop soon after (a timed-out request is not acked).
        with httpx.Client(timeout=2) as client:
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
    # Dead is enough: the arbiter reaps its zombie only at its next check, up to 10 s later
    # (circus' check_delay), and waiting for that kept the load running for nothing.
    wait_until(lambda: all(_dead(p) for p in workers), 10, "the killed workers dead")
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


def _dead(proc: psutil.Process) -> bool:
    """Whether a process has exited (a zombie its parent has not reaped yet counts)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
