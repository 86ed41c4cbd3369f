"""The ``readiness`` command line. Exit codes: 0 GO or CONDITIONAL, 1 NO-GO, 2 unusable input.

typer gives typed options and ``--help`` from the signatures; rich draws tables and progress on a terminal.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from checks.errors import ManifestError, ReadinessError

app = typer.Typer(
    name="readiness",
    help="A live go/no-go view of a release's infrastructure prerequisites.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

ManifestOpt = Annotated[
    Path | None,
    typer.Option("--manifest", "-m", help="Manifest file [env: READINESS_MANIFEST; default ./readiness.toml]"),
]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL [env: READINESS_DB_URL]")]


class Format(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"
    markdown = "markdown"


STYLE = {"pass": "green", "warn": "yellow", "pending": "cyan", "skipped": "dim", "fail": "red", "error": "magenta"}
VERDICT_STYLE = {"GO": "bold white on green", "CONDITIONAL": "bold black on yellow", "NO-GO": "bold white on red"}


def _die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _manifest(path: Path | None) -> Any:
    from checks.manifest import load_manifest

    return load_manifest(path)


def _store(db: str | None) -> Any:
    from checks.history import Store

    return Store.open(db)


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
    from checks.engine import sweep
    from checks.formats import to_json, to_junit, to_markdown

    m = _manifest(manifest)
    for a in area or []:
        if a not in m.areas_by_id:
            _die(f"--area {a!r}: no such area (known: {', '.join(m.areas_by_id)})")
    from checks.runner import select_checks

    selected = select_checks(m, only or [], area or [])
    if only and not selected:
        _die(f"--only {' '.join(only)}: matches no check (see `readiness validate --list`)")
    store = _store(db)
    try:
        progress = _progress(len(selected)) if err.is_terminal else None
        if progress is not None:
            with progress:
                task = progress.add_task("checking", total=len(selected))

                def advance(result: Any, done: int, total: int) -> None:
                    progress.update(task, completed=done, description=f"{result.id} {result.status.value}")

                run = sweep(
                    m,
                    store=store,
                    only=only or [],
                    areas=area or [],
                    record=not no_record,
                    env_file=env_file,
                    on_result=advance,
                )
        else:
            run = sweep(m, store=store, only=only or [], areas=area or [], record=not no_record, env_file=env_file)
    finally:
        store.close()
    if format is Format.json:
        sys.stdout.write(to_json(run) + "\n")
    elif format is Format.junit:
        sys.stdout.write(to_junit(run) + "\n")
    elif format is Format.markdown:
        sys.stdout.write(to_markdown(run))
    else:
        _print_table(run)
    raise typer.Exit(run.exit_code)


def _progress(total: int) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _print_table(run: Any) -> None:
    v = run.verdict
    table = Table(title=None, show_lines=False, expand=True)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("sev", no_wrap=True)
    table.add_column("summary")
    for area in v.areas:
        table.add_section()
        table.add_row("", f"[bold]{area.title}[/bold]", "", f"[bold]{area.state}[/bold]  {area.passed}/{area.total}")
        for r in run.results:
            if r.area != area.id:
                continue
            status = r.status.value + (" (waived)" if r.waived else "")
            table.add_row(f"[{STYLE[r.status.value]}]{status}[/]", r.id, r.severity.value, r.result.summary)
    out.print(table)
    out.print(f"[{VERDICT_STYLE[v.decision.value]}] {v.decision.value} [/]  run {run.id[:12]}", highlight=False)
    for reason in v.reasons[:25]:
        out.print(f"  • {reason}", highlight=False, markup=False)
    if len(v.reasons) > 25:
        out.print(f"  … and {len(v.reasons) - 25} more (use --format markdown or json)")
    for e in v.escalations:
        out.print(
            f"[bold red]ESCALATE[/] {e.title or e.rule}: {e.item} since {e.since.date()} → {e.contact}", highlight=False
        )


@app.command()
def validate(
    manifest: ManifestOpt = None,
    list_checks: Annotated[bool, typer.Option("--list", help="List every check id")] = False,
) -> None:
    """Validate the manifest alone (for a CI step): exit 0 when usable, 2 naming each bad field."""
    from checks.registry import get_registry

    m = _manifest(manifest)
    get_registry().validate(m)
    out.print(
        f"{m.source}: ok — {len(m.items)} items, {len(m.all_checks)} checks, {len(m.criteria)} criteria",
        highlight=False,
    )
    if list_checks:
        for c in m.all_checks:
            out.print(f"  {c.id}  ({c.kind}, {c.severity.value})", highlight=False, markup=False)


@app.command()
def plugins() -> None:
    """List the check kinds and where each came from; plugins that failed to load, and why."""
    from checks.registry import get_registry

    reg = get_registry()
    table = Table("kind", "source", "what it does")
    for name in sorted(reg.kinds):
        spec = reg.kinds[name]
        table.add_row(name, spec.source, spec.doc)
    out.print(table)
    for f in reg.failures:
        out.print(f"[red]failed[/red] {f.name} = {f.target} ({f.distribution}): {f.error}", highlight=False)


@app.command()
def history(
    db: DbOpt = None,
    limit: Annotated[int, typer.Option(help="How many runs")] = 20,
    check_id: Annotated[str | None, typer.Option("--check", help="History of one check")] = None,
    format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Recent runs (verdict, passing counts), or one check's history with --check."""
    from checks import history as h

    store = _store(db)
    try:
        if check_id:
            frame = h.check_frame(store, check_id).tail(limit)
            if frame.empty:
                _die(f"no history for check {check_id!r}", 1)
        else:
            frame = h.runs_frame(store).tail(limit)
    finally:
        store.close()
    if format == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso") + "\n")
        return
    if frame.empty:
        out.print("no runs recorded yet: run `readiness check`")
        return
    table = Table(*[str(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        table.add_row(*[_fmt(v) for v in row])
    out.print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    return str(value)


def _actor(by: str | None) -> str:
    return by or getpass.getuser()


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _die(f"{option} {value!r}: expected a date as YYYY-MM-DD")


@app.command()
def attest(
    item: Annotated[str, typer.Argument(help="Item id, e.g. oauth.google")],
    status: Annotated[str, typer.Argument(help="e.g. created, submitted, approved, rejected")],
    note: Annotated[str, typer.Option(help="What was done, where the evidence is")] = "",
    on: Annotated[str | None, typer.Option("--date", help="When it became true (YYYY-MM-DD); default today")] = None,
    by: Annotated[str | None, typer.Option(help="Who attests (default: the OS user)")] = None,
    manifest: ManifestOpt = None,
    db: DbOpt = None,
) -> None:
    """Record a fact no API can tell (an OAuth app submitted, a security review approved)."""
    from checks.clock import SystemClock
    from checks.facts import Attestation

    m = _manifest(manifest)
    if item not in m.items_by_id:
        _die(f"unknown item {item!r} (known: {', '.join(m.items_by_id)})")
    effective = _parse_day(on, "--date") if on else None
    store = _store(db)
    try:
        saved = store.add_attestation(
            Attestation(
                item=item, status=status.strip(), by=_actor(by), at=SystemClock().now(), note=note, effective=effective
            )
        )
    finally:
        store.close()
    out.print(f"attested {saved.item} = {saved.status} by {saved.by}", highlight=False)


@app.command()
def waive(
    check_id: Annotated[str, typer.Argument(help="Check id (or glob) to waive")],
    reason: Annotated[str, typer.Option(help="Why the gap is acceptable")],
    until: Annotated[str, typer.Option(help="Last day the waiver holds (YYYY-MM-DD)")],
    by: Annotated[str | None, typer.Option(help="Who waives (default: the OS user)")] = None,
    manifest: ManifestOpt = None,
    db: DbOpt = None,
) -> None:
    """Accept a gap in a check until a date; the verdict becomes CONDITIONAL if it was the only gap."""
    from checks.clock import SystemClock
    from checks.facts import Waiver

    m = _manifest(manifest)
    if not m.match_checks([check_id]):
        _die(f"{check_id!r} matches no check (see `readiness validate --list`)")
    if not reason.strip():
        _die("--reason must say why the gap is acceptable")
    day = _parse_day(until, "--until")
    now = SystemClock().now()
    end = datetime.combine(day, time.max, tzinfo=UTC)
    if end <= now:
        _die(f"--until {until}: already past; a waiver must end in the future")
    store = _store(db)
    try:
        saved = store.add_waiver(
            Waiver(check=check_id, reason=reason.strip(), by=_actor(by), until=end, created_at=now)
        )
    finally:
        store.close()
    out.print(f"waived {saved.check} until {day.isoformat()} by {saved.by}", highlight=False)


def main() -> None:
    """Console-script entry point: ReadinessError becomes a message and exit 2, never a traceback."""
    try:
        app()
    except ManifestError as exc:
        err.print(str(exc), highlight=False, markup=False)
        sys.exit(2)
    except ReadinessError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
