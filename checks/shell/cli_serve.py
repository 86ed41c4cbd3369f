"""``readiness standins``, ``dashboard`` and ``demo``: the long-running commands that serve the stand-ins, the
dashboard, or both with the demo's three scripted weeks."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from checks.shell.cli_app import DbOpt, ManifestOpt, app, die, err, progress_bar

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
            die("--print-env needs the port the stand-ins listen on: pass --port N (as given to `readiness standins`)")
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
        die(f"cannot listen on {address}:{port} ({exc.strerror or exc}); pick another --port")
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
    from checks.shell.demo_story import PHASES, apply_phase

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
        die(f"--scenario {name!r}: no stand-in knows it; use {', '.join(PHASES)} or a provider scenario (slow, 500)")


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

    from checks.shell.demo_launch import run_until_interrupted, streamlit_command

    if demo:
        demo_command(port=port, address=address, allow_unauthenticated_writes=allow_unauthenticated_writes)
        return
    roles = ("viewer", "release_manager", "admin", "auditor")  # dashboard.context.ROLES
    if role not in roles:
        die(f"--role {role!r}: use one of {', '.join(roles)}")
    _refuse_exposed_writes(address, role, allow_unauthenticated_writes)
    env = dict(os.environ)
    if manifest is not None:
        if not manifest.is_file():
            die(f"--manifest {manifest}: file not found")
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
        typer.Option(
            "--hostile",
            help="After the story, every provider reflects what it is sent (headers, bodies, "
            "queries, encoded every way): press Run checks now and look for a secret on the page",
        ),
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

    from checks.shell.demo import build_demo, demo_dashboard_env, demo_info, reset_demo
    from checks.shell.demo_launch import (
        run_until_interrupted,
        stop_process,
        streamlit_command,
        wait_until_up,
    )
    from checks.shell.demo_story import DASHBOARD_NOW
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
        build_demo(directory, server=server, step_hours=step_hours, manifest=manifest, on_progress=_demoprogress_bar())
        info = demo_info(directory)
        _say(
            f"History: {info.get('runs', '?')} runs from Oct 6 to Oct 17, 2025; verdict {info.get('verdict', '?')} "
            f"({_time.monotonic() - started:.1f}s)"
        )
        env = demo_dashboard_env(directory, server.url, os.environ)
        if hostile:
            server.hostile = True
            _say(
                'Hostile scenario: every provider now reflects what it is sent; "Run checks now" shows what is '
                "left of the echo once scrubbed"
            )
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


def _demoprogress_bar() -> Any:
    """A callback for build_demo: the story's events as lines, the sweeps as a bar (on a terminal)."""
    state: dict[str, Any] = {}

    def show(p: Any) -> None:
        if p.verdict is None:
            _say(f"  {p.at:%a %b %d %H:%M}  {p.message}")
            return
        if err.is_terminal:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = progress_bar(p.total)
                bar.start()
                state["task"] = bar.add_task("sweeps", total=p.total)
            bar.update(state["task"], completed=p.done, description=f"{p.at:%b %d %H:%M} {p.verdict}")
            if p.done >= p.total:
                bar.stop()
        elif p.done == p.total or p.done % 8 == 0:
            _say(f"  {p.at:%a %b %d %H:%M}  sweep {p.done}/{p.total}: {p.verdict}")

    return show
