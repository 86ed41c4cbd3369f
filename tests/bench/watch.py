"""How fast does a standby take over, and how soon after a change does the message arrive? Prints one JSON object.

Per trial: two ``readiness watch`` processes on one PostgreSQL schema (``--interval`` seconds), the Twilio
stand-in flipped to ``suspended`` (time until the webhook has the NO-GO message), then ``kill -9`` of the leader
(time until the standby's /healthz says leader, and until its first sweep is recorded), then flipped back (time
until the "resolved" message). Also counts duplicate messages (there should be none).

    python tests/bench/watch.py --trials 5 --interval 1

PostgreSQL: ``READINESS_TEST_PG_URL`` (default the test database on 127.0.0.1); a fresh schema per trial, dropped after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parents[1])]

import sqlalchemy as sa  # noqa: E402

from checks.standins.server import StandinServer  # noqa: E402
from checks.standins.twilio import TwilioStandin  # noqa: E402
from tests.checks.test_watch_cli import health, watch_process  # noqa: E402
from tests.checks.test_watch_replicas import sweep_starts  # noqa: E402
from tests.checks.watch_helpers import WATCH_TOML, Webhook, free_port, wait_for  # noqa: E402

PG_URL = os.environ.get("READINESS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def trial(interval: float, tmp: Path) -> dict[str, float | int]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    hook = Webhook()
    os.environ["READINESS_NOTIFY_HOOK"] = hook.url
    manifest = tmp / "readiness.toml"
    manifest.write_text(WATCH_TOML)
    standin = TwilioStandin(retry_after=0)
    procs = []
    try:
        with StandinServer([standin]) as server:
            ports = [free_port(), free_port()]
            procs = [watch_process(manifest, url, p, server.url, interval=interval) for p in ports]
            wait_for(lambda: all(health(p).get("last_run_id") for p in ports), 60)
            leader_port = next(p for p in ports if health(p)["role"] == "leader")
            standby_port = next(p for p in ports if p != leader_port)
            flipped = time.monotonic()
            standin.set_scenario("suspended")
            wait_for(lambda: hook.messages, 10 * interval, step=0.01)
            message = hook.arrived[0] - flipped
            before = len(sweep_starts(url))
            killed = time.monotonic()
            os.kill(procs[ports.index(leader_port)].pid, signal.SIGKILL)
            wait_for(lambda: health(standby_port).get("role") == "leader", 10 * interval, step=0.01)
            takeover = time.monotonic() - killed
            wait_for(lambda: len(sweep_starts(url)) > before, 10 * interval, step=0.01)
            first_sweep = time.monotonic() - killed
            flipped = time.monotonic()
            standin.set_scenario("valid")
            wait_for(lambda: len(hook.messages) >= 2, 10 * interval, step=0.01)
            resolved = hook.arrived[1] - flipped
            time.sleep(2 * interval)
            return {
                "message_s": message,
                "takeover_s": takeover,
                "first_sweep_after_kill_s": first_sweep,
                "resolved_message_s": resolved,
                "messages": len(hook.messages),
            }
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
        hook.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.trials):
            rows.append(trial(args.interval, Path(tmp)))

    def spread(key: str) -> dict[str, float]:
        values = [float(r[key]) for r in rows]
        return {
            "min": round(min(values), 3),
            "median": round(statistics.median(values), 3),
            "max": round(max(values), 3),
        }

    print(
        json.dumps(
            {
                "bench": "watch",
                "python": platform.python_version(),
                "interval_s": args.interval,
                "trials": args.trials,
                "figures": {
                    k: spread(k) for k in ("message_s", "takeover_s", "first_sweep_after_kill_s", "resolved_message_s")
                },
                "messages_per_trial": sorted({int(r["messages"]) for r in rows}),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
