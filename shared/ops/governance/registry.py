"""The AI registry: every use case (forks included) with its purpose, EU AI Act risk level,
personal data, data sources, owner, champion and monitoring status.

Risk level and owner come from each use case's config (`governance:`); a use case that does
not declare both is refused, by name, so the registry never lists a system nobody answers for.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from shared.core.columns import pii_columns, sensitive_columns
from shared.core.tracking import tracking_uri
from shared.serve.privacy import direct_identifiers

COLUMNS = (
    "use_case",
    "purpose",
    "task",
    "risk_level",
    "risk_rationale",
    "owner",
    "personal_data",
    "personal_columns",
    "log_hashed_identifiers",
    "log_retention_days",
    "data_sources",
    "champion_version",
    "champion_date",
    "monitoring",
)


class Undeclared(ValueError):
    """Use cases whose config lacks a risk level or an owner."""


def undeclared(uc: Any, cfg: Any) -> list[str]:
    gov = cfg.governance
    return [f for f in ("risk_level", "owner") if not getattr(gov, f)]


def _purpose(question: str) -> str:
    flat = " ".join(question.split())
    end = flat.find("?")
    return flat[: end + 1] if end >= 0 else flat.split(". ")[0]


def _champion(name: str) -> dict[str, str]:
    """The serving version (alias champion, else challenger) and what MLflow knows of it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri())
    for alias in ("champion", "challenger"):
        try:
            v = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            continue

        created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d")
        try:
            source = client.get_run(v.run_id).data.tags.get("data_source", "")
        except MlflowException:
            source = ""
        status = (v.tags or {}).get("monitoring_status") or "no monitoring report yet"
        label = v.version if alias == "champion" else f"{v.version} (challenger, no champion)"
        return {"version": label, "date": created, "source": source, "monitoring": status}
    return {"version": "none", "date": "-", "source": "", "monitoring": "not served"}


def entries(use_cases: list[Any]) -> list[dict[str, Any]]:
    """One row per use case; raises Undeclared naming every use case missing risk or owner."""
    rows, missing = [], []
    for uc in use_cases:
        cfg = uc.load_config()
        gaps = undeclared(uc, cfg)
        if gaps:
            missing.append(f"{uc.name} ({', '.join(gaps)} in {uc.config_path.name})")
            continue
        gov = cfg.governance
        champion = _champion(uc.name)
        configured = getattr(cfg.data, "path", None)
        sources = [str(configured) if configured else "synthetic (built-in generator)"]
        if champion["source"] and champion["source"] not in sources:
            sources.append(f"champion trained on {champion['source']}")
        personal = sorted(set(pii_columns(uc)) | set(sensitive_columns(uc)))
        rows.append(
            {
                "use_case": uc.name,
                "purpose": _purpose(uc.question),
                "task": uc.task.name,
                "risk_level": gov.risk_level,
                "risk_rationale": " ".join((gov.risk_rationale or "").split()),
                "owner": gov.owner,
                "personal_data": bool(gov.personal_data)
                if gov.personal_data is not None
                else bool(personal),
                "personal_columns": personal,
                "log_hashed_identifiers": direct_identifiers(uc),
                "log_retention_days": cfg.privacy.retention_days,
                "data_sources": sources,
                "champion_version": champion["version"],
                "champion_date": champion["date"],
                "monitoring": champion["monitoring"],
            }
        )
    if missing:
        raise Undeclared(
            "the AI registry needs a risk level and an owner for every use case; undeclared: "
            + "; ".join(missing)
            + " (set governance.risk_level and governance.owner)"
        )
    return rows


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    flat = [{k: "; ".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buf.getvalue()
    lines = [
        "# AI registry",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in flat:
        lines.append("| " + " | ".join(str(r[c]).replace("|", "/") for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
