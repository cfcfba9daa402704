"""The security and privacy commands of the `pilotpack` CLI: `auth new-key|revoke` (the keys
document of shared/serve/auth.py) and `privacy export|erase` (shared/serve/privacy.py). Registered on the
main app by shared/app/cli.py; heavy imports stay inside commands."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

UseCaseArg = Annotated[str, typer.Argument(help="use case name (see `pilotpack list`)")]
IdOpt = Annotated[str, typer.Option("--id", help="the person's id: the use case's routing key")]
WhoOpt = Annotated[str | None, typer.Option(help="who asks (audit line); default: OS user")]
KeysFile = Annotated[
    Path, typer.Option("--file", help="the keys document (outside the repository)")
]


def register(
    app: typer.Typer, out: Console, err: Console, use_case_of: Callable[[str], Any]
) -> None:
    """Add the `auth` and `privacy` command groups to `app`."""
    auth_app = typer.Typer(help="API keys: make, rotate, revoke.", no_args_is_help=True)
    privacy_app = typer.Typer(help="A person's data in the log: access, erasure.")
    privacy_app.info.no_args_is_help = True
    app.add_typer(auth_app, name="auth")
    app.add_typer(privacy_app, name="privacy")

    def read_doc(path: Path) -> dict[str, Any]:
        from shared.serve.auth import parse_settings

        if not path.exists():
            return {"keys": []}
        parse_settings(path.read_text())  # a broken document fails here, not in the service
        import yaml

        return yaml.safe_load(path.read_text()) or {"keys": []}

    def write_doc(path: Path, doc: dict[str, Any]) -> None:
        """Written beside and renamed over: a service re-reading it never sees half a file."""
        from shared.serve.auth import SOURCE_TREE, dump_settings

        if path.resolve().is_relative_to(SOURCE_TREE):
            err.print(f"[red]{path} is inside the source tree: keep keys out of the repository")
            raise typer.Exit(2)
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
        from shared.serve.auth import SCOPES, key_entry
        from shared.serve.auth import new_key as make

        unknown = [s for s in scope if s not in SCOPES]
        if unknown:
            err.print(f"[red]unknown scopes {unknown}: use {', '.join(SCOPES)}[/red]")
            raise typer.Exit(2)
        doc = read_doc(file)
        if any(k.get("name") == name for k in doc.get("keys", [])):
            err.print(f"[red]a key named {name!r} exists: pick another name (rotation)[/red]")
            raise typer.Exit(2)
        key = make()
        doc.setdefault("keys", []).append(key_entry(name, key, list(dict.fromkeys(scope))))
        write_doc(file, doc)
        err.print(f"added {name!r} ({', '.join(scope)}) to {file}; the key, shown only now:")
        print(key)

    @auth_app.command("revoke")
    def revoke(
        name: Annotated[str, typer.Option(help="the key's name")],
        file: KeysFile,
    ) -> None:
        """Remove a key from the keys document (services re-read it within seconds)."""
        doc = read_doc(file)
        kept = [k for k in doc.get("keys", []) if k.get("name") != name]
        if len(kept) == len(doc.get("keys", [])):
            err.print(f"[red]no key named {name!r} in {file}[/red]")
            raise typer.Exit(2)
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
        from shared.serve.predlog import open_log
        from shared.serve.privacy import access

        uc = use_case_of(use_case)
        with open_log() as log:
            found = access(log, uc.name, entity, who)
        text = json.dumps(found, indent=2, default=str)
        if out_path is None:
            print(text)
        else:
            out_path.write_text(text + "\n")
            err.print(
                f"{len(found['predictions'])} predictions and {len(found['outcomes'])} "
                f"outcomes written to {out_path}"
            )

    @privacy_app.command("erase")
    def erase(use_case: UseCaseArg, entity: IdOpt, who: WhoOpt = None) -> None:
        """Delete one person's predictions and outcomes: log and exported Parquet files."""
        from shared.serve.predlog import open_log
        from shared.serve.privacy import erase as run
        from shared.serve.privacy import safe_location

        uc = use_case_of(use_case)
        with open_log() as log:
            counts = run(log, uc.name, entity, who)
        out.print(
            f"{uc.name}: erased {counts['predictions']} predictions and {counts['outcomes']} "
            f"outcomes from {safe_location(log.location)}, and {counts['exported_rows']} rows "
            f"from {counts['export_files']} exported files"
        )
