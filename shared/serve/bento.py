"""A built Bento carries the models its services serve; a missing model stops `bentoml serve`.

`bentoml build` packs the models a service declares (`Service.models`, what a
`bentoml.models.BentoModel(tag)` class attribute adds). The tags a use case serves are decided
at start-up by `shared.core.champion.served_tags`, so they are declared here, resolved to concrete
store versions (`churn:<version>`, the registry's champion and challenger), when the service is
built; a Bento then starts
on a machine whose model store is empty (`bentoml export` / `import`, or `containerize`).

When a served model is missing, an `on_deployment` hook (run once by `bentoml serve` before any
worker starts) exits with the command that trains it, instead of BentoML restarting the worker
in a loop on ModelNotFound.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from bentoml.exceptions import NotFound

from shared.core.champion import served_tags
from shared.core.store import ModelNotFound, load_model
from shared.core.usecase import UseCase


def stored_tag(tag: str) -> str | None:
    """The concrete tag in the local model store of `tag`, or None when it is not there."""
    import bentoml.models  # the model store's client: loaded when a service is built, not by the CLI

    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        return None


def missing_models(use_cases: Iterable[UseCase]) -> list[str]:
    """One "train first" message per served tag that is not in the model store."""
    problems = []
    for uc in use_cases:
        for tag in served_tags(uc):
            try:
                load_model(tag)
            except ModelNotFound as exc:
                problems.append(str(exc))
    return problems


LABEL = "pilotpack-model-"  # + use case: the model it serves, recorded in bento.yaml at build


def bento_labels() -> dict[str, str] | None:
    """The labels of the Bento this code runs from (`<bento>/src/shared/`), else None."""
    path = Path(__file__).resolve().parents[3] / "bento.yaml"
    if not path.exists():
        return None
    return dict((yaml.safe_load(path.read_text()) or {}).get("labels") or {})


def pin_bento_models(use_cases: Iterable[UseCase]) -> None:
    """Inside a built Bento, serve the models packed in it: each use case's model recorded at
    build time is pinned (PILOTPACK_MODEL_<NAME>) unless the environment pins one already, so
    a Bento answers with no registry and an empty model store."""
    labels = bento_labels()
    if not labels:
        return
    for uc in use_cases:
        tag, env = labels.get(LABEL + uc.name), f"PILOTPACK_MODEL_{uc.name.upper()}"
        if tag and not os.environ.get(env):
            os.environ[env] = tag


def carry_models(svc: Any, use_cases: Iterable[UseCase]) -> Any:
    """Declare the served models (those in the store) so `bentoml build` packs them, and stop
    `bentoml serve` with the "train first" message when one is missing."""
    from bentoml.models import BentoModel  # as in stored_tag: only when a service is built

    use_cases = list(use_cases)
    pin_bento_models(use_cases)
    declared = {str(m.tag) for m in svc.models}
    for uc in use_cases:
        for i, tag in enumerate(served_tags(uc)):
            concrete = stored_tag(tag)
            if concrete is None:
                continue
            if i == 0:  # the champion (or pin): what the Bento serves (pin_bento_models)
                svc.labels[LABEL + uc.name] = concrete
            if concrete not in declared:
                svc.models.append(BentoModel(concrete))
                declared.add(concrete)

    def check_models() -> None:
        problems = missing_models(use_cases)
        if problems:
            # SystemExit in the deployment hook ends `bentoml serve` before any worker starts.
            raise SystemExit("\n".join(["pilotpack: cannot serve, a model is missing.", *problems]))

    check_models.__bentoml_deployment_hook__ = True  # what @bentoml.on_deployment sets
    svc.inner._pilotpack_check_models = staticmethod(check_models)
    return svc
