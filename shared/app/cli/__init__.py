"""The `pilotpack` command line: one module per command group, assembled here.

Heavy third-party libraries (mlflow, bentoml, sklearn, ...) are imported inside the commands
that need them, so `pilotpack --help` stays instant.
"""

import typer

from shared.app.cli import (
    data,
    evaluate,
    governance,
    monitoring,
    rollout,
    security,
    serve,
    simulate,
    train,
)

app = typer.Typer(help="pilotpack: four ML pilots taken to production.", no_args_is_help=True)
for group in (train, evaluate, serve, rollout, data, monitoring, governance, security, simulate):
    app.add_typer(group.app)

__all__ = ["app"]
