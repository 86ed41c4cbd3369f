"""``readiness watch``: the service loop. Sweeps on schedule and on request, runs the vault refresher, tells
people when something changes, and shares all of it with other replicas through the database.

Threads (all daemons; the loop owns the database work that matters):

* **heartbeat**: every ``poll`` takes or renews the lease (:mod:`checks.storage.lease`); a standby takes over
  within ``ttl + poll`` of the leader's last renewal (``ttl`` = half the interval, at most 30 s);
* **loop** (the caller's thread): every ``poll``, if we lead and a sweep is due, sweep, record, compare the alerts
  with those announced (:mod:`checks.core.alerts`), notify (:mod:`checks.shell.notify_send`);
* **refresher**: :class:`vault.refresh.Refresher` every ``refresh_every`` when a vault key and provider clients
  are configured (refreshers coordinate through their own row leases, so every replica runs one);
* **http**: ``/healthz`` and ``/metrics`` (:mod:`checks.shell.watch_http`).

:meth:`Watcher.stop` (SIGTERM, SIGINT) lets a sweep in progress finish (it is bounded by the sweep deadline),
releases the lease so a standby leads at its next tick, and returns; a restart resumes from the shared schedule.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from checks.core.alerts import Alert, current_alerts, sweep_failed_alert, transitions, vault_alert
from checks.core.clock import Clock, SystemClock
from checks.core.environment import resolve_env
from checks.core.manifest import Manifest
from checks.core.run import Run
from checks.shell.notify_send import Notifier
from checks.shell.sweep import close_vault_extras, sweep, vault_extras
from checks.shell.watch_metrics import WatchMetrics
from checks.storage.history import Store
from checks.storage.lease import Lease, lease_name, read_lease
from checks.storage.notifications import Notification, WatchBook

__all__ = ["AlreadyWatched", "Watcher"]

log = logging.getLogger("readiness.watch")


class AlreadyWatched(Exception):
    """On SQLite another watcher holds the lease: only one may run (PostgreSQL allows standbys)."""


class Watcher:
    def __init__(
        self,
        manifest: Manifest,
        store: Store,
        *,
        interval_s: float | None = None,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        env_file: str | None = None,
        db_url: str | None = None,
        holder: str | None = None,
        refresh_every_s: float = 60.0,
    ) -> None:
        self.manifest, self.store = manifest, store
        self.interval = timedelta(seconds=interval_s or manifest.release.refresh_interval_s)
        self.ttl = timedelta(seconds=min(max(self.interval.total_seconds() / 2, 0.2), 30.0))
        self.poll_s = self.ttl.total_seconds() / 3
        self.clock = clock or SystemClock()
        self.environ = dict(os.environ if environ is None else environ)
        self.env_file, self.db_url = env_file, db_url
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = Lease(
            store.engine,
            lease_name(manifest.release.story),
            self.holder,
            ttl=self.ttl,
            clock=self.clock,
            interval_s=self.interval.total_seconds(),
        )
        self.book = WatchBook(store.engine)
        self.notifier = Notifier(manifest, self.book, environ=self.environ, clock=self.clock)
        self.metrics = WatchMetrics()
        self.refresh_every_s = refresh_every_s
        self.leader = False
        self.db_ok = True
        self.last_run: Run | None = None
        self.refresh_problems: list[str] = []
        self._stop = threading.Event()
        self._closed = threading.Event()
        """Set by :meth:`close` only: the heartbeat keeps the lease through a sweep that a stop lets finish."""
        self._threads: list[threading.Thread] = []
        self._area_of = {c.id: manifest.area_of(c) for c in manifest.all_checks}

    def __repr__(self) -> str:
        return f"Watcher(holder={self.holder!r}, interval={self.interval.total_seconds():g}s, leader={self.leader})"

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self, *, exclusive: bool | None = None) -> None:
        """Take the lease once, start the heartbeat and the refresher. ``exclusive`` (default: on SQLite) refuses
        to start as a standby: raises :class:`AlreadyWatched` naming the holder."""
        if exclusive is None:
            exclusive = self.store.engine.dialect.name == "sqlite"
        self.leader = self.lease.acquire()
        if exclusive and not self.leader:
            state = read_lease(self.store.engine, self.lease.name)
            holder = state.holder if state else "another watcher"
            raise AlreadyWatched(
                f"another watcher ({holder}) is running on this SQLite database; SQLite allows one watcher: "
                "stop it, or use PostgreSQL (READINESS_DB_URL) for replicas"
            )
        self.metrics.leader.set(1 if self.leader else 0)
        if self.manifest.notify.channels:
            self.notifier.warm()
        self._spawn(self._heartbeat, "readiness-watch-heartbeat")
        if self._refresher_configured():
            self._spawn(self._refresh_loop, "readiness-watch-refresher")

    def run(self) -> None:
        """The loop, until :meth:`stop`; then the lease is released."""
        try:
            while not self._stop.is_set():
                self.tick()
                self._stop.wait(self.poll_s)
        finally:
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._closed.set()
        for t in self._threads:
            t.join(timeout=5)
        try:
            self.lease.release()
        except sa.exc.SQLAlchemyError:
            log.warning("could not release the lease (the database is unreachable); it expires in %s", self.ttl)
        self.leader = False

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _heartbeat(self) -> None:
        while not self._closed.wait(self.poll_s):
            try:
                self.leader = self.lease.acquire()
                self.db_ok = True
            except sa.exc.SQLAlchemyError:
                self.leader, self.db_ok = False, False
            self.metrics.leader.set(1 if self.leader else 0)

    # ----------------------------------------------------------------------------------------- one tick

    def tick(self) -> list[Notification]:
        """If we lead and a sweep is due (or requested), sweep and notify; the notifications sent."""
        try:
            trigger = self.lease.claim_sweep(self.interval)
            self.db_ok = True
        except sa.exc.SQLAlchemyError:
            self.db_ok = False
            return []
        if trigger is None:
            return []
        self.leader = True
        return self.sweep_and_notify("watch" if trigger == "schedule" else "watch-request")

    def sweep_and_notify(self, trigger: str = "watch") -> list[Notification]:
        started = time.monotonic()
        announced = self.book.open_alerts()
        run: Run | None = None
        try:
            run = self._sweep(trigger)
        except Exception as exc:  # any failure to sweep is an alert, not a crash of the service
            from checks.core.errors import ManifestError
            from checks.shell.cli_errors import describe

            if isinstance(exc, ManifestError):
                problem = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:600]
            else:
                problem = describe(exc) or f"{type(exc).__name__} (see the watcher's log)"
            log.warning("sweep failed: %s", problem)
            self.metrics.sweeps.labels("failed").inc()
            current: dict[str, Alert] = {k: v for k, v in announced.items() if k != "sweep_failed"}
            current["sweep_failed"] = sweep_failed_alert(self.manifest, problem)
        else:
            elapsed = time.monotonic() - started
            self.metrics.duration.observe(elapsed)
            self.metrics.sweeps.labels("ok").inc()
            self.metrics.last_sweep.set(time.time())
            self.metrics.observe_run(self._area_of, run)
            self.last_run = run
            current = current_alerts(self.manifest, run, waivers=self.store.waivers(), now=self.clock.now())
            vault = vault_alert(self.manifest, self._vault_problems(run))
            if vault is not None:
                current[vault.key] = vault
        if not self.lease.sweep_done(run.id if run else None):
            log.warning("lost the lease during the sweep: leaving the notifications to the new leader")
            return []
        changes = transitions(announced, current)
        notes = self.notifier.prepare(changes, run_id=run.id if run else None, holder=self.holder)
        ids = self.book.enqueue(
            notes,
            [c.alert for c in changes if c.kind != "resolved"],
            [c.alert.key for c in changes if c.kind == "resolved"],
            self.clock.now(),
        )
        self.notifier.deliver_pending()  # this sweep's messages, and any a dead leader left unsent
        done = self.book.notifications(ids=ids)
        for n in done:
            self.metrics.notifications.labels(n.event, n.status).inc()
        return done

    def _sweep(self, trigger: str) -> Run:
        env, _ = resolve_env(self.manifest, env_file=self.env_file, environ=self.environ)
        extras = vault_extras(env, db_url=self.db_url, clock=self.clock)
        try:
            return sweep(
                self.manifest,
                store=self.store,
                clock=self.clock,
                environ=self.environ,
                env_file=self.env_file,
                trigger=trigger,
                extras=extras,
            )
        finally:
            close_vault_extras(extras)

    def _vault_problems(self, run: Run) -> list[str]:
        lines = [
            f"{r.id}: {r.result.summary}"
            for r in run.results
            if r.kind == "vault" and r.status.value in ("fail", "error")
        ]
        return lines + list(self.refresh_problems)

    # -------------------------------------------------------------------------------------- the refresher

    def _refresher_configured(self) -> bool:
        from vault.keys import ENV_KEY, ENV_SOURCE

        keyed = (self.environ.get(ENV_KEY) or "").strip() or (self.environ.get(ENV_SOURCE) or "env") != "env"
        return bool(keyed) and self.refresh_every_s > 0

    def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            self.refresh_once()
            self._stop.wait(self.refresh_every_s)

    def refresh_once(self) -> None:
        """One refresher cycle; its failures become the vault-health alert's lines at the next sweep."""
        from vault.errors import VaultError
        from vault.keys import key_source_from_spec
        from vault.rbac import Actor, Role
        from vault.refresh import Refresher, standins_rewriter
        from vault.refresh_endpoints import endpoints_from_env
        from vault.store import Vault

        endpoints = endpoints_from_env(self.environ)
        if not endpoints:
            return
        # As `readiness vault refresh` does: the refresher's and httpx's log records pass the redacting filter,
        # which now knows the client secrets (root handlers, and the refresher's logger for the last resort).
        from vault.redact import install

        redacting = install()
        install(logging.getLogger("vault.refresh"), redacting)
        for endpoint in endpoints.values():
            redacting.add(endpoint.client_secret.reveal())
            redacting.add(f"{endpoint.client_id}:{endpoint.client_secret.reveal()}")
        url = self.environ.get("TOKEN_VAULT_DB_URL") or self.db_url
        try:
            source = key_source_from_spec(self.environ.get("TOKEN_VAULT_KEY_SOURCE") or None, self.environ)
            vault = Vault.open(url, source, self.clock)
            try:
                with Refresher(
                    vault,
                    self._refresh_actor(Actor, Role),
                    endpoints=endpoints,
                    url_rewriter=standins_rewriter(self.environ.get("READINESS_STANDINS_URL") or None),
                ) as refresher:
                    report = refresher.run_once()
            finally:
                vault.close()
        except (VaultError, sa.exc.SQLAlchemyError, OSError) as exc:
            self.refresh_problems = [f"the refresher could not run: {type(exc).__name__}: {exc}"]
            self.metrics.refreshes.labels("could_not_run").inc()
            return
        for o in report.outcomes:
            self.metrics.refreshes.labels(o.result).inc()
        self.refresh_problems = [
            f"{o.provider} {o.account} ({o.tenant}): {o.result} {o.detail or ''}".rstrip()
            for o in report.outcomes
            if o.result in ("needs_reauth", "error")
        ]

    def _refresh_actor(self, actor: Any, role: Any) -> Any:
        """``TOKEN_VAULT_ACTOR`` (``NAME:ROLE[:TENANT,...]``, as for the sweep) when it parses; else an admin named
        ``readiness-watch`` (the refresher needs the ``refresh`` permission, which only admin and a tenant-scoped
        service have). Every refresh is audited under this name."""
        from checks.shell.sweep import _sweep_actor

        extras: dict[str, Any] = {}
        if spec := (self.environ.get("TOKEN_VAULT_ACTOR") or "").strip():
            _sweep_actor(spec, extras)
        return extras.get("vault_actor") or actor("readiness-watch", role.ADMIN)

    # ----------------------------------------------------------------------------------------- health

    def health(self) -> tuple[int, dict[str, Any]]:
        now = self.clock.now()
        state = None
        try:
            with self.store.engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            state = read_lease(self.store.engine, self.lease.name)
            db = "ok"
        except sa.exc.SQLAlchemyError as exc:
            db = f"unreachable ({type(exc).__name__})"
        last = state.last_sweep_at if state else None
        age = (now - last).total_seconds() if last else None
        stale = age is not None and age > 3 * self.interval.total_seconds()
        healthy = db == "ok" and not (self.leader and stale)
        body = {
            "status": "ok" if healthy else "unhealthy",
            "role": "leader" if self.leader else "standby",
            "holder": self.holder,
            "leader": state.holder if state else None,
            "database": db,
            "last_sweep_at": last.isoformat() if last else None,
            "last_sweep_age_s": round(age, 3) if age is not None else None,
            "last_run_id": state.last_run_id if state else None,
            "interval_s": self.interval.total_seconds(),
        }
        return (200 if healthy else 503), body
