"""`pilotpack simulate`: a seeded pilot in fast-forward through the real service, prediction
log, registry, monitor, rollout, A/B, retrain and alert rules, each decision checked against
a truth known by construction (docs/simulate.md)."""
