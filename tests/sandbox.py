"""A copy of the pack's code in a temporary folder, for tests that change a file the pack reads
(a use case's config, a fork `pilotpack new` writes) without touching the repository. A
subprocess imports the copy when it runs there with PYTHONPATH pointing at it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a fork's sandbox holds: the code, its tests and the configuration ruff and pytest read.
FORK_PARTS = ("shared", "usecases", "tests", "pyproject.toml")


def copy_code(
    dest: Path, parts: Sequence[str] = ("shared", "usecases"), skip: Sequence[str] = ()
) -> Path:
    """`parts` of the repository (folders or files) copied into `dest`, without earlier forks
    (`zz_*`) or the names in `skip`. Compiled modules come along, their sources keeping their
    time stamps: each subprocess in the copy would otherwise compile the pack again."""
    ignore = shutil.ignore_patterns("zz_*", *skip)
    dest.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, dest / part, ignore=ignore)
        else:
            shutil.copy2(ROOT / part, dest / part)
    return dest


def set_in_section(config: Path, section: str, key: str, value: str) -> None:
    """Add `key: value` at the top of a top-level `section:` of a YAML config, in place."""
    text = config.read_text()
    edited, n = re.subn(rf"^{section}:.*$", rf"\g<0>\n  {key}: {value}", text, count=1, flags=re.M)
    assert n == 1, f"{config} has no top-level `{section}:`"
    config.write_text(edited)
