"""``readiness watch`` as a process on SQLite: /healthz, /metrics (parsed with prometheus_client), a second
watcher refused (exit 2, one line), SIGTERM releases the lease and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from checks.standins.server import StandinServer
from checks.standins.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandin
from tests.checks.watch_helpers import WATCH_TOML, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def watch_process(manifest: Path, db: str, port: int, standins: str, interval: float = 0.5) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "READINESS_STANDINS_URL": standins,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "checks.shell.cli",
            "watch",
            "-m",
            str(manifest),
            "--db",
            db,
            "--interval",
            str(interval),
            "--port",
            str(port),
            "--refresh-every",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def health(port: int) -> dict:
    code, body = get(f"http://127.0.0.1:{port}/healthz")
    return json.loads(body) if code in (200, 503) else {}


def test_watch_serves_health_and_metrics_refuses_a_second_and_stops_on_sigterm(tmp_path, sqlite_url):
    manifest = tmp_path / "readiness.toml"
    manifest.write_text(WATCH_TOML)
    with StandinServer([TwilioStandin()]) as server:
        port = free_port()
        proc = watch_process(manifest, sqlite_url, port, server.url)
        try:
            first = wait_for(lambda: (h := health(port)).get("last_run_id") and h, 20)
            assert first["status"] == "ok" and first["role"] == "leader" and first["database"] == "ok"
            assert first["last_sweep_age_s"] < 1.5

            second = watch_process(manifest, sqlite_url, free_port(), server.url)
            _, err = second.communicate(timeout=20)
            assert second.returncode == 2
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and "another watcher" in lines[0] and "SQLite" in lines[0]

            code, text = get(f"http://127.0.0.1:{port}/metrics")
            assert code == 200
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text.decode())
                for s in family.samples
            }
            assert samples[("readiness_verdict", (("decision", "GO"),))] == 1
            assert samples[("readiness_check_status", (("area", "a"), ("check", "tw"), ("status", "pass")))] == 1
            assert samples[("readiness_sweeps_total", (("outcome", "ok"),))] >= 1
            assert samples[("readiness_watch_leader", ())] == 1
            assert samples[("readiness_sweep_duration_seconds_count", ())] >= 1

            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            stopped = time.monotonic() - sent
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        from checks.storage.history import Store
        from checks.storage.lease import read_lease

        with Store.open(sqlite_url) as store:
            assert read_lease(store.engine, "watch:TEST-1").holder is None  # released: a restart leads at once
        restarted = watch_process(manifest, sqlite_url, port, server.url)
        try:
            again = wait_for(lambda: (h := health(port)).get("role") == "leader" and h, 20)
            assert again["holder"] != first["holder"]
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=10)
    print(f"SIGTERM to exit: {stopped:.2f} s")


def test_sigterm_during_a_sweep_lets_it_finish_records_it_and_releases_the_lease(tmp_path, sqlite_url):
    manifest = tmp_path / "readiness.toml"
    manifest.write_text(WATCH_TOML)
    standin = TwilioStandin(scenario="slow", slow_s=1.0)
    with StandinServer([standin]) as server:
        proc = watch_process(manifest, sqlite_url, free_port(), server.url)
        try:
            wait_for(lambda: standin.calls, 20, step=0.01)  # the first sweep is waiting on the provider
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    from checks.storage.history import Store
    from checks.storage.lease import read_lease

    with Store.open(sqlite_url) as store:
        runs = store.runs()
        assert len(runs) == 1 and runs[0].trigger == "watch"  # the sweep in progress finished and was recorded
        state = read_lease(store.engine, "watch:TEST-1")
        assert state.holder is None and state.last_run_id == runs[0].id
