"""Every use case's BentoML service by name: `bentoml serve shared.serve.services:<use case>`.

Built on first access from what the use case's task declares it serves (`Task.serves`):
"records" -> the record service (shared/serve/factory.py), "series" -> the forecast service
(shared/serve/forecast.py, imported only for such a use case). A fork's folder is served with no service code of its own;
nothing is built at import.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

from shared.core.usecase import UseCase, get_use_case
from shared.serve.bento import carry_models
from shared.serve.factory import record_payload, record_service
from shared.serve.guard import cross_field_rules, protect, route_limits
from shared.serve.predlog import LogRow
from shared.serve.privacy import policy, protect_rows

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
    built Bento carries them (shared/serve/bento.py)."""
    rules = {}
    for api in svc.apis.values():
        said = [f"two records of one {uc.id_column} share a {uc.time_column}"] if uc.history else []
        if cross_field_rules(api.input_spec):
            said.append("a rule across fields fails (the 400 names it)")
        if said:
            rules[api.route] = "; or ".join(said)
    protect(svc, lambda: route_limits(svc), rules)
    policy(uc.name)  # a bad `privacy.log_drop` fails here, not on every logged request
    return carry_models(svc, [uc])


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


def __getattr__(name: str) -> Any:
    # only the named use case's folder is read (not every use case's, as registry() does)
    if not name.startswith("_"):
        try:
            return service_for(name)
        except KeyError:
            pass
    raise AttributeError(f"module {__name__!r} has no use case {name!r}")
