"""The use cases: one folder each, discovered by shared.usecase.registry()."""
