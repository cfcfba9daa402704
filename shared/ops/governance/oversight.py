"""Human oversight of promotion, driven by the EU AI Act risk level in each use case's config.

- `high`: no version becomes champion (promote, the last rollout stage, the first model
  trained) before a second person approves it (`pilotpack approve`); the approver is neither
  the person who promotes nor the one who started its rollout.
- `unacceptable`: never trained nor served (`GovernanceConfig.prohibited`, read by training
  and by the service, which may not import this module).
- any level: a model trained on synthetic data becomes champion only when someone says so
  (`--allow-synthetic`); that allowance is recorded on the version like an approval.

Approvals and allowances are tags on the model version (`approved_by`, `_at`, `_reason`;
`synthetic_allowed_*`), so the MLflow UI and the model card's promotion history show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.core.tracking import (
    CHALLENGER,
    actor,
    mlflow_client,
    model_aliases,
    tag_event,
)
from shared.core.tracking import promote as move_champion

APPROVED = "approved"  # event name: tags approved_by / approved_at / approved_reason
SYNTHETIC_ALLOWED = "synthetic_allowed"
STARTED = "rollout_started"  # written by `rollout start` (shared/ops/rollout.py)


class PromotionRefused(ValueError):
    """A promotion the risk level or the training data forbids; the message says what to do."""


def is_synthetic(data_source: str) -> bool:
    """The run's `data_source` tag names the built-in generator (shared/ops/training.py)."""
    return data_source.startswith("synthetic")


def refusals(
    name: str,
    version: str,
    risk_level: str | None,
    tags: dict[str, str],
    data_source: str,
    people: Iterable[str],
    allow_synthetic: bool,
    approval: bool = True,
) -> list[str]:
    """Why `version` may not become champion now (empty: it may). `tags` are the version's,
    `people` those who promote it or started its rollout; `approval=False` leaves the
    high-risk approval out (a rollout's start: it is checked when the rollout promotes)."""
    out = []
    if risk_level == "unacceptable":
        out.append(f"{name} has risk level 'unacceptable': a prohibited practice, never served")
    if risk_level == "high" and approval:
        approver = tags.get(f"{APPROVED}_by", "")
        if not approver:
            out.append(
                f"{name} has risk level 'high': version {version} needs a second person's "
                f"approval first (`pilotpack approve {name} --version {version} --by NAME`)"
            )
        elif approver in {p for p in people if p}:
            out.append(
                f"{name} has risk level 'high': version {version} was approved by {approver}, "
                f"who also promotes it or started its rollout; the approver must be a second "
                f"person"
            )
    allowed = allow_synthetic or bool(tags.get(f"{SYNTHETIC_ALLOWED}_by"))
    if is_synthetic(data_source) and not allowed:
        out.append(
            f"version {version} of {name} was trained on synthetic data ({data_source}): "
            f"pass --allow-synthetic to make it champion anyway (recorded)"
        )
    return out


def version_facts(client: Any, name: str, version: str) -> tuple[dict[str, str], str]:
    """(the version's tags, its run's data source). An allowance to serve synthetic data given
    at training is a tag of the run (`train --allow-synthetic`): every version of that run has
    it."""
    mv = client.get_model_version(name, version)  # an unknown version fails clearly here
    tags = dict(mv.tags or {})
    try:
        run_tags = client.get_run(mv.run_id).data.tags if mv.run_id else {}
    except Exception:  # a run deleted from the tracking store: its source is unknown
        run_tags = {}
    for key in (f"{SYNTHETIC_ALLOWED}_by", f"{SYNTHETIC_ALLOWED}_at"):
        if key in run_tags:
            tags.setdefault(key, run_tags[key])
    return tags, run_tags.get("data_source", "")


def check_promotion(
    uc: Any,
    version: str,
    who: str,
    allow_synthetic: bool = False,
    client: Any = None,
    approval: bool = True,
) -> None:
    """Raise PromotionRefused unless `version` may become champion now; a synthetic-data
    version allowed by the flag gets that allowance recorded (who, when).

    `approval=False` (a rollout's start, which sends real traffic to the version) checks all
    but the high-risk approval: that may come later, with the canary's figures in hand."""
    client = client or mlflow_client()
    risk = uc.load_config().governance.risk_level
    tags, source = version_facts(client, uc.name, version)
    people = (who, tags.get(f"{STARTED}_by", ""))
    problems = refusals(uc.name, version, risk, tags, source, people, allow_synthetic, approval)
    if problems:
        raise PromotionRefused("; ".join(problems))
    if is_synthetic(source) and allow_synthetic and not tags.get(f"{SYNTHETIC_ALLOWED}_by"):
        allow_synthetic_data(client, uc.name, version, who)


def allow_synthetic_data(client: Any, name: str, version: str, who: str, why: str = "") -> None:
    tag_event(client, name, version, SYNTHETIC_ALLOWED, why or "--allow-synthetic", who)


def promote(
    uc: Any,
    version: str | None = None,
    reason: str = "",
    who: str = "",
    allow_synthetic: bool = False,
) -> tuple[str, str]:
    """`pilotpack promote`: the registry move of shared/core/tracking.py, after the checks.
    Returns (old champion or "", new champion)."""
    client = mlflow_client()
    version = str(version or model_aliases(uc.name, client).get(CHALLENGER) or "")
    if not version:
        raise ValueError(f"{uc.name} has no challenger to promote: train one, or pass --version")
    who = who or actor()
    check_promotion(uc, version, who, allow_synthetic, client)
    return move_champion(uc.name, version, reason, who)


def approve(uc: Any, version: str, by: str, note: str = "") -> dict[str, str]:
    """Record a second person's approval of a version (who, when, why) on the version."""
    by = by.strip()
    if not by:
        raise ValueError("--by: name the person who approves")
    client = mlflow_client()
    tags, source = version_facts(client, uc.name, version)
    if tags.get("gates_passed") == "false":
        raise ValueError(f"version {version} of {uc.name} failed its gates: it cannot be approved")
    tag_event(client, uc.name, version, APPROVED, note or "-", by)
    return {"use_case": uc.name, "version": version, "by": by, "note": note, "source": source}


def first_champion_refusals(cfg: Any, data_source: str, allow_synthetic: bool) -> list[str]:
    """Why the first version that passes its gates does not become champion by itself."""
    out = []
    if cfg.governance.risk_level == "high":
        out.append(
            "risk level 'high': a second person approves it first (`pilotpack approve`), then "
            "`pilotpack promote`"
        )
    if is_synthetic(data_source) and not allow_synthetic:
        out.append(
            "trained on synthetic data: `pilotpack promote --allow-synthetic`, or train with "
            "--allow-synthetic"
        )
    return out


def oversight_lines(uc: Any, cfg: Any) -> list[str]:
    """The model card's "Human oversight" section."""
    gov = cfg.governance
    owner = gov.owner or "UNDECLARED"
    lines = ["", "## Human oversight", ""]
    if gov.risk_level == "high":
        lines += [
            f"- promotion: a version becomes champion only after a second person approves it "
            f"(`pilotpack approve {uc.name} --version V --by NAME --note WHY`, recorded on the "
            "version: who, when, why); the approver is neither the person who promotes nor the "
            "one who started its rollout (`--by`, else $PILOTPACK_USER or the login name); "
            "training never makes a first champion by itself",
            f"- accountable: {owner}",
            f"- prediction log kept {cfg.privacy.retention_days:g} days, at least "
            f"{gov.min_retention_days():g} (EU AI Act Art. 26(6))",
        ]
    else:
        lines += [
            f"- promotion: `pilotpack promote` or a completed rollout, by {owner}; who, when and "
            f"why are recorded; no second approval at risk level {gov.risk_level or 'UNDECLARED'}"
        ]
    lines += [
        "- a model trained on synthetic data becomes champion only with `--allow-synthetic` "
        "(recorded on the version)",
        "- any operator stops a rollout or restores the previous champion at once: "
        f"`pilotpack rollback {uc.name}`",
    ]
    return lines
