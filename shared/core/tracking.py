"""MLflow tracking: runs, lineage tags, the ONNX model in the registry, aliases.

Default: a SQLite store and an artifact folder in the data folder (`store.data_dir`); MLFLOW_TRACKING_URI points
anywhere else (an MLflow server backed by PostgreSQL and an object store).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.core.onnx_export import NUMERIC_INPUT
from shared.core.store import (
    ModelNotFound,
    StoredModel,
    bentoml_home,
    load_model,
    project_root,
    state_path,
)

CHAMPION = "champion"  # serves by default
CHALLENGER = "challenger"  # passed its gates, waits for its rollout
PREVIOUS = "previous"  # the last champion: `pilotpack rollback` puts it back
PACKAGES = (
    "scikit-learn",
    "lightgbm",
    "onnxruntime",
    "skl2onnx",
    "onnxmltools",
    "mlflow",
    "bentoml",
    "pandera",
)


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else a SQLite file in the data folder; never a file inside a Bento."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return f"sqlite:///{state_path('mlflow.db', 'MLflow database')}"
    if uri.startswith("sqlite:///"):  # relative to the working folder, as MLflow reads it
        state_path(Path.cwd() / uri.removeprefix("sqlite:///"), "MLflow database")
    return uri


def artifact_location(uri: str, experiment: str) -> str | None:
    """Next to a SQLite file (never the cwd's ./mlruns); None lets a tracking server decide."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts" / experiment).resolve().as_uri()
    return None


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=project_root(),
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=project_root(),
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def run_tags(
    use_case: str, gates_passed: bool, lineage: dict[str, str], **extra: str
) -> dict[str, str]:
    """Lineage tags every run carries: git sha, data sha256, config hash, package versions."""
    return {
        "use_case": use_case,
        **extra,
        "git_sha": git_sha(),
        "gates_passed": str(gates_passed).lower(),
        **lineage,
        **{f"version.{k}": v for k, v in package_versions().items()},
    }


def run_artifacts(
    validation: dict[str, Any], report: dict[str, Any], cfg: Any, profile: dict[str, Any]
) -> dict[str, str]:
    """The text files every run logs, by name."""
    import json

    import yaml

    return {
        "validation_report.json": json.dumps(validation, indent=2, default=str),
        "evaluation.json": json.dumps(report, indent=2, default=str),
        "config_resolved.yaml": yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
        "reference_profile.json": json.dumps(profile),
    }


def _signature(
    numeric: list[str], categorical: list[str], output: tuple[str, int] = ("probabilities", 2)
) -> Any:
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    # the graph's inputs (shared.core.onnx_export.to_onnx): the numeric block, then each category
    inputs = (
        [TensorSpec(np.dtype(np.float32), (-1, len(numeric)), NUMERIC_INPUT)] if numeric else []
    )
    inputs += [TensorSpec(np.dtype(str), (-1, 1), c) for c in categorical]
    outputs = [TensorSpec(np.dtype(np.float32), (-1, output[1]), output[0])]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def log_run(
    use_case: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts: dict[str, str],
    onnx_bytes: bytes,
    numeric: list[str],
    categorical: list[str],
    promote: bool,
    output: tuple[str, int] = ("probabilities", 2),
    register: bool = True,
    first_champion: bool = True,
) -> tuple[str, str]:
    """Log one training run and register its ONNX model; returns (run_id, model version).

    `artifacts` maps a file name to its text content. `promote` sets the `challenger` alias.
    `output` names the graph's output tensor and its width (a regressor: ("variable", 1)).
    `register=False` (an experiment, `train --no-register`) logs the model to the run only:
    no registered version, so nothing can serve it by accident; the version returned is "".
    `first_champion=False`: a first version that passes stays challenger (human oversight).
    """
    import mlflow
    import mlflow.onnx
    import onnx
    from mlflow import MlflowClient

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(use_case)
    exp_id = (
        exp.experiment_id
        if exp
        else client.create_experiment(use_case, artifact_location=artifact_location(uri, use_case))
    )
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        for name, text in artifacts.items():
            mlflow.log_text(text, name)
        info = mlflow.onnx.log_model(
            onnx.load_from_string(onnx_bytes),
            name="model",
            registered_model_name=use_case if register else None,
            signature=_signature(numeric, categorical, output),
            pip_requirements=[f"onnxruntime=={metadata.version('onnxruntime')}"],
            onnx_execution_providers=["CPUExecutionProvider"],
        )
        if not register:
            mlflow.set_tag("registered", "false")
            return run.info.run_id, ""
        version = str(info.registered_model_version)
        client.set_model_version_tag(use_case, version, "gates_passed", str(promote).lower())
        if promote:
            client.set_registered_model_alias(use_case, CHALLENGER, version)
            if first_champion and CHAMPION not in model_aliases(use_case, client):
                # The first model that passes its gates serves: there is nothing to compare.
                client.set_registered_model_alias(use_case, CHAMPION, version)
                tag_event(client, use_case, version, "promoted", "first model to pass its gates")
        return run.info.run_id, version


# --------------------------------------------------------------------------- aliases


def mlflow_client() -> Any:
    """A client of THIS process's tracking URI for runs and the registry alike (by default
    MLflow takes the registry from its global `set_tracking_uri`, which another run may have
    pointed elsewhere)."""
    from mlflow import MlflowClient

    uri = tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def model_aliases(name: str, client: Any = None) -> dict[str, str]:
    """alias -> version of the registered model; {} when it is not registered."""
    return registered_model(name, client)[0]


def registered_model(name: str, client: Any = None) -> tuple[dict[str, str], dict[str, str]]:
    """(alias -> version, tags) of a registered model; both empty when it is not registered.

    Without a client, a SQLite store is read straight from MLflow's registry tables: a serving
    process (arbiter and worker) then never imports MLflow, about 2 CPU-s each at start.
    Any other store, and a schema this code does not know, go through MlflowClient."""
    if client is None:
        found = read_sqlite_registry(tracking_uri(), name)
        if found is not None:
            return found
        client = mlflow_client()
    from mlflow.exceptions import MlflowException  # heavy: only where the registry is read

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return {}, {}
    aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
    return aliases, dict(model.tags or {})


# MLflow's registry tables (mlflow/store/model_registry/dbmodels/models.py), default workspace.
REGISTRY_SQL = (
    "SELECT 1 FROM registered_models WHERE workspace = ? AND name = ?",
    "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?",
    "SELECT key, value FROM registered_model_tags WHERE workspace = ? AND name = ?",
)
DEFAULT_WORKSPACE = "default"


def read_sqlite_registry(uri: str, name: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """`registered_model` of a `sqlite:///` store, read-only; None when MlflowClient must answer
    (another store, a workspace chosen, or tables this code does not know)."""
    if not uri.startswith("sqlite:///") or "?" in uri:
        return None
    if os.environ.get("MLFLOW_WORKSPACE") or os.environ.get("MLFLOW_WORKSPACE_STORE_URI"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists():  # MlflowClient would create an empty store: nothing is registered
        return {}, {}
    try:
        with closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        ) as db:
            known, aliases, tags = (
                db.execute(q, (DEFAULT_WORKSPACE, name)).fetchall() for q in REGISTRY_SQL
            )
    except sqlite3.OperationalError:  # no such table or column: an empty or older store
        return None
    if not known:
        return {}, {}
    return {a: str(v) for a, v in aliases}, dict(tags)


def actor() -> str:
    """Who runs the command: PILOTPACK_USER, else the login name."""
    import getpass

    try:
        return os.environ.get("PILOTPACK_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def tag_event(client: Any, name: str, version: str, event: str, reason: str, who: str = "") -> None:
    """who / when / why of an alias move, as tags on the version (shown in the MLflow UI)."""
    from datetime import UTC, datetime

    when = datetime.now(UTC).isoformat(timespec="seconds")
    for key, value in (("by", who or actor()), ("at", when), ("reason", reason or "-")):
        client.set_model_version_tag(name, version, f"{event}_{key}", value[:5000])


def promote(
    name: str, version: str | None = None, reason: str = "", who: str = ""
) -> tuple[str, str]:
    """Make `version` (default: the challenger) the champion; the old champion becomes
    `previous`. Returns (old champion or "", new champion)."""
    client = mlflow_client()
    aliases = model_aliases(name, client)
    version = str(version or aliases.get(CHALLENGER) or "")
    if not version:
        raise ValueError(f"{name} has no challenger to promote: train one, or pass --version")
    client.get_model_version(name, version)  # fails clearly when it does not exist
    old = aliases.get(CHAMPION, "")
    if old == version:
        raise ValueError(f"version {version} of {name} is already the champion")
    if old:
        client.set_registered_model_alias(name, PREVIOUS, old)
        tag_event(client, name, old, "replaced", f"by version {version}: {reason}", who)
    client.set_registered_model_alias(name, CHAMPION, version)
    if aliases.get(CHALLENGER) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    tag_event(client, name, version, "promoted", reason, who)
    return old, version


def rollback(name: str, reason: str = "", who: str = "") -> tuple[str, str]:
    """Put the `previous` champion back at once. Returns (demoted version, champion)."""
    client = mlflow_client()
    aliases = model_aliases(name, client)
    previous, current = aliases.get(PREVIOUS), aliases.get(CHAMPION, "")
    if not previous:
        raise ValueError(f"{name} has no previous champion to roll back to")
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.delete_registered_model_alias(name, PREVIOUS)
    if current:
        tag_event(client, name, current, "rolled_back", reason, who)
    tag_event(client, name, previous, "restored", reason, who)
    return current, previous


def log_documents(run_id: str, documents: dict[str, str], folder: str | None = None) -> None:
    """Add text files (model card, HTML report, explainer) to a finished run's artifacts."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri())
    for name, text in documents.items():
        client.log_text(run_id, text, f"{folder}/{name}" if folder else name)


# --------------------------------------------------------------------------- champion, challenger and the rollout state in the registry


SHADOW = "shadow"
PREFIX = "rollout."
HISTORY = 20  # events kept in the `rollout.history` tag


def stage_label(stage: Any) -> str:
    return SHADOW if stage == SHADOW else f"{float(stage):g} %"


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
    aliases, tags = registered_model(name, client)
    return RolloutState.from_tags(tags), aliases


def write_state(name: str, state: RolloutState, client: Any = None) -> None:
    client = client or mlflow_client()
    tags = state.to_tags()
    status = tags.pop(PREFIX + "status")
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)
    # one tag at a time (MLflow has no batch for model tags): the status last, so a reader
    # never sees a new status with the old rollout's details
    client.set_registered_model_tag(name, PREFIX + "status", status)


def roll_back(
    uc_name: str, reason: str, who: str = "", expect: RolloutState | None = None, client: Any = None
) -> RolloutState | None:
    """Stop routing to the challenger at once (every worker follows within seconds) and record
    why, on the registered model and on the challenger's version. With `expect`, only when the
    registry still shows that same rollout (an automatic rollback never ends a newer one)."""
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
    # The rolled-back version stops being the challenger, or the next `rollout start` (which
    # takes the challenger alias) would send the same broken model out again.
    if str(model_aliases(uc_name, client).get(CHALLENGER)) == str(new.version):
        client.delete_registered_model_alias(uc_name, CHALLENGER)
    return new


# --------------------------------------------------------------------------- models


def stored_version(name: str, version: str) -> StoredModel:
    """The BentoML store's model of a registered version (labels carry `mlflow_version`);
    the newest when several were saved for it."""
    import bentoml  # heavy: only where the store is read
    from bentoml.exceptions import NotFound

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


def champion_stored(name: str) -> StoredModel:
    """The stored model that serves: the pin when set, else the registry's champion."""
    pin = pinned_tag(name)
    if pin:
        return load_model(pin)
    try:
        version = model_aliases(name).get(CHAMPION)
    except Exception as exc:  # unreachable tracking server, broken store
        raise ModelNotFound(
            f"cannot read the MLflow registry at {tracking_uri()} to find the champion of "
            f"{name!r} ({exc}); pin a stored model with PILOTPACK_MODEL_{name.upper()}=<tag>"
        ) from exc
    if not version:
        raise ModelNotFound(
            f"no champion for {name!r} in the MLflow registry ({tracking_uri()}). Train one "
            f"first: `pilotpack train {name}` (or `make demo` for every use case); the first "
            f"model that passes its gates becomes champion (on synthetic data only with "
            f"--allow-synthetic; at high risk after `pilotpack approve` and `pilotpack promote`)"
        )
    return stored_version(name, version)


def model_tag(uc: Any) -> str:
    """The champion's tag in the model store of a use case: the pin when set, else the model
    saved for the MLflow registry's `champion` version; never "latest"."""
    return pinned_tag(uc.name) or champion_stored(uc.name).tag


def served_tags(uc: Any) -> list[str]:
    """Every model tag a use case's service loads: what a built Bento packs. The champion (or
    pin) and an active rollout's challenger; a champion that cannot be resolved is named
    `<use case>:champion`, which no store holds, so the "train first" check reports it."""
    try:
        tags = [model_tag(uc)]
    except ModelNotFound:
        return [f"{uc.name}:champion"]
    try:
        state, _ = read_state(uc.name)
        if state.active:
            tags.append(stored_version(uc.name, state.version).tag)
    except Exception:  # no registry, or the challenger is not here: it is not served
        pass
    return tags
