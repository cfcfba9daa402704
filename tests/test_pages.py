"""The HTML pages beside the reports: the forecast training report's fan charts, horizon errors
and model comparison, maintenance's cost and alarm-rate curves, and the pages `pilotpack
monitor` and `pilotpack ab analyze` write next to their JSON; two of them in headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner


def captions(html: str) -> list[str]:
    """The caption of every embedded figure (each <img> has one, and its alt is the same)."""
    return re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,', html)


# --------------------------------------------------------------------------- training reports


def test_forecast_report_has_fan_charts_horizon_errors_and_model_comparison(trained):
    result = trained("demand_forecasting")
    html = result.documents["report.html"]
    caps = captions(html)
    assert html.count("<img") == len(caps) and 'src="http' not in html
    fans = [c for c in caps if c.startswith("Fan chart of series")]
    assert len(fans) == 3 and all("80 % and 95 % intervals" in c for c in fans), caps
    assert "Error by horizon step" in caps and "Forecast models side by side (WAPE)" in caps
    # The fans are the served model's backtest forecasts with nested intervals around them.
    samples = result.governance.curves["fan"]
    assert {s["model"] for s in samples} == {result.details["chosen_servable"]}
    horizon = result.details["backtest"]["horizon"]
    for s in samples:
        f = np.array(s["forecast"])
        lo80, hi80 = map(np.array, s["bounds"]["80"])
        lo95, hi95 = map(np.array, s["bounds"]["95"])
        assert len(f) == len(s["actual"]) == len(s["dates"]) == horizon
        assert s["history_dates"][-1] < s["dates"][0]
        assert np.all(lo95 <= lo80) and np.all(lo80 <= f) and np.all(f <= hi80)
        assert np.all(hi80 <= hi95) and np.any(hi95 > hi80)


def test_maintenance_report_draws_cost_and_alarms_per_1000_against_the_threshold(trained):
    caps = captions(trained("predictive_maintenance").documents["report.html"])
    assert "Expected cost (EUR) against the decision threshold" in caps, caps
    assert "Alarms per 1,000 operations against the decision threshold" in caps, caps


def test_threshold_kpi_figures_follow_the_kpi_names():
    """Drawn only for `expected_cost_<unit>` and `..._per_1000_...` KPIs, one figure each."""
    from types import SimpleNamespace

    from shared.ops.governance.html_report import threshold_kpi_figures

    def kpis(y, p, t, cfg):
        act = p >= t
        return {"expected_cost_usd": 5.0 * act.sum(), "flags_per_1000_rows": 1000 * act.mean()}

    uc = SimpleNamespace(compute_kpis=kpis)
    cfg = SimpleNamespace(kpi=None)
    y, p = np.array([0, 1, 1]), np.array([0.2, 0.6, 0.9])
    figs = threshold_kpi_figures(uc, cfg, kpis(y, p, 0.5, None), y, p, 0.5)
    assert [captions(f)[0] for f in figs] == [
        "Expected cost (USD) against the decision threshold",
        "Flags per 1,000 rows against the decision threshold",
    ]
    assert threshold_kpi_figures(uc, cfg, {"expected_profit_eur": 1.0}, y, p, 0.5) == []


# --------------------------------------------------------------------------- pilotpack monitor


def shifted(raw: pd.DataFrame) -> pd.DataFrame:
    """Only high-quality variants, and worn tools: two inputs drift."""
    out = raw.copy()
    out["Type"] = "H"
    out["Tool wear [min]"] = out["Tool wear [min]"] + 150
    return out


@pytest.fixture(scope="module")
def monitored(trained, tmp_path_factory):
    """One `pilotpack monitor` run of the session's maintenance model on a drifted file."""
    from shared.app.cli import app
    from shared.core.usecase import get_use_case

    result = trained("predictive_maintenance")
    folder = tmp_path_factory.mktemp("monitor")
    uc = get_use_case("predictive_maintenance")
    shifted(uc.make_synthetic(1500, 21)).to_csv(folder / "window.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PILOTPACK_MODEL_PREDICTIVE_MAINTENANCE", result.bento_tag)
        mp.setenv("PILOTPACK_PREDICTION_LOG", str(folder / "predictions.db"))
        done = CliRunner().invoke(
            app,
            ["monitor", uc.name, "--data", str(folder / "window.csv"),
             "--out", str(folder / "monitor.json")],
        )  # fmt: skip
    return done, folder


def test_monitor_writes_a_page_with_drift_bars_and_the_score_distribution(monitored):
    from shared.core.drift import psi_from_shares

    done, folder = monitored
    assert done.exit_code == 1, done.output  # the drift alerts
    page = folder / "monitor.html"
    assert page.exists() and str(page) in done.output.replace("\n", "")
    html = page.read_text()
    assert captions(html) == [
        "PSI per input and the score (alert line at 0.2)",
        "Score distribution: training reference vs window",
    ]
    assert "tool_wear_min" in html and "drift: PSI" in html and "Retraining due" in html
    # The distribution drawn is the one the score's PSI was computed on.
    report = json.loads((folder / "monitor.json").read_text())
    dist = report["score_distribution"]
    assert sum(dist["reference"]) == pytest.approx(1) and sum(dist["window"]) == pytest.approx(1)
    (score,) = [r for r in report["drift"] if r["feature"] == "score"]
    assert psi_from_shares(dist["reference"], dist["window"]) == pytest.approx(score["psi"])


# --------------------------------------------------------------------------- pilotpack ab analyze


def ab_frame(n: int, c_c: int, c_t: int, times: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "group": ["champion"] * n + ["challenger"] * n,
            "unit": range(2 * n),
            "converted": [1] * c_c + [0] * (n - c_c) + [1] * c_t + [0] * (n - c_t),
        }
    )
    if times:
        start = pd.Timestamp("2026-03-02", tz="UTC")
        frame["time"] = start + pd.to_timedelta(rng.integers(0, 21 * 86400, 2 * n), unit="s")
    return frame


def test_ab_analyze_writes_a_page_with_rates_and_lift_by_week(tmp_path):
    from shared.app.cli import app

    data, out = tmp_path / "ab.csv", tmp_path / "ab" / "analysis.json"
    ab_frame(4000, 400, 480).to_csv(data, index=False)
    done = CliRunner().invoke(
        app, ["ab", "analyze", "lead_scoring", "--data", str(data), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    page = out.with_suffix(".html")
    assert str(page) in done.output.replace("\n", "")
    assert json.loads(out.read_text())["groups"][1]["conversions"] == 480
    html = page.read_text()
    assert captions(html) == [
        "Conversion rate per group with 95 % intervals",
        "Absolute lift by week against the overall lift and its 95 % CI",
    ]
    assert "<h2>By week</h2>" in html and "challenger" in html
    # Without times there are no weeks: the page has the group rates only.
    ab_frame(4000, 400, 480, times=False).to_csv(data, index=False)
    done = CliRunner().invoke(
        app, ["ab", "analyze", "lead_scoring", "--data", str(data), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert captions(page.read_text()) == ["Conversion rate per group with 95 % intervals"]


# --------------------------------------------------------------------------- in a real browser


def assert_renders(path: Path, images: int) -> None:
    from tests.browser import render_page

    page = render_page(path)
    assert page["errors"] == [], page["errors"]
    assert len(page["images"]) == images
    assert all(ok and width > 0 for ok, width in page["images"]), page["images"]


@pytest.mark.browser
def test_monitor_page_and_forecast_report_render_in_headless_chromium(monitored, trained, tmp_path):
    _, folder = monitored
    assert_renders(folder / "monitor.html", 2)
    html = trained("demand_forecasting").documents["report.html"]
    (tmp_path / "report.html").write_text(html)
    assert_renders(tmp_path / "report.html", len(captions(html)))
