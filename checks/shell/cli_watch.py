"""``readiness watch``: the long-running service (:mod:`checks.shell.watch`), its signals and its HTTP port."""

from __future__ import annotations

from typing import Annotated

import typer

from checks.shell.cli_app import DbOpt, ManifestOpt, app, die, err, open_manifest, open_store


@app.command()
def watch(
    manifest: ManifestOpt = None,
    db: DbOpt = None,
    interval: Annotated[
        float | None,
        typer.Option("--interval", help="Seconds between sweeps [default: the manifest's release.refresh_interval_s]"),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address of /healthz and /metrics")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port of /healthz and /metrics (0: any free port)")] = 9464,
    refresh_every: Annotated[
        float, typer.Option("--refresh-every", help="Seconds between vault refresher cycles (0: no refresher)")
    ] = 60.0,
    env_file: Annotated[str | None, typer.Option("--env-file", help="Read variables from this .env file")] = None,
) -> None:
    """Sweep on schedule and on request, refresh vault tokens, notify on changes; serve /healthz and /metrics.

    Replicas on one PostgreSQL database elect one leader that sweeps and notifies; on SQLite a second watcher
    refuses to start (exit 2). SIGTERM finishes the sweep in progress, releases the lease and exits 0."""
    import signal

    from checks.shell.watch import AlreadyWatched, Watcher
    from checks.shell.watch_http import HealthServer

    if interval is not None and interval < 0.2:
        die(f"--interval {interval:g}: must be at least 0.2 seconds")
    m = open_manifest(manifest)
    store = open_store(db)
    watcher = Watcher(m, store, interval_s=interval, env_file=env_file, db_url=db, refresh_every_s=refresh_every)
    try:
        watcher.start()
    except AlreadyWatched as exc:
        store.close()
        die(str(exc))
    try:
        server = HealthServer(watcher.health, watcher.metrics.render, host=host, port=port).start()
    except OSError as exc:
        watcher.close()
        store.close()
        die(f"cannot listen on {host}:{port} for /healthz and /metrics: {exc.strerror or exc}")
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())
    signal.signal(signal.SIGINT, lambda *_: watcher.stop())
    role = "leader" if watcher.leader else "standby"
    err.print(
        f"readiness watch: {role} as {watcher.holder}, every {watcher.interval.total_seconds():g} s; "
        f"{server.url}/healthz {server.url}/metrics",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    try:
        watcher.run()
    finally:
        server.stop()
        store.close()
    err.print("readiness watch: stopped, lease released", markup=False, highlight=False)
