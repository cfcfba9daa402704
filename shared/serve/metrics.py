"""The pack's Prometheus metrics, all in one catalog (BentoML adds its own beside them).

Created once per process on first use, after BentoML has set up Prometheus' multiprocess
folder: creating them at import would bind them to the wrong folder (or none).

Latency buckets carry the SLA's own edge (config `rollout.sla_ms`, 200 ms by default):
with BentoML's default buckets a p99 read from the histogram jumps from 100 to 250 ms.

Live drift (below the catalog): a bounded window of recent model inputs and scores per
worker, exported as Prometheus gauges.

    pilotpack_feature_psi{use_case, feature, model_version}   PSI of the window vs training
    pilotpack_live_window_records{use_case, model_version}      records in the window

`feature` is a model input's name or `score` (the model output). Bins and reference shares
are those of `pilotpack monitor` (shared/core/drift.py), so the two agree on the same
rows.

Several workers: each worker keeps its own window of its last `monitoring.live_window`
records (requests are spread across workers, so each window is a sample of the same traffic)
and the gauges use prometheus_client's multiprocess mode `livemax`: the series shows the
largest PSI among the live workers, and a dead worker's value disappears with it.

Cost on the request path: scored batches are queued; every `monitoring.live_every` records
the queue is turned into bin numbers in one vectorised step (a searchsorted per numeric
input, a dict lookup per category), added to one ring buffer of bin numbers with one count
array, and PSI is recomputed from the counts. A single-record request pays a list append;
one in `live_every` pays the batch (about 0.1-0.4 ms). `PILOTPACK_LIVE_DRIFT=0` switches it
off.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge, Histogram
from starlette.routing import Match, Mount

from shared.core.config import MonitoringConfig
from shared.core.drift import (
    EPSILON,
    SAMPLE_FILE,
    SCORE,
    CategoricalBins,
    NumericBins,
    reference_bins,
)
from shared.core.store import PROFILE_FILE

SLA_MS = 200.0  # RolloutConfig.sla_ms's default: its edge is in every latency histogram
_BASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)


def latency_buckets(*sla_ms: float) -> tuple[float, ...]:
    """Histogram buckets (seconds) with each SLA's edge among them (the root service serves
    every use case, each with its own)."""
    return tuple(sorted({*_BASE_BUCKETS, *(s / 1000 for s in sla_ms), SLA_MS / 1000, 2.5, 5.0}))


@dataclass(frozen=True)
class Metrics:
    """Every metric the pack exports; label names are the same in every use case."""

    predictions: Counter  # use_case, model_version
    unknown: Counter  # use_case, field
    score: Histogram  # use_case
    seconds: Histogram  # use_case, variant
    errors: Counter  # use_case, variant
    rollbacks: Counter  # use_case, cause
    variant: Counter  # use_case, variant, model_version
    load_errors: Counter  # use_case, variant, model_version
    no_key: Counter  # use_case
    shadow_dropped: Counter  # use_case
    feature_psi: Gauge  # use_case, feature, model_version
    live_records: Gauge  # use_case, model_version
    auth_rejected: Counter  # status


@cache
def catalog() -> Metrics:
    """The one set of metric objects of this process."""
    return Metrics(
        predictions=Counter(
            "pilotpack_predictions_total", "Records scored", ["use_case", "model_version"]
        ),
        unknown=Counter(
            "pilotpack_unknown_category_total",
            "Category values not seen in training, scored as unknown",
            ["use_case", "field"],
        ),
        score=Histogram(
            "pilotpack_score",
            "Predicted probability",
            ["use_case"],
            buckets=[i / 10 for i in range(1, 11)],
        ),
        seconds=Histogram(
            "pilotpack_variant_scoring_seconds",
            "Scoring time of one request's records per variant (model, features, no HTTP)",
            ["use_case", "variant"],
            buckets=latency_buckets(),
        ),
        errors=Counter(
            "pilotpack_variant_errors_total",
            "Records whose scoring failed, per variant (a failed challenger's are answered by "
            "the champion)",
            ["use_case", "variant"],
        ),
        rollbacks=Counter(
            "pilotpack_rollout_rollbacks_total",
            "Automatic rollbacks of a challenger",
            ["use_case", "cause"],
        ),
        variant=Counter(
            "pilotpack_variant_records_total",
            "Records answered per variant (a failed challenger's records count under the "
            "champion that answered them, the failure under pilotpack_variant_errors_total)",
            ["use_case", "variant", "model_version"],
        ),
        load_errors=Counter(
            "pilotpack_model_load_errors_total",
            "Failed loads of a registered version by a service worker (a challenger that "
            "cannot be loaded is rolled back)",
            ["use_case", "variant", "model_version"],
        ),
        no_key=Counter(
            "pilotpack_routing_key_missing_total",
            "Records without a routing key: answered by the champion",
            ["use_case"],
        ),
        shadow_dropped=Counter(
            "pilotpack_shadow_dropped_total",
            "Shadow scorings skipped because the shadow queue was full",
            ["use_case"],
        ),
        feature_psi=Gauge(
            "pilotpack_feature_psi",
            "PSI of a model input (or the score) over the recent window vs training",
            ["use_case", "feature", "model_version"],
            multiprocess_mode="livemax",
        ),
        live_records=Gauge(
            "pilotpack_live_window_records",
            "Records in the live drift window",
            ["use_case", "model_version"],
            multiprocess_mode="livemax",
        ),
        auth_rejected=Counter(
            "pilotpack_auth_rejected_total", "Requests refused by auth", ["status"]
        ),
    )


def duration_config(*sla_ms: float) -> dict[str, Any]:
    """`bentoml.service(metrics=...)`: BentoML's request histogram with the SLAs' edges."""
    return {
        "enabled": True,
        "namespace": "bentoml_service",
        "duration": {"buckets": list(latency_buckets(*sla_ms))},
    }


# --------------------------------------------------------------------------- HTTP labels
# BentoML labels its `bentoml_service_request_*` series with the raw request path
# (bentoml/_internal/server/http/instruments.py, RunnerTrafficMetricsMiddleware): every made-up
# path would add about 20 series, in every scrape and in the multiprocess folder, until restart.
# The pack's subclass of that middleware labels a request with the route template it matches, or
# `other`, so the number of series is bounded by the routes, whoever calls.

OTHER = "other"  # the endpoint label of every path that matches no route
_ORIGINAL_PATH = "pilotpack.path"  # where the real path waits while BentoML's middleware runs
_Scope = MutableMapping[str, Any]
_Asgi = Callable[[_Scope, Any, Any], Awaitable[None]]


def endpoint_label(scope: _Scope) -> str:
    """The route template a request matches (method aside), its mount's `/prefix/*`, or OTHER."""
    for route in getattr(scope.get("app"), "routes", ()):
        match, _ = route.matches(scope)
        if match != Match.NONE:
            path = getattr(route, "path", OTHER)
            return f"{path}/*" if isinstance(route, Mount) else path
    return OTHER


def _restore_path(app: _Asgi) -> _Asgi:
    """The app below BentoML's metrics middleware sees the real path again."""

    async def restored(scope: _Scope, receive: Any, send: Any) -> None:
        if _ORIGINAL_PATH in scope:
            scope = {**scope, "path": scope[_ORIGINAL_PATH]}
            del scope[_ORIGINAL_PATH]
        await app(scope, receive, send)

    return restored


@cache
def bounded_metrics_middleware() -> type:
    """BentoML's HTTP metrics middleware with the endpoint label bounded (see above)."""
    # why: BentoML's server internals (~0.2 s to import) load only where a service is built
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware

    class BoundedTrafficMetrics(RunnerTrafficMetricsMiddleware):  # type: ignore[misc]
        def __init__(self, app: _Asgi, **options: Any) -> None:
            super().__init__(_restore_path(app), **options)

        async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                label = endpoint_label(scope)
                if label != scope["path"]:
                    scope = {**scope, "path": label, _ORIGINAL_PATH: scope["path"]}
            await super().__call__(scope, receive, send)

    return BoundedTrafficMetrics


def bound_endpoint_labels() -> None:
    """Make BentoML build its HTTP metrics middleware from the bounded subclass: its app
    factory imports the class from the module each time it builds a worker's app."""
    # why: as in bounded_metrics_middleware
    from bentoml._internal.server.http import instruments

    instruments.RunnerTrafficMetricsMiddleware = bounded_metrics_middleware()


# --------------------------------------------------------------------------- metrics folder
# BentoML keeps multiprocess metrics in one folder per BENTOML_HOME and empties it whenever a
# `bentoml serve` starts: services sharing a home would empty each other's folder and show each
# other's series. Each `bentoml serve` gets its own folder instead, named after the service and
# the serving process; folders of serving processes that are gone are removed at start-up.

METRICS_FOLDERS = "prometheus"  # beside BentoML's own `prometheus_multiproc_dir`, not inside it


def own_metrics_folder(service: str) -> Path:
    """Point BentoML at `<BENTOML_HOME>/prometheus/<service>-<pid>` for this process's
    `bentoml serve` (read when serving starts, after the service is loaded; a worker reads
    the folder its server hands it, PROMETHEUS_MULTIPROC_DIR)."""
    # why: as in bounded_metrics_middleware
    from bentoml._internal.configuration.containers import BentoMLContainer

    home = Path(BentoMLContainer.bentoml_home.get())
    folder = home / METRICS_FOLDERS / f"{service}-{os.getpid()}"
    BentoMLContainer.prometheus_multiproc_dir.set(str(folder))
    return folder


def forget_dead_folders(folder: str | None) -> list[Path]:
    """Remove the sibling metrics folders of serving processes that no longer run; `folder` is
    this server's (PROMETHEUS_MULTIPROC_DIR). Only folders named `<service>-<pid>` under a
    `prometheus` folder are touched."""
    if not folder or Path(folder).parent.name != METRICS_FOLDERS:
        return []
    removed = []
    for sibling in Path(folder).parent.iterdir():
        pid = sibling.name.rsplit("-", 1)[-1]
        if sibling.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


# --------------------------------------------------------------------------- live drift


logger = logging.getLogger("pilotpack.monitoring")

_WINDOWS: dict[tuple[str, str], LiveWindow | None] = {}
_LOCK = threading.Lock()


class LiveWindow:
    """Ring buffer of the last `size` records' bin numbers, for every profiled input + score."""

    def __init__(
        self,
        use_case: str,
        version: str,
        bins: Mapping[str, NumericBins | CategoricalBins],
        size: int,
        min_records: int,
        every: int,
    ):
        self.use_case, self.version = use_case, version
        self.names = list(bins)
        self.size, self.min_records, self.every = size, min_records, every
        self.numeric: list[tuple[int, str, np.ndarray, int]] = []  # column, name, edges, nan bin
        self.categorical: list[tuple[int, str, dict[str, int], int]] = []
        offsets, expected = [], []
        start = 0
        for j, (name, b) in enumerate(bins.items()):
            offsets.append(start)
            if isinstance(b, NumericBins):
                self.numeric.append((j, name, b.edges, len(b.edges) + 1))
            else:
                lookup = {level: i for i, level in enumerate(b.levels)}
                self.categorical.append((j, name, lookup, len(b.levels)))
            expected.append(np.maximum(b.expected, EPSILON))
            start += len(b.expected)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.expected = np.concatenate(expected)
        self.total_bins = start
        self.buffer = np.full((size, len(self.names)), -1, dtype=np.int32)
        self.counts = np.zeros(start, dtype=np.int64)
        self.filled = 0
        self.pos = 0
        self.pending: list[tuple[Mapping[str, Any], np.ndarray]] = []
        self.pending_rows = 0
        self.lock = threading.Lock()

    def bin_rows(self, features: Mapping[str, Any], values: np.ndarray) -> np.ndarray | None:
        """(rows, inputs) flat bin numbers of a batch; None when an input is absent."""
        out = np.empty((len(values), len(self.names)), dtype=np.int64)
        for j, name, edges, nan_bin in self.numeric:
            col = values if name == SCORE else features.get(name)
            if col is None:
                return None
            v = np.asarray(col, dtype=np.float64)
            idx = np.searchsorted(edges, v, side="left")
            idx[~np.isfinite(v)] = nan_bin
            out[:, j] = idx
        for j, name, lookup, unseen in self.categorical:
            col = features.get(name)
            if col is None:
                return None
            items = col.tolist() if isinstance(col, np.ndarray) else col  # numpy str -> str
            out[:, j] = [lookup.get(v if type(v) is str else str(v), unseen) for v in items]
        return out + self.offsets

    def observe(self, features: Mapping[str, Any], values: np.ndarray) -> None:
        """Queue a scored batch; every `every` records the queue is binned and added in one
        vectorised step (and the gauges refreshed), so a single-record request pays a list
        append, and one request in `every` about a tenth of a millisecond."""
        with self.lock:
            self.pending.append((features, values))
            self.pending_rows += len(values)
            if self.pending_rows < self.every:
                return
            batch, self.pending, self.pending_rows = self.pending, [], 0
        if len(batch) == 1:
            merged, scores = batch[0]
        else:
            merged = {  # concatenate takes the arrays as they are (np.asarray per request
                # and input was most of a remaining-life window's refresh: 145 x 50 calls)
                name: np.concatenate([f[name] for f, _ in batch])
                for name in self.names
                if name != SCORE and name in batch[0][0]
            }
            scores = np.concatenate([v for _, v in batch])
        rows = self.bin_rows(merged, scores)
        if rows is not None and self.add(rows):
            self.publish()

    def add(self, rows: np.ndarray) -> bool:
        """Add binned rows to the ring buffer; True once the window holds enough records for
        its PSI to mean something."""
        k = len(rows)
        if k > self.size:
            rows, k = rows[-self.size :], self.size
        with self.lock:
            slots = (self.pos + np.arange(k)) % self.size
            old = self.buffer[slots]
            old = old[old >= 0]
            if old.size:
                self.counts -= np.bincount(old, minlength=self.total_bins)
            self.counts += np.bincount(rows.ravel(), minlength=self.total_bins)
            self.buffer[slots] = rows
            self.pos = int((self.pos + k) % self.size)
            self.filled = min(self.filled + k, self.size)
            return self.filled >= self.min_records

    def psi(self) -> dict[str, float]:
        """PSI of every input (and the score) over the window, from the bin counts."""
        with self.lock:
            shares = self.counts / max(self.filled, 1)
        a = np.maximum(shares, EPSILON)
        terms = (a - self.expected) * np.log(a / self.expected)
        sums = np.add.reduceat(terms, self.offsets)
        return dict(zip(self.names, sums.tolist(), strict=True))

    def publish(self) -> None:
        m = catalog()
        for name, value in self.psi().items():
            m.feature_psi.labels(self.use_case, name, self.version).set(value)
        m.live_records.labels(self.use_case, self.version).set(self.filled)


def _read_sample(path: Path) -> Any:
    """The stored Parquet sample as a DataFrame, or None (pyarrow reads it: no pandas parsing)."""
    if not path.exists():
        return None
    import pyarrow.parquet as pq  # heavy: only when a window is made

    return pq.read_table(path).to_pandas()


def window_for(use_case: str, stored: Any, cfg: Any) -> LiveWindow | None:
    """This worker's window for a stored model (made on first use; None without a profile)."""
    key = (use_case, str(stored.path))
    if key in _WINDOWS:
        return _WINDOWS[key]
    with _LOCK:
        if key not in _WINDOWS:
            _WINDOWS[key] = _make_window(use_case, stored, cfg)
    return _WINDOWS[key]


def _make_window(use_case: str, stored: Any, cfg: Any) -> LiveWindow | None:
    try:
        path = Path(stored.path)
        profile = json.loads((path / PROFILE_FILE).read_text())
        bins = reference_bins(profile, _read_sample(path / SAMPLE_FILE))
    except Exception as exc:  # live drift is best effort: scoring must never fail because of it
        logger.warning("%s: no live drift window (%s)", use_case, exc)
        return None
    if not bins:
        return None
    m = getattr(cfg, "monitoring", None) or MonitoringConfig()
    version = str(stored.metadata.get("mlflow_version") or stored.tag)
    return LiveWindow(use_case, version, bins, m.live_window, m.live_min_records, m.live_every)


def enabled() -> bool:
    return os.environ.get("PILOTPACK_LIVE_DRIFT", "1") != "0"


def observe(
    use_case: str, stored: Any, features: Mapping[str, Any], values: np.ndarray, cfg: Any = None
) -> None:
    """Add scored records (model inputs by name, model output per row) to the live window and
    refresh the PSI gauges when due. Never raises: monitoring must not break scoring."""
    if not enabled() or not len(values):
        return
    try:
        window = window_for(use_case, stored, cfg)
        if window is None:
            return
        window.observe(features, values)
    except Exception as exc:
        logger.warning("%s: live drift skipped (%s)", use_case, exc)


def reset() -> None:
    """Forget every window (tests)."""
    with _LOCK:
        _WINDOWS.clear()
