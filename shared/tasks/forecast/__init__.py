"""Forecasting on the shared core: many series on one calendar (daily, weekly, monthly),
statistical baselines, a global model and their ensemble.

long frame (unique_id, ds, y) -> dense panel (calendar.py, panel.py) -> forecast origins
(windows.py) -> rolling-origin backtests (backtest.py, baselines.py, model.py) -> metrics per
model and horizon step (metrics.py) -> conformal intervals (intervals.py) -> ONNX + parity ->
serving (predictor.py, service.py) and batch forecasts (batch.py). The task plug-in
shared/tasks/forecast/task.py wires them into the one run skeleton. No column name or domain word
lives here.
"""
