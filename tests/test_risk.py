"""The EU AI Act risk level acts (issue 19, item 9), each decision with its answer known by
construction:

- `high`: a promotion without a second person's approval is refused, one by the approver
  too; the log is kept at least 183 days; the model card states the human oversight.
- `unacceptable`: training exits 2 before anything runs, and `bentoml serve` refuses to start.
- any level: a model trained on synthetic data becomes champion only with --allow-synthetic.

High-risk use cases are churn's code with a config file of the test's own (`config_file` is
joined to the folder, so an absolute path is taken as is) and a registered name of its own,
so the session's churn aliases are never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from shared.core.config import HIGH_RISK_MIN_RETENTION_DAYS, retention_days
from shared.core.store import load_model, save_model
from shared.core.tracking import CHALLENGER, CHAMPION, mlflow_client, model_aliases
from shared.core.usecase import get_use_case
from shared.ops import rollout as ro
from shared.ops.batch import score_file
from shared.ops.governance.card import card_markdown
from shared.ops.governance.oversight import (
    PromotionRefused,
    approve,
    first_champion_refusals,
    promote,
    refusals,
)
from shared.ops.governance.registry import entries
from shared.ops.training import train
from tests.conftest import fast_overrides
from tests.sandbox import copy_code
from tests.servers import Server

CHURN = get_use_case("churn")
ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = "synthetic(n=5000, seed=42)"


def variant(tmp_path: Path, name: str, **sections: dict) -> object:
    """Churn's code under another registered name, its config.yaml with `sections` merged."""
    raw = yaml.safe_load(CHURN.config_path.read_text())
    for section, values in sections.items():
        merged = {**raw.get(section, {}), **values}
        raw[section] = {k: v for k, v in merged.items() if v is not None}  # None: left unset
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return dataclasses.replace(CHURN, name=name, config_file=str(path))


# --------------------------------------------------------------------------- the decisions


def test_refusals_are_known_by_construction():
    def why(risk, tags=None, source="/data/x.csv", people=("bob",), allow=False):
        return refusals("m", "3", risk, tags or {}, source, people, allow)

    assert why("minimal") == [] and why("limited") == [] and why(None) == []
    # high: no approver -> refused; the promoter approved it -> refused; a second person -> ok
    assert "approval" in why("high")[0]
    assert "second person" in why("high", {"approved_by": "bob"})[0]
    assert (
        "second person"
        in why("high", {"approved_by": "ana", "rollout_started_by": "ana"}, people=("bob", "ana"))[
            0
        ]
    )
    assert why("high", {"approved_by": "ana"}) == []
    # synthetic data: refused without the flag at any level, allowed by it or by a record
    for risk in ("minimal", "limited", "high"):
        approved = {"approved_by": "ana"}
        assert "--allow-synthetic" in why(risk, approved, SYNTHETIC)[-1]
        assert why(risk, approved, SYNTHETIC, allow=True) == []
        assert why(risk, approved | {"synthetic_allowed_by": "carl"}, SYNTHETIC) == []
    assert "prohibited" in why("unacceptable", {"approved_by": "ana"})[0]


def test_first_champion_is_withheld_at_high_risk_and_on_synthetic_data(tmp_path):
    high = variant(
        tmp_path, "risk_high_a", governance={"risk_level": "high"}, privacy={"retention_days": 200}
    ).load_config()
    low = CHURN.load_config()
    assert first_champion_refusals(low, "/data/telco.csv", False) == []
    assert first_champion_refusals(low, SYNTHETIC, True) == []
    assert "--allow-synthetic" in first_champion_refusals(low, SYNTHETIC, False)[0]
    assert "approve" in first_champion_refusals(high, "/data/telco.csv", True)[0]


def test_high_risk_keeps_the_log_at_least_183_days(tmp_path):
    assert HIGH_RISK_MIN_RETENTION_DAYS == 183
    # set lower: refused at load, naming the value and the floor
    with pytest.raises(ValidationError, match=r"retention_days is 90.*at least 183 days"):
        CHURN.load_config(["governance.risk_level=high"])  # churn sets 90 explicitly
    # left unset: the floor; set higher: kept
    forecast = get_use_case("demand_forecasting")
    assert forecast.load_config(["governance.risk_level=high"]).privacy.retention_days == 183
    assert forecast.load_config().privacy.retention_days == 90  # minimal: the default
    cfg = CHURN.load_config(["governance.risk_level=high", "privacy.retention_days=400"])
    assert cfg.privacy.retention_days == 400
    # `log prune --days N` never goes under the floor; below high risk it is obeyed
    assert retention_days(cfg, 30) == 183 and retention_days(cfg) == 400
    assert retention_days(CHURN.load_config(), 30) == 30
    # the registry (and the card, below) read the effective value
    uc = variant(
        tmp_path, "risk_high_b", governance={"risk_level": "high"}, privacy={"retention_days": None}
    )
    assert entries([uc])[0]["log_retention_days"] == 183


def test_the_card_states_the_human_oversight(tmp_path):
    uc = variant(
        tmp_path, "risk_high_c", governance={"risk_level": "high"}, privacy={"retention_days": 183}
    )
    md = card_markdown(uc, uc.load_config(), {}, [])
    oversight = md.split("## Human oversight")[1].split("\n## ")[0]
    assert "second person approves it" in oversight
    assert f"`pilotpack approve {uc.name} --version V --by NAME" in oversight
    assert "neither the person who promotes nor the one who started its rollout" in oversight
    assert "kept 183 days, at least 183 (EU AI Act Art. 26(6))" in oversight
    low = card_markdown(CHURN, CHURN.load_config(), {}, []).split("## Human oversight")[1]
    assert "no second approval at risk level minimal" in low
    assert "--allow-synthetic" in low


# --------------------------------------------------------------------------- the registry


@pytest.fixture(scope="module")
def session_model(trained):
    """The session's churn run (built-in data, trained with the allowance, as the suite does)."""
    return trained(CHURN.name)


def new_version(name: str, model, synthetic_run: bool = False) -> str:
    """A registered version of `name` holding the session's churn ONNX model, in the model
    store too; `synthetic_run`: its run is a new one on built-in data with no allowance."""
    client = mlflow_client()
    src = client.get_model_version(CHURN.name, model.model_version)
    run_id = src.run_id
    if synthetic_run:
        exp = client.get_experiment_by_name(CHURN.name).experiment_id
        run = client.create_run(exp, tags={"data_source": SYNTHETIC})
        client.set_terminated(run.info.run_id)
        run_id = run.info.run_id
    with contextlib.suppress(MlflowException):  # registered by an earlier test
        client.create_registered_model(name)
    mv = client.create_model_version(name, src.source, run_id=run_id)
    client.set_model_version_tag(name, mv.version, "gates_passed", "true")
    stored = load_model(model.bento_tag)
    save_model(
        name,
        stored.onnx_path.read_bytes(),
        stored.metadata | {"mlflow_version": str(mv.version), "use_case": name},
        {},
    )
    return str(mv.version)


def test_high_risk_promotion_needs_a_second_persons_approval(tmp_path, session_model):
    uc = variant(
        tmp_path,
        "risk_high_promote",
        governance={"risk_level": "high"},
        privacy={"retention_days": 183},
    )
    first, second = (new_version(uc.name, session_model) for _ in range(2))
    with pytest.raises(PromotionRefused, match="needs a second person's approval"):
        promote(uc, first, "no approval", who="bob")
    assert CHAMPION not in model_aliases(uc.name)
    approve(uc, first, by="ana", note="checked the card and the fairness table")
    with pytest.raises(PromotionRefused, match="the approver must be a second person"):
        promote(uc, first, "self-approved", who="ana")
    assert CHAMPION not in model_aliases(uc.name)
    assert promote(uc, first, "approved by ana", who="bob") == ("", first)
    assert model_aliases(uc.name)[CHAMPION] == first
    tags = mlflow_client().get_model_version(uc.name, first).tags
    assert (tags["approved_by"], tags["approved_reason"], tags["promoted_by"]) == (
        "ana",
        "checked the card and the fairness table",
        "bob",
    )
    # An approval is of one version: the next is refused until approved itself.
    with pytest.raises(PromotionRefused, match=f"version {second} needs"):
        promote(uc, second, "not approved", who="bob")
    with pytest.raises(ValueError, match="--by"):
        approve(uc, second, by=" ")


def test_a_high_risk_rollout_promotes_only_an_approved_version_by_someone_else(
    tmp_path, session_model
):
    uc = variant(
        tmp_path,
        "risk_high_rollout",
        governance={"risk_level": "high"},
        privacy={"retention_days": 183},
        rollout={"stages": [100]},
    )
    champion, candidate = (new_version(uc.name, session_model) for _ in range(2))
    approve(uc, champion, by="ana")
    promote(uc, champion, "first", who="bob")
    ro.start(uc, candidate, who="carl", reason="canary")  # approval may come later
    with pytest.raises(PromotionRefused, match="approval"):
        ro.advance(uc, force=True, who="bob")
    assert model_aliases(uc.name)[CHAMPION] == champion
    approve(uc, candidate, by="carl")  # carl started the rollout: not a second person
    with pytest.raises(PromotionRefused, match="second person"):
        ro.advance(uc, force=True, who="bob")
    approve(uc, candidate, by="dora")
    state = ro.advance(uc, force=True, who="bob")
    assert state.status == "promoted" and model_aliases(uc.name)[CHAMPION] == candidate


def test_synthetic_data_model_becomes_champion_only_with_the_flag(tmp_path, session_model):
    uc = variant(tmp_path, "risk_synthetic", rollout={"stages": [100]})
    champion = new_version(uc.name, session_model)  # its run carries the allowance
    promote(uc, champion, "first", who="bob")
    candidate = new_version(uc.name, session_model, synthetic_run=True)
    with pytest.raises(PromotionRefused, match="trained on synthetic data"):
        promote(uc, candidate, "no flag", who="bob")
    with pytest.raises(PromotionRefused, match="--allow-synthetic"):
        ro.start(uc, candidate, who="bob")
    assert model_aliases(uc.name)[CHAMPION] == champion
    ro.start(uc, candidate, who="bob", allow_synthetic=True)  # recorded on the version
    tags = mlflow_client().get_model_version(uc.name, candidate).tags
    assert tags["synthetic_allowed_by"] == "bob"
    ro.advance(uc, force=True, who="bob")  # the allowance given at start holds
    assert model_aliases(uc.name)[CHAMPION] == candidate
    third = new_version(uc.name, session_model, synthetic_run=True)
    promote(uc, third, "demo", who="bob", allow_synthetic=True)
    assert model_aliases(uc.name)[CHAMPION] == third


def test_training_on_synthetic_data_leaves_the_first_version_challenger(tmp_path):
    """A real run of a fresh registered model: without the flag, challenger and the reason
    recorded; the allowance at training lets the next run's version be promoted."""
    uc = variant(tmp_path, "risk_first_champion")
    overrides = [*fast_overrides(CHURN), "data.synthetic_rows=1500"]
    result = train(uc, uc.load_config(overrides), overrides=overrides)
    assert result.gates_passed and result.model_version, result.gate_reasons
    aliases = model_aliases(uc.name)
    assert aliases == {CHALLENGER: result.model_version}
    assert "synthetic" in result.details["champion_withheld"]
    tags = mlflow_client().get_model_version(uc.name, result.model_version).tags
    assert "synthetic" in tags["champion_withheld_reason"]
    with pytest.raises(PromotionRefused, match="synthetic"):
        promote(uc, result.model_version, "no flag", who="bob")
    assert "synthetic" in result.summary()["champion_withheld"]  # the --json line says so


# --------------------------------------------------------------------------- unacceptable


def pilotpack(*args: str, cwd: Path = ROOT, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "shared.app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_unacceptable_use_case_is_never_trained(tmp_path):
    uc = variant(tmp_path, "risk_prohibited", governance={"risk_level": "unacceptable"})
    with pytest.raises(ValueError, match="prohibited practice.*training refused"):
        train(uc, uc.load_config(), track=False)
    r = pilotpack("train", "churn", "--set", "governance.risk_level=unacceptable")
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unacceptable" in lines[0] and "Traceback" not in r.stderr


def test_unacceptable_use_case_is_never_scored_in_batch(tmp_path):
    uc = variant(tmp_path, "risk_prohibited_batch", governance={"risk_level": "unacceptable"})
    data = tmp_path / "rows.csv"
    data.write_text("customerID\nx\n")
    with pytest.raises(ValueError, match="prohibited practice.*scoring refused"):
        score_file(uc, data, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_unacceptable_use_case_is_never_served(tmp_path):
    """`bentoml serve` of a copy of the code whose churn config says `unacceptable` stops
    before any worker starts, saying why (no model needed: it refuses first)."""
    copy_code(tmp_path, skip=["tests"])
    config = tmp_path / "usecases" / "churn" / "config.yaml"
    text = config.read_text()
    assert "risk_level: minimal" in text
    config.write_text(text.replace("risk_level: minimal", "risk_level: unacceptable", 1))
    server = Server(
        "shared.serve.services:churn", env={"PYTHONPATH": str(tmp_path)}, cwd=tmp_path, timeout=120
    )
    with pytest.raises(RuntimeError, match="refused to serve") as refused, server:
        pass
    assert "churn: governance.risk_level is 'unacceptable'" in str(refused.value)
