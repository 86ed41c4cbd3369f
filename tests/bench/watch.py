"""What a watcher costs and how fast it tells people. Prints one JSON object with three parts:

* ``delivery``: the time from a sweep's end to its message arriving at a loopback JSON webhook (Apprise), against
  a bare ``httpx.post`` of the same size to the same receiver, in the same run (a ratio).
* ``soak``: one ``readiness watch`` process on SQLite sweeping every ``--soak-interval`` seconds for
  ``--soak-s`` seconds: resident memory sampled each second (the last quarter's median against the first
  quarter's after warm-up: a leak shows as a ratio above 1) and CPU seconds per sweep.
* ``takeover``: per trial, two ``readiness watch`` processes on one PostgreSQL schema (``--interval``
  seconds), the Twilio stand-in flipped to ``suspended`` (time until the webhook has the NO-GO message), then
  ``kill -9`` of the leader (time until the standby's /healthz says leader, and until its first sweep is
  recorded), then flipped back (time until the "resolved" message). Also counts duplicate messages (there
  should be none).

    python tests/bench/watch.py            # defaults: 15 deliveries, a 60 s soak at 0.2 s, 3 takeover trials

PostgreSQL: ``READINESS_TEST_PG_URL`` (default the test database on 127.0.0.1); a fresh schema per trial, dropped after.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from checks.core.manifest_load import parse_manifest  # noqa: E402
from checks.shell.watch import Watcher  # noqa: E402
from checks.standins.server import StandinServer  # noqa: E402
from checks.standins.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandin  # noqa: E402
from checks.storage.history import Store  # noqa: E402
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


def spread(values: list[float], digits: int = 4) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def delivery(rounds: int, tmp: Path) -> dict[str, object]:
    """Sweep-end to message-arrival, in process, against a bare httpx.post to the same receiver."""
    hook = Webhook()
    standin = TwilioStandin(retry_after=0)
    # every round is a change worth a message: lift the channel's rate limit (20 an hour by default)
    manifest = parse_manifest(WATCH_TOML.replace("waiver_days = 3", "waiver_days = 3\nrate_limit = 1000"), source="w")
    watch_ms: list[float] = []
    bare_ms: list[float] = []
    size = 0
    try:
        with StandinServer([standin]) as server, Store.open(f"sqlite:///{tmp / 'delivery.db'}") as store:
            environ = {
                "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
                "READINESS_STANDINS_URL": server.url,
                "READINESS_NOTIFY_HOOK": hook.url,
            }
            watcher = Watcher(manifest, store, interval_s=3600, environ=environ, refresh_every_s=0)
            watcher.start()
            ended: list[float] = []
            sweep = watcher._sweep

            def timed_sweep(trigger: str):  # the bench's stopwatch at the run's end (not a test double)
                run = sweep(trigger)
                ended.append(time.monotonic())
                return run

            watcher._sweep = timed_sweep  # type: ignore[method-assign]
            try:
                watcher.sweep_and_notify()  # GO: nothing to say; warms Apprise and the pools
                for i in range(rounds * 2):
                    standin.set_scenario("suspended" if i % 2 == 0 else "valid")
                    seen = len(hook.messages)
                    watcher.sweep_and_notify()
                    wait_for(lambda seen=seen: len(hook.messages) > seen, 10, step=0.001)
                    watch_ms.append((hook.arrived[seen] - ended[-1]) * 1000)
            finally:
                watcher.close()
            size = len(json.dumps(hook.messages[0]).encode())
        url = hook.url.replace("json://", "http://", 1)
        body = json.dumps({"version": "1.0", "title": "x", "message": "y" * max(size - 60, 1), "type": "info"})
        with httpx.Client() as client:
            client.post(url, content=body, headers={"Content-Type": "application/json"})  # warm
            for _ in range(rounds * 2):
                seen = len(hook.messages)
                t = time.monotonic()
                client.post(url, content=body, headers={"Content-Type": "application/json"})
                wait_for(lambda seen=seen: len(hook.messages) > seen, 10, step=0.001)
                bare_ms.append((hook.arrived[seen] - t) * 1000)
    finally:
        hook.close()
    ratio = statistics.median(watch_ms) / statistics.median(bare_ms)
    return {
        "messages": len(watch_ms),
        "message_bytes": size,
        "sweep_end_to_arrival_ms": spread(watch_ms, 2),
        "bare_httpx_post_to_arrival_ms": spread(bare_ms, 2),
        "ratio_of_medians": round(ratio, 2),
        "note": "between the run's end and the message leaving, the watcher commits the lease's sweep_done, the "
        "outbox row and its 'sending' mark (a message is never lost by a leader killed mid-way: three durable "
        "commits), then Apprise opens a new connection; the bare post reuses one keep-alive connection",
    }


def run_count(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from runs")).scalar_one())
    finally:
        engine.dispose()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def soak(seconds: float, interval: float, tmp: Path) -> dict[str, object]:
    """One watcher process sweeping every ``interval`` s for ``seconds``: memory over time and CPU per sweep."""
    manifest = tmp / "soak.toml"
    manifest.write_text(WATCH_TOML)
    db = f"sqlite:///{tmp / 'soak.db'}"
    hook = Webhook()
    os.environ["READINESS_NOTIFY_HOOK"] = hook.url
    standin = TwilioStandin(retry_after=0)
    samples: list[tuple[float, float]] = []
    try:
        with StandinServer([standin]) as server:
            port = free_port()
            proc = watch_process(manifest, db, port, server.url, interval=interval)
            try:
                wait_for(lambda: health(port).get("last_run_id"), 60)
                cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
                runs0 = run_count(db)
                flips = 0
                while (elapsed := time.monotonic() - t0) < seconds:
                    samples.append((elapsed, _rss_mib(proc.pid)))
                    if int(elapsed) % 10 == 5 and flips < int(elapsed) // 10 + 1:  # a change now and then
                        standin.set_scenario("suspended" if flips % 2 == 0 else "valid")
                        flips += 1
                    time.sleep(1.0)
                cpu = _cpu_s(proc.pid) - cpu0
                wall = time.monotonic() - t0
                sweeps = run_count(db) - runs0
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    finally:
        hook.close()
    quarter = max(len(samples) // 4, 1)
    first = statistics.median(r for _, r in samples[:quarter])
    last = statistics.median(r for _, r in samples[-quarter:])
    return {
        "seconds": round(wall, 1),
        "interval_s": interval,
        "sweeps": sweeps,
        "messages": len(hook.messages),
        "rss_mib_first_quarter_median": round(first, 1),
        "rss_mib_last_quarter_median": round(last, 1),
        "rss_mib_max": round(max(r for _, r in samples), 1),
        "rss_last_over_first": round(last / first, 3),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_sweep": round(cpu * 1000 / max(sweeps, 1), 1),
        "cpu_share_of_one_core": round(cpu / wall, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="deliveries measured (each way: opened, resolved)")
    parser.add_argument("--soak-s", type=float, default=60.0)
    parser.add_argument("--soak-interval", type=float, default=0.2)
    parser.add_argument("--trials", type=int, default=3, help="takeover trials")
    parser.add_argument("--interval", type=float, default=1.0, help="the takeover trials' interval")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        print("delivery ...", file=sys.stderr)
        deliveries = delivery(args.rounds, Path(tmp))
        print("soak ...", file=sys.stderr)
        soaked = soak(args.soak_s, args.soak_interval, Path(tmp))
        rows = []
        for i in range(args.trials):
            print(f"takeover trial {i + 1} of {args.trials} ...", file=sys.stderr)
            rows.append(trial(args.interval, Path(tmp)))
    commit = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip()
    print(
        json.dumps(
            {
                "benchmark": "watch",
                "command": "python tests/bench/watch.py",
                "settings": {},
                "date": dt.date.today().isoformat(),
                "commit": commit,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
                "delivery": deliveries,
                "soak": soaked,
                "takeover": {
                    "interval_s": args.interval,
                    "trials": args.trials,
                    **{
                        k: spread([float(r[k]) for r in rows], 3)
                        for k in ("message_s", "takeover_s", "first_sweep_after_kill_s", "resolved_message_s")
                    },
                    "messages_per_trial": sorted({int(r["messages"]) for r in rows}),
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
