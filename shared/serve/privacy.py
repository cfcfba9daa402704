"""Personal data in the prediction log: identifiers as keyed hashes, fields left out, retention,
and a person's rights of access and erasure, each with an audit line.

- Every routing key, and every request or response field the schema marks as a direct
  identifier (`pii: True`; `pii: "quasi"` marks a quasi-identifier such as a city), is stored
  as `h:` + a keyed BLAKE2b hash. The same key hashes the routing key of an outcome, so
  outcomes still join their predictions; without the key nobody can test a guessed id.
- `privacy.log_drop` (config) names request fields never written at all.
- `pilotpack log prune` deletes rows older than `privacy.retention_days`.
- `pilotpack privacy export|erase <use case> --id X`: the person's predictions and outcomes,
  in the log and in the Parquet files `pilotpack log export` wrote.

The hash key: PILOTPACK_PSEUDONYM_KEY (text), else the file PILOTPACK_PSEUDONYM_KEY_FILE,
else `<data folder>/.secrets/pseudonym.key` (`store.data_dir`; never inside a built Bento),
made on first use (mode 0600). Every worker and
replica writing one log needs the same key; a new key breaks the join with older rows.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from shared.core.config import retention_days
from shared.core.store import DATA_DIR_ENV, state_path
from shared.core.tracking import tracking_uri
from shared.core.usecase import get_use_case, registry
from shared.serve.predlog import (
    OUTCOME_COLUMNS,
    PREDICTION_COLUMNS,
    LogRow,
    SqliteLog,
    log_location,
)

PREFIX = "h:"
KEY_ENV = "PILOTPACK_PSEUDONYM_KEY"
KEY_FILE_ENV = "PILOTPACK_PSEUDONYM_KEY_FILE"
AUDIT_ENV = "PILOTPACK_AUDIT_LOG"

_keys: dict[tuple[str | None, ...], bytes] = {}


def key_file() -> Path:
    """Where the hash key lives when it is not in the environment."""
    path = os.environ.get(KEY_FILE_ENV)
    return state_path(Path(path).absolute() if path else ".secrets/pseudonym.key", "pseudonym key")


def check_runtime_state() -> None:
    """At start-up: the log, the registry database and the key live outside a built Bento's
    source folder (`store.state_path` raises, naming PILOTPACK_DATA_DIR)."""
    log_location()
    tracking_uri()
    if not os.environ.get(KEY_ENV):
        key_file()


def pseudonym_key() -> bytes:
    """The hash key (64 bytes derived from the configured secret); made once when absent."""
    text = os.environ.get(KEY_ENV)
    # cheap to build (no path resolution): this runs for every logged record
    source = (
        text,
        os.environ.get(KEY_FILE_ENV),
        os.environ.get("PILOTPACK_HOME"),
        os.environ.get(DATA_DIR_ENV),
    )
    if source not in _keys:
        if not text:
            text = _read_or_create(key_file())
        if len(text) < 16:
            raise ValueError(f"{KEY_ENV}: use at least 16 characters (32 random bytes advised)")
        _keys[source] = hashlib.blake2b(text.encode(), person=b"pilotpack-pseud").digest()
    return _keys[source]


def _read_or_create(path: Path) -> str:
    """Several workers may start at once: one creates the file (O_EXCL), the others read it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
            logging.getLogger("pilotpack.privacy").warning(
                "made a new log pseudonym key in %s: replicas writing one log need the same "
                "key (%s or %s)",
                path,
                KEY_ENV,
                KEY_FILE_ENV,
            )
    for _ in range(50):  # the creator may not have written it yet
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.02)
    raise ValueError(f"{path} is empty: delete it or set {KEY_ENV}")


def pseudonym(value: Any, key: bytes | None = None) -> str:
    """`h:` + 32 hex digits: the same value and key always give the same text."""
    digest = hashlib.blake2b(str(value).encode(), key=key or pseudonym_key(), digest_size=16)
    return PREFIX + digest.hexdigest()


# --------------------------------------------------------------------------- log policy


@dataclass(frozen=True)
class LogPolicy:
    """Fields hashed and fields dropped in a use case's logged inputs and outputs."""

    hashed: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()

    def apply(self, value: Any, key: bytes) -> Any:
        """A record (or a list of them, e.g. an entity's history) with the policy applied."""
        if isinstance(value, list):
            return [self.apply(v, key) for v in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for k, v in value.items():  # a loop, not a call per value: this runs for every record
            if k in self.dropped:
                continue
            if v is not None and k in self.hashed:
                v = pseudonym(v, key)
            elif isinstance(v, dict | list):
                v = self.apply(v, key)
            out[k] = v
        return out


def direct_identifiers(uc: Any) -> list[str]:
    """Columns whose metadata is `pii: True`: they identify a person on their own."""
    columns = uc.raw_schema.to_schema().columns
    return [n for n, c in columns.items() if (c.metadata or {}).get("pii") is True]


def quasi_identifiers(uc: Any) -> list[str]:
    """Columns whose metadata is `pii: "quasi"`: they identify a person in combination."""
    columns = uc.raw_schema.to_schema().columns
    return [n for n, c in columns.items() if (c.metadata or {}).get("pii") == "quasi"]


def make_policy(uc: Any, cfg: Any) -> LogPolicy:
    """The use case's policy; refuses to drop fields the schema lacks or the model reads."""
    columns = set(uc.raw_schema.to_schema().columns)
    drop = set(cfg.privacy.log_drop)
    if drop - columns:
        raise ValueError(
            f"{uc.name}: privacy.log_drop names unknown fields {sorted(drop - columns)}"
        )
    read = drop & set(uc.with_config(cfg).model_inputs)
    if read:
        raise ValueError(
            f"{uc.name}: privacy.log_drop {sorted(read)} are model inputs: monitoring and "
            "retraining rebuild features from the log"
        )
    return LogPolicy(frozenset(direct_identifiers(uc)), frozenset(drop))


@cache
def policy(use_case: str) -> LogPolicy:
    """The registered use case's policy; a name no use case has (tests) hashes keys only."""
    try:
        uc = get_use_case(use_case)
    except KeyError:
        return LogPolicy()
    return make_policy(uc, uc.load_config())


def protect_rows(rows: Iterable[Sequence[Any]]) -> list[LogRow]:
    """Log rows as they may be stored: the routing key hashed, the policy applied to the
    inputs and outputs (dicts; JSON text from older callers is read first)."""
    key = pseudonym_key()
    out = []
    for row in rows:
        r = LogRow(*row)
        rule = policy(r.use_case)
        changes: dict[str, Any] = {}
        if r.routing_key is not None:
            changes["routing_key"] = pseudonym(r.routing_key, key)
        if rule.hashed or rule.dropped:
            for name in ("inputs", "outputs"):
                value = getattr(r, name)
                if isinstance(value, str):
                    value = json.loads(value)
                if value is not None:
                    changes[name] = rule.apply(value, key)
        out.append(r._replace(**changes) if changes else r)
    return out


def protect_outcomes(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Outcomes as they may be stored: the routing key hashed as the predictions' are."""
    return [r | {"routing_key": protect_key(r.get("routing_key"))} for r in rows]


def protect_key(value: Any) -> str | None:
    """An outcome's routing key as stored: hashed with the key the predictions used."""
    return None if value is None else pseudonym(value)


# --------------------------------------------------------------------------- rights


def _match(column_prefix: str = "") -> str:
    """SQL: a prediction row that is the person's (routing key, or a hashed identifier)."""
    p = column_prefix
    return (
        f"(COALESCE({p}routing_key, '') = ? OR COALESCE({p}inputs, '') LIKE ? "
        f"OR COALESCE({p}outputs, '') LIKE ?)"
    )


def _match_params(hashed: str) -> list[str]:
    return [hashed, f'%"{hashed}"%', f'%"{hashed}"%']


def _outcomes_where() -> str:
    """SQL: the person's outcomes: by routing key, or by the request id of their predictions
    when no other person's prediction shares that request."""
    return (
        "use_case = ? AND (routing_key = ? OR (routing_key IS NULL AND request_id IN "
        f"(SELECT request_id FROM predictions WHERE use_case = ? AND {_match()}) "
        "AND request_id NOT IN (SELECT request_id FROM predictions "
        f"WHERE use_case = ? AND NOT {_match()})))"
    )


def _outcomes_params(use_case: str, hashed: str) -> list[Any]:
    m = _match_params(hashed)
    return [use_case, hashed, use_case, *m, use_case, *m]


def access(log: Any, use_case: str, entity: Any, who: str | None = None) -> dict[str, Any]:
    """Everything the log holds about one person (right of access), their id in clear."""
    hashed = pseudonym(entity)
    cols = ", ".join(PREDICTION_COLUMNS)
    preds = log.query(
        f"SELECT {cols} FROM predictions WHERE use_case = ? AND {_match()} ORDER BY ts, id",
        [use_case, *_match_params(hashed)],
    )
    outs = log.query(
        f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM outcomes WHERE {_outcomes_where()} "
        "ORDER BY ts, id",
        _outcomes_params(use_case, hashed),
    )

    def clear(row: tuple[Any, ...], names: Sequence[str]) -> dict[str, Any]:
        record = {}
        for name, value in zip(names, row, strict=True):
            if isinstance(value, str):
                value = value.replace(hashed, str(entity))
                if name in ("inputs", "outputs"):
                    value = json.loads(value)
            record[name] = value
        return record

    found = {
        "use_case": use_case,
        "id": str(entity),
        "predictions": [clear(r, PREDICTION_COLUMNS) for r in preds],
        "outcomes": [clear(r, OUTCOME_COLUMNS) for r in outs],
    }
    audit("export", use_case, hashed, who, {"predictions": len(preds), "outcomes": len(outs)})
    return found


def erase(log: Any, use_case: str, entity: Any, who: str | None = None) -> dict[str, int]:
    """Delete one person's predictions and outcomes from the log and from the Parquet files
    `pilotpack log export` wrote; returns what was deleted where."""
    hashed = pseudonym(entity)
    n_out, n_pred = log.execute(
        [
            (f"DELETE FROM outcomes WHERE {_outcomes_where()}", _outcomes_params(use_case, hashed)),
            (
                f"DELETE FROM predictions WHERE use_case = ? AND {_match()}",
                [use_case, *_match_params(hashed)],
            ),
        ]
    )
    if isinstance(log, SqliteLog):  # deleted pages are zeroed (secure_delete); empty the WAL too
        for _ in range(20):  # busy while a service reads an older snapshot: try again
            if log.query("PRAGMA wal_checkpoint(TRUNCATE)")[0][0] == 0:
                break
            time.sleep(0.1)
    counts = {"predictions": n_pred, "outcomes": n_out, "exported_rows": 0, "export_files": 0}
    for path in exported_files(log, use_case):
        removed = _erase_from_parquet(path, hashed)
        if removed:
            counts["exported_rows"] += removed
            counts["export_files"] += 1
    audit("erase", use_case, hashed, who, counts)
    return counts


def exported_files(log: Any, use_case: str) -> list[Path]:
    """The Parquet files `PredictionLog.export` wrote for this use case that still exist."""
    rows = log.query("SELECT DISTINCT path FROM exports WHERE use_case = ?", [use_case])
    return [Path(p) for (p,) in rows if Path(p).exists()]


def _erase_from_parquet(path: Path, hashed: str) -> int:
    """Rewrite an exported file without the person's rows (atomically); rows removed."""
    frame = pd.read_parquet(path)
    quoted = f'"{hashed}"'
    mine = frame["routing_key"].eq(hashed)
    for col in ("inputs", "outputs"):
        mine |= frame[col].fillna("").str.contains(quoted, regex=False)
    if not mine.any():
        return 0
    tmp = path.with_name(path.name + ".erasing")
    frame[~mine].to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return int(mine.sum())


# --------------------------------------------------------------------------- audit


def audit_path() -> Path:
    path = os.environ.get(AUDIT_ENV)
    return state_path(Path(path).absolute() if path else "privacy-audit.jsonl", "privacy audit")


def audit(
    action: str, use_case: str, subject: str, who: str | None, counts: dict[str, int]
) -> None:
    """One JSON line per request: when, what, whose (the hash, never the id), by whom."""
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "action": action,
        "use_case": use_case,
        "subject": subject,
        "who": who or getpass.getuser(),
        **counts,
    }
    path = audit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")


def safe_location(location: str) -> str:
    """A log location without the password of a postgresql:// URL."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", location)


def prune(log: Any, days: float | None, use_case: str | None = None) -> dict[str, tuple[int, int]]:
    """Each registered use case's rows older than its `privacy.retention_days` (or `days`);
    never under its risk level's floor (high risk: 183 days)."""
    names = [use_case] if use_case else list(registry())
    done = {}
    for name in names:
        keep = retention_days(registry()[name].load_config(), days)
        done[name] = log.prune(keep, name)
    return done
