"""Contract checks of the service every use case passes, forks included: the request model is
the raw schema's columns (minus the target) and the example request body validates.

tests/test_contract.py runs `checks(uc)` beside the task's own (`Task.contract_checks`).
"""

from __future__ import annotations

from collections.abc import Callable

from shared.core.usecase import UseCase
from shared.serve.services import example_payload, service_for


def _api(uc: UseCase) -> Callable[..., object]:
    route = uc.task.route
    return next(a for a in service_for(uc.name).apis.values() if a.route == route)


def check_service_request_is_raw_schema_minus_target(uc: UseCase) -> None:
    api = _api(uc)
    record_model = api.input_spec.model_fields["records"].annotation.__args__[0]
    fields = {f.alias or n for n, f in record_model.model_fields.items()}
    assert fields == set(uc.raw_schema.to_schema().columns) - {uc.target}
    payload = example_payload(uc, 2)
    assert len(api.input_spec.model_validate(payload).records) == 2


def check_service_request_matches_schema_and_example_validates(uc: UseCase) -> None:
    api = _api(uc)
    items = api.input_spec.model_validate(example_payload(uc, 2)).series
    assert len(items) == 2
    series_fields = set(type(items[0]).model_fields) - {"history", "horizon", "future_holidays"}
    period_fields = set(type(items[0].history[0]).model_fields)
    assert series_fields == set(uc.forecast.id_columns)
    # ids + the history's fields are the raw schema's columns: the same names in and out
    assert series_fields | period_fields == set(uc.raw_schema.to_schema().columns)


CHECKS = {
    "records": (check_service_request_is_raw_schema_minus_target,),
    "series": (check_service_request_matches_schema_and_example_validates,),
}


def checks(uc: UseCase) -> list[Callable[[UseCase], None]]:
    """The service checks of a use case, by what its task serves."""
    return list(CHECKS[uc.task.serves])
