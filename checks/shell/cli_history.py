"""``readiness history``, ``attest``, ``waive``, ``report`` and ``checkpoint``: what was recorded, the manual
facts, and the weekly checkpoint report."""

from __future__ import annotations

import calendar
import getpass
import re
import sys
from datetime import UTC, date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from checks.shell.cli_app import DbOpt, ManifestOpt, app, die, history_exists, open_manifest, open_store, out
from vault.cli_console import real


class HistoryFormat(str, Enum):
    table = "table"
    json = "json"


history_app = typer.Typer(
    name="history",
    help="Recent runs, newest first (verdict, passing counts), or one check's history with --check; "
    "`history prune` removes old runs.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(history_app)


@history_app.callback()
def history(
    ctx: typer.Context,
    db: DbOpt = None,
    limit: Annotated[int, typer.Option(help="How many runs")] = 20,
    check_id: Annotated[str | None, typer.Option("--check", help="History of one check")] = None,
    format: Annotated[HistoryFormat, typer.Option("--format", help="table or json")] = HistoryFormat.table,
) -> None:
    """Recent runs, newest first (verdict, passing counts), or one check's history with --check.

    `readiness history prune` applies the retention."""
    if ctx.invoked_subcommand is not None:
        return
    from checks.storage import frames

    store = open_store(db)
    try:
        if check_id:
            frame = frames.check_frame(store, check_id).tail(limit)
            if frame.empty:
                die(f"no history for check {check_id!r} (see `readiness validate --list` for the ids)")
        else:
            frame = frames.runs_frame(store).tail(limit)
    finally:
        store.close()
    if format is HistoryFormat.json:
        sys.stdout.write(frame.to_json(orient="records", date_format="iso") + "\n")
        return
    if frame.empty:
        out.print("no runs recorded yet: run `readiness check`")
        return
    from checks.presentation.terminal import print_check_history, print_history

    if check_id:
        print_check_history(real(out), check_id, frame)
    else:
        print_history(real(out), frame)


@history_app.command("prune")
def prune(
    keep_days: Annotated[int, typer.Option("--keep-days", help="Keep the runs of the last N days")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed")] = False,
    db: DbOpt = None,
) -> None:
    """Delete runs older than --keep-days and their results; checkpointed runs, the 50 latest runs, the daily
    rollups (long-range trends), streaks, waivers and attestations are kept."""
    from checks.core.clock import SystemClock
    from checks.storage.prune import prune as run_prune

    if keep_days < 0:
        die(f"--keep-days {keep_days}: expected 0 or more days")
    if not history_exists(db):  # pruning must not create (and migrate) an empty history file
        out.print("no history recorded here: nothing to prune", highlight=False, markup=False)
        return
    store = open_store(db)
    try:
        report = run_prune(store, keep_days, SystemClock().now(), dry_run=dry_run)
    finally:
        store.close()
    verb = "would delete" if report.dry_run else "deleted"
    out.print(
        f"{verb} {report.runs:,} runs and {report.results:,} results started before "
        f"{report.cutoff:%Y-%m-%d %H:%M} UTC; kept {report.kept_old:,} older runs (checkpointed or among the "
        "50 latest) and the daily rollups",
        highlight=False,
        markup=False,
        soft_wrap=True,  # one line, for logs and scripts
    )


def _actor(by: str | None) -> str:
    return by or getpass.getuser()


def _parse_day(value: str, option: str) -> date:
    shaped = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value.strip())
    if not shaped:
        die(f"{option} {value!r}: expected a date as YYYY-MM-DD")
    year, month, day = (int(part) for part in shaped.groups())
    try:
        return date(year, month, day)
    except ValueError:
        pass
    if not 1 <= month <= 12:
        die(f"{option} {value}: {value} is not a date: there is no month {month}")
    if year < 1:
        die(f"{option} {value}: {value} is not a date: there is no year 0")
    last = calendar.monthrange(year, month)[1]
    die(f"{option} {value}: {value} is not a date: {calendar.month_name[month]} has {last} days in {year}")


@app.command()
def attest(
    item: Annotated[str, typer.Argument(help="Item id, e.g. oauth.google")],
    status: Annotated[str, typer.Argument(help="One of the item's states, e.g. created, submitted, approved")],
    note: Annotated[str, typer.Option(help="What was done, where the evidence is")] = "",
    on: Annotated[str | None, typer.Option("--date", help="When it became true (YYYY-MM-DD); default today")] = None,
    by: Annotated[str | None, typer.Option(help="Who attests (default: the OS user)")] = None,
    manifest: ManifestOpt = None,
    db: DbOpt = None,
) -> None:
    """Record a fact no API can tell (an OAuth app submitted, a security review approved)."""
    from checks.core.clock import SystemClock
    from checks.core.facts import Attestation
    from checks.presentation.views.checks_table import attestable_statuses

    m = open_manifest(manifest)
    if item not in m.items_by_id:
        die(f"unknown item {item!r} (known: {', '.join(m.items_by_id)})")
    states = attestable_statuses(m, item)
    if not states:
        die(f"{item} has no state to attest: no manual check or escalation rule of the manifest reads it")
    if status.strip() not in states:
        die(f"{status!r} is not a state of {item}: attest one of {', '.join(states)}")
    effective = _parse_day(on, "--date") if on else None
    store = open_store(db)
    try:
        saved = store.add_attestation(
            Attestation(
                item=item, status=status.strip(), by=_actor(by), at=SystemClock().now(), note=note, effective=effective
            )
        )
    finally:
        store.close()
    out.print(f"attested {saved.item} = {saved.status} by {saved.by}", highlight=False, markup=False)


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
    from checks.core.clock import SystemClock
    from checks.core.facts import Waiver

    m = open_manifest(manifest)
    if not m.match_checks([check_id]):
        die(f"{check_id!r} matches no check (see `readiness validate --list`)")
    if not reason.strip():
        die("--reason must say why the gap is acceptable")
    day = _parse_day(until, "--until")
    now = SystemClock().now()
    end = datetime.combine(day, time.max, tzinfo=UTC)
    if end <= now:
        die(f"--until {until}: already past; a waiver must end in the future")
    store = open_store(db)
    try:
        saved = store.add_waiver(
            Waiver(check=check_id, reason=reason.strip(), by=_actor(by), until=end, created_at=now)
        )
    finally:
        store.close()
    out.print(f"waived {saved.check} until {day.isoformat()} by {saved.by}", highlight=False, markup=False)


class ReportFormat(str, Enum):
    md = "md"
    html = "html"


@app.command()
def report(
    manifest: ManifestOpt = None,
    db: DbOpt = None,
    since: Annotated[
        str, typer.Option("--since", help="Compare with the previous checkpoint, a date (YYYY-MM-DD), or 'none'")
    ] = "checkpoint",
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="md or html")] = ReportFormat.md,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout")] = None,
) -> None:
    """The checkpoint assessment of the latest run, in the seed's structure, with what changed since."""
    from checks.presentation.report import Since
    from checks.presentation.report_build import build_report
    from checks.presentation.report_html import render_html
    from checks.presentation.report_markdown import render_markdown

    m = open_manifest(manifest)
    when: Since = None if since == "none" else "checkpoint" if since == "checkpoint" else _parse_day(since, "--since")
    store = open_store(db)
    try:
        if store.latest_run() is None:
            die("no runs recorded yet: run `readiness check` first")
        rep = build_report(m, store, since=when)
        text = render_html(rep, store) if format is ReportFormat.html else render_markdown(rep)
    finally:
        store.close()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        die(f"-o {output}: cannot write ({exc.strerror})")
    out.print(f"wrote {output} ({rep.decision.value}, run {rep.run.id})", highlight=False, markup=False)


@app.command()
def checkpoint(
    title: Annotated[str | None, typer.Option(help="Name it, e.g. 'Week 1 checkpoint'")] = None,
    manifest: ManifestOpt = None,
    db: DbOpt = None,
) -> None:
    """Freeze the latest run, the waivers in force and the latest attestations as the weekly checkpoint."""
    from checks.presentation.report_build import record_checkpoint

    m = open_manifest(manifest)
    store = open_store(db)
    try:
        if store.latest_run() is None:
            die("no runs recorded yet: run `readiness check` first")
        cp = record_checkpoint(m, store, title=title)
    finally:
        store.close()
    out.print(
        f'checkpoint #{cp.id} "{cp.title}": run {cp.run_id}, {cp.snapshot["verdict"]}, '
        f"{len(cp.snapshot['results'])} results, {len(cp.snapshot['waivers'])} waivers, "
        f"{len(cp.snapshot['attestations'])} attestations",
        highlight=False,
        markup=False,
    )


# --- the demo: stand-ins, dashboard, the scripted story -------------------------------------------------------
