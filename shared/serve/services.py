"""Every use case's BentoML service by name: `bentoml serve shared.serve.services:<use case>`.

Built on first access from what the use case's task declares it serves (`Task.serves`):
"records" -> the record service (shared/serve/factory.py), "series" -> the forecast service
(shared/serve/forecast.py, imported only for such a use case). A fork's folder is served with
no service code of its own; nothing is built at import. Each service declares the models it
serves, so a built Bento carries them (`carry_models`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from bentoml.exceptions import NotFound

from shared.core.config import read_yaml
from shared.core.store import ModelNotFound, load_model
from shared.core.tracking import served_tags
from shared.core.usecase import UseCase, get_use_case
from shared.serve.factory import record_payload, record_service, warn_open_outcomes
from shared.serve.guard import cross_field_rules, protect, route_limits, route_vocabulary
from shared.serve.predlog import LogRow
from shared.serve.privacy import check_runtime_state, policy, protect_rows

Builders = tuple[Callable[[UseCase], Any], Callable[[UseCase, int], dict[str, Any]]]


def _records() -> Builders:
    return (lambda uc: record_service(uc, uc.task)), record_payload


def _series() -> Builders:
    # why: a use case that serves records never loads the forecasting modules
    from shared.serve import forecast

    return forecast.make_service, forecast.example_payload


# What a task serves -> its (service builder, example request body builder), looked up on use.
BUILDERS: dict[str, Callable[[], Builders]] = {"records": _records, "series": _series}


def _builders(uc: UseCase) -> Builders:
    serves = uc.task.serves
    if serves not in BUILDERS:
        raise ValueError(
            f"{uc.name}: task {uc.task.name!r} serves {serves!r}; known: {sorted(BUILDERS)}"
        )
    return BUILDERS[serves]()


@cache
def service_for(name: str) -> Any:
    """The service class of one use case (request and response models from its schema)."""
    uc = get_use_case(name)
    return guarded(_builders(uc)[0](uc), uc)


def example_payload(uc: UseCase, n: int = 1) -> dict[str, Any]:
    """A valid request body for the use case's route, `n` units: docs, tests, benchmarks."""
    return _builders(uc)[1](uc, n)


def guarded(svc: Any, uc: UseCase) -> Any:
    """The HTTP guard in front (shared/serve/guard.py) and the served models declared, so that a
    built Bento carries them (`carry_models` below)."""
    rules = {}
    for api in svc.apis.values():
        said = [f"two records of one {uc.id_column} share a {uc.time_column}"] if uc.history else []
        if cross_field_rules(api.input_spec):
            said.append("a rule across fields fails (the 400 names it)")
        if said:
            rules[api.route] = "; or ".join(said)
    personal = personal_columns(uc)  # their values never reach a log's body sample
    protect(svc, lambda: route_limits(svc), rules, lambda: route_vocabulary(svc, personal))
    policy(uc.name)  # a bad `privacy.log_drop` fails here, not on every logged request
    check_runtime_state()  # never a log, database or key inside a built Bento
    warn_open_outcomes(uc)
    return carry_models(svc, [uc])


def personal_columns(uc: UseCase) -> list[str]:
    """Columns the schema marks `pii` or `sensitive` (what shared/core/columns.py reads, here
    without loading one more module on the request path)."""
    columns = uc.raw_schema.to_schema().columns.items()
    return [
        n
        for n, c in columns
        if {"pii", "sensitive"} & {k for k, v in (c.metadata or {}).items() if v}
    ]


def protect_cost_us(uc: UseCase, n: int = 2000) -> float:
    """Microseconds to make one logged record storable (hashes, dropped fields)."""
    record = next(iter(example_payload(uc, 1).values()))[0]
    row = LogRow("r", 0.0, uc.name, "champion", "1", "key-1", 0, record, {"probability": 0.5},
                 0.5, 1.0, None)  # fmt: skip
    protect_rows([row])  # the policy is built once per process
    t0 = time.perf_counter()
    for _ in range(n):
        protect_rows([row])
    return (time.perf_counter() - t0) / n * 1e6


# --------------------------------------------------------------------------- the Bento
# A built Bento carries the models its services serve; a missing model stops `bentoml serve`.
#
# `bentoml build` packs the models a service declares (`Service.models`, what a
# `bentoml.models.BentoModel(tag)` class attribute adds). The tags a use case serves are decided
# at start-up by `shared.core.tracking.served_tags`, so they are declared here, resolved to concrete
# store versions (`churn:<version>`, the registry's champion and challenger), when the service is
# built; a Bento then starts
# on a machine whose model store is empty (`bentoml export` / `import`, or `containerize`).
#
# When a served model is missing, an `on_deployment` hook (run once by `bentoml serve` before any
# worker starts) exits with the command that trains it, instead of BentoML restarting the worker
# in a loop on ModelNotFound.


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


def prohibited(uc: UseCase) -> str:
    """Why the use case may not be served (risk level `unacceptable`), or ""."""
    return uc.load_config().governance.prohibited()


LABEL = "pilotpack-model-"  # + use case: the model it serves, recorded in bento.yaml at build


def bento_labels() -> dict[str, str] | None:
    """The labels of the Bento this code runs from (`<bento>/src/shared/`), else None."""
    path = Path(__file__).resolve().parents[3] / "bento.yaml"
    if not path.exists():
        return None
    return dict((read_yaml(path.read_text()) or {}).get("labels") or {})


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
        refused = [f"{uc.name}: {why}" for uc in use_cases if (why := prohibited(uc))]
        if refused:  # EU AI Act Art. 5: nothing of it starts, whatever the store holds
            raise SystemExit("\n".join(["pilotpack: refused to serve.", *refused]))
        problems = missing_models(use_cases)
        if problems:
            # SystemExit in the deployment hook ends `bentoml serve` before any worker starts.
            raise SystemExit("\n".join(["pilotpack: cannot serve, a model is missing.", *problems]))

    check_models.__bentoml_deployment_hook__ = True  # what @bentoml.on_deployment sets
    svc.inner._pilotpack_check_models = staticmethod(check_models)
    return svc


def __getattr__(name: str) -> Any:
    # only the named use case's folder is read (not every use case's, as registry() does)
    if not name.startswith("_"):
        try:
            return service_for(name)
        except KeyError:
            pass
    raise AttributeError(f"module {__name__!r} has no use case {name!r}")
