"""Personal (`pii`) and sensitive (`sensitive`) columns, as the schema's Field metadata marks them.

`sensitive` means a protected or special-category attribute (sex, age, ethnicity, ...): it is
not a model input unless the config's `governance.use_sensitive` names it, and fairness is
measured across its groups. `pii` means it identifies a person: `pii: True` on its own (id,
name, e-mail; the prediction log keeps it only as a keyed hash, shared/serve/privacy.py), `pii: "quasi"`
in combination with others (city, birth date, post code).
"""

from __future__ import annotations

from typing import Any


def _metadata(uc: Any) -> dict[str, dict[str, Any]]:
    return {
        name: dict(col.metadata or {}) for name, col in uc.raw_schema.to_schema().columns.items()
    }


def sensitive_columns(uc: Any) -> list[str]:
    return [n for n, m in _metadata(uc).items() if m.get("sensitive")]


def pii_columns(uc: Any) -> list[str]:
    return [n for n, m in _metadata(uc).items() if m.get("pii")]


def sensitive_inputs(uc: Any) -> list[str]:
    """Model inputs named like a sensitive column (case-insensitive): `country` for `Country`."""
    sensitive = {c.lower(): c for c in sensitive_columns(uc)}
    return [sensitive[i.lower()] for i in uc.model_inputs if i.lower() in sensitive]


def undeclared_sensitive_inputs(uc: Any, cfg: Any) -> list[str]:
    """Sensitive columns the model reads without `governance.use_sensitive` allowing it."""
    allowed = {c.lower() for c in cfg.governance.use_sensitive}
    return [c for c in sensitive_inputs(uc) if c.lower() not in allowed]
