"""Monitoring, alerts and experiments: drift against the training reference, realised
performance once outcomes arrive, Prometheus rules and Grafana dashboards generated from each
use case's config, A/B test planning and analysis, and the retraining loop.

Nothing here imports a use case except through the registry; heavy libraries (scipy,
statsmodels, sklearn) are imported inside the functions that need them.
"""
