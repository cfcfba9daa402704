"""Which model serves: the registry's champion alias (or a pin), the stored model of a
registered version, and the rollout state kept as tags on the registered model.

Both planes read this: the request path (shared/serve/router.py) follows it in a background
thread, the control plane (shared/ops/rollout.py) changes it. Nothing here serves or decides.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shared.core.store import ModelNotFound, StoredModel, bentoml_home, load_model
from shared.core.tracking import CHALLENGER as CHALLENGER_ALIAS
from shared.core.tracking import (
    CHAMPION,
    actor,
    mlflow_client,
    model_aliases,
    tag_event,
    tracking_uri,
)

SHADOW = "shadow"
CHALLENGER = "challenger"  # variant names, as the aliases
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
    from mlflow.exceptions import MlflowException  # heavy: only where the registry is read

    client = client or mlflow_client()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return RolloutState(), {}
    aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
    return RolloutState.from_tags(dict(model.tags or {})), aliases


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
    if str(model_aliases(uc_name, client).get(CHALLENGER_ALIAS)) == str(new.version):
        client.delete_registered_model_alias(uc_name, CHALLENGER_ALIAS)
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
            f"model that passes its gates becomes champion"
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
