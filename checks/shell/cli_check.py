"""``readiness check``, ``validate`` and ``plugins``: a sweep for a CI gate, the manifest checked without
running it, and the check kinds installed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from checks.shell.cli_app import (
    DbOpt,
    Format,
    ManifestOpt,
    app,
    die,
    err,
    history_exists,
    open_manifest,
    open_store,
    out,
    progress_bar,
)


@app.command()
def check(
    manifest: ManifestOpt = None,
    db: DbOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format")] = Format.table,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this check id or glob (repeatable)")
    ] = None,
    area: Annotated[list[str] | None, typer.Option("--area", help="Run only this area (repeatable)")] = None,
    no_record: Annotated[bool, typer.Option("--no-record", help="Do not write the run to history")] = False,
    env_file: Annotated[str | None, typer.Option("--env-file", help="Read variables from this .env file")] = None,
) -> None:
    """Run the checks, print the verdict, exit 0 (GO/CONDITIONAL), 1 (NO-GO) or 2 (unusable input)."""
    from checks.core.environment import resolve_env
    from checks.shell.sweep import close_vault_extras, sweep, vault_extras
    from vault.cli_console import escape

    m = open_manifest(manifest)
    if env_file is not None and not Path(env_file).is_file():
        die(f"--env-file {env_file}: file not found")
    for a in area or []:
        if a not in m.areas_by_id:
            die(f"--area {a!r}: no such area (known: {', '.join(m.areas_by_id)})")
    from checks.core.runner import select_checks

    selected = select_checks(m, only or [], area or [])
    if only and not selected:
        die(f"--only {' '.join(only)}: matches no check (see `readiness validate --list`)")
    store = open_store(db) if not no_record or history_exists(db) else None  # --no-record writes nothing
    vault = vault_extras(resolve_env(m, env_file=env_file)[0], db_url=db)  # the vault kinds' vault; never raises
    try:
        progress = progress_bar(len(selected)) if err.is_terminal else None
        if progress is not None:
            with progress:
                task = progress.add_task("checking", total=len(selected))

                def advance(result: Any, done: int, total: int) -> None:
                    progress.update(task, completed=done, description=escape(f"{result.id} {result.status.value}"))

                run = sweep(
                    m,
                    store=store,
                    only=only or [],
                    areas=area or [],
                    record=not no_record,
                    env_file=env_file,
                    on_result=advance,
                    extras=vault,
                )
        else:
            run = sweep(
                m, store=store, only=only or [], areas=area or [], record=not no_record, env_file=env_file, extras=vault
            )
    finally:
        if store is not None:
            store.close()
        close_vault_extras(vault)
    if format is not Format.table:
        from checks.presentation.formats import to_json, to_junit, to_markdown

    if format is Format.json:
        sys.stdout.write(to_json(run) + "\n")
    elif format is Format.junit:
        sys.stdout.write(to_junit(run) + "\n")
    elif format is Format.markdown:
        sys.stdout.write(to_markdown(run))
    else:
        from checks.presentation.terminal import print_run
        from vault.cli_console import real

        print_run(real(out), run)
    raise typer.Exit(run.exit_code)


@app.command()
def validate(
    manifest: ManifestOpt = None,
    list_checks: Annotated[bool, typer.Option("--list", help="List every check id")] = False,
) -> None:
    """Validate the manifest alone (for a CI step): exit 0 when usable, 2 naming each bad field."""
    from checks.core.registry import get_registry

    m = open_manifest(manifest)
    get_registry().validate(m)
    # Plain lines (no rich console): a CI step's log, one line however long the path.
    typer.echo(f"{m.source}: ok — {len(m.items)} items, {len(m.all_checks)} checks, {len(m.criteria)} criteria")
    if list_checks:
        for c in m.all_checks:
            typer.echo(f"  {c.id}  ({c.kind}, {c.severity.value})")


@app.command()
def plugins() -> None:
    """List the check kinds and where each came from; plugins that failed to load, and why."""
    from rich.table import Table
    from rich.text import Text

    from checks.core.registry import get_registry

    reg = get_registry()
    table = Table("kind", "source", "what it does")
    for name in sorted(reg.kinds):
        spec = reg.kinds[name]
        table.add_row(Text(name), Text(spec.source), Text(spec.doc))  # a plugin's text is not markup
    out.print(table)
    for f in reg.failures:
        line = Text("failed", style="red")
        line.append(f" {f.name} = {f.target} ({f.distribution}): {f.error}")
        out.print(line, highlight=False)
