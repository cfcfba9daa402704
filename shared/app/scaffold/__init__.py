"""Scaffold a new use case from a team's file: profile it, write its schema, generate look-alike data.

`infer_spec` profiles a frame into a `FileSpec` (stored as profile.json), `schema_source`
writes the pandera RawSchema from it and `make_synthetic_from_spec` draws seeded rows in the
file's raw format, so a new use-case folder needs no hand-written generator.
"""

from shared.app.scaffold.infer import ColumnSpec, FileSpec, infer_spec, schema_source
from shared.core.lookalike.spec import spec_from_json, spec_to_json
from shared.core.lookalike.synth import make_synthetic_from_spec

__all__ = [
    "ColumnSpec",
    "FileSpec",
    "infer_spec",
    "make_synthetic_from_spec",
    "schema_source",
    "spec_from_json",
    "spec_to_json",
]
