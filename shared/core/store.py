"""Where the pack keeps its local state (inside the project folder by default, ignored by git),
and the BentoML model store in it: the ONNX file plus everything the service needs to use it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def project_root() -> Path:
    """PILOTPACK_HOME, else the folder that holds shared/ (the repository in an editable install)."""
    env = os.environ.get("PILOTPACK_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


DATA_DIR_ENV = "PILOTPACK_DATA_DIR"


class StateInsideBento(RuntimeError):
    """Runtime state would be written inside a built Bento's source folder."""


def bento_source() -> Path | None:
    """The source folder of the built Bento this code runs from (`<bento>/src`), else None."""
    src = Path(__file__).resolve().parents[2]
    return src if (src.parent / "bento.yaml").is_file() else None


def data_dir() -> Path:
    """Where runtime state lives (the prediction log, the MLflow database, the pseudonym key,
    the privacy audit): PILOTPACK_DATA_DIR, else the project folder (`project_root`); a built
    Bento with neither set keeps it beside BentoML's store, `$BENTOML_HOME/pilotpack-data`, so
    each new version of the Bento continues the same log and nothing lands inside the Bento."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).resolve()
    if bento_source() is not None and not os.environ.get("PILOTPACK_HOME"):
        home = os.environ.get("BENTOML_HOME") or Path.home() / "bentoml"
        return (Path(home) / BENTO_DATA_FOLDER).resolve()
    return project_root()


BENTO_DATA_FOLDER = "pilotpack-data"


def state_path(path: str | Path, what: str) -> Path:
    """`path` (relative: under `data_dir`), refused when it lies inside a built Bento's source
    folder: `bentoml export` and `containerize` would ship it (a log, a database, a key)."""
    path = data_dir() / path
    src = bento_source()
    if src is not None and path.resolve().is_relative_to(src):
        raise StateInsideBento(
            f"pilotpack: refusing to write the {what} inside the Bento's source folder ({path}): "
            f"`bentoml export` would ship it. Set {DATA_DIR_ENV} to a folder outside the Bento "
            "(a volume), or point the setting that names this file elsewhere."
        )
    return path


def reports_dir(use_case: str) -> Path:
    return project_root() / "reports" / use_case


ONNX_FILE = "model.onnx"
PROFILE_FILE = "reference_profile.json"


def save_model(
    name: str,
    onnx_bytes: bytes,
    metadata: dict[str, Any],
    profile: dict[str, Any],
    extra_files: dict[str, str | bytes] | None = None,
) -> str:
    """Save to BENTOML_HOME's model store; returns the tag, e.g. `churn:abc123`.

    `extra_files` (name -> text or bytes) land beside the model: the model card, the explainer's
    parameters and LightGBM booster text (never a pickle).
    """
    import bentoml

    labels = {"use_case": name, "mlflow_version": str(metadata.get("mlflow_version", ""))}
    with bentoml.models.create(name=name, labels=labels, metadata=metadata) as model:
        Path(model.path, ONNX_FILE).write_bytes(onnx_bytes)
        Path(model.path, PROFILE_FILE).write_text(json.dumps(profile))
        for file_name, content in (extra_files or {}).items():
            if isinstance(content, bytes):  # e.g. the Parquet reference sample for drift tests
                Path(model.path, file_name).write_bytes(content)
            else:
                Path(model.path, file_name).write_text(content)
    return str(model.tag)


class ModelNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class StoredModel:
    tag: str
    path: Path
    metadata: dict[str, Any]

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE


def load_model(tag: str) -> StoredModel:
    """Find a model in the store, or fail with the command that makes one."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(tag)
    except NotFound as exc:
        name = tag.split(":")[0]
        raise ModelNotFound(
            f"no trained model {tag!r} in the BentoML model store ({bentoml_home()}). "
            f"Train one first: `pilotpack train {name}` (or `make demo` for every use case)."
        ) from exc
    return StoredModel(str(model.tag), Path(model.path), dict(model.info.metadata))


def bentoml_home() -> str:
    import os

    return os.environ.get("BENTOML_HOME", str(Path.home() / "bentoml"))
