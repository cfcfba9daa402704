"""Every use case's BentoML service by name: `bentoml serve shared.serve.services:<use case>`.

Built on first access by the use case's task (shared/tasks/), so a fork's folder is served
with no service code of its own; nothing is built at import.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def service_for(name: str) -> Any:
    """The service class of one use case (request and response models from its schema)."""
    from shared.core.usecase import get_use_case

    uc = get_use_case(name)
    return guarded(uc.task.make_service(uc), uc)


def guarded(svc: Any, uc: Any) -> Any:
    """The HTTP guard in front (shared/serve/guard.py) and the served models declared, so that a
    built Bento carries them (shared/serve/bento.py)."""
    from shared.serve.bento import carry_models
    from shared.serve.guard import cross_field_rules, protect, route_limits
    from shared.serve.privacy import policy

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


def __getattr__(name: str) -> Any:
    from shared.core.usecase import registry

    if name in registry():
        return service_for(name)
    raise AttributeError(f"module {__name__!r} has no use case {name!r}")
