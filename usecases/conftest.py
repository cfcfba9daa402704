"""Use-case tests get the same plugin as tests/ (tests/conftest.py): isolated MLflow store and
BentoML home, and the shared fixtures (`trained`, `serve`)."""

from tests.conftest import pytest_configure, serve, trained  # noqa: F401  (hook and fixtures)
