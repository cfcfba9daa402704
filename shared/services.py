"""Every use case's BentoML service by name: `bentoml serve shared.services:<use case>`.

Built on first access by the use case's task (shared/tasks/), so a fork's folder is served
with no service code of its own; nothing is built at import.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def service_for(name: str) -> Any:
    """The service class of one use case (request and response models from its schema)."""
    from shared.tasks import get_task
    from shared.usecase import get_use_case

    uc = get_use_case(name)
    return get_task(uc.task).make_service(uc)


def __getattr__(name: str) -> Any:
    from shared.usecase import registry

    if name in registry():
        return service_for(name)
    raise AttributeError(f"module {__name__!r} has no use case {name!r}")
