"""What every command group of the `pilotpack` CLI shares: the consoles, the common arguments,
finding a use case, and one way to refuse bad input (one red line, exit code 2)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from shared.core.usecase import UseCase, get_use_case

# Piped output (CI logs, `| tee`) would otherwise be cut to 80 columns and wrap every table.
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

UseCaseArg = Annotated[str, typer.Argument(help="use case name (see `pilotpack list`)")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="config override section.key=value (repeatable)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="last stdout line is one JSON object")]

# What a user's input can raise: unreadable or missing files, bad values, missing columns.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError)


def fail(message: str, cause: BaseException | None = None) -> NoReturn:
    """Refuse the user's input: one red line on stderr, exit code 2, no traceback."""
    # markup off: a message quoting the user's input may hold [brackets]
    err.print(message, style="red", markup=False, soft_wrap=True)
    raise typer.Exit(2) from cause


@contextmanager
def refused(*errors: type[BaseException], prefix: str = "") -> Iterator[None]:
    """`errors` raised inside become `fail(prefix + one_line(exc))`."""
    try:
        yield
    except errors as exc:
        fail(f"{prefix}{one_line(exc)}", exc)


def one_line(exc: BaseException) -> str:
    """One line for the terminal: pydantic's errors as `where: what; ...`, others as they are."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    text = str(exc) if not isinstance(exc, KeyError) else f"missing column or key {exc}"
    text = " ".join(text.split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def find_use_case(name: str) -> UseCase:
    """The registered use case of that name, or exit 2 naming the registered ones."""
    try:
        return get_use_case(name)
    except KeyError as exc:
        fail(exc.args[0], exc)


def fmt(value: Any, pattern: str = "{:.2f}") -> str:
    """A number for a table cell; `-` when there is none."""
    if value is None:
        return "-"
    try:
        return pattern.format(value)
    except (TypeError, ValueError):
        return str(value)
