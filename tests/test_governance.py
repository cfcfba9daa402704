"""Governance: fairness by sensitive column, explanations that add up, the model card, the AI
registry, and the HTML report in a real headless browser."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from lightgbm import LGBMRegressor

from shared.core.config import FairnessConfig
from shared.ops.governance.assess import IMPORTANCE_ROWS, Assessment, _global_model

# --------------------------------------------------------------------------- fairness


def test_fairness_by_group_worked_by_hand():
    # Group A: 4 rows, decisions 1,1,0,0 -> selection 0.5; positives (y=1) rows 0,2 -> TPR 0.5,
    # negatives rows 1,3 -> FPR 0.5. Group B: decisions 0,0,0,1 -> selection 0.25; TPR 0/1 = 0,
    # FPR 1/3. Parity difference 0.25, ratio 0.5, equalized odds max(0.5, 1/6) = 0.5.
    raw = pd.DataFrame({"sex": ["A"] * 4 + ["B"] * 4})
    y = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.1, 0.2, 0.3, 0.9])
    cfg = FairnessConfig(
        min_group_size=1, max_demographic_parity_difference=0.3, max_equalized_odds_difference=0.4
    )
    from shared.ops.governance.fairness import assess_fairness

    out = assess_fairness(raw, ["sex"], y, score, 0.5, cfg)
    e = out["by_column"]["sex"]
    rows = {g["group"]: g for g in e["groups"]}
    assert rows["A"]["selection_rate"] == 0.5 and rows["B"]["selection_rate"] == 0.25
    assert rows["A"]["tpr"] == 0.5 and rows["B"]["tpr"] == 0.0
    assert rows["B"]["fpr"] == pytest.approx(1 / 3)
    assert e["demographic_parity_difference"] == pytest.approx(0.25)
    assert e["demographic_parity_ratio"] == pytest.approx(0.5)
    assert e["equalized_odds_difference"] == pytest.approx(0.5)
    assert (
        out["reasons"] == ["fairness: TPR/FPR by sex differ by 0.500 (limit 0.4)"]
        and not out["passed"]
    )
    # Groups below min_group_size are reported but left out of the gate.
    small = assess_fairness(raw, ["sex"], y, score, 0.5, FairnessConfig(min_group_size=5))
    assert small["passed"] and small["by_column"]["sex"]["groups_in_gate"] == 0


def test_numeric_sensitive_column_is_banded():
    from shared.ops.governance.fairness import groups_of

    ages = pd.Series(np.arange(18, 90), name="Age")
    bands = groups_of(ages, FairnessConfig(bands={"Age": [30, 50, 65]}))
    assert set(bands) == {"< 30", "30 to < 50", "50 to < 65", ">= 65"}
    assert bands[0] == "< 30" and bands[-1] == ">= 65"


def test_fail_mode_turns_a_fairness_breach_into_a_failed_gate(trained):
    """The same run's fairness figures, judged under `gate: fail` with a zero tolerance."""
    from shared.ops.governance.fairness import assess_fairness

    result = trained("churn")
    curves = result.governance.curves
    raw = pd.DataFrame(
        {"g": np.where(curves["pred_test"] > np.median(curves["pred_test"]), "x", "y")}
    )
    out = assess_fairness(
        raw,
        ["g"],
        curves["y_test"],
        curves["pred_test"],
        curves["threshold"],
        FairnessConfig(gate="fail", max_demographic_parity_difference=0.0),
    )
    assert not out["passed"] and "selection rates by g" in out["reasons"][0]


# --------------------------------------------------------------------------- explanations


@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_contributions_add_up_to_the_models_log_odds(kind):
    """TreeSHAP / linear contributions by model input + base value = decision_function, 1e-6."""
    from shared.core.config import LightGBMParams, LogisticParams
    from shared.core.onnx_export import model_inputs
    from shared.core.usecase import get_use_case
    from shared.serve.explain import Explainer, explainer_files

    uc = get_use_case("churn")
    raw = uc.make_synthetic(1500, 3)
    X, y = model_inputs(uc, raw), uc.labels(raw)
    params = LightGBMParams(n_estimators=60) if kind == "lightgbm" else LogisticParams()
    model = uc.make_model(params).fit(X, y)
    num, cat = list(uc.numeric_features), list(uc.categorical_features)
    explainer = Explainer.from_files(explainer_files(model, num, cat, X))
    contrib, base = explainer.explain({c: X[c].to_numpy() for c in X})
    assert contrib.shape == (len(X), len(num) + len(cat))
    assert explainer.inputs == num + cat  # one-hot columns summed back to their input
    np.testing.assert_allclose(base + contrib.sum(axis=1), model.decision_function(X), atol=1e-6)
    # Rows scored from raw columns (the service's path) give the same numbers.
    again, _ = explainer.explain(uc.build_features(raw))
    np.testing.assert_allclose(again, contrib, atol=1e-9)


def test_a_global_explanation_over_a_seeded_sample_keeps_every_inputs_share():
    """Above IMPORTANCE_ROWS rows the forecaster's mean |TreeSHAP| is taken over a seeded
    sample: each input's figure within 3 % of the one over every row, the same ranking."""
    rng = np.random.default_rng(0)
    n = 6 * IMPORTANCE_ROWS
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    y = 3 * X.x0 + 2 * X.x1 + X.x2 * X.x3 + 0.5 * np.sin(3 * X.x4) + rng.normal(0, 0.3, n)
    model = LGBMRegressor(n_estimators=60, num_leaves=31, verbose=-1).fit(X, y)
    fit = SimpleNamespace(state={"X": X}, model=model)
    out, again = Assessment(), Assessment()
    _global_model(fit, out)
    _global_model(fit, again)
    assert out.importance == again.importance  # seeded
    assert f"a seeded sample of {IMPORTANCE_ROWS:,} of {n:,}" in out.importance_note
    full = np.abs(model.booster_.predict(X.to_numpy(), pred_contrib=True)[:, :-1]).mean(axis=0)
    exact = dict(zip(X.columns, full, strict=True))
    assert list(out.importance) == sorted(exact, key=lambda c: -exact[c])
    for name, value in out.importance.items():
        assert value == pytest.approx(exact[name], rel=0.03), name


# --------------------------------------------------------------------------- model card + store


def test_card_report_and_explainer_are_logged_and_stored(trained):
    import mlflow

    from shared.core.store import load_model
    from shared.core.tracking import tracking_uri

    result = trained("churn")
    stored = load_model(result.bento_tag)
    card = (stored.path / "model_card.md").read_text()
    for section in (
        "EU AI Act risk level: **minimal**",
        "owner: customer retention team",
        "## Data",
        "sha256",
        "## Metrics (untouched test part)",
        "95 % CI",
        "## Business KPIs",
        "### gender",
        "### SeniorCitizen",
        "## Global explanation",
        "## Limitations",
        "## Promotion history",
        "excluded by default",
    ):
        assert section in card, section
    assert (stored.path / "explainer.json").exists() and (stored.path / "model_card.html").exists()
    mlflow.set_tracking_uri(tracking_uri())
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id)}
    assert {"model_card.md", "model_card.html", "report.html", "explainer"} <= names
    assert "gender" not in result.details["global_importance"]  # not a model input


def test_sensitive_inputs_need_a_declaration():
    from shared.core.columns import undeclared_sensitive_inputs
    from shared.core.usecase import get_use_case

    lead = get_use_case("lead_scoring")
    assert undeclared_sensitive_inputs(lead, lead.load_config()) == []  # Country is declared
    cfg = lead.load_config(["governance.use_sensitive=[]"])
    assert undeclared_sensitive_inputs(lead, cfg) == ["Country"]
    churn = get_use_case("churn")
    assert undeclared_sensitive_inputs(churn, churn.load_config()) == []


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_format_and_refuses_an_undeclared_owner(trained, tmp_path):
    from typer.testing import CliRunner

    from shared.app.cli import app
    from shared.core.usecase import get_use_case
    from shared.ops.governance.registry import Undeclared, entries

    trained("churn")
    runner = CliRunner()
    done = runner.invoke(app, ["registry", "churn", "lead_scoring", "--format", "json"])
    assert done.exit_code == 0, done.output
    rows = {r["use_case"]: r for r in json.loads(done.stdout)}
    assert rows["churn"]["risk_level"] == "minimal" and rows["churn"]["personal_data"] is True
    assert {"gender", "SeniorCitizen", "customerID"} <= set(rows["churn"]["personal_columns"])
    assert rows["churn"]["champion_version"] != "none"
    csv_out = runner.invoke(app, ["registry", "churn", "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("use_case,purpose,task,risk_level")
    assert "| churn |" in runner.invoke(app, ["registry", "churn"]).stdout

    uc = get_use_case("churn")
    raw = yaml.safe_load(uc.config_path.read_text())
    raw["governance"].pop("owner")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    undeclared = replace(uc, name="no_owner", config_file=str(tmp_path / "config.yaml"))
    with pytest.raises(Undeclared, match=r"no_owner \(owner"):
        entries([undeclared])


# --------------------------------------------------------------------------- HTML report


def test_html_report_is_self_contained_with_every_plot(trained):
    html = trained("churn").documents["report.html"]
    assert html.count("<img") >= 8 and 'src="http' not in html and "<script" not in html
    for caption in ("ROC curve", "Calibration", "Lift", "Profit", "FPR by gender", "Global"):
        assert caption.lower() in html.lower(), caption


def test_a_report_figure_is_the_png_matplotlib_draws_with_its_own_layout_pass():
    """`_figure` skips savefig's second layout pass after tight_layout: the same bytes."""
    import matplotlib.pyplot as plt

    from shared.ops.governance.html_report import _figure

    def draw(ax):
        x = np.linspace(0, 1, 101)
        ax.plot(x, np.sqrt(x), label="model")
        ax.plot(x, x, "--", label="random")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test set")
        ax.legend()

    got = re.search(r'base64,([^"]+)"', _figure(draw, "ROC curve")).group(1)
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=90)
    draw(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # with the layout pass
    plt.close(fig)
    assert base64.b64decode(got) == buf.getvalue()


@pytest.mark.browser
def test_html_report_renders_in_headless_chromium(trained, tmp_path):
    from tests.browser import render_page

    path = tmp_path / "report.html"
    path.write_text(trained("churn").documents["report.html"])
    page = render_page(path)
    assert page["errors"] == [], page["errors"]
    assert len(page["images"]) >= 8
    assert all(ok and width > 0 for ok, width in page["images"]), page["images"]
    card = tmp_path / "card.html"
    card.write_text(trained("churn").documents["model_card.html"])
    assert render_page(card)["errors"] == []


def test_the_promotion_history_shows_each_versions_aliases_and_who_promoted_it_why(trained):
    """Aliases and events come from the registry as it is now: the version promoted shows
    `champion` and a "promoted" event with who and why (the card showed `-` for every version
    and no event, because MLflow's version search returns neither aliases nor every tag)."""
    from shared.core.tracking import CHAMPION, mlflow_client, model_aliases, promote
    from shared.core.usecase import get_use_case
    from shared.ops.governance.card import card_markdown, promotion_history

    result = trained("lead_scoring")
    client = mlflow_client()
    before = model_aliases("lead_scoring", client).get(CHAMPION)
    trained_version = client.get_model_version("lead_scoring", result.model_version)
    new = client.create_model_version(
        "lead_scoring", trained_version.source, run_id=trained_version.run_id
    ).version  # a second version of the same run, to promote
    promote("lead_scoring", str(new), reason="card history test", who="auditor")
    try:
        history = {h["version"]: h for h in promotion_history("lead_scoring")}
        mine = history[str(new)]
        assert CHAMPION in mine["aliases"]
        promoted = [e for e in mine["events"] if e["event"] == "promoted"]
        assert promoted and promoted[-1]["by"] == "auditor"
        assert promoted[-1]["reason"] == "card history test"
        uc = get_use_case("lead_scoring")
        md = card_markdown(uc, uc.load_config(), result.report(), list(history.values()))
        assert "| promoted | auditor | card history test |" in md
        if before:  # the champion it replaced says by whom
            assert [e for e in history[str(before)]["events"] if e["event"] == "replaced"]
    finally:
        if before:
            client.set_registered_model_alias("lead_scoring", CHAMPION, before)
