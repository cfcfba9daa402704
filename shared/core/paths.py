"""Where the pack keeps its local state by default: inside the project folder, ignored by git."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """PILOTPACK_HOME, else the folder that holds shared/ (the repository in an editable install)."""
    env = os.environ.get("PILOTPACK_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parents[2]


def reports_dir(use_case: str) -> Path:
    return project_root() / "reports" / use_case
