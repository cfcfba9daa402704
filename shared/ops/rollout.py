"""Champion / challenger rollouts: stages, routing by a stable hash, criteria, automatic rollback.

The state of a rollout lives in the MLflow registry as tags on the registered model
(`rollout.*`), so the MLflow UI shows it and every worker and replica follows it. Services
read it in a background thread every `rollout.refresh_s` seconds (`Deployment`), never on the
request path; when the registry cannot be read they keep the last state they saw.

Routing: a record goes to the challenger when BLAKE2b(key=salt, routing key) falls under the
stage's percentage. The hash is the same in every process and on every restart (Python's
built-in string hash is salted per process), and a key under 5 % is under 20 % too: growing stages are
monotone, a customer never flips back to the champion while the rollout grows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("pilotpack.rollout")

SHADOW = "shadow"
CHAMPION, CHALLENGER = "champion", "challenger"  # variant names (as the aliases)
PREFIX = "rollout."
HISTORY = 20  # events kept in the `rollout.history` tag


# --------------------------------------------------------------------------- routing


def _hash_key(salt: str) -> bytes:
    raw = salt.encode()
    return raw if len(raw) <= 64 else hashlib.blake2b(raw).digest()


def bucket(salt: str, key: Any) -> float:
    """A stable position of `key` in [0, 1): keyed BLAKE2b, the same in every process."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8, key=_hash_key(salt)).digest()
    return int.from_bytes(digest, "big") / 2**64


def to_challenger(salt: str, key: Any, percent: float) -> bool:
    """True when `key` belongs to the first `percent` % of the salt's order: monotone in percent."""
    return key is not None and bucket(salt, key) * 100 < percent


def stage_label(stage: Any) -> str:
    return SHADOW if stage == SHADOW else f"{float(stage):g} %"


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class RolloutState:
    """One rollout, as stored in the registered model's `rollout.*` tags."""

    status: str = "none"  # none | active | rolled_back | promoted | stopped
    version: str = ""  # the challenger's registered version
    champion: str = ""  # the champion when the rollout started
    stage: int = 0  # index into `stages`
    stages: tuple[Any, ...] = ()
    salt: str = ""
    started_at: float = 0.0
    stage_started_at: float = 0.0
    held: bool = False
    reason: str = ""
    by: str = ""
    forced: str = ""
    history: tuple[dict[str, Any], ...] = ()

    @property
    def active(self) -> bool:
        return self.status == "active" and bool(self.version) and bool(self.stages)

    @property
    def current(self) -> Any:
        return self.stages[self.stage] if self.active else None

    @property
    def shadow(self) -> bool:
        return self.current == SHADOW

    @property
    def percent(self) -> float:
        cur = self.current
        return 0.0 if cur is None or cur == SHADOW else float(cur)

    def to_tags(self) -> dict[str, str]:
        return {
            PREFIX + "status": self.status,
            PREFIX + "version": self.version,
            PREFIX + "champion": self.champion,
            PREFIX + "stage": str(self.stage),
            PREFIX + "stage_name": stage_label(self.current) if self.active else "-",
            PREFIX + "stages": json.dumps(list(self.stages)),
            PREFIX + "salt": self.salt,
            PREFIX + "started_at": repr(self.started_at),
            PREFIX + "stage_started_at": repr(self.stage_started_at),
            PREFIX + "held": str(self.held).lower(),
            PREFIX + "reason": self.reason[:4000] or "-",
            PREFIX + "by": self.by or "-",
            PREFIX + "forced": self.forced or "-",
            PREFIX + "history": json.dumps(list(self.history[-HISTORY:]))[:4900],
        }

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> RolloutState:
        t = {k.removeprefix(PREFIX): v for k, v in tags.items() if k.startswith(PREFIX)}
        if not t.get("status"):
            return cls()

        def num(name: str) -> float:
            try:
                return float(t.get(name) or 0)
            except ValueError:
                return 0.0

        try:
            history = tuple(json.loads(t.get("history") or "[]"))
        except ValueError:
            history = ()
        return cls(
            status=t["status"],
            version=t.get("version", ""),
            champion=t.get("champion", ""),
            stage=int(num("stage")),
            stages=tuple(json.loads(t.get("stages") or "[]")),
            salt=t.get("salt", ""),
            started_at=num("started_at"),
            stage_started_at=num("stage_started_at"),
            held=t.get("held") == "true",
            reason="" if t.get("reason") == "-" else t.get("reason", ""),
            by="" if t.get("by") == "-" else t.get("by", ""),
            forced="" if t.get("forced") == "-" else t.get("forced", ""),
            history=history,
        )

    def event(self, action: str, who: str, reason: str = "", **extra: Any) -> RolloutState:
        item = {"at": round(time.time(), 3), "action": action, "by": who, "reason": reason}
        return replace(self, by=who, history=(*self.history, item | extra)[-HISTORY:])


def read_state(name: str, client: Any = None) -> tuple[RolloutState, dict[str, str]]:
    """(rollout state, aliases) of a registered model; empty when it is not registered."""
    from mlflow.exceptions import MlflowException

    from shared.core.tracking import mlflow_client

    client = client or mlflow_client()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return RolloutState(), {}
    aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
    return RolloutState.from_tags(dict(model.tags or {})), aliases


def write_state(name: str, state: RolloutState, client: Any = None) -> None:
    from shared.core.tracking import mlflow_client

    client = client or mlflow_client()
    tags = state.to_tags()
    status = tags.pop(PREFIX + "status")
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)
    # one tag at a time (MLflow has no batch for model tags): the status last, so a reader
    # never sees a new status with the old rollout's details
    client.set_registered_model_tag(name, PREFIX + "status", status)


# --------------------------------------------------------------------------- commands


def start(uc: Any, version: str | None = None, who: str = "", reason: str = "") -> RolloutState:
    """Begin a rollout of `version` (default: the challenger alias) at the first stage."""
    from shared.core.tracking import CHALLENGER as CH_ALIAS
    from shared.core.tracking import CHAMPION as CHAMP_ALIAS
    from shared.core.tracking import actor, mlflow_client, tag_event

    client = mlflow_client()
    cfg = uc.load_config().rollout
    state, aliases = read_state(uc.name, client)
    if state.active:
        raise ValueError(
            f"a rollout of version {state.version} is already at stage "
            f"{stage_label(state.current)}: advance, hold or roll it back first"
        )
    version = str(version or aliases.get(CH_ALIAS) or "")
    champion = aliases.get(CHAMP_ALIAS, "")
    if not version:
        raise ValueError(f"{uc.name} has no challenger: train one (`pilotpack train {uc.name}`)")
    if not champion:
        raise ValueError(f"{uc.name} has no champion: `pilotpack promote {uc.name}` first")
    if version == champion:
        raise ValueError(f"version {version} is already the champion of {uc.name}")
    mv = client.get_model_version(uc.name, version)
    if (mv.tags or {}).get("gates_passed") == "false":
        raise ValueError(f"version {version} failed its gates: it cannot be rolled out")
    stored_version(uc.name, version)  # the services must be able to load it
    who = who or actor()
    now = time.time()
    new = RolloutState(
        status="active",
        version=version,
        champion=champion,
        stage=0,
        stages=tuple(cfg.stages),
        salt=cfg.salt or secrets.token_hex(8),
        started_at=now,
        stage_started_at=now,
        history=state.history,
    ).event("start", who, reason, stage=stage_label(cfg.stages[0]), version=version)
    write_state(uc.name, new, client)
    tag_event(client, uc.name, version, "rollout_started", reason, who)
    return new


def advance(uc: Any, force: bool = False, who: str = "", reason: str = "") -> RolloutState:
    """Next stage when the current stage's criteria hold (or `force`, recorded); after the
    last stage the challenger becomes champion and the old champion `previous`."""
    from shared.core.tracking import actor, mlflow_client, promote

    client = mlflow_client()
    state, _ = read_state(uc.name, client)
    if not state.active:
        raise ValueError(f"no active rollout for {uc.name} (status {state.status})")
    report = status(uc, state=state)
    failed = [c for c in report["criteria"] if not c["ok"]]
    who = who or actor()
    if failed and not force:
        raise CriteriaNotMet(failed)
    forced = ""
    if failed:
        forced = f"forced by {who}: " + "; ".join(c["detail"] for c in failed)
    now = time.time()
    if state.stage + 1 < len(state.stages):
        nxt = state.stage + 1
        new = replace(
            state, stage=nxt, stage_started_at=now, held=False, forced=forced or state.forced
        ).event(
            "advance", who, reason, stage=stage_label(state.stages[nxt]), **_forced_item(forced)
        )
        write_state(uc.name, new, client)
        return new
    promote(uc.name, state.version, reason or "rollout completed", who)
    new = replace(state, status="promoted", held=False, forced=forced or state.forced).event(
        "promote", who, reason, **_forced_item(forced)
    )
    write_state(uc.name, new, client)
    return new


def _forced_item(forced: str) -> dict[str, Any]:
    return {"forced": forced} if forced else {}


def hold(uc: Any, who: str = "", reason: str = "") -> RolloutState:
    """Stay at the current stage and say why (recorded); `advance` lifts the hold."""
    from shared.core.tracking import actor, mlflow_client

    client = mlflow_client()
    state, _ = read_state(uc.name, client)
    if not state.active:
        raise ValueError(f"no active rollout for {uc.name} (status {state.status})")
    who = who or actor()
    new = replace(state, held=True, reason=reason or "held").event("hold", who, reason)
    write_state(uc.name, new, client)
    return new


def abort(
    uc_name: str, reason: str, who: str = "", expect: RolloutState | None = None, client: Any = None
) -> RolloutState | None:
    """Stop routing to the challenger at once (every worker follows within seconds) and record
    why, on the registered model and on the challenger's version. With `expect`, only when the
    registry still shows that same rollout (an automatic rollback never ends a newer one)."""
    from shared.core.tracking import actor, mlflow_client, tag_event

    client = client or mlflow_client()
    state, _ = read_state(uc_name, client)
    if not state.active:
        if expect is None:
            raise ValueError(f"no active rollout for {uc_name} (status {state.status})")
        return None
    if expect is not None and (state.version, state.started_at) != (
        expect.version,
        expect.started_at,
    ):
        return None
    who = who or actor()
    new = replace(state, status="rolled_back", held=False, reason=reason).event(
        "rollback", who, reason, stage=stage_label(state.current)
    )
    write_state(uc_name, new, client)
    tag_event(client, uc_name, new.version, "rollout_rolled_back", reason, who)
    return new


class CriteriaNotMet(ValueError):
    def __init__(self, failed: list[dict[str, Any]]):
        self.failed = failed
        super().__init__("; ".join(c["detail"] for c in failed))


# --------------------------------------------------------------------------- status


def psi(expected: Sequence[float], actual: Sequence[float], bins: int = 10) -> float | None:
    """Population stability index of `actual` against `expected` (deciles of `expected`)."""
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    if len(e) < bins or len(a) < bins:
        return None
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=len(edges) + 1) / len(e)
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
    pe, pa = np.clip(pe, 1e-4, None), np.clip(pa, 1e-4, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def _variant_stats(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    by: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    out = {}
    for variant, items in by.items():
        lat = np.array([r[3] for r in items if r[3] is not None], dtype=float)
        errors = sum(int(r[4]) for r in items)
        out[variant] = {
            "versions": sorted({str(r[1]) for r in items}),
            "requests": len(items),
            "errors": errors,
            "error_rate": errors / len(items),
            "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
            "mean_score": _mean([r[2] for r in items]),
            "_scores": [r[2] for r in items if r[2] is not None],
        }
    return out


def _mean(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def status(uc: Any, state: RolloutState | None = None, log: Any = None) -> dict[str, Any]:
    """Per variant since the stage began: requests, errors, p50/p99 latency, score shift
    (PSI, candidate vs champion), outcome loss; the stage's criteria; a recommendation."""
    from shared.serve.predlog import open_log

    cfg = uc.load_config().rollout
    if state is None:
        state, aliases = read_state(uc.name)
    else:
        aliases = {}
    report: dict[str, Any] = {
        "use_case": uc.name,
        "status": state.status,
        "version": state.version,
        "champion": aliases.get(CHAMPION, state.champion),
        "stage": stage_label(state.current) if state.active else None,
        "stages": [stage_label(s) for s in state.stages],
        "held": state.held,
        "reason": state.reason,
        "forced": state.forced,
        "variants": {},
        "criteria": [],
        "recommendation": None,
        "reasons": [],
    }
    if state.status == "none":
        report["reasons"] = ["no rollout: `pilotpack rollout <use case> start` begins one"]
        return report
    since = state.stage_started_at if state.active else state.started_at
    own = log is None
    log = log or open_log()
    try:
        variants = _variant_stats(log.variant_rows(uc.name, since))
        pairs = log.outcome_pairs(uc.name, since)
    finally:
        if own:
            log.close()
    candidate = SHADOW if state.shadow else CHALLENGER
    for variant, loss in _outcome_losses(pairs).items():
        variants.setdefault(variant, {"requests": 0, "errors": 0, "_scores": []}).update(loss)
    champ, cand = variants.get(CHAMPION, {}), variants.get(candidate, {})
    report["psi"] = psi(champ.get("_scores", []), cand.get("_scores", []))
    for v in variants.values():
        v.pop("_scores", None)
    report["variants"] = variants
    report["candidate"] = candidate
    if not state.active:
        report["reasons"] = [f"rollout {state.status}: {state.reason or '-'}"]
        return report
    crit, back = criteria(cfg, state, champ, cand, time.time())
    report["criteria"] = crit
    failed = [c["detail"] for c in crit if not c["ok"]]
    if back:
        report["recommendation"], report["reasons"] = "roll back", back
    elif failed:
        report["recommendation"], report["reasons"] = "hold", failed
    else:
        nxt = "promote" if state.stage + 1 >= len(state.stages) else "advance"
        report["recommendation"] = nxt
        report["reasons"] = ["every criterion of the stage holds"]
    if state.held:
        report["reasons"].append(f"held: {state.reason}")
    return report


def _outcome_losses(pairs: list[tuple[str, float, float]]) -> dict[str, dict[str, Any]]:
    """Squared error per variant (the Brier score for probabilities), with its standard error."""
    by: dict[str, list[float]] = {}
    for variant, score, value in pairs:
        by.setdefault(variant, []).append((score - value) ** 2)
    out = {}
    for variant, losses in by.items():
        arr = np.asarray(losses)
        se = float(arr.std(ddof=1) / np.sqrt(len(arr))) if len(arr) > 1 else None
        out[variant] = {"outcomes": len(arr), "outcome_mse": float(arr.mean()), "outcome_se": se}
    return out


def criteria(
    cfg: Any, state: RolloutState, champ: dict[str, Any], cand: dict[str, Any], now: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """The stage's criteria (name, ok, detail) and the reasons to roll back, if any."""
    out: list[dict[str, Any]] = []
    back: list[str] = []
    n = cand.get("requests", 0)
    out.append(
        {
            "name": "min_requests",
            "ok": n >= cfg.min_requests,
            "detail": f"challenger records {n} (need {cfg.min_requests})",
        }
    )
    age = now - state.stage_started_at
    out.append(
        {
            "name": "min_duration",
            "ok": age >= cfg.min_duration_s,
            "detail": f"stage age {age:.0f} s (need {cfg.min_duration_s:.0f} s)",
        }
    )
    err_c, err_0 = cand.get("error_rate", 0.0), champ.get("error_rate", 0.0)
    allowed = max(cfg.max_error_ratio * err_0, cfg.min_error_rate)
    ok = err_c <= allowed
    detail = f"error rate {err_c:.2%} vs champion {err_0:.2%} (allowed {allowed:.2%})"
    out.append({"name": "error_rate", "ok": ok, "detail": detail})
    if not ok and n >= cfg.min_window_requests:
        back.append(detail)
    p99 = cand.get("p99_ms")
    ok = p99 is None or p99 <= cfg.sla_ms
    detail = f"p99 {'-' if p99 is None else f'{p99:.1f}'} ms (SLA {cfg.sla_ms:.0f} ms)"
    out.append({"name": "p99", "ok": ok, "detail": detail})
    if not ok and n >= cfg.min_window_requests:
        back.append(detail)
    nc, n0 = cand.get("outcomes", 0), champ.get("outcomes", 0)
    if nc >= cfg.min_outcomes and n0 >= cfg.min_outcomes:
        diff = cand["outcome_mse"] - champ["outcome_mse"]
        se = float(np.hypot(cand.get("outcome_se") or 0.0, champ.get("outcome_se") or 0.0))
        ok = diff <= 1.96 * se
        detail = (
            f"outcome loss {cand['outcome_mse']:.4f} vs champion {champ['outcome_mse']:.4f} "
            f"(n={nc}/{n0}; worse by {diff:+.4f}, 95 % margin {1.96 * se:.4f})"
        )
        out.append({"name": "outcomes", "ok": ok, "detail": detail})
        if not ok:
            back.append(detail)
    else:
        out.append(
            {
                "name": "outcomes",
                "ok": True,
                "detail": f"outcomes {nc}/{n0}: fewer than {cfg.min_outcomes} per variant, not compared",
            }
        )
    return out, back


# --------------------------------------------------------------------------- models


def stored_version(name: str, version: str) -> Any:
    """The BentoML store's model of a registered version (labels carry `mlflow_version`);
    the newest when several were saved for it."""
    import bentoml
    from bentoml.exceptions import NotFound

    from shared.core.store import ModelNotFound, StoredModel, bentoml_home

    try:
        models = bentoml.models.list(name)
    except NotFound:  # BentoML 1.4: no model of that name at all
        models = []
    found = [
        m
        for m in models
        if str(m.info.labels.get("mlflow_version") or m.info.metadata.get("mlflow_version"))
        == str(version)
    ]
    if not found:
        raise ModelNotFound(
            f"registered version {version} of {name!r} is not in the BentoML model store "
            f"({bentoml_home()}). Train one first: `pilotpack train {name}` (or import the "
            f"Bento model of that version)"
        )
    model = max(found, key=lambda m: m.info.creation_time)
    return StoredModel(str(model.tag), Path(model.path), dict(model.info.metadata))


def pinned_tag(name: str) -> str | None:
    """PILOTPACK_MODEL_<NAME>=<store tag> serves that model as champion (tests, emergencies)."""
    return os.environ.get(f"PILOTPACK_MODEL_{name.upper()}") or None


def champion_stored(name: str) -> Any:
    """The stored model that serves: the pin when set, else the registry's champion."""
    from shared.core.store import ModelNotFound, load_model
    from shared.core.tracking import CHAMPION as CHAMP_ALIAS
    from shared.core.tracking import model_aliases, tracking_uri

    pin = pinned_tag(name)
    if pin:
        return load_model(pin)
    try:
        version = model_aliases(name).get(CHAMP_ALIAS)
    except Exception as exc:  # unreachable tracking server, broken store
        raise ModelNotFound(
            f"cannot read the MLflow registry at {tracking_uri()} to find the champion of "
            f"{name!r} ({exc}); pin a stored model with PILOTPACK_MODEL_{name.upper()}=<tag>"
        ) from exc
    if not version:
        raise ModelNotFound(
            f"no champion for {name!r} in the MLflow registry ({tracking_uri()}). Train one "
            f"first: `pilotpack train {name}` (or `make demo` for every use case); the first "
            f"model that passes its gates becomes champion"
        )
    return stored_version(name, version)


# --------------------------------------------------------------------------- serving side


@cache
def _metrics() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "seconds": Histogram(
            "pilotpack_variant_scoring_seconds",
            "Scoring time of one request's records per variant (model, features, no HTTP)",
            ["use_case", "variant"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0),
        ),
        "errors": Counter(
            "pilotpack_variant_errors_total",
            "Records whose scoring failed, per variant (a failed challenger's are answered by "
            "the champion)",
            ["use_case", "variant"],
        ),
        "rollbacks": Counter(
            "pilotpack_rollout_rollbacks_total",
            "Automatic rollbacks of a challenger",
            ["use_case", "cause"],
        ),
        "variant": Counter(
            "pilotpack_variant_records_total",
            "Records scored per variant",
            ["use_case", "variant", "model_version"],
        ),
        "no_key": Counter(
            "pilotpack_routing_key_missing_total",
            "Records without a routing key: answered by the champion",
            ["use_case"],
        ),
        "shadow_dropped": Counter(
            "pilotpack_shadow_dropped_total",
            "Shadow scorings skipped because the shadow queue was full",
            ["use_case"],
        ),
    }


@dataclass(frozen=True)
class Plan:
    """What the request path reads: one immutable snapshot, swapped whole by the refresher."""

    champion: Any
    challenger: Any | None = None
    state: RolloutState = field(default_factory=RolloutState)

    @property
    def mode(self) -> str:
        if self.challenger is None or not self.state.active:
            return "off"
        return SHADOW if self.state.shadow else "canary"


class Windows:
    """Sliding windows of (error, latency) per variant; thread-safe."""

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()
        self.q: dict[str, deque[tuple[int, float]]] = {}

    def reset(self) -> None:
        with self.lock:
            self.q.clear()

    def add(self, variant: str, n: int, error: bool, ms: float) -> None:
        with self.lock:
            q = self.q.setdefault(variant, deque(maxlen=self.size))
            q.extend([(int(error), ms)] * min(n, self.size))

    def breach(self, cfg: Any) -> tuple[str, str] | None:
        """(cause, reason) when the challenger is worse than allowed over enough records."""
        with self.lock:
            ch = list(self.q.get(CHALLENGER, ()))
            champ = list(self.q.get(CHAMPION, ()))
        if len(ch) < cfg.min_window_requests:
            return None
        err_c = sum(e for e, _ in ch) / len(ch)
        err_0 = sum(e for e, _ in champ) / len(champ) if champ else 0.0
        allowed = max(cfg.max_error_ratio * err_0, cfg.min_error_rate)
        if err_c > allowed:
            return "error_rate", (
                f"automatic rollback: challenger error rate {err_c:.1%} over its last {len(ch)} "
                f"records, more than {cfg.max_error_ratio:g}x the champion's {err_0:.1%} "
                f"(allowed {allowed:.1%})"
            )
        ok_ms = [ms for e, ms in ch if not e]
        p99 = float(np.percentile(ok_ms, 99)) if ok_ms else 0.0
        if p99 > cfg.sla_ms:
            return "p99", (
                f"automatic rollback: challenger p99 {p99:.1f} ms over its last {len(ch)} "
                f"records, above the {cfg.sla_ms:g} ms SLA"
            )
        return None


Score = Callable[[Any, list[int]], list[dict[str, Any]]]


def default_score_of(result: dict[str, Any]) -> Any:
    return result.get("probability", result.get("prediction"))


class Deployment:
    """The models one service worker answers with, and the rollout it follows.

    Start-up resolves the champion (the pin, else the registry alias: never "latest") and
    fails with the command to run when there is none. A daemon thread re-reads the registry
    every `refresh_s`: champion changes, a rollout's stage, a rollback, and loads the models
    it needs before swapping one immutable `Plan`; the request path only reads `self.plan`.
    """

    def __init__(
        self,
        uc: Any,
        cfg: Any,
        load: Callable[[Any], Any],
        score_of: Callable[[dict[str, Any]], Any] = default_score_of,
        log: Any = None,
        refresh: bool = True,
    ):
        from shared.serve.predlog import open_log

        self.name = uc.name
        self.cfg = cfg.rollout
        self._load = load
        self.score_of = score_of
        self.pin = pinned_tag(uc.name)
        self._models: dict[str, Any] = {}
        champion = load(champion_stored(uc.name))
        self._models[champion.version] = champion
        self.plan = Plan(champion)
        self.windows = Windows(self.cfg.window)
        self.log = log or open_log()
        self._shadow_log: Any = None
        self._shadow_pool: ThreadPoolExecutor | None = None
        self._shadow_pending = 0
        self._lock = threading.Lock()
        self._stopped: set[tuple[str, float]] = set()  # rollouts this worker rolled back
        self._last_error = ""
        self._client: Any = None
        self._stop = threading.Event()
        if refresh:
            self.refresh_safely()
            self._thread = threading.Thread(
                target=self._loop, name=f"rollout-{uc.name}", daemon=True
            )
            self._thread.start()

    # -- the refresher (background thread)
    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.refresh_s):
            self.refresh_safely()

    def refresh_safely(self) -> None:
        try:
            self.refresh()
            self._last_error = ""
        except Exception as exc:  # registry unreachable: keep serving the last plan
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:
                logger.warning("%s: cannot refresh the rollout state (%s)", self.name, message)
            self._last_error = message

    def refresh(self) -> None:
        from shared.core.tracking import CHAMPION as CHAMP_ALIAS
        from shared.core.tracking import mlflow_client

        if self._client is None:
            self._client = mlflow_client()
        state, aliases = read_state(self.name, self._client)
        plan = self.plan
        champion = plan.champion
        wanted = aliases.get(CHAMP_ALIAS)
        if not self.pin and wanted and wanted != champion.version:
            champion = self._model(wanted) or champion
        challenger = None
        stopped = (state.version, state.started_at) in self._stopped
        if state.active and not stopped and state.version != champion.version:
            challenger = self._model(state.version)
        if (state.version, state.stage, state.stage_started_at) != (
            plan.state.version,
            plan.state.stage,
            plan.state.stage_started_at,
        ):
            self.windows.reset()
        if stopped:
            state = replace(state, status="rolled_back")
        self.plan = Plan(champion, challenger, state)

    def _model(self, version: str) -> Any | None:
        if version not in self._models:
            try:
                self._models[version] = self._load(stored_version(self.name, version))
            except Exception as exc:
                logger.error("%s: cannot load version %s: %s", self.name, version, exc)
                return None
            keep = {self.plan.champion.version, version}
            for v in [v for v in self._models if v not in keep]:
                del self._models[v]
        return self._models[version]

    def close(self) -> None:
        self._stop.set()
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)

    # -- the request path
    def execute(
        self,
        keys: Sequence[Any],
        score: Score,
        inputs: Callable[[int], Any],
        request_id: str,
        defer: Callable[[Callable[[], None]], None] | None = None,
    ) -> list[tuple[dict[str, Any], str]]:
        """Route each unit (a record, an entity, a series) by its key, score each group with
        its model, log every unit (committed) and return (result, variant) per unit, in order.

        A challenger that fails is answered by the champion (counted as the challenger's
        error). Shadow scoring is handed to `defer` (the service: a task that runs after the
        response is sent), which queues it for the shadow thread; dropped when that queue is
        full, never delaying an answer.
        """
        from bentoml.exceptions import InvalidArgument, ServiceUnavailable

        plan = self.plan
        n = len(keys)
        missing = sum(k is None for k in keys)
        if missing:
            _metrics()["no_key"].labels(self.name).inc(missing)
        challenger_units: list[int] = []
        if plan.mode == "canary":
            salt, pct = plan.state.salt, plan.state.percent
            challenger_units = [u for u, k in enumerate(keys) if to_challenger(salt, k, pct)]
        chosen = set(challenger_units)
        champion_units = [u for u in range(n) if u not in chosen]
        results: list[Any] = [None] * n
        variants = [CHAMPION] * n
        rows: list[tuple[Any, ...]] = []
        now = time.time()
        if challenger_units:
            t0 = time.perf_counter()
            try:
                out = score(plan.challenger, challenger_units)
            except InvalidArgument:
                raise
            except Exception as exc:
                ms = (time.perf_counter() - t0) * 1000
                logger.warning("%s: challenger failed: %r", self.name, exc)
                self._observe(CHALLENGER, len(challenger_units), True, ms)
                rows += self._rows(
                    request_id, now, CHALLENGER, plan.challenger, keys, challenger_units,
                    None, inputs, ms, repr(exc)[:1000],
                )  # fmt: skip
                champion_units = list(range(n))  # the champion answers instead
            else:
                ms = (time.perf_counter() - t0) * 1000
                self._observe(CHALLENGER, len(challenger_units), False, ms)
                for u, o in zip(challenger_units, out, strict=True):
                    results[u], variants[u] = o, CHALLENGER
                rows += self._rows(
                    request_id, now, CHALLENGER, plan.challenger, keys, challenger_units,
                    out, inputs, ms, None,
                )  # fmt: skip
        if champion_units:
            t0 = time.perf_counter()
            try:
                out = score(plan.champion, champion_units)
            except InvalidArgument:
                raise
            except Exception:
                ms = (time.perf_counter() - t0) * 1000
                self._observe(CHAMPION, len(champion_units), True, ms)
                raise
            ms = (time.perf_counter() - t0) * 1000
            self._observe(CHAMPION, len(champion_units), False, ms)
            for u, o in zip(champion_units, out, strict=True):
                results[u], variants[u] = o, CHAMPION
            rows += self._rows(
                request_id, now, CHAMPION, plan.champion, keys, champion_units, out, inputs,
                ms, None,
            )  # fmt: skip
        try:
            self.log.write_predictions(rows)
        except Exception as exc:  # an answer we could not log is not given
            logger.error("%s: prediction log write failed: %s", self.name, exc)
            raise ServiceUnavailable("the prediction log cannot be written; retry later") from exc
        m = _metrics()["variant"]
        for variant, model, units in (
            (CHAMPION, plan.champion, champion_units),
            (CHALLENGER, plan.challenger, challenger_units),
        ):
            if units and model is not None:
                m.labels(self.name, variant, model.version).inc(len(units))
        if challenger_units:
            self._check(plan)
        if plan.mode == SHADOW:
            job = partial(self._submit_shadow, plan, keys, score, inputs, request_id, now)
            job() if defer is None else defer(job)
        return [(results[u], variants[u]) for u in range(n)]

    def _rows(
        self,
        request_id: str,
        now: float,
        variant: str,
        model: Any,
        keys: Sequence[Any],
        units: list[int],
        out: list[dict[str, Any]] | None,
        inputs: Callable[[int], Any],
        ms: float,
        error: str | None,
    ) -> list[tuple[Any, ...]]:
        from shared.serve.predlog import dumps, finite

        rows = []
        for i, u in enumerate(units):
            result = out[i] if out is not None else None
            outputs = (
                None
                if result is None
                else dumps({k: v for k, v in result.items() if not k.startswith("_")})
            )
            rows.append(
                (
                    request_id,
                    now,
                    self.name,
                    variant,
                    model.version,
                    None if keys[u] is None else str(keys[u]),
                    u,
                    dumps(inputs(u)),
                    outputs,
                    None if result is None else finite(self.score_of(result)),
                    ms,
                    error,
                )
            )
        return rows

    def _observe(self, variant: str, n: int, error: bool, ms: float, label: str = "") -> None:
        """One scoring of `n` records: the rollback window and the per-variant metrics."""
        self.windows.add(variant, n, error, ms)
        m = _metrics()
        m["seconds"].labels(self.name, label or variant).observe(ms / 1000)
        if error:
            m["errors"].labels(self.name, label or variant).inc(n)

    # -- shadow scoring, off the critical path
    def _submit_shadow(
        self,
        plan: Plan,
        keys: Sequence[Any],
        score: Score,
        inputs: Callable[[int], Any],
        request_id: str,
        now: float,
    ) -> None:
        with self._lock:
            if self._shadow_pending >= 256:
                _metrics()["shadow_dropped"].labels(self.name).inc()
                return
            self._shadow_pending += 1
            if self._shadow_pool is None:
                self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="shadow")
        self._shadow_pool.submit(self._shadow, plan, list(keys), score, inputs, request_id, now)

    def _shadow(
        self,
        plan: Plan,
        keys: list[Any],
        score: Score,
        inputs: Callable[[int], Any],
        request_id: str,
        now: float,
    ) -> None:
        from shared.serve.predlog import open_log

        try:
            units = list(range(len(keys)))
            t0 = time.perf_counter()
            try:
                out, error = score(plan.challenger, units), None
            except Exception as exc:
                out, error = None, repr(exc)[:1000]
            ms = (time.perf_counter() - t0) * 1000
            self._observe(CHALLENGER, len(units), error is not None, ms, label=SHADOW)
            if self._shadow_log is None:
                self._shadow_log = open_log(self.log.location)
            self._shadow_log.write_predictions(
                self._rows(
                    request_id,
                    now,
                    SHADOW,
                    plan.challenger,
                    keys,
                    units,
                    out,
                    inputs,
                    ms,
                    error,
                )  # fmt: skip
            )
            self._check(plan)
        except Exception as exc:
            logger.warning("%s: shadow scoring failed: %s", self.name, exc)
        finally:
            with self._lock:
                self._shadow_pending -= 1

    # -- automatic rollback
    def _check(self, plan: Plan) -> None:
        breach = self.windows.breach(self.cfg)
        if breach is None:
            return
        cause, reason = breach
        key = (plan.state.version, plan.state.started_at)
        with self._lock:
            if key in self._stopped:
                return
            self._stopped.add(key)
            current = self.plan
            self.plan = Plan(
                current.champion, None, replace(current.state, status="rolled_back", reason=reason)
            )
        logger.error("%s: %s", self.name, reason)
        _metrics()["rollbacks"].labels(self.name, cause).inc()
        who = f"auto (worker pid {os.getpid()})"
        threading.Thread(
            target=self._write_rollback, args=(plan.state, reason, who), daemon=True
        ).start()

    def _write_rollback(self, state: RolloutState, reason: str, who: str) -> None:
        """Tell the registry, so every worker and replica stops routing too (retried)."""
        for attempt in range(5):
            try:
                abort(self.name, reason, who, expect=state)
                return
            except Exception as exc:
                logger.warning("%s: cannot record the rollback yet (%s)", self.name, exc)
                time.sleep(1 + attempt)
