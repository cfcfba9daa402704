"""The rollout's data plane: which model answers each record, and the log row of each answer.

The rollout state lives in the MLflow registry (shared/core/tracking.py). A `Deployment`
re-reads it in a background thread every `rollout.refresh_s` seconds and swaps one immutable
`Plan`; the request path only reads `self.plan`. When the registry cannot be read it keeps
the last plan it saw.

Routing: a record goes to the challenger when BLAKE2b(key=salt, routing key) falls under the
stage's percentage. The hash is the same in every process and on every restart (Python's
built-in string hash is salted per process), and a key under 5 % is under 20 % too: growing
stages are monotone, a customer never flips back to the champion while the rollout grows.

One request: route the units (records, entities or series) -> score each group with its
model -> protect the log rows (shared/serve/privacy.py, on dicts) -> write and commit them ->
answer. A failed challenger is answered by the champion (its records count under the
champion, its failure under `pilotpack_variant_errors_total`); a breach of the rollback window
stops the rollout in this worker at once and in the registry within seconds. So does a
challenger whose model cannot be loaded: it is counted
(`pilotpack_model_load_errors_total`) and rolled back with the reason, never left "active"
while the champion silently answers everything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from bentoml.exceptions import InvalidArgument, ServiceUnavailable

from shared.core.tracking import (
    CHALLENGER,
    CHAMPION,
    SHADOW,
    RolloutState,
    champion_stored,
    pinned_tag,
    read_state,
    roll_back,
    stored_version,
)
from shared.serve.metrics import catalog
from shared.serve.predlog import LogRow, PredictionLog, finite, open_log
from shared.serve.privacy import protect_rows

logger = logging.getLogger("pilotpack.rollout")

SHADOW_QUEUE = 256  # shadow scorings waiting at most; more are dropped (and counted)


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
    """Sliding windows of (error, latency) per variant; thread-safe. Checked on every request,
    so the error counts are kept as the window slides and the challenger's p99 is worked out
    again only every `P99_EVERY` of its records (a full pass over the window on each request
    cost ~250 us, a fifth of a one-record request's work in the service)."""

    P99_EVERY = 50

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()
        self.q: dict[str, deque[tuple[int, float]]] = {}
        self.errors: dict[str, int] = {}
        self.added: dict[str, int] = {}
        self.p99 = (-self.P99_EVERY, 0.0)  # (challenger records added then, its p99)

    def reset(self) -> None:
        with self.lock:
            self.q.clear()
            self.errors.clear()
            self.added.clear()
            self.p99 = (-self.P99_EVERY, 0.0)

    def add(self, variant: str, n: int, error: bool, ms: float) -> None:
        k = min(n, self.size)
        with self.lock:
            q = self.q.get(variant)
            if q is None:
                q = self.q[variant] = deque(maxlen=self.size)
            gone = max(0, len(q) + k - self.size)  # evicted by this append, oldest first
            lost = sum(q[i][0] for i in range(gone)) if gone else 0
            if k == 1:  # the common one-record request: no list built
                q.append((int(error), ms))
            else:
                q.extend([(int(error), ms)] * k)
            self.errors[variant] = self.errors.get(variant, 0) + int(error) * k - lost
            self.added[variant] = self.added.get(variant, 0) + k

    def breach(self, cfg: Any) -> tuple[str, str] | None:
        """(cause, reason) when the challenger is worse than allowed over enough records."""
        with self.lock:
            n_c = len(self.q.get(CHALLENGER, ()))
            n_0 = len(self.q.get(CHAMPION, ()))
            e_c, e_0 = self.errors.get(CHALLENGER, 0), self.errors.get(CHAMPION, 0)
        if n_c < cfg.min_window_requests:
            return None
        err_c = e_c / n_c
        err_0 = e_0 / n_0 if n_0 else 0.0
        allowed = max(cfg.max_error_ratio * err_0, cfg.min_error_rate)
        if err_c > allowed:
            return "error_rate", (
                f"automatic rollback: challenger error rate {err_c:.1%} over its last {n_c} "
                f"records, more than {cfg.max_error_ratio:g}x the champion's {err_0:.1%} "
                f"(allowed {allowed:.1%})"
            )
        p99 = self.challenger_p99()
        if p99 > cfg.sla_ms:
            return "scoring_p99", (
                f"automatic rollback: challenger scoring p99 {p99:.1f} ms (model and features, "
                f"no HTTP) over its last {n_c} records, above the {cfg.sla_ms:g} ms SLA"
            )
        return None

    def challenger_p99(self) -> float:
        """The challenger's p99 over its window of successful records, refreshed every
        `P99_EVERY` records."""
        with self.lock:
            added = self.added.get(CHALLENGER, 0)
            if 0 <= added - self.p99[0] < self.P99_EVERY:
                return self.p99[1]
            ok_ms = [ms for e, ms in self.q.get(CHALLENGER, ()) if not e]
        p99 = float(np.percentile(ok_ms, 99)) if ok_ms else 0.0
        with self.lock:
            self.p99 = (added, p99)
        return p99


Score = Callable[[Any, list[int]], list[dict[str, Any]]]  # (predictor, units) -> results


def default_score_of(result: dict[str, Any]) -> Any:
    return result.get("probability", result.get("prediction"))


@dataclass
class Scored:
    """One group of units scored by one model: results (None when it failed) and timing."""

    variant: str
    model: Any
    units: list[int]
    out: list[dict[str, Any]] | None
    ms: float
    error: str | None = None
    exc: Exception | None = None  # what failed, re-raised when the champion fails


class Deployment:
    """The models one service worker answers with, and the rollout it follows.

    Start-up resolves the champion (the pin, else the registry alias: never "latest") and
    fails with the command to run when there is none. A daemon thread re-reads the registry
    every `refresh_s`: champion changes, a rollout's stage, a rollback, and loads the models
    it needs before swapping one immutable `Plan`; the request path only reads `self.plan`.
    Thread-safe: several requests may run `execute` at once (BentoML's thread pool).
    """

    def __init__(
        self,
        uc: Any,
        cfg: Any,
        load: Callable[[Any], Any],
        score_of: Callable[[dict[str, Any]], Any] = default_score_of,
        log: PredictionLog | None = None,
        refresh: bool = True,
    ):
        self.name = uc.name
        self.cfg = cfg.rollout
        self._load = load
        self.score_of = score_of
        self.pin = pinned_tag(uc.name)
        # the request field that routes a unit (the service checks it is one): /predict and
        # /explain route by it alike
        self.key_field: str | None = self.cfg.routing_key or uc.id_column
        self._models: dict[str, Any] = {}
        self.load_errors: dict[str, str] = {}  # version -> why it cannot be loaded
        champion = load(champion_stored(uc.name))
        self._models[champion.version] = champion
        self.plan = Plan(champion)
        self.windows = Windows(self.cfg.window)
        self.log = log or open_log()
        self._shadow_log: PredictionLog | None = None
        self._shadow_pool: ThreadPoolExecutor | None = None
        self._shadow_pending = 0
        self._lock = threading.Lock()
        self._stopped: dict[tuple[str, float], str] = {}  # rollouts this worker rolled back: why
        self._writing: set[tuple[str, float]] = set()  # their rollbacks being written
        self._last_error = ""
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}  # see `_metric`
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
        # on a SQLite store, a read-only query: no MLflow import (tracking.registered_model)
        state, aliases = read_state(self.name)
        plan = self.plan
        champion = plan.champion
        wanted = aliases.get(CHAMPION)
        if not self.pin and wanted and wanted != champion.version:
            champion = self._model(wanted) or champion
        challenger = None
        stopped = (state.version, state.started_at) in self._stopped
        wants_challenger = state.active and not stopped and state.version != champion.version
        if wants_challenger:
            challenger = self._model(state.version, CHALLENGER)
        if (state.version, state.stage, state.stage_started_at) != (
            plan.state.version,
            plan.state.stage,
            plan.state.stage_started_at,
        ):
            self.windows.reset()
        if stopped and state.active:  # a move written after ours (an advance) overwrote it
            self._record_rollback(state, self._stopped[(state.version, state.started_at)])
        if stopped:
            state = replace(state, status="rolled_back")
        self.plan = Plan(champion, challenger, state)
        if wants_challenger and challenger is None:  # unloadable: the same path as an erroring one
            reason = (
                f"automatic rollback: challenger version {state.version} cannot be loaded: "
                f"{self.load_errors.get(state.version, 'unknown error')}"
            )
            self._roll_back(state, "load_error", reason)

    def _model(self, version: str, variant: str = CHAMPION) -> Any | None:
        if version not in self._models:
            try:
                self._models[version] = self._load(stored_version(self.name, version))
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"[:500]
                logger.error("%s: cannot load version %s: %s", self.name, version, message)
                self.load_errors[version] = message
                catalog().load_errors.labels(self.name, variant, version).inc()
                return None
            self.load_errors.pop(version, None)
            keep = {self.plan.champion.version, version}
            for v in [v for v in self._models if v not in keep]:
                del self._models[v]
        return self._models[version]

    def _metric(self, name: str, *labels: str) -> Any:
        """The catalog's metric `name` with these labels, looked up once: prometheus' `labels()`
        takes a lock and builds the label tuple on every call (~10 us, several per request)."""
        key = (name, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = getattr(catalog(), name).labels(*labels)
        return child

    def close(self) -> None:
        self._stop.set()
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)

    # -- the request path
    def route(self, plan: Plan, keys: Sequence[Any]) -> tuple[list[int], list[int]]:
        """(champion units, challenger units) of a request under `plan`; keyless units counted."""
        missing = sum(k is None for k in keys)
        if missing:
            self._metric("no_key", self.name).inc(missing)
        return self.split(plan, keys)

    @staticmethod
    def split(plan: Plan, keys: Sequence[Any]) -> tuple[list[int], list[int]]:
        """(champion units, challenger units) under `plan`: what /predict and /explain share."""
        challenger: list[int] = []
        if plan.mode == "canary":
            salt, pct = plan.state.salt, plan.state.percent
            challenger = [u for u, k in enumerate(keys) if to_challenger(salt, k, pct)]
        chosen = set(challenger)
        return [u for u in range(len(keys)) if u not in chosen], challenger

    def execute(
        self, keys: Sequence[Any], inputs: Sequence[Any], score: Score, request_id: str
    ) -> list[tuple[dict[str, Any], str]]:
        """Route each unit (a record, an entity, a series) by its key, score each group with
        its model, log every unit (committed) and return (result, variant) per unit, in order.

        `inputs` are the units' request fields as JSON-ready dicts, or as their JSON text
        (what the log keeps; `privacy.protect_rows` reads text when it must hash or drop). A
        challenger that fails is answered by the champion (counted as the challenger's
        error). In shadow mode the challenger scores on the shadow thread, never delaying
        an answer, and is dropped when that queue is full.
        """
        plan = self.plan
        n = len(keys)
        champion_units, challenger_units = self.route(plan, keys)
        groups: list[Scored] = []
        if challenger_units:
            done = self._score(CHALLENGER, plan.challenger, score, challenger_units)
            groups.append(done)
            if done.out is None:
                logger.warning("%s: challenger failed: %s", self.name, done.error)
                champion_units = list(range(n))  # the champion answers instead
        if champion_units:
            done = self._score(CHAMPION, plan.champion, score, champion_units)
            if done.exc is not None:
                raise done.exc
            groups.append(done)
        now = time.time()
        results: list[Any] = [None] * n
        variants = [CHAMPION] * n
        for g in groups:
            for u, o in zip(g.units, g.out or (), strict=False):
                results[u], variants[u] = o, g.variant
        try:
            self.log.write_predictions(self._rows(request_id, now, keys, inputs, groups))
        except Exception as exc:  # an answer we could not log is not given
            logger.error("%s: prediction log write failed: %s", self.name, exc)
            raise ServiceUnavailable("the prediction log cannot be written; retry later") from exc
        for g in groups:  # only the records a variant answered (a failed group answered none)
            if g.out is not None:
                self._metric("variant", self.name, g.variant, g.model.version).inc(len(g.units))
        if challenger_units:
            self._check(plan)
        if plan.mode == SHADOW:
            self._submit_shadow(plan, list(keys), list(inputs), score, request_id, now)
        return [(results[u], variants[u]) for u in range(n)]

    def _score(self, variant: str, model: Any, score: Score, units: list[int]) -> Scored:
        """Score one group; a client's mistake (InvalidArgument) propagates, as a 400."""
        t0 = time.perf_counter()
        try:
            out = score(model, units)
        except InvalidArgument:
            raise
        except Exception as exc:
            ms = (time.perf_counter() - t0) * 1000
            self._observe(variant, len(units), True, ms)
            return Scored(variant, model, units, None, ms, repr(exc)[:1000], exc)
        ms = (time.perf_counter() - t0) * 1000
        self._observe(variant, len(units), False, ms)
        return Scored(variant, model, units, out, ms)

    def _rows(
        self,
        request_id: str,
        now: float,
        keys: Sequence[Any],
        inputs: Sequence[Any],
        groups: Sequence[Scored],
    ) -> list[LogRow]:
        """One protected log row per scored unit (hashed keys and identifiers, dropped fields)."""
        rows = []
        for g in groups:
            for i, u in enumerate(g.units):
                result = g.out[i] if g.out is not None else None
                rows.append(
                    LogRow(
                        request_id=request_id,
                        ts=now,
                        use_case=self.name,
                        variant=g.variant,
                        model_version=g.model.version,
                        routing_key=None if keys[u] is None else str(keys[u]),
                        item=u,
                        inputs=inputs[u],
                        outputs=None
                        if result is None
                        else {k: v for k, v in result.items() if not k.startswith("_")},
                        score=None if result is None else finite(self.score_of(result)),
                        latency_ms=g.ms,
                        error=g.error,
                    )
                )
        return protect_rows(rows)

    def _observe(self, variant: str, n: int, error: bool, ms: float, label: str = "") -> None:
        """One scoring of `n` records: the rollback window and the per-variant metrics."""
        self.windows.add(variant, n, error, ms)
        self._metric("seconds", self.name, label or variant).observe(ms / 1000)
        if error:
            self._metric("errors", self.name, label or variant).inc(n)

    # -- shadow scoring, off the critical path
    def _submit_shadow(
        self,
        plan: Plan,
        keys: list[Any],
        inputs: list[Any],
        score: Score,
        request_id: str,
        now: float,
    ) -> None:
        with self._lock:
            if self._shadow_pending >= SHADOW_QUEUE:
                catalog().shadow_dropped.labels(self.name).inc()
                return
            self._shadow_pending += 1
            if self._shadow_pool is None:
                self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="shadow")
        self._shadow_pool.submit(self._shadow, plan, keys, inputs, score, request_id, now)

    def _shadow(
        self,
        plan: Plan,
        keys: list[Any],
        inputs: list[Any],
        score: Score,
        request_id: str,
        now: float,
    ) -> None:
        try:
            units = list(range(len(keys)))
            t0 = time.perf_counter()
            try:
                out, error = score(plan.challenger, units), None
            except Exception as exc:
                out, error = None, repr(exc)[:1000]
            ms = (time.perf_counter() - t0) * 1000
            self._observe(CHALLENGER, len(units), error is not None, ms, label=SHADOW)
            if self._shadow_log is None:  # its own connection: the shadow thread writes a lot
                self._shadow_log = open_log(self.log.location)
            group = Scored(SHADOW, plan.challenger, units, out, ms, error)
            self._shadow_log.write_predictions(self._rows(request_id, now, keys, inputs, [group]))
            self._check(plan)
        except Exception as exc:
            logger.warning("%s: shadow scoring failed: %s", self.name, exc)
        finally:
            with self._lock:
                self._shadow_pending -= 1

    # -- automatic rollback
    def _check(self, plan: Plan) -> None:
        breach = self.windows.breach(self.cfg)
        if breach is not None:
            self._roll_back(plan.state, *breach)

    def _roll_back(self, state: RolloutState, cause: str, reason: str) -> None:
        """Stop routing to this rollout's challenger in this worker now, and in the registry
        (every worker and replica) within seconds; once per rollout."""
        key = (state.version, state.started_at)
        with self._lock:
            if key in self._stopped:
                return
            self._stopped[key] = reason
            current = self.plan
            self.plan = Plan(
                current.champion, None, replace(current.state, status="rolled_back", reason=reason)
            )
        logger.error("%s: %s", self.name, reason)
        catalog().rollbacks.labels(self.name, cause).inc()
        self._record_rollback(state, reason)

    def _record_rollback(self, state: RolloutState, reason: str) -> None:
        """Write the rollback to the registry on a thread, unless one is being written."""
        key = (state.version, state.started_at)
        with self._lock:
            if key in self._writing:
                return
            self._writing.add(key)
        who = f"auto (worker pid {os.getpid()})"
        threading.Thread(
            target=self._write_rollback, args=(state, reason, who), daemon=True
        ).start()

    def _write_rollback(self, state: RolloutState, reason: str, who: str) -> None:
        """Tell the registry, so every worker and replica stops routing too (retried; the
        refresher writes it again if a later move of the same rollout overwrote it)."""
        try:
            for attempt in range(5):
                try:
                    roll_back(self.name, reason, who, expect=state)
                    return
                except Exception as exc:
                    logger.warning("%s: cannot record the rollback yet (%s)", self.name, exc)
                    time.sleep(1 + attempt)
        finally:
            with self._lock:
                self._writing.discard((state.version, state.started_at))
