"""Personal data in the prediction log (shared/serve/privacy.py), on both backends: a real `bentoml
serve` of churn writes its log to SQLite, then to a throwaway PostgreSQL; the stored log is
scanned for the raw customer ids; outcomes sent by customer id still join; `pilotpack privacy
export|erase` return and delete one customer, in the log and in the Parquet file `pilotpack
log export` wrote, with an audit line each; retention by `pilotpack log prune`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from shared.core.usecase import get_use_case
from shared.serve.predlog import open_log
from shared.serve.privacy import audit_path, make_policy, protect_outcomes, protect_rows, pseudonym
from shared.serve.services import example_payload
from tests import loopback
from tests.cli_runs import in_process
from tests.postgres import create_database, postgres_cluster

CHURN = get_use_case("churn")
LEADS = get_use_case("lead_scoring")
IDS = [f"PRIVATE-CUST-{i:03d}" for i in range(6)]


def record(customer: str) -> dict:
    return example_payload(CHURN, 1)["records"][0] | {"customerID": customer}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, serve, tmp_path_factory):
    """(server, log location, request ids) after real traffic: each customer scored twice
    alone, customers 0 and 1 once in one request; outcomes by customer id, and one by the
    request id of customer 0's first request."""
    if request.param == "sqlite":
        location = str(tmp_path_factory.mktemp("log") / "predictions.db")
        with serve(CHURN.name, env={"PILOTPACK_PREDICTION_LOG": location}) as server:
            yield server, location, traffic(server)
        return
    with postgres_cluster() as url:
        location = create_database(url, "predlog")
        # stopped before the cluster it writes to
        env = {"PILOTPACK_PREDICTION_LOG": location}
        with serve(CHURN.name, env=env, background_stop=False) as server:
            yield server, location, traffic(server)


def traffic(server) -> dict[str, str]:
    url = server.url + CHURN.task.route
    rids = {}
    for _ in range(2):
        for customer in IDS:
            r = loopback.post(url, json={"records": [record(customer)]}, timeout=30)
            assert r.status_code == 200, r.text
            rids.setdefault(customer, r.headers["x-request-id"])
    r = loopback.post(url, json={"records": [record(IDS[0]), record(IDS[1])]}, timeout=30)
    assert r.status_code == 200
    rids["shared"] = r.headers["x-request-id"]
    outcomes = [{"routing_key": c, "value": float(i % 2)} for i, c in enumerate(IDS)]
    outcomes += [
        {"request_id": rids[IDS[0]], "value": 1.0},
        {"request_id": rids["shared"], "value": 0.0},
    ]
    r = loopback.post(server.url + "/outcome", json={"outcomes": outcomes}, timeout=30)
    assert r.status_code == 200 and r.json() == {"stored": len(outcomes), "orphans": 0}, r.text
    return rids


def stored_text(location: str) -> str:
    """Everything the log holds, as text: the SQLite files' bytes (database and WAL, deleted
    pages included), or every row of every table on PostgreSQL."""
    if not location.startswith("postgresql"):
        files = [Path(location), Path(location + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists()).decode("latin-1")
    log = open_log(location)
    try:
        tables = ("predictions", "outcomes", "exports")
        return "\n".join(repr(log.query(f"SELECT * FROM {t}")) for t in tables)
    finally:
        log.close()


def cli(location: str, *args: str) -> str:
    """`pilotpack *args` on that log, in this process (a subprocess would only import the pack
    again: ~1.2 CPU-s a run)."""
    out = in_process(*args, env={"PILOTPACK_PREDICTION_LOG": location})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


# --------------------------------------------------------------------------- served log


@pytest.mark.serve
def test_no_raw_identifier_is_stored_and_outcomes_by_id_still_join(served):
    _, location, _ = served
    text = stored_text(location)
    assert "PRIVATE-CUST" not in text  # not in keys, inputs, outputs, outcomes or free pages
    log = open_log(location)
    try:
        keys = {k for (k,) in log.query("SELECT routing_key FROM predictions")}
        assert keys == {pseudonym(c) for c in IDS}
        inputs = [json.loads(t) for (t,) in log.query("SELECT inputs FROM predictions")]
        assert {i["customerID"] for i in inputs} == keys  # the id field, hashed the same way
        assert {i["Contract"] for i in inputs} == {"Month-to-month"}  # the rest is kept
        # 6 outcomes by customer id, each joined to that customer's latest prediction, and
        # 2 by request id (1 + 2 records)
        assert len(log.outcome_pairs(CHURN.name, 0)) == 6 + 1 + 2
    finally:
        log.close()


@pytest.mark.serve
def test_access_and_erasure_of_one_customer_leave_nothing_of_them(served, tmp_path):
    _, location, rids = served
    gone, kept = IDS[0], IDS[1]
    exported = tmp_path / "exports" / "churn.parquet"
    cli(location, "log", "export", CHURN.name, "--out", str(exported))
    before = pd.read_parquet(exported)
    assert (before["routing_key"] == pseudonym(gone)).sum() == 3

    # right of access: every prediction and outcome of the customer, their id in clear
    found = json.loads(cli(location, "privacy", "export", CHURN.name, "--id", gone))
    assert found["id"] == gone and len(found["predictions"]) == 3
    assert {p["routing_key"] for p in found["predictions"]} == {gone}
    assert {p["inputs"]["customerID"] for p in found["predictions"]} == {gone}
    # by customer id, and by the request id only they were in (not the shared request's)
    assert sorted(o["request_id"] or "" for o in found["outcomes"]) == ["", rids[gone]]

    # erasure
    said = cli(location, "privacy", "erase", CHURN.name, "--id", gone, "--who", "dpo@test")
    assert "erased 3 predictions and 2 outcomes" in said and "3 rows from 1 exported" in said
    text = stored_text(location)
    assert pseudonym(gone) not in text and gone not in text
    assert pseudonym(kept) in text  # the scan does see what is there
    after = pd.read_parquet(exported)
    assert len(after) == len(before) - 3
    assert not after["inputs"].str.contains(pseudonym(gone), regex=False).any()
    again = json.loads(cli(location, "privacy", "export", CHURN.name, "--id", gone))
    assert again["predictions"] == [] and again["outcomes"] == []
    log = open_log(location)
    try:  # the shared request's outcome stays: customer 1's prediction still answers to it
        assert (
            log.query("SELECT count(*) FROM outcomes WHERE request_id = ?", [rids["shared"]])[0][0]
            == 1
        )
        assert (
            log.query("SELECT count(*) FROM outcomes WHERE routing_key = ?", [pseudonym(kept)])[0][
                0
            ]
            == 1
        )
    finally:
        log.close()

    lines = [json.loads(x) for x in audit_path().read_text().splitlines()]
    mine = [x for x in lines if x["subject"] == pseudonym(gone)]
    assert [x["action"] for x in mine][-3:] == ["export", "erase", "export"]
    assert mine[-2]["who"] == "dpo@test" and mine[-2]["predictions"] == 3
    assert gone not in audit_path().read_text()


# --------------------------------------------------------------------------- without a service


def test_every_direct_identifier_is_hashed_quasi_identifiers_are_kept(tmp_path):
    log = open_log(str(tmp_path / "p.db"))
    raw = {"Prospect ID": "LEAD-RAW-1", "Lead Number": 660737, "City": "Mumbai", "Country": "India"}
    row = ("r1", time.time(), LEADS.name, "champion", "1", "LEAD-RAW-1", 0, json.dumps(raw),
           json.dumps({"Prospect ID": "LEAD-RAW-1", "probability": 0.4}), 0.4, 1.0, None)  # fmt: skip
    log.write_predictions(protect_rows([row]))
    inputs, outputs, key = log.query("SELECT inputs, outputs, routing_key FROM predictions")[0]
    stored = json.loads(inputs)
    assert stored["Prospect ID"] == key == pseudonym("LEAD-RAW-1")
    assert stored["Lead Number"] == pseudonym(660737) == pseudonym("660737")
    assert (stored["City"], stored["Country"]) == ("Mumbai", "India")  # quasi: kept (drift)
    assert json.loads(outputs)["Prospect ID"] == key
    assert "LEAD-RAW-1" not in Path(tmp_path / "p.db").read_bytes().decode("latin-1")
    log.close()


def test_log_drop_leaves_fields_out_but_never_a_model_input():
    cfg = CHURN.load_config(["privacy.log_drop=[gender, SeniorCitizen]"])
    rule = make_policy(CHURN, cfg)
    stored = rule.apply(
        {"customerID": "c", "gender": "Female", "SeniorCitizen": 0, "tenure": 3}, b"k" * 64
    )
    assert set(stored) == {"customerID", "tenure"} and stored["customerID"].startswith("h:")
    with pytest.raises(ValueError, match="model inputs"):
        make_policy(CHURN, CHURN.load_config(["privacy.log_drop=[tenure]"]))
    with pytest.raises(ValueError, match="unknown"):
        make_policy(CHURN, CHURN.load_config(["privacy.log_drop=[no_such_field]"]))


def test_prune_keeps_each_use_case_for_its_configured_retention(tmp_path):
    location = str(tmp_path / "p.db")
    log = open_log(location)
    now = time.time()
    rows = [(f"r{age}", now - age * 86400, CHURN.name, "champion", "1", "c", 0, "{}", "{}", 0.1,
             1.0, None) for age in (1, 80, 100, 400)]  # fmt: skip
    log.write_predictions(protect_rows(rows))
    log.write_outcomes(
        protect_outcomes(
            [{"use_case": CHURN.name, "routing_key": "c", "value": 1, "ts": now - 100 * 86400}]
        )
    )
    log.close()
    assert CHURN.load_config().privacy.retention_days == 90
    said = cli(location, "log", "prune", "--use-case", CHURN.name)
    assert "churn: deleted 2 predictions and 1 outcomes" in said
    log = open_log(location)
    assert sorted(r for (r,) in log.query("SELECT request_id FROM predictions")) == ["r1", "r80"]
    log.close()


def test_the_registry_and_the_model_card_say_what_personal_data_is_processed():
    from shared.ops.governance.card import card_markdown
    from shared.ops.governance.registry import entries

    row = entries([LEADS])[0]
    assert row["log_hashed_identifiers"] == ["Prospect ID", "Lead Number"]
    assert {"City", "Country"} <= set(row["personal_columns"]) and row["log_retention_days"] == 90
    card = card_markdown(LEADS, LEADS.load_config(), {}, [])
    assert "direct identifiers: `Prospect ID`, `Lead Number`" in card
    assert "quasi-identifiers: `Country`, `City`" in card
    assert (
        "in the prediction log: `Prospect ID`, `Lead Number` and the routing key as keyed hashes"
        in card
    )
