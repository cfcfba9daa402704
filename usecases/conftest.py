"""Use-case tests get the same plugin as tests/ (tests/conftest.py): isolated MLflow store and
BentoML home, and the shared fixtures (`trained`, `serve`)."""

from tests.conftest import (  # noqa: F401  (hooks and fixtures)
    pytest_configure,
    pytest_xdist_make_scheduler,
    serve,
    trained,
)
