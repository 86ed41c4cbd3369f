"""``/healthz`` says when the watcher is not doing its job (503), and a failing vault is announced: served for
real on loopback, on an injected clock, one sweep at a time (no waiting)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from checks.core.clock import FixedClock
from checks.core.manifest_load import parse_manifest
from checks.shell.watch import Watcher
from checks.shell.watch_http import HealthServer
from checks.standins.server import StandinServer
from checks.standins.tokenvault import VAULT_SERVICE_HOST, VaultServiceStandin
from checks.storage.history import Store
from checks.storage.notifications import WatchBook
from tests.checks.helpers import check_block
from tests.checks.test_watch import environ, receivers, twilio  # noqa: F401  (fixtures)
from tests.checks.watch_helpers import WATCH_TOML

T0 = datetime(2025, 10, 8, 9, 0, tzinfo=UTC)
INTERVAL = 60.0


def healthz(server: HealthServer) -> tuple[int, dict]:
    answer = httpx.get(f"{server.url}/healthz", timeout=10)
    return answer.status_code, answer.json()


@pytest.fixture
def served(tmp_path, twilio, receivers):  # noqa: F811
    """A leader watcher on SQLite on a fixed clock, its /healthz on loopback; the database in its own folder."""
    standin, url = twilio
    folder = tmp_path / "db"
    folder.mkdir()
    store = Store.open(f"sqlite:///{folder / 'history.db'}")
    clock = FixedClock(T0)
    manifest = parse_manifest(WATCH_TOML, source="watch.toml")
    watcher = Watcher(
        manifest, store, interval_s=INTERVAL, clock=clock, environ=environ(url, *receivers), refresh_every_s=0
    )
    watcher.start()
    server = HealthServer(watcher.health, watcher.metrics.render).start()
    try:
        yield watcher, server, clock, store, folder
    finally:
        server.stop()
        watcher.close()
        store.close()


def test_healthz_is_503_when_the_leader_has_not_swept_for_three_intervals(served):
    watcher, server, clock, _, _ = served
    watcher.tick()
    assert watcher.last_run is not None, "the first tick sweeps"
    code, body = healthz(server)
    assert (code, body["status"], body["role"], body["database"]) == (200, "ok", "leader", "ok")
    assert body["last_sweep_age_s"] == 0 and body["last_run_id"] == watcher.last_run.id

    clock.advance(timedelta(seconds=3 * INTERVAL))  # exactly three intervals: still healthy
    assert healthz(server)[0] == 200
    clock.advance(timedelta(seconds=1))  # no sweep for longer than three intervals
    code, body = healthz(server)
    assert (code, body["status"], body["last_sweep_age_s"]) == (503, "unhealthy", 3 * INTERVAL + 1)

    first = watcher.last_run.id
    assert watcher.lease.acquire()  # what the heartbeat thread does every poll (its real seconds have not passed)
    watcher.tick()  # a sweep was due long ago: it runs, and the watcher is healthy again
    assert watcher.last_run.id != first
    code, body = healthz(server)
    assert (code, body["status"], body["last_sweep_age_s"]) == (200, "ok", 0)


def test_a_standby_is_healthy_while_the_database_answers_however_old_the_sweep(served):
    watcher, _, clock, store, _ = served
    watcher.tick()
    standby = Watcher(watcher.manifest, store, interval_s=INTERVAL, clock=clock, environ={}, refresh_every_s=0)
    standby.start(exclusive=False)
    server = HealthServer(standby.health, standby.metrics.render).start()
    try:
        clock.advance(timedelta(seconds=10 * INTERVAL))
        code, body = healthz(server)
        assert (code, body["role"], body["leader"]) == (200, "standby", watcher.holder)
    finally:
        server.stop()
        standby._stop.set()


def test_healthz_is_503_with_the_reason_when_the_database_is_gone(served):
    watcher, server, _, store, folder = served
    watcher.tick()
    store.engine.dispose()
    shutil.rmtree(folder)  # SQLite cannot open a file in a folder that is gone
    code, body = healthz(server)
    assert code == 503 and body["status"] == "unhealthy"
    assert body["database"] == "unreachable (OperationalError)"
    assert "history.db" not in json.dumps(body)  # no path or SQL in the answer, only the error's type


def test_a_failing_vault_check_is_one_vault_health_message_and_one_resolved(twilio, receivers, tmp_path):  # noqa: F811
    _, url = twilio
    hook, _ = receivers
    service = VaultServiceStandin(live=False)
    toml = WATCH_TOML + "\n" + check_block("vault_service", kind="vault", item="a.one", probe="service")
    manifest = parse_manifest(toml, source="watch.toml")
    with StandinServer([service]) as vault_server, Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        env = {**environ(url, *receivers), "TOKEN_VAULT_URL": f"{vault_server.url}/{VAULT_SERVICE_HOST}"}
        watcher = Watcher(manifest, store, interval_s=INTERVAL, environ=env, refresh_every_s=0)
        watcher.start()
        try:
            sent = watcher.sweep_and_notify()
            vault = [n for n in sent if n.event == "vault_health"]
            assert [(n.transition, n.channel, n.status) for n in vault] == [("opened", "hook", "sent")]
            assert vault[0].title == "TEST-1: token vault health failing"
            assert "vault_service:" in vault[0].body and "/vault" in vault[0].body  # which check, and the page

            assert not [n for n in watcher.sweep_and_notify() if n.event == "vault_health"]  # still failing: quiet

            service.set_scenario("valid")
            resolved = [n for n in watcher.sweep_and_notify() if n.event == "vault_health"]
            assert [(n.transition, n.status) for n in resolved] == [("resolved", "sent")]
        finally:
            watcher.close()
        titles = [m["title"] for m in hook.messages]
        assert titles.count("TEST-1: token vault health failing") == 1
        assert len([t for t in titles if "token vault" in t]) == 2
        assert not [a for a in WatchBook(store.engine).open_alerts() if a == "vault_health"]
