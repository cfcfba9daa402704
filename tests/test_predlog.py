"""The prediction log on SQLite: durable writes, several writers, the outcome join, retention,
Parquet export, indexes. (PostgreSQL: test_predlog_postgres.py; kill -9 under load:
test_rollout_serve.py.)"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from shared.serve.predlog import (
    PREDICTION_COLUMNS,
    LogWriteError,
    PredictionLog,
    SqliteLog,
    open_log,
)


def rows(n: int, use_case: str = "uc", variant: str = "champion", start: float | None = None,
         prefix: str = "r") -> list[tuple]:  # fmt: skip
    now = time.time() if start is None else start
    return [
        (
            f"{prefix}{i}",
            now + i * 1e-3,
            use_case,
            variant,
            "3" if variant == "champion" else "4",
            f"k{i}",
            0,
            '{"x": 1}',
            '{"probability": 0.5}',
            (i % 10) / 10,
            1.5,
            None,
        )
        for i in range(n)
    ]


def check_log(log: PredictionLog) -> None:
    """The same behaviour on every backend."""
    t0 = time.time() - 10
    log.write_predictions(rows(100, start=t0))
    log.write_predictions(rows(100, variant="shadow", start=t0))
    assert log.count("uc") == 200
    # outcomes: 20 by request id (joined to the champion and shadow rows of that request),
    # 30 by routing key (each variant's latest prediction before the outcome)
    log.write_outcomes(
        [{"use_case": "uc", "request_id": f"r{i}", "value": 1.0} for i in range(20)]
        + [{"use_case": "uc", "routing_key": f"k{i}", "value": 0.0} for i in range(50, 80)]
    )
    pairs = log.outcome_pairs("uc", t0 - 1)
    by_variant = (
        pd.DataFrame(pairs, columns=["variant", "score", "value"]).groupby("variant").size()
    )
    assert by_variant.to_dict() == {"champion": 50, "shadow": 50}
    stats = log.variant_rows("uc", t0 - 1)
    assert len(stats) == 200 and {s[0] for s in stats} == {"champion", "shadow"}
    # retention: rows older than the cut-off go, newer stay
    log.write_predictions(rows(5, start=time.time() - 40 * 86400, prefix="old"))
    assert log.prune(30) == (5, 0)
    assert log.count("uc") == 200


def test_sqlite_log_round_trip(tmp_path):
    log = open_log(str(tmp_path / "p.db"))
    assert isinstance(log, SqliteLog)
    check_log(log)
    mode = log.query("PRAGMA journal_mode")[0][0]
    assert mode == "wal"


def test_default_location_is_the_data_folder_and_env_overrides(tmp_path, monkeypatch):
    from shared.core.store import DATA_DIR_ENV, project_root
    from shared.serve.predlog import log_location
    from shared.serve.privacy import key_file

    monkeypatch.delenv("PILOTPACK_PREDICTION_LOG", raising=False)
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert Path(log_location()) == project_root() / "predictions.db"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "state"))
    assert Path(log_location()) == tmp_path / "state" / "predictions.db"
    assert key_file() == tmp_path / "state" / ".secrets" / "pseudonym.key"
    monkeypatch.setenv("PILOTPACK_PREDICTION_LOG", str(tmp_path / "x.db"))
    assert open_log().location == str(tmp_path / "x.db")


def test_export_to_parquet_with_outcomes(tmp_path):
    log = open_log(str(tmp_path / "p.db"))
    log.write_predictions(rows(10))
    log.write_outcomes([{"use_case": "uc", "request_id": "r3", "value": 1.0}])
    n = log.export("uc", tmp_path / "out" / "uc.parquet")
    frame = pd.read_parquet(tmp_path / "out" / "uc.parquet")
    assert n == len(frame) == 10
    assert set(PREDICTION_COLUMNS) <= set(frame.columns)
    assert frame.loc[frame.request_id == "r3", "outcome"].item() == 1.0
    assert frame["outcome"].isna().sum() == 9


def test_export_joins_outcomes_by_request_id_and_by_routing_key(tmp_path):
    """Known by construction: r1 by request id; k2 by key (after its prediction) joins r2;
    k6 by key joins the latest prediction of each variant (champion r6, challenger c6), not
    the earlier one of k6 (r6 was predicted twice); an outcome of k8 observed before k8's
    prediction and one of a key never predicted join nothing. Main joined by request id only."""
    log = open_log(str(tmp_path / "p.db"))
    t0 = time.time() - 100
    log.write_predictions(rows(10, start=t0))  # r0..r9, keys k0..k9 at t0 + i ms
    log.write_predictions([("r6-old", t0 - 50, "uc", "champion", "3", "k6", 0, "{}", "{}",
                            0.1, 1.0, None)])  # fmt: skip
    challenger = rows(10, variant="challenger", start=t0 + 1, prefix="c")[5:]  # c5..c9, k5..k9
    log.write_predictions(challenger)
    log.write_outcomes(
        [
            {"use_case": "uc", "request_id": "r1", "value": 1.0},
            {"use_case": "uc", "routing_key": "k2", "value": 0.0, "ts": t0 + 10},
            {"use_case": "uc", "routing_key": "k6", "value": 1.0, "ts": t0 + 10},
            {"use_case": "uc", "routing_key": "k8", "value": 1.0, "ts": t0 - 10},
            {"use_case": "uc", "routing_key": "nobody", "value": 1.0, "ts": t0 + 10},
        ]
    )
    log.export("uc", tmp_path / "uc.parquet")
    frame = pd.read_parquet(tmp_path / "uc.parquet")
    joined = dict(zip(frame.request_id, frame.outcome, strict=True))
    assert {r: v for r, v in joined.items() if v == v} == {"r1": 1.0, "r2": 0.0, "r6": 1.0,
                                                          "c6": 1.0}  # fmt: skip
    assert len(frame) == 16


def test_outcome_values_follow_the_targets_type():
    """Binary: 0/1, true/false and the schema's labels (churn: Yes -> 1, No -> 0); anything
    else is refused naming the value. Regression: a finite number within the target's bounds."""
    from shared.core.usecase import get_use_case
    from shared.serve.predlog import outcome_values

    churn = outcome_values(get_use_case("churn"))
    assert [churn.parse(v) for v in (0, 1, 1.0, True, False, "Yes", "No")] == [
        0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0]  # fmt: skip
    for bad in (7, 0.5, -1, "yes", "maybe", float("nan")):
        with pytest.raises(ValueError, match="is not a value of Churn"):
            churn.parse(bad)
    with pytest.raises(ValueError, match=r"^7 is not a value of Churn: expected 0, 1, true, "):
        churn.parse(7)
    rul = outcome_values(get_use_case("predictive_maintenance_rul"))
    assert rul.parse(12) == 12.0 and rul.parse(0.5) == 0.5
    for bad in (-1, True, "12", float("inf"), float("nan")):
        with pytest.raises(ValueError, match="is not a value of rul"):
            rul.parse(bad)


def _writer(location: str, use_case: str, prefix: str, n: int) -> None:
    log = open_log(location)
    for i in range(n):
        log.write_predictions(rows(1, use_case=use_case, prefix=f"{prefix}{i}-"))


def write_from_processes(location: str, use_case: str, processes: int, each: int) -> PredictionLog:
    """`processes` spawned processes each commit `each` one-record writes; the log, reopened."""
    open_log(location).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_writer, args=(location, use_case, f"w{j}-", each))
        for j in range(processes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return open_log(location)


def test_several_worker_processes_write_one_log(tmp_path):
    log = write_from_processes(str(tmp_path / "p.db"), "uc", 4, 300)
    assert log.count("uc") == 1200
    assert len(log.query("SELECT DISTINCT request_id FROM predictions")) == 1200


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT * FROM predictions WHERE request_id = 'x'", "predictions_request"),
        ("SELECT * FROM predictions WHERE use_case = 'uc' AND ts >= 0", "predictions_uc_ts"),
        (
            "SELECT id FROM predictions WHERE use_case = 'uc' AND routing_key = 'k' "
            "AND variant = 'champion' AND ts <= 5 ORDER BY ts DESC LIMIT 1",
            "predictions_key",
        ),
    ],
)
def test_the_joins_use_indexes(tmp_path, sql, index):
    log = open_log(str(tmp_path / "p.db"))
    plan = " ".join(str(r) for r in log.query("EXPLAIN QUERY PLAN " + sql))
    assert index in plan, plan


def test_retraining_reads_served_records_with_outcomes_joined_as_monitoring_joins_them(
    tmp_path, monkeypatch
):
    """`pilotpack retrain` learns from the log: an outcome by request id and one by routing key
    both label their served record; shadow answers and records without outcome do not count."""
    from shared.core.usecase import get_use_case
    from shared.ops.monitoring.retrain import labelled_from_log

    monkeypatch.setenv("PILOTPACK_PREDICTION_LOG", str(tmp_path / "log.db"))
    uc = get_use_case("churn")
    t0 = time.time() - 60
    with open_log() as log:
        log.write_predictions(rows(6, use_case=uc.name, start=t0))
        log.write_predictions(rows(6, use_case=uc.name, variant="shadow", start=t0))
        log.write_outcomes(
            [
                {"use_case": uc.name, "request_id": "r0", "value": 1.0},
                {"use_case": uc.name, "routing_key": "k3", "value": 0.0},
            ]
        )
    got, y = labelled_from_log(uc, "1h")
    assert sorted(y.tolist()) == [0.0, 1.0]  # one record per outcome, no shadow
    assert got["x"].tolist() == [1, 1]  # the raw inputs as logged


def test_outcomes_of_1_label_churners_although_the_schemas_positive_label_is_yes(
    tmp_path, monkeypatch
):
    """Outcomes arrive as 1/0 while churn's target says "Yes"/"No": the labels retraining
    compares on are the outcomes themselves, so the churners planted are the positives found
    (comparing 1.0 with "Yes" made every label negative and both AUCs NaN)."""
    from shared.core.usecase import get_use_case
    from shared.ops.monitoring.retrain import labelled_from_log

    monkeypatch.setenv("PILOTPACK_PREDICTION_LOG", str(tmp_path / "log.db"))
    uc = get_use_case("churn")
    assert uc.positive_label == "Yes"
    with open_log() as log:
        log.write_predictions(rows(10, use_case=uc.name, start=time.time() - 60))
        log.write_outcomes(
            [{"use_case": uc.name, "request_id": f"r{i}", "value": float(i < 4)} for i in range(10)]
        )
    _, y = labelled_from_log(uc, "1h")
    assert y.sum() == 4 and len(y) == 10


def test_not_worse_is_judged_on_the_lower_end_of_the_interval():
    """The docs' example: gain +0.0003 with its 95 % interval reaching -0.0057 is NOT shown to
    be within 0.005 of the champion; the same gain with the interval above -0.005 is."""
    from shared.ops.monitoring.retrain import not_worse

    assert not not_worse({"gain": 0.0003, "gain_ci": [-0.0057, 0.0063]}, 0.005)
    assert not_worse({"gain": 0.0003, "gain_ci": [-0.0041, 0.0049]}, 0.005)
    assert not not_worse({"gain": float("nan"), "gain_ci": [float("nan")] * 2}, 0.005)


def _until(check, timeout: float = 10.0) -> None:
    """Poll `check` until it holds (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.005)


def _writers(log: PredictionLog, batches: list[list[tuple]]) -> tuple[list, list[str]]:
    """One thread per batch of rows, each writing it while the test holds the connection (a
    commit in progress): the first waits to write its own, the rest gather in the open batch.
    Returns (threads, outcome per writer), the threads started; release with `log._lock`."""
    outcome = [""] * len(batches)

    def write(i: int) -> None:
        try:
            log.write_predictions(batches[i])
        except LogWriteError as exc:
            outcome[i] = f"error: {exc}"
            return
        # acknowledged: another connection must see every row of it (committed, not pending)
        with sqlite3.connect(log.location) as other:
            ids = [r[0] for r in batches[i]]
            marks = ", ".join("?" * len(ids))
            seen = other.execute(
                f"SELECT count(*) FROM predictions WHERE request_id IN ({marks})", ids
            ).fetchone()[0]
        outcome[i] = "committed" if seen == len(ids) else f"only {seen} of {len(ids)} visible"

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(batches))]
    threads[0].start()
    _until(lambda: log._leading)  # the first writer leads and waits for the connection
    for t in threads[1:]:
        t.start()
    _until(lambda: len(log._open.rows) == sum(len(b) for b in batches[1:]))
    return threads, outcome


def test_writes_arriving_during_a_commit_share_the_next_one_and_each_is_committed_on_return(
    tmp_path,
):
    """Group commit: 1 write in flight and 7 arriving meanwhile take 2 commits, not 8, and
    every write returns only once another connection sees its rows."""
    log = open_log(str(tmp_path / "p.db"))
    batches = [rows(3, prefix=f"w{i}-") for i in range(8)]
    with log._lock:  # a commit in progress: the connection is busy
        threads, outcome = _writers(log, batches)
    for t in threads:
        t.join(30)
    assert outcome == ["committed"] * 8
    assert log.commits == 2
    assert log.count("uc") == 24


def test_a_failed_batch_stores_none_of_its_rows_and_fails_every_write_in_it(tmp_path):
    """A batch whose INSERT fails is rolled back: no write in it is acknowledged (the service
    answers 503), none of its rows is stored later, and the next write goes through."""
    log = open_log(str(tmp_path / "p.db"))
    bad = [(None, *rows(1)[0][1:])]  # request_id NULL: the INSERT fails
    batches = [rows(2, prefix="first-"), rows(2, prefix="a-"), bad, rows(2, prefix="b-")]
    with log._lock:
        threads, outcome = _writers(log, batches)
    for t in threads:
        t.join(30)
    assert outcome[0] == "committed"
    assert all(o.startswith("error: prediction log write failed") for o in outcome[1:]), outcome
    log.write_predictions(rows(1, prefix="after-"))
    ids = {r[0] for r in log.query("SELECT request_id FROM predictions")}
    assert ids == {"first-0", "first-1", "after-0"}
