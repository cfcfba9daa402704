"""Forecasting on the shared core: many weekly series, statistical baselines, a global model.

long frame (unique_id, ds, y) -> dense panel -> forecast origins (history windows) ->
rolling-origin backtests -> metrics per model and horizon step -> conformal intervals ->
ONNX + parity -> MLflow -> BentoML store. No column name or domain word lives here.
"""
