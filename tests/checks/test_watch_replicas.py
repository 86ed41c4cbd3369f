"""Two ``readiness watch`` processes on one PostgreSQL: exactly one sweeps and notifies per interval, and after
``kill -9`` of the leader the other leads within one interval, resuming the shared schedule."""

from __future__ import annotations

import os
import signal
import time

import pytest
import sqlalchemy as sa

from checks.standins.server import StandinServer
from checks.standins.twilio import TwilioStandin
from tests.checks.test_watch_cli import health, watch_process
from tests.checks.watch_helpers import WATCH_TOML, Webhook, free_port, wait_for

pytestmark = pytest.mark.pg

INTERVAL = 1.0


def sweep_starts(url: str) -> list[float]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select started_at from runs order by seq")).scalars().all()
    finally:
        engine.dispose()
    return [r.timestamp() for r in rows]


def test_two_watchers_one_leader_no_duplicates_and_takeover_after_kill_9(tmp_path, pg_url, monkeypatch):
    hook = Webhook()
    monkeypatch.setenv("READINESS_NOTIFY_HOOK", hook.url)
    manifest = tmp_path / "readiness.toml"
    manifest.write_text(WATCH_TOML)
    standin = TwilioStandin(retry_after=0)
    procs = []
    with StandinServer([standin]) as server:
        ports = [free_port(), free_port()]
        try:
            procs = [watch_process(manifest, pg_url, p, server.url, interval=INTERVAL) for p in ports]
            wait_for(lambda: all(health(p).get("last_run_id") for p in ports), 30)
            roles = {p: health(p)["role"] for p in ports}
            assert sorted(roles.values()) == ["leader", "standby"]
            leader_port = next(p for p, r in roles.items() if r == "leader")
            standby_port = next(p for p in ports if p != leader_port)

            standin.set_scenario("suspended")
            wait_for(lambda: hook.messages, 5 * INTERVAL)
            time.sleep(3 * INTERVAL)
            assert [m["title"] for m in hook.messages] == ["TEST-1 is NO-GO"]  # one message from two watchers

            leader = procs[ports.index(leader_port)]
            before = len(sweep_starts(pg_url))
            killed = time.monotonic()
            os.kill(leader.pid, signal.SIGKILL)
            leader.wait(5)
            wait_for(lambda: health(standby_port).get("role") == "leader", 3 * INTERVAL, step=0.02)
            takeover = time.monotonic() - killed
            wait_for(lambda: len(sweep_starts(pg_url)) > before, 3 * INTERVAL, step=0.02)
            first_sweep = time.monotonic() - killed

            standin.set_scenario("valid")
            wait_for(lambda: len(hook.messages) == 2, 5 * INTERVAL)
            time.sleep(2 * INTERVAL)
            assert [m["title"] for m in hook.messages][1:] == ["Resolved: TEST-1 is back to GO (was NO-GO)"]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(10)
                except Exception:
                    p.kill()
            hook.close()
    starts = sweep_starts(pg_url)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    print(
        f"takeover {takeover:.2f} s, first sweep by the new leader {first_sweep:.2f} s after kill -9; "
        f"{len(starts)} sweeps, gaps min {min(gaps):.2f} s max {max(gaps):.2f} s"
    )
    assert takeover < INTERVAL
    # Never two sweeps for one interval: started_at follows the booking by the sweep's set-up time, which varies
    # (the first sweeps import the kinds), so the gap between two starts can fall a little under the interval;
    # two replicas sweeping the same interval would start within milliseconds. And no more sweeps than intervals.
    assert min(gaps) > 0.5 * INTERVAL
    assert len(starts) <= (starts[-1] - starts[0]) / INTERVAL + 1
    assert max(gaps) < 2 * INTERVAL + 0.5  # the survivor swept within one interval of the schedule
