"""The pilot scorecard (shared/ops/governance/scorecard.py): each figure coloured against the
bands in config, from the files the pack writes; a missing file leaves its figures grey."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.core.config import Band
from shared.core.usecase import get_use_case
from shared.ops.governance.scorecard import GREY, colour, gather, scorecard, verdict, write


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.95, "green"), (0.9, "green"), (0.8, "amber"), (0.75, "amber"), (0.7, "red"), (None, GREY)],
)
def test_colour_higher_is_better(value: float | None, expected: str) -> None:
    assert colour(value, Band(green=0.9, amber=0.75)) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(40.0, "green"), (100.0, "green"), (150.0, "amber"), (201.0, "red")]
)
def test_colour_lower_is_better(value: float, expected: str) -> None:
    assert colour(value, Band(green=100, amber=200, higher_is_better=False)) == expected


def test_nan_is_not_measured() -> None:
    assert colour(float("nan"), Band(green=1, amber=0)) == GREY


def inputs() -> dict:
    """Figures worked out by hand: KPI 0.27 realised vs 0.30 expected (90 %: green), p99 150 ms
    of a 200 ms SLA (0.75: amber), 99.5 % uptime (amber), PSI 0.25 (red: at psi_alert 0.2 or
    above), 2 cores at 500 req/s: 0.004 core-s per prediction, x 1000 x 0.05 / 3600 = 0.000056
    per 1,000 (green), fairness gap 0.15 (amber)."""
    return {
        "training": {
            "kpis": {"expected_profit_eur": 1000.0, "contact_rate": 0.30},
            "details": {"fairness": {"by_column": {"gender": {
                "demographic_parity_difference": 0.15, "equalized_odds_difference": 0.05}}}},
        },
        "monitor": {
            "performance": [{"variant": "champion", "n": 500,
                             "figures": {"kpi_contact_rate": 0.27}}],
            "drift": [{"feature": "tenure", "psi": 0.25}, {"feature": "x", "psi": 0.01}],
        },
        "ab": {"lift": {"absolute": -0.03, "absolute_ci": [-0.05, -0.01]},
               "plan": {"higher_is_better": False}, "verdict_code": "treatment_wins",
               "verdict": "challenger wins"},
        "probes": {"up": 995, "total": 1000},
        "benchmark": {"load_p99_ms": 150.0, "throughput_rps": 500.0, "cores": 2,
                      "timestamp": "t"},
    }  # fmt: skip


def test_scorecard_colours_known_figures() -> None:
    cfg = get_use_case("churn").load_config()
    figs = {f.name: f for f in scorecard(inputs(), cfg, retrains=1)}
    assert figs["KPI contact_rate"].value == pytest.approx(0.9)
    assert figs["KPI contact_rate"].colour == "green"
    assert figs["A/B lift"].colour == "green"
    assert figs["p99 latency under load"].colour == "amber"
    assert figs["uptime"].colour == "amber"
    assert figs["largest drift (PSI)"].colour == "red"
    assert figs["cost per 1,000 predictions"].value == pytest.approx(2 / 500 * 1000 * 0.05 / 3600)
    assert figs["cost per 1,000 predictions"].colour == "green"
    assert figs["retrains"].colour == "green"
    assert figs["largest fairness gap"].value == pytest.approx(0.15)
    assert figs["largest fairness gap"].colour == "amber"
    assert figs["risk level"].colour == "green"  # churn: minimal
    assert figs["owner"].colour == "green"
    assert verdict(list(figs.values())) == "no-go: largest drift (PSI)"


def test_estimate_stands_in_for_missing_outcomes_and_says_so() -> None:
    cfg = get_use_case("churn").load_config()
    data = inputs()
    data["monitor"] = {"performance": [], "drift": [], "estimated": {"kpi_contact_rate": 0.15}}
    kpi = next(f for f in scorecard(data, cfg) if f.name.startswith("KPI"))
    assert kpi.colour == "red" and "ESTIMATED" in kpi.basis


def test_a_wrong_way_winner_is_red() -> None:
    cfg = get_use_case("churn").load_config()
    data = inputs()
    data["ab"]["verdict_code"] = "control_wins"
    assert next(f for f in scorecard(data, cfg) if f.name == "A/B lift").colour == "red"


def test_write_and_missing_files(tmp_path: Path) -> None:
    cfg = get_use_case("churn").load_config()
    found = gather("churn", folder=tmp_path / "none", bench=tmp_path / "none.json")
    assert all(v is None for v in found.values())
    md, html, figures = write("churn", cfg, found, None, tmp_path)
    assert verdict(figures).startswith("review")  # nothing measured: grey, not green
    assert "| p99 latency under load | - | grey |" in md.read_text()
    assert "<table>" in html.read_text()
    assert json.loads((tmp_path / "scorecard.json").read_text())["verdict"] == verdict(figures)


def test_cli_writes_the_page(tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(inputs()["benchmark"]))
    env = {"PILOTPACK_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "shared.app.cli", "scorecard", "churn", "--bench", str(bench)],
        capture_output=True, text=True, env=dict(os.environ) | env,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # review: most figures are not measured yet
    page = (tmp_path / "reports" / "churn" / "scorecard.md").read_text()
    assert "150.0 ms (SLA 200 ms)" in page
