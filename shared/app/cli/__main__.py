"""`python -m shared.app.cli`: the same as the `pilotpack` command."""

from shared.app.cli import app

app()
