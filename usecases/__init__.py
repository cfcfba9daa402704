"""The use cases: one folder each, discovered by shared.core.usecase.registry()."""
