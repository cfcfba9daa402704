"""Use-case tests get the same plugin as tests/ (tests/conftest.py): isolated MLflow store and
BentoML home, and the shared fixtures (`trained`, `serve`, and the wait for servers stopped in
the background)."""

from tests.conftest import (  # noqa: F401  (hooks and fixtures)
    _servers_stopped,
    pytest_configure,
    pytest_unconfigure,
    pytest_xdist_make_scheduler,
    serve,
    trained,
)
