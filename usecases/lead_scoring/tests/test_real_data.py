"""The X Education leads file: validation passes, honest AUC on a stratified 80/20 hold-out,
ONNX parity, and the inflation a leaky column would have caused, measured."""

import numpy as np
import pytest

from shared.core.config import LightGBMParams
from shared.core.io import read_table
from shared.core.onnx_export import make_tabular_classifier, model_inputs
from shared.core.splits import stratified_split
from shared.core.usecase import get_use_case
from shared.ops.training import train
from tests.conftest import real_data, repeated_real_splits
from usecases.lead_scoring.features import category
from usecases.lead_scoring.schema import LEAKY_COLUMNS

pytestmark = pytest.mark.real_data
UC = get_use_case("lead_scoring")
LEADS = "lead_scoring/Leads.csv"


def test_leads_file_reaches_the_honest_auc_without_leaky_columns():
    result = train(UC, UC.load_config(), data=real_data(LEADS), track=False)
    assert result.validation.ok and result.validation.rows == 9240
    assert result.split["kind"] == "stratified"
    assert result.split["test"] == 1848  # 20 % stratified hold-out
    assert result.metrics["roc_auc"] >= 0.86
    assert result.parity.ok and result.parity.max_abs_diff <= 1e-4
    assert result.kpis["top_k_lift"] > 1.8  # calling the top K beats calling at random
    assert result.gates_passed, result.gate_reasons


def test_leads_floor_holds_on_the_mean_of_repeated_splits():
    summary = repeated_real_splits("lead_scoring", LEADS, 3)
    chosen, base = summary["candidates"]["chosen"], summary["candidates"]["logistic"]
    assert chosen["roc_auc"]["mean"] >= 0.86
    assert summary["paired"]["roc_auc"]["mean_diff"] > 0  # beats the baseline on average
    assert base["roc_auc"]["n"] == 3


def test_leaky_columns_would_inflate_the_auc():
    """Same split, same LightGBM: with Tags the model reads the rep's disposition, not the lead."""
    from sklearn.metrics import roc_auc_score

    raw = read_table(real_data(LEADS))
    y = UC.labels(raw)
    cfg = UC.load_config()
    split = stratified_split(y, cfg.split.test_size, cfg.split.valid_size, cfg.split.seed)
    fit_on = np.concatenate([split.train, split.valid])
    params = LightGBMParams.model_validate(cfg.model.candidates[0].params.model_dump())
    honest = model_inputs(UC, raw)

    def test_auc(extra: tuple[str, ...]) -> float:
        X = honest.assign(**{c: category(raw[c]) for c in extra})
        model = make_tabular_classifier(
            params, UC.numeric_features, UC.categorical_features + extra
        )
        model.fit(X.iloc[fit_on], y[fit_on])
        return float(roc_auc_score(y[split.test], model.predict_proba(X.iloc[split.test])[:, 1]))

    aucs = {
        "honest": test_auc(()),
        "+Tags": test_auc(("Tags",)),
        "+all leaky": test_auc(LEAKY_COLUMNS),
    }
    print("test ROC AUC on the 20 % hold-out:", {k: round(v, 3) for k, v in aucs.items()})
    assert 0.85 <= aucs["honest"] < 0.9
    assert aucs["+Tags"] > 0.95 and aucs["+all leaky"] > aucs["+Tags"]
