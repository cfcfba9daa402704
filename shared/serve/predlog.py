"""The prediction log and the outcomes that come back later: what drift, realised performance,
A/B analysis and rollout status read.

One row per scored record (request id, time, use case, variant, model version, routing key,
raw inputs, outputs, the main score, latency, error) written and committed BEFORE the response
leaves, so an acknowledged prediction survives the worker being killed. Default: a SQLite file
in WAL mode in the data folder (`predictions.db`, `store.data_dir`, never inside a built Bento);
`PILOTPACK_PREDICTION_LOG` is another path or a `postgresql://` URL. Several workers (and
replicas, on PostgreSQL) write to one log.

Rows arrive protected (shared/serve/privacy.py hashes identifiers and drops fields on the
dicts before the write); this module only stores them, dumping inputs and outputs to JSON once.

Group commit: a request's rows join the batch being gathered; the first waiting request writes
the whole batch in one transaction while the others wait for that commit, and each returns only
when the commit holding its rows is done. A request alone commits at once, as before; under
load one commit carries the rows of every request that arrived during the previous one (fewer
INSERTs and commits per row, same guarantee). A failed batch is rolled back and every request in
it gets the error (a 503: an answer we could not log is not given).

SQLite durability: WAL with `synchronous=NORMAL` (the default here) keeps every committed row
when a process dies (kill -9, OOM); only an OS crash or power cut can lose the last commits.
`PILOTPACK_PREDICTION_LOG_SYNC=FULL` fsyncs every commit too (measured ~2.4 ms per commit on
the CI disk against ~25 us: ten times a whole request).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from shared.core.store import state_path


class LogRow(NamedTuple):
    """One scored unit (a record, an entity, a series) as the log stores it."""

    request_id: str
    ts: float
    use_case: str
    variant: str
    model_version: str
    routing_key: str | None
    item: int
    inputs: Any  # the unit's request fields: a dict (a list of them for an entity), or JSON text
    outputs: Any  # the answer's fields, or JSON text; None when scoring failed
    score: float | None
    latency_ms: float | None
    error: str | None


PREDICTION_COLUMNS = LogRow._fields


class VariantRow(NamedTuple):
    """What rollout status reads of one logged record."""

    variant: str
    model_version: str
    score: float | None
    latency_ms: float | None
    error: int  # 1 when scoring failed


OUTCOME_COLUMNS = ("use_case", "request_id", "routing_key", "value", "ts", "received")


@dataclass(frozen=True)
class OutcomeValues:
    """What an outcome's value may be: for a binary target 0/1, true/false or one of its labels
    (stored as 1.0/0.0); otherwise a finite number within the target's schema bounds."""

    target: str = "value"
    labels: dict[str, float] | None = None  # binary: label -> 1.0/0.0; None: a number
    low: float = -math.inf
    high: float = math.inf

    def parse(self, value: Any) -> float:
        """The stored value, or ValueError naming what was sent and what is allowed."""
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if self.labels is not None:
            if isinstance(value, str) and value in self.labels:
                return self.labels[value]
            if isinstance(value, bool | int | float) and value in (0, 1):
                return float(value)
        elif number and math.isfinite(value) and self.low <= value <= self.high:
            return float(value)
        whole = isinstance(value, float) and value.is_integer()  # JSON's 7 arrives as 7.0
        shown = json.dumps(int(value) if whole else value)[:80]
        raise ValueError(f"{shown} is not a value of {self.target}: expected {self.allowed()}")

    def allowed(self) -> str:
        if self.labels is not None:
            named = "".join(f", {json.dumps(k)}" for k in self.labels)
            return f"0, 1, true, false{named}"
        bounds = [f">= {self.low:g}"] * math.isfinite(self.low) + [
            f"<= {self.high:g}"
        ] * math.isfinite(self.high)
        return "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")

    def json_schema(self) -> dict[str, Any]:
        """The value's schema in the OpenAPI document."""
        if self.labels is not None:
            return {"enum": [0, 1, True, False, *self.labels], "description": self.allowed()}
        schema: dict[str, Any] = {"type": "number", "description": self.allowed()}
        if math.isfinite(self.low):
            schema["minimum"] = self.low
        if math.isfinite(self.high):
            schema["maximum"] = self.high
        return schema


def outcome_values(uc: Any) -> OutcomeValues:
    """A use case's rule: binary when its task monitors a classifier (labels from the target's
    `isin` check), else a number bounded by the target's range checks."""
    column = uc.raw_schema.to_schema().columns.get(uc.target)
    stats = {c.name: c.statistics for c in (column.checks if column is not None else [])}
    if uc.task.monitoring == "classifier":
        allowed = (stats.get("isin") or {}).get("allowed_values") or []
        labels = {v: float(v == uc.positive_label) for v in allowed if isinstance(v, str)}
        return OutcomeValues(uc.target, labels)
    low = (stats.get("greater_than_or_equal_to") or {}).get("min_value", -math.inf)
    high = (stats.get("less_than_or_equal_to") or {}).get("max_value", math.inf)
    return OutcomeValues(uc.target, None, float(low), float(high))


# Indexes for what reads the log: a use case's traffic in a time range (status, drift,
# export, prune), a request id (outcome join, support), an entity's latest prediction
# (outcome join by routing key).
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS predictions_uc_ts ON predictions (use_case, ts)",
    "CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id)",
    "CREATE INDEX IF NOT EXISTS predictions_key ON predictions (use_case, routing_key, variant, ts)",
    "CREATE INDEX IF NOT EXISTS outcomes_uc_ts ON outcomes (use_case, ts)",
    "CREATE INDEX IF NOT EXISTS outcomes_request ON outcomes (request_id)",
)


def _ddl(id_type: str, float_type: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS predictions (
            id {id_type},
            request_id TEXT NOT NULL,
            ts {float_type} NOT NULL,
            use_case TEXT NOT NULL,
            variant TEXT NOT NULL,
            model_version TEXT NOT NULL,
            routing_key TEXT,
            item INTEGER NOT NULL,
            inputs TEXT,
            outputs TEXT,
            score {float_type},
            latency_ms {float_type},
            error TEXT)""",
        f"""CREATE TABLE IF NOT EXISTS outcomes (
            id {id_type},
            use_case TEXT NOT NULL,
            request_id TEXT,
            routing_key TEXT,
            value {float_type} NOT NULL,
            ts {float_type} NOT NULL,
            received {float_type} NOT NULL)""",
        # Parquet files `export` wrote: erasure (shared/serve/privacy.py) removes a person from them
        f"CREATE TABLE IF NOT EXISTS exports (use_case TEXT NOT NULL, path TEXT NOT NULL, "
        f"ts {float_type} NOT NULL)",
        *_INDEXES,
    )


def log_location() -> str:
    """PILOTPACK_PREDICTION_LOG (a path or a postgresql:// URL), else <data folder>/predictions.db;
    never a file inside a built Bento (`store.state_path`)."""
    location = os.environ.get("PILOTPACK_PREDICTION_LOG")
    if location and location.startswith(("postgresql://", "postgres://")):
        return location
    return str(
        state_path(Path(location).absolute() if location else "predictions.db", "prediction log")
    )


def open_log(location: str | None = None) -> PredictionLog:
    location = location or log_location()
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresLog(location)
    return SqliteLog(location)


# One encoder for every row: json.dumps with options builds a new one on each call.
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


_INSERT_PREDICTIONS = (
    f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(PREDICTION_COLUMNS))})"
)


class LogWriteError(RuntimeError):
    """The batch holding these rows could not be committed; none of it was stored."""


class _Batch:
    """Rows gathered for one commit, and how it went (set by the request that writes it)."""

    __slots__ = ("rows", "done", "error")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.done = False
        self.error: BaseException | None = None


def _text(value: Any) -> str | None:
    """A JSON column: None and text as they are, anything else dumped once."""
    return value if value is None or isinstance(value, str) else dumps(value)


class PredictionLog:
    """One connection, guarded by a lock: give each thread that writes a lot its own log."""

    placeholder = "?"
    location: str

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._group = threading.Condition()  # guards _open and _leading
        self._open = _Batch()  # rows waiting for the next commit
        self._leading = False  # a batch is being written
        self.commits = 0  # prediction batches committed (tests and figures)

    # -- backend hooks
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    @property
    def committing(self) -> bool:
        """A batch is being written now: rows written meanwhile wait for that commit first."""
        return self._leading

    # -- writes: committed before returning
    def write_predictions(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows in PREDICTION_COLUMNS order (`LogRow`s), stored as given: protect them first
        (`privacy.protect_rows`). Committed (durable) when this returns: the rows join the
        open batch, and this waits for the commit that holds them (group commit)."""
        if not rows:
            return
        prepared = [(*r[:7], _text(r[7]), _text(r[8]), *r[9:]) for r in rows]
        with self._group:
            batch = self._open
            batch.rows.extend(prepared)
            while self._leading and not batch.done:
                self._group.wait()
            lead = not batch.done  # nobody is writing and our batch waits: we write it
            if lead:
                self._leading = True
                self._open = _Batch()
        if lead:
            self._write_batch(batch)
        if batch.error is not None:
            raise LogWriteError(f"prediction log write failed: {batch.error}") from batch.error

    def _write_batch(self, batch: _Batch) -> None:
        """One INSERT and one COMMIT for every row of the batch; rolled back when either fails.
        Then the batch is done and its waiting requests wake."""
        try:
            with self._lock:
                try:
                    self._executemany(self._sql(_INSERT_PREDICTIONS), batch.rows)
                    self._commit()
                    self.commits += 1
                except BaseException:
                    self._rollback()  # no half-written batch rides along with a later commit
                    raise
        except BaseException as exc:  # even an interrupt: the waiters must not take it as stored
            batch.error = exc if isinstance(exc, Exception) else LogWriteError(repr(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._group:
                batch.done = True
                self._leading = False
                self._group.notify_all()

    def write_outcomes(self, rows: Iterable[dict[str, Any]]) -> int:
        """Outcomes: `request_id` and/or `routing_key` (hash it as the predictions' are:
        `privacy.protect_outcomes`), `value`, `ts` (unix seconds)."""
        now = time.time()
        data = [
            (
                r["use_case"],
                r.get("request_id"),
                r.get("routing_key"),
                float(r["value"]),
                float(r.get("ts") or now),
                now,
            )
            for r in rows
        ]
        if not data:
            return 0
        cols = ", ".join(OUTCOME_COLUMNS)
        with self._lock:
            self._executemany(
                self._sql(f"INSERT INTO outcomes ({cols}) VALUES (?, ?, ?, ?, ?, ?)"), data
            )
            self._commit()
        return len(data)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cur = self._execute(self._sql(sql), params)
            rows = cur.fetchall()
            self._commit()
            return [tuple(r) for r in rows]

    def execute(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """Write statements in one transaction; the row count of each."""
        with self._lock:
            counts = [int(self._execute(self._sql(s), p).rowcount) for s, p in statements]
            self._commit()
        return counts

    # -- maintenance
    def prune(self, older_than_days: float, use_case: str | None = None) -> tuple[int, int]:
        """Delete predictions and outcomes older than the retention; returns (predictions,
        outcomes) deleted."""
        cutoff = time.time() - older_than_days * 86400
        where, params = "ts < ?", [cutoff]
        if use_case:
            where, params = where + " AND use_case = ?", [cutoff, use_case]
        with self._lock:
            n_pred = self._execute(
                self._sql(f"DELETE FROM predictions WHERE {where}"), params
            ).rowcount
            n_out = self._execute(self._sql(f"DELETE FROM outcomes WHERE {where}"), params).rowcount
            self._commit()
        return int(n_pred), int(n_out)

    def frame(self, use_case: str, since: float | None = None, until: float | None = None) -> Any:
        """The use case's predictions as a DataFrame (inputs and outputs as JSON text)."""
        sql = f"SELECT id, {', '.join(PREDICTION_COLUMNS)} FROM predictions WHERE use_case = ?"
        params: list[Any] = [use_case]
        if since is not None:
            sql, params = sql + " AND ts >= ?", [*params, since]
        if until is not None:
            sql, params = sql + " AND ts < ?", [*params, until]
        rows = self.query(sql + " ORDER BY ts, id", params)
        frame = pd.DataFrame(rows, columns=["id", *PREDICTION_COLUMNS])
        frame["time"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
        return frame

    def export(self, use_case: str, path: Path, since: float | None = None) -> int:
        """Write the use case's predictions to Parquet, each with its outcome: joined by request
        id (and routing key when the outcome has one), else by routing key to each variant's
        latest prediction of that key made before the outcome (as `joined_outcomes` does)."""
        frame = self.frame(use_case, since)
        outcome = self.outcome_by_prediction(use_case, -math.inf if since is None else since)
        frame["outcome"] = frame["id"].map(outcome)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        self.execute(
            [("INSERT INTO exports VALUES (?, ?, ?)", [use_case, str(path.resolve()), time.time()])]
        )
        return len(frame)

    def outcome_by_prediction(self, use_case: str, since: float) -> dict[int, float]:
        """{prediction row id: observed value}: by routing key first, then by request id, so
        an outcome naming the request wins; among several, the last one received."""
        order = " ORDER BY o.received, o.id"
        by_request = self.query(
            "SELECT p.id, o.value FROM outcomes o JOIN predictions p "
            "ON p.request_id = o.request_id AND p.use_case = o.use_case "
            "AND (o.routing_key IS NULL OR p.routing_key = o.routing_key) "
            "WHERE o.use_case = ? AND o.request_id IS NOT NULL AND p.ts >= ?" + order,
            [use_case, since],
        )
        by_key = self.query(
            "SELECT p.id, o.value FROM outcomes o " + _LATEST_BY_KEY + " WHERE o.use_case = ? "
            "AND o.request_id IS NULL AND o.routing_key IS NOT NULL" + order,
            [since, use_case],
        )
        return {int(i): float(v) for i, v in [*by_key, *by_request]}

    def known(
        self, use_case: str, request_ids: Sequence[str], keys: Sequence[str]
    ) -> tuple[set[tuple[str, str | None]], set[str]]:
        """Which of these request ids (with their rows' routing keys) and routing keys the
        use case's logged predictions hold."""
        pairs: set[tuple[str, str | None]] = set()
        found: set[str] = set()
        for part in _chunks(sorted(set(request_ids))):
            marks = ", ".join("?" * len(part))
            pairs.update(
                self.query(
                    "SELECT DISTINCT request_id, routing_key FROM predictions "
                    f"WHERE use_case = ? AND request_id IN ({marks})",
                    [use_case, *part],
                )
            )
        for part in _chunks(sorted(set(keys))):
            marks = ", ".join("?" * len(part))
            found.update(
                k
                for (k,) in self.query(
                    "SELECT DISTINCT routing_key FROM predictions "
                    f"WHERE use_case = ? AND routing_key IN ({marks})",
                    [use_case, *part],
                )
            )
        return pairs, found

    def count(self, use_case: str | None = None) -> int:
        if use_case is None:
            return int(self.query("SELECT count(*) FROM predictions")[0][0])
        return int(
            self.query("SELECT count(*) FROM predictions WHERE use_case = ?", [use_case])[0][0]
        )

    # -- what rollout status reads
    def variant_rows(self, use_case: str, since: float) -> list[VariantRow]:
        """Variant, model version, score, latency and error flag of every record since `since`."""
        rows = self.query(
            "SELECT variant, model_version, score, latency_ms, "
            "CASE WHEN error IS NULL THEN 0 ELSE 1 END FROM predictions "
            "WHERE use_case = ? AND ts >= ?",
            [use_case, since],
        )
        return [VariantRow(*r) for r in rows]

    def outcome_pairs(self, use_case: str, since: float) -> list[tuple[str, float, float]]:
        """(variant, score, observed value) of every prediction since `since` with an outcome."""
        rows = self.joined_outcomes(use_case, since, "p.variant, p.score, o.value")
        return [(v, float(s), float(o)) for v, s, o in rows]

    def joined_outcomes(self, use_case: str, since: float, columns: str) -> list[tuple[Any, ...]]:
        """`columns` (of predictions `p` and outcomes `o`) of the outcomes joined to the
        predictions since `since`: by request id (and routing key when given), else to each
        variant's latest prediction of that routing key made before the outcome."""
        by_request = self.query(
            f"SELECT {columns} FROM outcomes o JOIN predictions p "
            "ON p.request_id = o.request_id AND p.use_case = o.use_case "
            "AND (o.routing_key IS NULL OR p.routing_key = o.routing_key) "
            "WHERE o.use_case = ? AND o.request_id IS NOT NULL AND p.ts >= ? "
            "AND p.error IS NULL AND p.score IS NOT NULL",
            [use_case, since],
        )
        by_key = self.query(
            f"SELECT {columns} FROM outcomes o " + _LATEST_BY_KEY + " WHERE o.use_case = ? "
            "AND o.request_id IS NULL AND o.routing_key IS NOT NULL AND p.score IS NOT NULL",
            [since, use_case],
        )
        return by_request + by_key


# An outcome that names only a routing key joins each variant's latest prediction of that key
# made before the outcome (and since the `?` bound), that did not fail.
_LATEST_BY_KEY = (
    "CROSS JOIN (SELECT 'champion' AS name UNION ALL SELECT 'challenger' "
    "UNION ALL SELECT 'shadow') v "
    "JOIN predictions p ON p.id = (SELECT p2.id FROM predictions p2 "
    "WHERE p2.use_case = o.use_case AND p2.routing_key = o.routing_key "
    "AND p2.variant = v.name AND p2.ts <= o.ts AND p2.ts >= ? AND p2.error IS NULL "
    "ORDER BY p2.ts DESC LIMIT 1)"
)


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    """SQL `IN` lists of at most `size` values (SQLite's parameter limit)."""
    return (values[i : i + size] for i in range(0, len(values), size))


class SqliteLog(PredictionLog):
    def __init__(self, path: str | Path):
        super().__init__()
        self.location = str(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        sync = os.environ.get("PILOTPACK_PREDICTION_LOG_SYNC", "NORMAL").upper()
        if sync not in {"NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"PILOTPACK_PREDICTION_LOG_SYNC={sync}: NORMAL, FULL or EXTRA")
        self.conn.execute("PRAGMA busy_timeout = 30000")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {sync}")
        self.conn.execute("PRAGMA secure_delete = ON")  # prune and erasure zero what they delete
        with self._lock:
            for statement in _ddl("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL"):
                self.conn.execute(statement)
            self.conn.commit()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def _commit(self) -> None:
        self.conn.commit()

    def _rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


class PostgresLog(PredictionLog):
    placeholder = "%s"

    def __init__(self, url: str):
        super().__init__()
        self.location = url
        self._connect()
        with self._lock:
            # Several workers may create the tables at once: one at a time.
            self._execute("SELECT pg_advisory_xact_lock(7261)")
            for statement in _ddl("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION"):
                self._execute(statement)
            self._commit()

    def _connect(self) -> None:
        import psycopg  # optional: only for a postgresql:// log

        self.conn = psycopg.connect(self.location, connect_timeout=10)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.conn.closed:
            self._connect()
        try:
            return self.conn.execute(sql, params)
        except Exception:
            self.conn.rollback()
            raise

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.conn.closed:
            self._connect()
        try:
            with self.conn.cursor() as cur:
                cur.executemany(sql, rows)
        except Exception:
            self.conn.rollback()
            raise

    def _commit(self) -> None:
        self.conn.commit()

    def _rollback(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def finite(value: Any) -> float | None:
    """The score column: a finite float, else NULL."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
