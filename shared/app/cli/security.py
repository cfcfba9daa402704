"""Security and privacy commands: auth new-key|revoke (the keys document of
shared/serve/auth.py), privacy export|erase (shared/serve/privacy.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.app.cli.common import UseCaseArg, err, fail, find_use_case, out
from shared.core.config import read_yaml
from shared.serve.auth import SCOPES, SOURCE_TREE, dump_settings, key_entry, parse_settings
from shared.serve.auth import new_key as make_key
from shared.serve.predlog import open_log
from shared.serve.privacy import access, safe_location
from shared.serve.privacy import erase as erase_person

PANEL = "Security"
IdOpt = Annotated[str, typer.Option("--id", help="the person's id: the use case's routing key")]
WhoOpt = Annotated[str | None, typer.Option(help="who asks (audit line); default: OS user")]
KeysFile = Annotated[
    Path, typer.Option("--file", help="the keys document (outside the repository)")
]
app = typer.Typer()
auth_app = typer.Typer(help="API keys: make, rotate, revoke.", no_args_is_help=True)
privacy_app = typer.Typer(help="A person's data in the log: access, erasure.", no_args_is_help=True)
app.add_typer(auth_app, name="auth", rich_help_panel=PANEL)
app.add_typer(privacy_app, name="privacy", rich_help_panel=PANEL)


def read_doc(path: Path) -> dict[str, Any]:
    """The keys document, checked as the service would read it; empty when there is none."""
    if not path.exists():
        return {"keys": []}
    text = path.read_text()
    parse_settings(text)  # a broken document fails here, not in the service
    return read_yaml(text) or {"keys": []}


def write_doc(path: Path, doc: dict[str, Any]) -> None:
    """Written beside and renamed over: a service re-reading it never sees half a file."""
    if path.resolve().is_relative_to(SOURCE_TREE):
        fail(f"{path} is inside the source tree: keep keys out of the repository")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(dump_settings(doc))
    os.replace(tmp, path)


@auth_app.command("new-key")
def new_key(
    name: Annotated[str, typer.Option(help="who holds it, e.g. crm-2025-06")],
    scope: Annotated[
        list[str], typer.Option(help="predict, explain, outcome or admin; repeatable")
    ],
    file: KeysFile,
) -> None:
    """Make a key, add its hash to the keys document, print the key once."""
    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        fail(f"unknown scopes {unknown}: use {', '.join(SCOPES)}")
    doc = read_doc(file)
    if any(k.get("name") == name for k in doc.get("keys", [])):
        fail(f"a key named {name!r} exists: pick another name (rotation)")
    key = make_key()
    doc.setdefault("keys", []).append(key_entry(name, key, list(dict.fromkeys(scope))))
    write_doc(file, doc)
    err.print(f"added {name!r} ({', '.join(scope)}) to {file}; the key, shown only now:")
    print(key)


@auth_app.command("revoke")
def revoke(name: Annotated[str, typer.Option(help="the key's name")], file: KeysFile) -> None:
    """Remove a key from the keys document (services re-read it within seconds)."""
    doc = read_doc(file)
    kept = [k for k in doc.get("keys", []) if k.get("name") != name]
    if len(kept) == len(doc.get("keys", [])):
        fail(f"no key named {name!r} in {file}")
    write_doc(file, doc | {"keys": kept})
    out.print(f"revoked {name!r}; {len(kept)} keys left in {file}")


@privacy_app.command("export")
def export(
    use_case: UseCaseArg,
    entity: IdOpt,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="JSON file; default: stdout")
    ] = None,
    who: WhoOpt = None,
) -> None:
    """Everything the prediction log holds about one person (right of access)."""
    uc = find_use_case(use_case)
    with open_log() as log:
        found = access(log, uc.name, entity, who)
    text = json.dumps(found, indent=2, default=str)
    if out_path is None:
        print(text)
        return
    out_path.write_text(text + "\n")
    err.print(
        f"{len(found['predictions'])} predictions and {len(found['outcomes'])} "
        f"outcomes written to {out_path}"
    )


@privacy_app.command("erase")
def erase(use_case: UseCaseArg, entity: IdOpt, who: WhoOpt = None) -> None:
    """Delete one person's predictions and outcomes: log and exported Parquet files."""
    uc = find_use_case(use_case)
    with open_log() as log:
        counts = erase_person(log, uc.name, entity, who)
    out.print(
        f"{uc.name}: erased {counts['predictions']} predictions and {counts['outcomes']} "
        f"outcomes from {safe_location(log.location)}, and {counts['exported_rows']} rows "
        f"from {counts['export_files']} exported files"
    )
