"""Which stored model serves a use case: the pin, else the MLflow registry's champion.

Read by the request path (the service loads it), batch scoring, monitoring and forecast
drift; the rollout control plane (shared/ops/rollout.py) moves the aliases it follows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shared.core.store import ModelNotFound, StoredModel, bentoml_home, load_model
from shared.core.tracking import CHAMPION as CHAMP_ALIAS
from shared.core.tracking import model_aliases, tracking_uri
from shared.core.usecase import UseCase


def stored_version(name: str, version: str) -> Any:
    """The BentoML store's model of a registered version (labels carry `mlflow_version`);
    the newest when several were saved for it."""
    import bentoml
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


def champion_stored(name: str) -> Any:
    """The stored model that serves: the pin when set, else the registry's champion."""
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


def model_tag(uc: UseCase) -> str:
    """The champion's tag in the model store: PILOTPACK_MODEL_<NAME> when set (a pin), else
    the model saved for the MLflow registry's `champion` version; never "latest"."""
    return pinned_tag(uc.name) or champion_stored(uc.name).tag
