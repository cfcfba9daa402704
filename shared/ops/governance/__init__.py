"""Governance: what a training run says about itself to the people who answer for it.

- `columns`: personal and sensitive columns, read from the schema's Field metadata.
- `fairness`: fairlearn MetricFrame by sensitive column on the test part, and its gate.
- `explain`: contributions per model input (LightGBM TreeSHAP, exact linear terms), for the
  report and for the service's /explain endpoint.
- `assess`: one call from the training run gathering the above (and the curves to plot).
- `card`: the model card of a registered version (Markdown + HTML).
- `html_report`: the training report as one self-contained HTML page with plots.
- `registry`: the AI registry of every use case (`pilotpack registry`).
"""
