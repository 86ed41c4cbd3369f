"""The ``readiness`` command line. Exit codes: 0 GO or CONDITIONAL, 1 NO-GO, 2 unusable input.

typer gives typed options and ``--help`` from the signatures; rich draws tables and progress on a terminal.
"""

from __future__ import annotations

import calendar
import contextlib
import getpass
import re
import sys
from datetime import UTC, date, datetime, time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from checks.shell.cli_errors import ErrorBoundary
from checks.shell.cli_help import plain_help
from vault.dburl import db_option


class ReadinessGroup(ErrorBoundary):
    """The ``readiness`` group: the error boundary, and click's usual ``--help`` for every command under it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_help(self)


app = typer.Typer(
    cls=ReadinessGroup,  # every command: a known error is exit 2 and one line, never a traceback
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
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL [env: READINESS_DB_URL]",
        callback=db_option("--db", ["READINESS_DB_URL"], "sqlite:///./.readiness/readiness.db"),
    ),
]


class Format(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"
    markdown = "markdown"


def _die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True, soft_wrap=True)  # one line
    raise typer.Exit(code)


def _manifest(path: Path | None) -> Any:
    from checks.core.manifest_load import load_manifest

    return load_manifest(path)


def _store(db: str | None) -> Any:
    from checks.storage.history import Store

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
    from checks.core.environment import resolve_env
    from checks.presentation.formats import to_json, to_junit, to_markdown
    from checks.shell.sweep import close_vault_extras, sweep, vault_extras

    m = _manifest(manifest)
    if env_file is not None and not Path(env_file).is_file():
        _die(f"--env-file {env_file}: file not found")
    for a in area or []:
        if a not in m.areas_by_id:
            _die(f"--area {a!r}: no such area (known: {', '.join(m.areas_by_id)})")
    from checks.core.runner import select_checks

    selected = select_checks(m, only or [], area or [])
    if only and not selected:
        _die(f"--only {' '.join(only)}: matches no check (see `readiness validate --list`)")
    store = _store(db)
    vault = vault_extras(resolve_env(m, env_file=env_file)[0], db_url=db)  # the vault kinds' vault; never raises
    try:
        progress = _progress(len(selected)) if err.is_terminal else None
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
        store.close()
        close_vault_extras(vault)
    if format is Format.json:
        sys.stdout.write(to_json(run) + "\n")
    elif format is Format.junit:
        sys.stdout.write(to_junit(run) + "\n")
    elif format is Format.markdown:
        sys.stdout.write(to_markdown(run))
    else:
        from checks.presentation.terminal import print_run

        print_run(out, run)
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


@app.command()
def validate(
    manifest: ManifestOpt = None,
    list_checks: Annotated[bool, typer.Option("--list", help="List every check id")] = False,
) -> None:
    """Validate the manifest alone (for a CI step): exit 0 when usable, 2 naming each bad field."""
    from checks.core.registry import get_registry

    m = _manifest(manifest)
    get_registry().validate(m)
    out.print(
        f"{m.source}: ok — {len(m.items)} items, {len(m.all_checks)} checks, {len(m.criteria)} criteria",
        highlight=False,
        markup=False,
    )
    if list_checks:
        for c in m.all_checks:
            out.print(f"  {c.id}  ({c.kind}, {c.severity.value})", highlight=False, markup=False)


@app.command()
def plugins() -> None:
    """List the check kinds and where each came from; plugins that failed to load, and why."""
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


class HistoryFormat(str, Enum):
    table = "table"
    json = "json"


@app.command()
def history(
    db: DbOpt = None,
    limit: Annotated[int, typer.Option(help="How many runs")] = 20,
    check_id: Annotated[str | None, typer.Option("--check", help="History of one check")] = None,
    format: Annotated[HistoryFormat, typer.Option("--format", help="table or json")] = HistoryFormat.table,
) -> None:
    """Recent runs, newest first (verdict, passing counts), or one check's history with --check."""
    from checks.storage import frames

    store = _store(db)
    try:
        if check_id:
            frame = frames.check_frame(store, check_id).tail(limit)
            if frame.empty:
                _die(f"no history for check {check_id!r} (see `readiness validate --list` for the ids)")
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
        print_check_history(out, check_id, frame)
    else:
        print_history(out, frame)


def _actor(by: str | None) -> str:
    return by or getpass.getuser()


def _parse_day(value: str, option: str) -> date:
    shaped = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value.strip())
    if not shaped:
        _die(f"{option} {value!r}: expected a date as YYYY-MM-DD")
    year, month, day = (int(part) for part in shaped.groups())
    try:
        return date(year, month, day)
    except ValueError:
        pass
    if not 1 <= month <= 12:
        _die(f"{option} {value}: {value} is not a date: there is no month {month}")
    if year < 1:
        _die(f"{option} {value}: {value} is not a date: there is no year 0")
    last = calendar.monthrange(year, month)[1]
    _die(f"{option} {value}: {value} is not a date: {calendar.month_name[month]} has {last} days in {year}")


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

    m = _manifest(manifest)
    if item not in m.items_by_id:
        _die(f"unknown item {item!r} (known: {', '.join(m.items_by_id)})")
    states = attestable_statuses(m, item)
    if not states:
        _die(f"{item} has no state to attest: no manual check or escalation rule of the manifest reads it")
    if status.strip() not in states:
        _die(f"{status!r} is not a state of {item}: attest one of {', '.join(states)}")
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

    m = _manifest(manifest)
    when: Since = None if since == "none" else "checkpoint" if since == "checkpoint" else _parse_day(since, "--since")
    store = _store(db)
    try:
        if store.latest_run() is None:
            _die("no runs recorded yet: run `readiness check` first")
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
        _die(f"-o {output}: cannot write ({exc.strerror})")
    out.print(f"wrote {output} ({rep.decision.value}, run {rep.run.id})", highlight=False, markup=False)


@app.command()
def checkpoint(
    title: Annotated[str | None, typer.Option(help="Name it, e.g. 'Week 1 checkpoint'")] = None,
    manifest: ManifestOpt = None,
    db: DbOpt = None,
) -> None:
    """Freeze the latest run, the waivers in force and the latest attestations as the weekly checkpoint."""
    from checks.presentation.report_build import record_checkpoint

    m = _manifest(manifest)
    store = _store(db)
    try:
        if store.latest_run() is None:
            _die("no runs recorded yet: run `readiness check` first")
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

DemoDirOpt = Annotated[Path, typer.Option("--dir", help="The demo's directory (history, vault, key, manifest copy)")]
AddressOpt = Annotated[
    str, typer.Option("--address", help="Interface to listen on (loopback unless you mean to share it)")
]
AllowWritesOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unauthenticated-writes",
        help="Serve a writable dashboard on a non-loopback --address with no identity provider: anyone who "
        "can reach it may run checks, attest and waive (refused without this flag)",
    ),
]


def _refuse_exposed_writes(address: str, role: str, allow: bool) -> None:
    """Exit 2 before anything starts when a writable dashboard would be open to the network without sign-in."""
    from checks.shell.access import exposure_refusal, identity_provider_configured, is_loopback

    if allow or is_loopback(address):
        return
    refusal = exposure_refusal(address, role, identity_provider=identity_provider_configured())
    if refusal:  # one line however narrow the terminal; "[auth]" is not markup
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(refusal)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def _interrupt_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so the stand-ins stop and the Streamlit child is terminated, not orphaned."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (e.g. under a test runner's thread)
        signal.signal(signal.SIGTERM, interrupt)


def _say(message: str) -> None:
    # Plain and unwrapped: `eval "$(readiness standins --print-env)"` and a parent process read these lines.
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


@app.command()
def standins(
    port: Annotated[int, typer.Option("--port", help="Port (0: any free port)")] = 8765,
    address: AddressOpt = "127.0.0.1",
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="week0, week1 or week2 (the demo story's state then), hostile (every provider reflects what it "
            "is sent), or a provider scenario applied to every stand-in that has it (slow, 500, 429, garbage, ...); "
            "default: every client registered and valid",
        ),
    ] = None,
    print_env: Annotated[
        bool,
        typer.Option("--print-env", help="Print `export` lines for every variable, demo secrets included, and exit"),
    ] = False,
    directory: DemoDirOpt = Path(".readiness/demo"),
) -> None:
    """Run the provider stand-ins on loopback until Ctrl-C. Their credentials are demo-only fakes:
    `eval "$(readiness standins --print-env)"` in another shell points `readiness check` at them."""
    import shlex

    from checks.standins import DEMO_SECRET_VARIABLES, demo_config, demo_environment, demo_server

    config = demo_config(directory)
    if print_env:
        if port == 0:
            _die("--print-env needs the port the stand-ins listen on: pass --port N (as given to `readiness standins`)")
        url = f"http://{address}:{port}"
        _say(f"# Readiness stand-ins at {url}: demo-only fake credentials, never real secrets")
        for name, value in demo_environment(url, config=config).items():
            _say(f"export {name}={shlex.quote(value)}")
        return
    _interrupt_on_sigterm()
    server = demo_server(config=config, host=address, port=port)
    try:
        server.start()
    except OSError as exc:
        _die(f"cannot listen on {address}:{port} ({exc.strerror or exc}); pick another --port")
    try:
        if scenario:
            _standins_scenario(server, config, scenario)
        env = demo_environment(server.url, config=config)
        _say(f"Readiness stand-ins listening on {server.url} ({len(server.hosts)} providers)")
        _say(f"  scenario: {scenario or 'valid (every demo client registered)'}; health: {server.url}/_standins/health")
        _say("Point the checks at them (non-secret variables):")
        for name, value in env.items():
            if name not in DEMO_SECRET_VARIABLES:
                _say(f"  export {name}={shlex.quote(value)}")
        _say(
            "Every variable, the demo's fake secrets included: "
            f'eval "$(readiness standins --print-env --port {server.port} --dir {shlex.quote(str(directory))})"'
        )
        _say("Ctrl-C stops them.")
    except BaseException:
        server.stop()
        raise
    server.serve_forever()


def _standins_scenario(server: Any, config: Any, name: str) -> None:
    from checks.shell.demo import PHASES, apply_phase

    if name == "hostile":
        server.hostile = True
        return
    if name in PHASES:
        apply_phase(server, config, PHASES[name])
        return
    taken = []
    for host in server.hosts:
        provider = server.provider(host)
        try:
            provider.set_scenario(name)
        except (AttributeError, TypeError, ValueError):
            continue
        taken.append(host)
    if not taken:
        server.stop()
        _die(f"--scenario {name!r}: no stand-in knows it; use {', '.join(PHASES)} or a provider scenario (slow, 500)")


@app.command()
def dashboard(
    manifest: ManifestOpt = None,
    db: DbOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port of the dashboard")] = 8501,
    address: AddressOpt = "127.0.0.1",
    role: Annotated[
        str,
        typer.Option("--role", envvar="READINESS_DASHBOARD_ROLE", help="viewer, release_manager, admin or auditor"),
    ] = "viewer",
    demo: Annotated[bool, typer.Option("--demo", help="Run the demo instead (same as `readiness demo`)")] = False,
    allow_unauthenticated_writes: AllowWritesOpt = False,
) -> None:
    """The Streamlit dashboard on the manifest and database, as ROLE, until Ctrl-C (loopback by default).
    With an identity provider ([auth] in .streamlit/secrets.toml) each person's role comes from the
    manifest's [[dashboard.access]] instead of ROLE."""
    import os
    import subprocess

    from checks.shell.demo import run_until_interrupted, streamlit_command

    if demo:
        demo_command(port=port, address=address, allow_unauthenticated_writes=allow_unauthenticated_writes)
        return
    roles = ("viewer", "release_manager", "admin", "auditor")  # dashboard.context.ROLES
    if role not in roles:
        _die(f"--role {role!r}: use one of {', '.join(roles)}")
    _refuse_exposed_writes(address, role, allow_unauthenticated_writes)
    env = dict(os.environ)
    if manifest is not None:
        if not manifest.is_file():
            _die(f"--manifest {manifest}: file not found")
        env["READINESS_MANIFEST"] = str(manifest.resolve())
    if db is not None:
        env["READINESS_DB_URL"] = db
    env["READINESS_DASHBOARD_ROLE"] = role
    _interrupt_on_sigterm()
    _say(f"Dashboard on http://{address}:{port} as {role}; Ctrl-C stops it.")
    code = run_until_interrupted(subprocess.Popen(streamlit_command(port=port, address=address), env=env))
    if code not in (0, -2, -15, 130):
        raise typer.Exit(code)


@app.command("demo")
def demo_command(
    directory: DemoDirOpt = Path(".readiness/demo"),
    port: Annotated[int, typer.Option("--port", help="Port of the dashboard")] = 8501,
    reset: Annotated[bool, typer.Option("--reset", help="Rebuild from scratch (new key, new history)")] = False,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser")] = False,
    address: AddressOpt = "127.0.0.1",
    manifest: ManifestOpt = None,
    step_hours: Annotated[float, typer.Option("--step-hours", help="Hours between the story's sweeps")] = 6.0,
    hostile: Annotated[
        bool,
        typer.Option("--hostile", help="After the story, every provider reflects what it is sent (headers, bodies, "
                     "queries, encoded every way): press Run checks now and look for a secret on the page"),
    ] = False,
    allow_unauthenticated_writes: AllowWritesOpt = False,
) -> None:
    """The newcomer's first run: provider stand-ins on loopback, three scripted weeks of history made by the
    real checks, and the dashboard on it (as release_manager) until Ctrl-C. Reuses DIR unless --reset."""
    import os
    import subprocess
    import threading
    import time as _time
    import webbrowser

    from checks.shell.demo import (
        DASHBOARD_NOW,
        build_demo,
        demo_dashboard_env,
        demo_info,
        reset_demo,
        run_until_interrupted,
        stop_process,
        streamlit_command,
        wait_until_up,
    )
    from checks.standins import demo_server

    _refuse_exposed_writes(address, "release_manager", allow_unauthenticated_writes)
    _interrupt_on_sigterm()
    if reset:
        reset_demo(directory)
    server = demo_server(directory).start()
    try:
        started = _time.monotonic()
        reused = (directory / "demo.json").is_file() and not reset
        if reused:
            _say(f"Reusing the demo in {directory} (--reset rebuilds it)")
        else:
            _say(f"Building the demo in {directory}: three weeks of STORY-ONB-05, real checks every {step_hours:g}h")
        build_demo(directory, server=server, step_hours=step_hours, manifest=manifest, on_progress=_demo_progress())
        info = demo_info(directory)
        _say(
            f"History: {info.get('runs', '?')} runs from Oct 6 to Oct 17, 2025; verdict {info.get('verdict', '?')} "
            f"({_time.monotonic() - started:.1f}s)"
        )
        env = demo_dashboard_env(directory, server.url, os.environ)
        if hostile:
            server.hostile = True
            _say("Hostile scenario: every provider now reflects what it is sent; \"Run checks now\" shows what is "
                 "left of the echo once scrubbed")
        url = f"http://{'127.0.0.1' if address in ('0.0.0.0', '::') else address}:{port}"
        _say(f"Stand-ins: {server.url}")
        _say(f"Dashboard: {url} (role release_manager, clock pinned at {DASHBOARD_NOW:%Y-%m-%d %H:%M} UTC)")
        _say("Ctrl-C stops everything.")
        process = subprocess.Popen(streamlit_command(port=port, address=address), env=env)
        try:
            if not no_browser:

                def open_when_up() -> None:
                    if wait_until_up(f"{url}/_stcore/health", process=process):
                        webbrowser.open(url)

                threading.Thread(target=open_when_up, daemon=True).start()
            code = run_until_interrupted(process)
        finally:
            stop_process(process)
    except KeyboardInterrupt:
        code = 130
    finally:
        server.stop()
    if code not in (0, -2, -15, 130):
        raise typer.Exit(code)


def _demo_progress() -> Any:
    """A callback for build_demo: the story's events as lines, the sweeps as a bar (on a terminal)."""
    state: dict[str, Any] = {}

    def show(p: Any) -> None:
        if p.verdict is None:
            _say(f"  {p.at:%a %b %d %H:%M}  {p.message}")
            return
        if err.is_terminal:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = _progress(p.total)
                bar.start()
                state["task"] = bar.add_task("sweeps", total=p.total)
            bar.update(state["task"], completed=p.done, description=f"{p.at:%b %d %H:%M} {p.verdict}")
            if p.done >= p.total:
                bar.stop()
        elif p.done == p.total or p.done % 8 == 0:
            _say(f"  {p.at:%a %b %d %H:%M}  sweep {p.done}/{p.total}: {p.verdict}")

    return show


from vault.cli import vault_app  # noqa: E402  (cheap: `vault` is already loaded by checks.core.errors; commands import lazily)

app.add_typer(vault_app, name="vault")


def main() -> None:
    """Console-script entry point: whatever stops a command is one line and exit 2 (:mod:`checks.shell.cli_errors`).

    Logging goes through the redacting filter (:mod:`vault.redact`): a library that logs a request at
    WARNING cannot print a token this process handles."""
    import logging

    from checks.shell.cli_errors import main as run
    from vault.redact import install

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install()
    run(app)


if __name__ == "__main__":
    main()
