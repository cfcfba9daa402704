"""Use-case tests run with the same isolated MLflow store and BentoML home as tests/."""

from tests.conftest import pytest_configure  # noqa: F401  (the hook, re-exported)
