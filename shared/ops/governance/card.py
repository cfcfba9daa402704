"""The model card of one registered model version: Markdown and HTML, logged to its MLflow run
and shipped in the BentoML model folder. Written at training; `pilotpack card NAME` writes it
again from the run's logged report, with the promotion history as the registry has it now.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared.core.columns import sensitive_columns, sensitive_inputs
from shared.core.tracking import log_documents, tracking_uri
from shared.ops.governance.html_report import md_to_html, page
from shared.ops.governance.oversight import oversight_lines
from shared.serve.privacy import direct_identifiers, quasi_identifiers

CARD_MD = "model_card.md"
CARD_HTML = "model_card.html"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.0f}"
    return "-" if v is None else str(v)


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    end = flat.find("?")
    return flat[: end + 1] if end >= 0 else flat.split(". ")[0]


def card_markdown(uc: Any, cfg: Any, report: dict[str, Any], history: list[dict[str, Any]]) -> str:
    """`report` is the run's evaluation.json (RunResult.report()); `history` the registry's."""
    gov = cfg.governance
    details = report.get("details", {})
    lineage = report.get("lineage", {})
    split = report.get("split", {})
    sensitive = sensitive_columns(uc)
    used = sensitive_inputs(uc)
    lines = [
        f"# Model card: {uc.name} version {report.get('model_version') or '-'}",
        "",
        f"**Question.** {_first_sentence(uc.question)}",
        "",
        "## Governance",
        "",
        f"- EU AI Act risk level: **{gov.risk_level or 'UNDECLARED'}**"
        + (f": {gov.risk_rationale}" if gov.risk_rationale else ""),
        f"- owner: {gov.owner or 'UNDECLARED'}",
        f"- intended use: {gov.intended_use or '-'}",
        f"- intended users: {gov.intended_users or '-'}",
        "- out of scope: " + ("; ".join(gov.out_of_scope) or "-"),
        f"- personal data: {_fmt(gov.personal_data)}; direct identifiers: "
        + (", ".join(f"`{c}`" for c in direct_identifiers(uc)) or "none")
        + "; quasi-identifiers: "
        + (", ".join(f"`{c}`" for c in quasi_identifiers(uc)) or "none")
        + "; sensitive columns: "
        + (", ".join(f"`{c}`" for c in sensitive) or "none"),
        "- in the prediction log: "
        + (", ".join(f"`{c}`" for c in direct_identifiers(uc)) or "no identifier")
        + " and the routing key as keyed hashes only"
        + (
            "; never logged: " + ", ".join(f"`{c}`" for c in cfg.privacy.log_drop)
            if cfg.privacy.log_drop
            else ""
        )
        + f"; rows deleted after {cfg.privacy.retention_days:g} days (`pilotpack log prune`)",
        "- sensitive columns used as model inputs: "
        + (
            ", ".join(f"`{c}`" for c in used) + " (allowed by governance.use_sensitive)"
            if used
            else "none (excluded by default; fairness is still measured across them)"
        ),
        *oversight_lines(uc, cfg),
        "",
        "## Data",
        "",
        f"- source: `{lineage.get('data_source', '-')}`",
        f"- sha256: `{lineage.get('data_sha256', '-')}`",
        f"- rows validated: {report.get('validation', {}).get('rows', '-')}",
        f"- split: {split.get('kind', '-')}; "
        + ", ".join(f"{p} {split[p]} rows" for p in ("train", "valid", "test") if p in split),
    ]
    for part in ("train", "valid", "test"):
        if f"{part}_range" in split:
            lo, hi = split[f"{part}_range"]
            lines.append(f"- {part} period: {lo} to {hi}")
    if "label_rate" in details:
        lines.append(f"- label rate: {details['label_rate']:.3f}")
    lines.append(
        "- leaky columns excluded (known only after the outcome): "
        + (", ".join(f"`{c}`" for c in uc.leaky_columns) or "none declared")
    )
    lines += [
        f"- features: {', '.join(f'`{c}`' for c in uc.model_inputs) or '-'}",
        "",
        "## Metrics (untouched test part)",
        "",
        f"Chosen model: **{report.get('chosen_model', '-')}**.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    metrics = report.get("metrics", {})
    for k, v in metrics.items():
        if k.endswith(("_ci_low", "_ci_high")):
            continue
        lo, hi = metrics.get(f"{k}_ci_low"), metrics.get(f"{k}_ci_high")
        ci = f" (95 % CI {lo:.3f} to {hi:.3f})" if lo is not None and hi is not None else ""
        lines.append(f"| {k} | {_fmt(v)}{ci} |")
    lines += ["", "## Business KPIs (test part)", "", "| KPI | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in report.get("kpis", {}).items()]
    lines += fairness_markdown(details.get("fairness") or {})
    lines += importance_markdown(details.get("global_importance") or {})
    gates = report.get("gates", {})
    lines += [
        "",
        "## Limitations and known failure modes",
        "",
        *[f"- {x}" for x in gov.limitations],
        "- trained on "
        + (
            "synthetic data: figures show the pipeline works, not how it does on real customers"
            if str(lineage.get("data_source", "")).startswith("synthetic")
            else "the file above; re-check on newer data before trusting it after changes"
        ),
        "- gates: "
        + ("passed" if gates.get("passed") else "FAILED: " + "; ".join(gates.get("reasons", []))),
        *[f"- warning: {w}" for w in details.get("governance_warnings", [])],
        "",
        "## Promotion history (MLflow registry)",
        "",
        "| version | created | aliases | gates passed | run |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {h['version']} | {h['created']} | {', '.join(h['aliases']) or '-'} "
        f"| {h.get('gates_passed', '-')} | `{h.get('run_id', '')[:12]}` |"
        for h in history
    ]
    if not history:
        lines.append("| - | not registered | - | - | - |")
    events = [(h["version"], e) for h in history for e in h.get("events", [])]
    if events:
        lines += [
            "",
            "| when | version | event | who | why |",
            "|---|---|---|---|---|",
            *[
                f"| {e['at']} | {v} | {e['event'].replace('_', ' ')} | {e['by']} | {e['reason']} |"
                for v, e in sorted(events, key=lambda ve: ve[1]["at"])
            ],
        ]
    lines += [
        "",
        "## Lineage",
        "",
        *[f"- {k}: `{v}`" for k, v in lineage.items()],
    ]
    return "\n".join(lines) + "\n"


def fairness_markdown(fairness: dict[str, Any]) -> list[str]:
    lines = ["", "## Fairness by sensitive column (test part)", ""]
    by_column = fairness.get("by_column") or {}
    if not by_column:
        return lines + [fairness.get("note") or "No sensitive column declared in the schema."]
    gate = fairness.get("gate", "warn")
    state = "passed" if fairness.get("passed", True) else f"breached ({gate})"
    lines += [f"Gate mode `{gate}`: {state}.", ""]
    for col, e in by_column.items():
        lines += [
            f"### {col}",
            "",
            f"Demographic parity difference {e['demographic_parity_difference']:.3f}, ratio "
            f"{e['demographic_parity_ratio']:.3f}; equalized odds difference "
            f"{e['equalized_odds_difference']:.3f} ({e['groups_in_gate']} groups large enough "
            "for the gate).",
            "",
            "| group | n | selection rate | TPR | FPR | ROC AUC |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {g['group']} | {g['n']} | {_fmt(g['selection_rate'])} | {_fmt(g['tpr'])} "
            f"| {_fmt(g['fpr'])} | {_fmt(g['roc_auc'])} |"
            for g in e["groups"]
        ]
        lines.append("")
    lines += [f"- {r}" for r in fairness.get("reasons", [])]
    return lines


def importance_markdown(importance: dict[str, float]) -> list[str]:
    if not importance:
        return []
    lines = [
        "",
        "## Global explanation (mean |contribution| per input, test part)",
        "",
        "| input | mean abs contribution |",
        "|---|---|",
    ]
    return lines + [f"| {k} | {v:.4f} |" for k, v in list(importance.items())[:15]]


def card_html(markdown: str, title: str) -> str:
    return page(title, md_to_html(markdown))


def promotion_history(name: str) -> list[dict[str, Any]]:
    """Every registered version of the model: creation time, aliases, gate result, run, and
    its events (promoted, replaced, rolled back, retrain rejected, ...: who, when, why).

    Aliases come from the registered model and tags from each version read alone: MLflow's
    version search returns neither aliases nor every tag, so the card showed `-` throughout."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri())
    try:
        versions = client.search_model_versions(f"name='{name}'")
        aliases = client.get_registered_model(name).aliases or {}
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    for v in sorted(versions, key=lambda v: int(v.version)):
        tags = client.get_model_version(name, v.version).tags or {}
        created = datetime.fromtimestamp(v.creation_timestamp / 1000, UTC)
        rows.append(
            {
                "version": str(v.version),
                "created": created.strftime("%Y-%m-%d %H:%M UTC"),
                "aliases": sorted(by_version.get(str(v.version), [])),
                "gates_passed": tags.get("gates_passed", "-"),
                "monitoring": tags.get("monitoring_status"),
                "run_id": v.run_id or "",
                "events": version_events(tags),
            }
        )
    return rows


def version_events(tags: dict[str, str]) -> list[dict[str, str]]:
    """The who / when / why tags `tag_event` writes (`<event>_by`, `_at`, `_reason`), in time
    order."""
    events = [
        {
            "event": key.removesuffix("_at"),
            "at": when,
            "by": tags.get(key.removesuffix("_at") + "_by", "-"),
            "reason": tags.get(key.removesuffix("_at") + "_reason", "-"),
        }
        for key, when in tags.items()
        if key.endswith("_at")
    ]
    return sorted(events, key=lambda e: e["at"])


def model_card_from_registry(uc: Any, version: str | None) -> tuple[dict[str, str], str]:
    """The card of a registered version from its run's evaluation.json and today's registry;
    logged to the run again (the promotion history grows after training)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri())
    client = MlflowClient(tracking_uri())
    try:
        if version is None:
            for alias in ("champion", "challenger"):
                try:
                    v = client.get_model_version_by_alias(uc.name, alias)
                    break
                except MlflowException:
                    continue
            else:
                raise LookupError(f"{uc.name} has no champion or challenger: pass --version")
        else:
            v = client.get_model_version(uc.name, version)
        report = json.loads(mlflow.artifacts.load_text(f"runs:/{v.run_id}/evaluation.json"))
    except MlflowException as exc:
        raise LookupError(f"no registered {uc.name} version {version or ''}: {exc}") from exc
    report["model_version"] = v.version
    cfg = uc.load_config()
    md = card_markdown(uc, cfg, report, promotion_history(uc.name))
    docs = {CARD_MD: md, CARD_HTML: card_html(md, f"Model card: {uc.name} {v.version}")}
    log_documents(v.run_id, docs)
    return docs, v.version
