"""Run as `sitecustomize` (tests/servers.py puts this folder first on a test server's
PYTHONPATH): the process can import only what a built Bento installs, the `serve` dependency
set (pyproject.toml's base dependencies). Importing a package outside it fails as it would in
the Bento, so every served test also checks that serving never needs a training-only library,
and a served process skips what only the dev environment holds (with dask installed, pandera's
`DataFrameModel.to_schema()` imports dask: ~0.4 CPU-s per process, never in a Bento)."""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from typing import Any

# Installed by `make` (the train and dev sets) but not in a Bento.
OUTSIDE_SERVE_SET = (
    "optuna", "dask", "distributed", "matplotlib", "fairlearn", "statsmodels", "pytest",
    "schemathesis", "hypothesis", "skl2onnx", "onnxmltools", "statsforecast", "typer",
)  # fmt: skip


class OutsideServeSet:
    """An import finder, first on `sys.meta_path`: a package outside the serve set is missing."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.partition(".")[0] in OUTSIDE_SERVE_SET:
            raise ImportError(f"{name} is not in the serve set (tests/serve_set)", name=name)
        return None


if __name__ == "sitecustomize":  # not when a test imports the list from here
    sys.meta_path.insert(0, OutsideServeSet())
