"""The root BentoML service: every registered use case in one `bentoml serve`.

Each use case's service class (shared/serve/services.py) is instantiated here and its APIs are re-exposed under
`/<use case>/<route>` (e.g. /churn/predict), so both entry points share one code path.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import bentoml

from shared.core.usecase import get_use_case, registry
from shared.serve.factory import THREADS
from shared.serve.factory import api as as_api
from shared.serve.guard import guard_options, protect
from shared.serve.isolate import OwnProcess, dependency_urls, own_process
from shared.serve.metrics import duration_config
from shared.serve.services import carry_models, service_for


def _delegate(use_case: str, api_name: str, func: Any) -> Any:
    """An API method that forwards to the use case's own service instance."""
    if inspect.iscoroutinefunction(func):

        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await func(self.services[use_case], *args, **kwargs)
    else:

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return func(self.services[use_case], *args, **kwargs)

    functools.update_wrapper(call, func)
    call.__name__ = call.__qualname__ = f"{use_case}_{api_name}"
    return call


def build_root_service() -> Any:
    """One class with each use case's APIs under its name; instances made at start-up."""
    services = {name: service_for(name) for name in registry()}
    apart = {n: s.name for n, s in services.items() if own_process(get_use_case(n))}
    # a dependency is a process of its own under `bentoml serve` (shared/serve/isolate.py)
    attrs: dict[str, Any] = {f"_{n}_process": bentoml.depends(services[n]) for n in apart}
    for uc_name, svc in services.items():
        for api_name, api in svc.apis.items():
            method = _delegate(uc_name, api_name, api.func)
            attrs[method.__name__] = as_api(f"/{uc_name}{api.route}", method)

    def __init__(self: Any) -> None:
        remote = dependency_urls()  # those served by their own process need no model here
        # each service instance freezes the heap once ready (`freeze_heap`): the last covers all
        self.services = {n: s.inner() for n, s in services.items() if apart.get(n) not in remote}

    cls = type("PilotPack", (), {"__init__": __init__, "__module__": __name__, **attrs})
    root = bentoml.service(
        name="pilotpack",
        workers=1,
        threads=THREADS,
        metrics=duration_config(*(get_use_case(n).load_config().rollout.sla_ms for n in services)),
        logging={"access": {"enabled": False}},
    )(cls)

    # the guard with each use case's body limits under its prefix; every served model packed
    def prefixed(i: int) -> dict[str, Any]:
        return {f"/{n}{r}": v for n, s in services.items() for r, v in guard_options(s)[i].items()}

    # first: a request for a use case in its own process goes there as it came, to its guard
    root.add_asgi_middleware(OwnProcess, prefixes=apart)
    protect(root, lambda: prefixed(0), prefixed(1), lambda: prefixed(2))
    return carry_models(root, [get_use_case(n) for n in services])


PilotPack = build_root_service()
