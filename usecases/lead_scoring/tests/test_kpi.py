import numpy as np
import pytest

from usecases.lead_scoring.kpi import (
    BandCutoffs,
    KpiConfig,
    assign_bands,
    compute_kpis,
    kpi_gates,
    profit,
)

BANDS = BandCutoffs(A=0.75, B=0.5, C=0.25)
# One week = these six leads; the team can call 2 of them. A conversion is worth 100, a call costs 20.
CFG = KpiConfig(
    leads_per_week=6, calls_per_week=2, value_per_conversion=100, cost_per_call=20, bands=BANDS
)
Y = np.array([1, 1, 0, 1, 0, 0])
P = np.array([0.9, 0.8, 0.6, 0.4, 0.3, 0.1])


def test_six_leads_worked_by_hand():
    k = compute_kpis(Y, P, 0.35, CFG)
    # Top K = 2 highest scores, rows 0 and 1: both convert -> rate 1.0; the pool converts 3/6 = 0.5.
    assert k["top_k_conversion_rate"] == 1.0
    assert k["pool_conversion_rate"] == k["random_k_conversion_rate"] == 0.5
    assert k["top_k_lift"] == pytest.approx(2.0)
    # 2 leads drawn at random from 6 with 3 converters: P(0) = 3/15, P(1) = 9/15, P(2) = 3/15.
    # P(<= 1) = 0.8 < 0.975, so the 97.5th percentile is 2 conversions: rate 1.0.
    assert k["random_k_conversion_rate_high"] == 1.0
    # Calling the top 2: 2 * 1.0 * 100 = 200 revenue, 200 - 2 * 20 = 160 profit.
    assert k["weekly_revenue_top_k_eur"] == pytest.approx(200)
    assert k["weekly_profit_top_k_eur"] == pytest.approx(160)
    # Calling 2 at random: 2 * 0.5 * 100 - 40 = 60; the model gains 160 - 60 = 100 a week.
    assert k["weekly_profit_random_k_eur"] == pytest.approx(60)
    assert k["weekly_gain_vs_random_k_eur"] == pytest.approx(100)
    assert k["weekly_conversions_top_k"] == 2 and k["weekly_conversions_random_k"] == 1
    # Threshold 0.35 calls rows 0-3: 3 conversions * 100 - 4 * 20 = 220, 2 calls over capacity.
    assert k["weekly_profit_at_threshold_eur"] == pytest.approx(220)
    assert k["weekly_calls_at_threshold"] == 4 and k["weekly_capacity_shortfall_calls"] == 2
    # Everyone: 3 * 100 - 6 * 20 = 180.
    assert k["weekly_profit_call_everyone_eur"] == pytest.approx(180)
    assert k["precision_at_threshold"] == pytest.approx(0.75) and k["recall_at_threshold"] == 1.0
    # Bands: A = rows 0, 1 (both convert); B = row 2 (0.6, no); C = rows 3, 4 (0.4 yes, 0.3 no); D = row 5.
    assert [k[f"band_{b}_share"] for b in "ABCD"] == pytest.approx([2 / 6, 1 / 6, 2 / 6, 1 / 6])
    assert [k[f"band_{b}_conversion_rate"] for b in "ABCD"] == pytest.approx([1.0, 0.0, 0.5, 0.0])


def test_a_pool_of_two_weeks_is_scaled_to_one_week():
    cfg = CFG.model_copy(update={"leads_per_week": 12, "calls_per_week": 4})
    k = compute_kpis(Y, P, 0.35, cfg)
    # K = 4 a week is 2 of these 6 leads: the same top rows, but 4 calls a week.
    assert k["top_k_share_of_pool"] == pytest.approx(2 / 6)
    assert k["weekly_revenue_top_k_eur"] == pytest.approx(400)
    # The 6 leads are half a week: the threshold's profit of 220 is 440 a week, from 8 calls.
    assert k["weekly_profit_at_threshold_eur"] == pytest.approx(440)
    assert k["weekly_calls_at_threshold"] == pytest.approx(8)


def test_gates_name_chance_level_and_disordered_bands():
    reasons = kpi_gates(compute_kpis(Y, P, 0.35, CFG), CFG)
    assert len(reasons) == 2
    assert "within what a random K reaches by chance (up to 1.000)" in reasons[0]
    assert "band B converts less than band C (0.000 < 0.500)" in reasons[1]


def test_gates_pass_when_scores_rank_the_leads():
    y = np.array([1] * 40 + [0] * 60)
    p = np.where(y == 1, 0.8, 0.1) + np.linspace(0, 0.05, 100)
    cfg = CFG.model_copy(update={"leads_per_week": 100, "calls_per_week": 30})
    assert kpi_gates(compute_kpis(y, p, 0.35, cfg), cfg) == []


def test_calling_above_a_losing_threshold_fails_the_gate():
    cfg = CFG.model_copy(update={"cost_per_call": 90})  # 4 calls * 90 > 3 conversions * 100
    reasons = kpi_gates(compute_kpis(Y, P, 0.35, cfg), cfg)
    assert any("not more than calling nobody" in r for r in reasons)


def test_bands_include_their_lower_bound_and_empty_bands_report_zero():
    assert assign_bands(np.array([0.75, 0.7499, 0.5, 0.25, 0.2499, 0.0, 1.0]), BANDS).tolist() == [
        "A",
        "B",
        "B",
        "C",
        "D",
        "D",
        "A",
    ]
    assert assign_bands(np.array([np.nan]), BANDS).tolist() == ["D"]  # reaches no cut-off
    assert assign_bands(np.array([]), BANDS).shape == (0,)
    k = compute_kpis(Y, np.full(6, 0.1), 0.35, CFG)
    assert k["band_A_share"] == 0 and k["band_A_conversion_rate"] == 0
    assert k["band_D_share"] == 1 and k["band_D_conversion_rate"] == 0.5


def test_band_cutoffs_must_fall_from_a_to_c():
    with pytest.raises(ValueError, match="fall from A to C"):
        BandCutoffs(A=0.3, B=0.5, C=0.2)


def test_profit_counts_conversions_and_calls():
    assert profit(Y, np.zeros(6, bool), CFG) == 0
    assert profit(Y, np.ones(6, bool), CFG) == 3 * 100 - 6 * 20
