"""The prediction log on a real PostgreSQL server that this module starts (initdb + pg_ctl on a
free loopback port, Debian's `postgresql` package). Skips when initdb is absent, fails instead
when PILOTPACK_REQUIRE_REAL_DATA=1 (CI installs it)."""

from __future__ import annotations

import pytest

from shared.serve.predlog import PostgresLog, open_log
from tests.postgres import postgres_cluster
from tests.test_predlog import check_log, rows, write_from_processes


@pytest.fixture(scope="module")
def postgres():
    with postgres_cluster() as url:
        yield url


def test_postgres_log_round_trip(postgres):
    log = open_log(postgres)
    assert isinstance(log, PostgresLog)
    check_log(log)
    log.close()


def test_several_workers_write_to_one_postgres_log(postgres):
    log = write_from_processes(postgres, "multi", 3, 200)
    assert log.count("multi") == 600
    plan = " ".join(
        r[0] for r in log.query("EXPLAIN SELECT * FROM predictions WHERE request_id = 'x'")
    )
    assert "predictions_request" in plan or "Seq Scan" in plan  # tiny tables may seq-scan
    log.close()


def test_the_cli_exports_from_postgres(postgres, tmp_path, monkeypatch):
    import pandas as pd
    from typer.testing import CliRunner

    from shared.app.cli import app

    log = open_log(postgres)
    log.write_predictions(rows(7, use_case="churn", prefix="pg-"))
    log.close()
    monkeypatch.setenv("PILOTPACK_PREDICTION_LOG", postgres)
    out = tmp_path / "churn.parquet"
    result = CliRunner().invoke(app, ["log", "export", "churn", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (pd.read_parquet(out)["request_id"].str.startswith("pg-")).sum() == 7
