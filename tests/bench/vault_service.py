"""Benchmark ``readiness vault serve``: "get token" over keep-alive TLS on loopback, beside the in-process
audited ``Vault.get`` measured in the same run, on SQLite and PostgreSQL. Prints one JSON object.

The service is measured the way a server is: from a load generator whose own work is small beside the server's
(:class:`WireClient`: one keep-alive TLS connection, a request built once, the status line and the body read by
its ``Content-Length``; about what wrk or h2load does, in a tenth of a millisecond of CPU a call here). On a
machine of two cores every client shares the server's cores, so a client library's CPU would be measured as the
service's. What the platform's own client adds is measured beside it (``vault_client_1_client``: the same gets
through :class:`vault.client.VaultClient`, on httpx, with its CPU a call in the caller's process).

For each database: a vault with one credential (not due: no refresh) and a ``service`` identity; then

0. ``transport_floor``: ``GET /`` from the same server, one wire client: HTTP over TLS between two processes, the
   app's routing and its JSON 404, no identity, no database (on a busy machine, mostly the scheduler waking each
   process);
1. ``in_process``: ``Vault.get`` (audited: one transaction, the credential read and opened, one audit entry)
   called back to back in this process: latency p50/p99 (ms) and gets/s;
2. ``service_1_client`` and ``service``: ``readiness vault serve`` in its own process (TLS with a throwaway CA,
   default settings but a rate limit high enough not to refuse the benchmark), and 1, 8 and 32 clients, each a
   thread with its own wire client, calling the get back to back: latency p50/p99 (ms) over every call, and gets/s
   over the whole run (closed loop: each client sends its next get the moment the last is answered, so 32 of them
   saturate the server); ``vault_client_1_client``: one ``VaultClient`` the same way, with ``client_cpu_ms``;
3. ``paced_32_clients``: open loop, 32 client processes (one wire client each) each sending a get every 100 ms
   and every 40 ms (320 and 800 gets/s offered), latency counted from when each call was due; beside it
   ``in_process_paced``: the same arrivals served by ``Vault.get`` in this process, one caller, no HTTP: what the
   machine and the database give an open-loop caller before the service adds anything.

The single-caller figures (0, 1 and 2 at one client) are measured in 5 interleaved rounds; each is the median of
the rounds' p50 (and p99), so the load of a shared machine falls on all of them alike.

The aim (issue 15): p50 within 2x the in-process p50 plus 0.3 ms; p99 under 5 ms at 32 clients on SQLite.
``aim`` says, for each database, whether the single-client p50 met the first, as written and with the 0.3 ms
allowance for the hop replaced by the hop measured in the same run (``transport_floor``); each paced p99 over the
in-process paced p99 of the same offered rate; and (SQLite) whether the 32-client p99 met the second, closed loop
and paced. Closed loop, Little's law bounds the mean wait at 32 / throughput
(``littles_law_mean_ms_32_clients``): under 5 ms needs 6,400 gets/s. Anchor: HashiCorp Vault's transit decrypt,
about 0.6 ms mean in its own benchmark docs.

Run: python tests/bench/vault_service.py              (default: 2000 calls per client count, per database)
     python tests/bench/vault_service.py --quick      (200 calls; stated in "settings")
     python tests/bench/vault_service.py --clients 32 --no-paced --db sqlite
                                                      (a quicker look: the single caller, 32 clients, one database)
     READINESS_TEST_PG_URL=...                        (PostgreSQL; default postgresql+psycopg://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path (its neighbour vault.py would shadow the package).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parents[1]
sys.path.append(str(ROOT))

import sqlalchemy as sa  # noqa: E402
import trustme  # noqa: E402

from tests.pgschema import fresh_schema  # noqa: E402
from vault import Actor, Role, StaticKeySource, Vault  # noqa: E402
from vault.client import VaultClient  # noqa: E402
from vault.service_tokens import ServiceTokens  # noqa: E402

PG_URL = os.environ.get("READINESS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEY = bytes((i * 13 + 5) % 256 for i in range(32))
ADMIN = Actor("bench", Role.ADMIN)
TOKEN = "ya29.a0AfB_bench-access-token-" + "x" * 140
CLIENT_COUNTS = (1, 8, 32)
PACED_RATES = (10.0, 25.0)
"""Gets a second per client in the open-loop runs (32 clients: 320 and 800 gets/s offered)."""
ROUNDS = 5


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(pct(ms, 0.99), 3),
        "per_s": round(len(ms) / wall_s, 1),
        "calls": len(ms),
    }


@contextmanager
def database(kind: str, work: Path):
    if kind == "sqlite":
        yield f"sqlite:///{work / 'vault.db'}"
        return
    with fresh_schema(PG_URL, prefix="bench") as url:
        yield url


def pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at READINESS_TEST_PG_URL unreachable ({type(exc).__name__})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


GET_PATH = "/v1/tokens/acme/google/ops%40acme.test"


class WireClient:
    """The load generator's client: one keep-alive TLS connection (the CA verified, TCP_NODELAY) and one request
    built once, sent as it is and answered by a status line, headers and a ``Content-Length`` body. Its work a call
    is a send and a read or two, so what it times is the server's; an answer other than ``expect`` ends the run."""

    def __init__(self, url: str, ca_file: str | Path, path: str, token: str | None = None, expect: int = 200) -> None:
        host, port = url.removeprefix("https://").split(":")
        raw = socket.create_connection((host, int(port)), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ssl.create_default_context(cafile=str(ca_file)).wrap_socket(raw, server_hostname=host)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
        self.status = f"HTTP/1.1 {expect} ".encode()

    def call(self) -> bytes:
        """Send the request; the answer's body."""
        self.sock.sendall(self.request)
        data = b""
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
        head = data[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        if not data.startswith(self.status) or at < 0:
            raise SystemExit(f"the service answered {data[:40]!r}")
        size = int(head[at + 17 :].split(b"\r\n", 1)[0])
        while len(data) < end + 4 + size:
            data += self._recv()
        return data[end + 4 : end + 4 + size]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise SystemExit("the service closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def server(db_url: str, work: Path):
    """``readiness vault serve`` in a subprocess over TLS; yields (url, CA file)."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = work / "cert.pem", work / "key.pem", work / "ca.pem"
    cert.write_bytes(b"".join(b.bytes() for b in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    log = work / "serve.log"  # a file, not a pipe nobody reads: the request log would fill it and block the server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKEN_VAULT_", "GOOGLE_", "MICROSOFT_", "GHL_"))}
    env.update(TOKEN_VAULT_ENCRYPTION_KEY=base64.b64encode(KEY).decode(), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "checks.shell.cli",
            "vault",
            "serve",
            "--port",
            str(port),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "--db",
            db_url,
            "--rate",
            "1000000",
            "--burst",
            "1000000",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        cwd=work,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with VaultClient(url, "rvs_none", verify=str(ca_file), timeout=2) as c:
                    c.health()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the vault service did not start: {log.read_text()[-500:]}") from None
                time.sleep(0.1)
        yield url, ca_file
    finally:
        proc.terminate()
        proc.wait(20)
        lines = log.read_text(errors="replace").splitlines()
        requests = [line for line in lines if "GET /v1/tokens/" in line]
        if not requests or any(TOKEN in line for line in lines):
            raise SystemExit("the service's request log is missing, or shows the token")


def bench_in_process(vault: Vault, actor: Actor, cid: str, calls: int) -> dict[str, float]:
    for _ in range(min(100, calls)):
        vault.get(actor, "acme", cid).wipe()
    latencies = []
    start = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        vault.get(actor, "acme", cid).wipe()
        latencies.append(time.perf_counter() - t)
    return figures(latencies, time.perf_counter() - start)


def on_schedule(call: Callable[[], object], first_due: float, interval: float, calls: int) -> list[float]:
    """Open loop: ``call()`` ``calls`` times, the k-th due at ``first_due + k * interval`` (``time.time()``, a clock
    every process shares); each latency runs from when the call was due, not from when it was sent, so a caller
    kept waiting is charged for the wait (no coordinated omission)."""
    latencies: list[float] = []
    for k in range(calls):
        due = first_due + k * interval
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        call()
        latencies.append(time.time() - due)
    return latencies


def bench_in_process_paced(vault: Vault, actor: Actor, cid: str, per_s: float, calls: int) -> dict[str, Any]:
    """``Vault.get`` in this process, one caller, on the paced runs' schedule (a call due every ``1 / per_s``
    seconds, latency from when it was due): the same arrivals served by the library with no HTTP, no TLS and no
    other process; what the machine and the database give any open-loop caller before the service adds anything."""
    for _ in range(min(100, calls)):
        vault.get(actor, "acme", cid).wipe()
    interval = 1.0 / per_s
    start = time.time() + 0.2
    latencies = on_schedule(lambda: vault.get(actor, "acme", cid).wipe(), start, interval, calls)
    result: dict[str, Any] = figures(latencies, time.time() - start)
    result["offered_per_s"] = round(per_s, 1)
    # One caller, one call at a time: served under the rate, or a median call later than the gap between two
    # arrivals, means the calls were queueing behind one another (a queue's figure, not the library's).
    result["saturated"] = result["per_s"] < 0.95 * per_s or result["p50_ms"] > 1000 * interval
    return result


def bench_service(
    url: str, ca_file: Path, token: str, clients: int, calls: int, *, library: bool = False
) -> dict[str, float]:
    """``clients`` threads, each with its own :class:`WireClient` (with ``library``, its own ``VaultClient``: one
    keep-alive httpx connection), calling the get back to back; ``client_cpu_ms``: the clients' CPU a call."""
    per_client = max(1, calls // clients)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    cpu: list[float] = [0.0] * clients
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            client: Any = (
                VaultClient(url, token, verify=str(ca_file)) if library else WireClient(url, ca_file, GET_PATH, token)
            )
            call = (lambda: client.get_token("acme", "google", "ops@acme.test").wipe()) if library else client.call
            with client:
                for _ in range(20):  # warm: the TLS handshake, the server's caches
                    call()
                barrier.wait()
                mine = latencies[i]
                started = time.thread_time()
                for _ in range(per_client):
                    t = time.perf_counter()
                    call()
                    mine.append(time.perf_counter() - t)
                cpu[i] = time.thread_time() - started
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise SystemExit(f"a client failed: {errors[0]!r}")
    result = figures([v for mine in latencies for v in mine], wall)
    result["client_cpu_ms"] = round(sum(cpu) / (per_client * clients) * 1000, 3)
    return result


def _paced_client(url: str, ca_file: str, token: str, first_due: float, interval: float, calls: int, out: Any) -> None:
    """One paced client, in a process of its own: ``calls`` gets, the k-th due at ``first_due + k * interval``
    (``time.time()``); puts its latencies (from each call's due time) on ``out``."""
    with WireClient(url, ca_file, GET_PATH, token) as c:
        for _ in range(5):  # warm: the TLS handshake, the server's caches
            c.call()
        latencies = on_schedule(c.call, first_due, interval, calls)
    out.put(latencies)


def bench_paced(url: str, ca_file: Path, token: str, clients: int, per_client_s: float, calls: int) -> dict[str, Any]:
    """Open loop: ``clients`` processes, each one wire client (one keep-alive TLS connection) sending a get
    every ``1 / per_client_s`` seconds on its own schedule (the schedules staggered evenly), as separate services
    that each need a token now and then do. A call's latency runs from when it was due, not from when it was sent:
    a server that falls behind is charged for the wait it causes (no coordinated omission). Processes, not threads:
    32 threads of one process would add their own waits for the GIL (a 5 ms switch interval) to what is measured."""
    per_client = max(1, calls // clients)
    interval = 1.0 / per_client_s
    ctx = multiprocessing.get_context("fork")  # cheap; a forked child ends in os._exit, leaving our connections be
    out = ctx.Queue()
    start = time.time() + 3.0  # after every child has forked and warmed up
    procs = [
        ctx.Process(
            target=_paced_client,
            args=(url, str(ca_file), token, start + i * interval / clients, interval, per_client, out),
        )
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    latencies = [v for _ in procs for v in out.get(timeout=600)]
    wall = time.time() - start
    for proc in procs:
        proc.join(30)
    if len(latencies) != per_client * clients:
        raise SystemExit("a paced client failed")
    result: dict[str, Any] = figures(latencies, wall)
    result["offered_per_s"] = round(clients * per_client_s, 1)
    # Served well below offered: the server or the 32 client processes (on the same cores) could not keep up, and
    # the latencies are those of a growing queue, not of the service at that rate.
    result["saturated"] = result["per_s"] < 0.95 * result["offered_per_s"]
    return result


def bench_floor(url: str, ca_file: Path, calls: int) -> dict[str, float]:
    """The transport alone: ``GET /`` (no route: the app's JSON 404; no identity, no thread, no database) on one
    keep-alive TLS connection: what any request pays between two processes on this machine before the vault does
    anything."""
    with WireClient(url, ca_file, "/", expect=404) as c:
        for _ in range(20):
            c.call()
        latencies = []
        start = time.perf_counter()
        for _ in range(calls):
            t = time.perf_counter()
            c.call()
            latencies.append(time.perf_counter() - t)
        return figures(latencies, time.perf_counter() - start)


def bench_database(
    kind: str, calls: int, client_counts: tuple[int, ...] = CLIENT_COUNTS, paced: bool = True
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vault-service-bench-") as tmp, database(kind, Path(tmp)) as url:
        work = Path(tmp)
        vault = Vault.init(url, StaticKeySource(KEY))
        try:
            token = ServiceTokens(vault).create(ADMIN, "bench", Role.SERVICE, tenants=["acme"]).token.reveal()
            cid = vault.put(
                ADMIN,
                "acme",
                "google",
                "ops@acme.test",
                TOKEN,
                "1//0gbench-refresh",
                expires_at=datetime.now(UTC) + timedelta(days=30),
            )
            actor = Actor("svc:bench", Role.SERVICE, frozenset({"acme"}))
            section: dict[str, Any] = {}
            with server(url, work) as (service_url, ca_file):
                # The three single-caller figures in interleaved rounds, so that the load of a shared machine
                # falls on all three alike; each figure is the median over rounds of its round's p50 and p99.
                rounds: dict[str, list[dict[str, float]]] = {
                    "in_process": [],
                    "transport_floor": [],
                    "service_1_client": [],
                    "vault_client_1_client": [],
                }
                per_round = max(20, calls // ROUNDS)
                for _ in range(ROUNDS):
                    rounds["in_process"].append(bench_in_process(vault, actor, cid, per_round))
                    rounds["transport_floor"].append(bench_floor(service_url, ca_file, per_round))
                    rounds["service_1_client"].append(bench_service(service_url, ca_file, token, 1, per_round))
                    rounds["vault_client_1_client"].append(
                        bench_service(service_url, ca_file, token, 1, per_round, library=True)
                    )
                for name, measured in rounds.items():
                    section[name] = {
                        key: round(statistics.median(r[key] for r in measured), 3)
                        for key in measured[0]
                        if key != "calls"
                    }
                    section[name]["calls"] = sum(int(r["calls"]) for r in measured)
                section["service"] = {
                    f"clients_{n}": bench_service(service_url, ca_file, token, n, calls) for n in client_counts if n > 1
                }
                if paced:
                    section["in_process_paced"] = {
                        f"offered_{32 * r:g}_per_s": bench_in_process_paced(vault, actor, cid, 32 * r, calls)
                        for r in PACED_RATES
                    }
                    section["paced_32_clients"] = {
                        f"each_{r:g}_per_s": bench_paced(service_url, ca_file, token, 32, r, calls) for r in PACED_RATES
                    }
        finally:
            vault.close()
    base = section["in_process"]["p50_ms"]
    floor = section["transport_floor"]["p50_ms"]
    one = section["service_1_client"]["p50_ms"]
    # As the issue wrote it, 0.3 ms stands for the hop; the same run measures the hop itself (the transport floor).
    section["aim"] = {
        "p50_budget_ms": round(2 * base + 0.3, 3),
        "p50_met": one <= 2 * base + 0.3,
        "p50_budget_with_measured_floor_ms": round(2 * base + floor, 3),
        "p50_met_with_measured_floor": one <= 2 * base + floor,
        # What a caller on the platform's own client sees: the same get, plus httpx's work in the caller's process.
        "vault_client_p50_ms": section["vault_client_1_client"]["p50_ms"],
        "vault_client_p50_met": section["vault_client_1_client"]["p50_ms"] <= 2 * base + 0.3,
    }
    floors = list(section.get("in_process_paced", {}).values())
    for (name, run), alone in zip(section.get("paced_32_clients", {}).items(), floors, strict=True):
        # A saturated in-process run is a queue's figure (its p99 grows with the run's length): no baseline.
        ratio = None if alone["saturated"] else round(run["p99_ms"] / alone["p99_ms"], 2)
        section["aim"][f"paced_{name}_p99_over_in_process"] = ratio
        if kind == "sqlite":
            section["aim"][f"paced_{name}_p99_under_5ms_met"] = run["p99_ms"] < 5.0
    saturated = section["service"].get("clients_32")
    if saturated is None:
        return section
    # Little's law: 32 callers that never pause, served at X gets/s, wait 32/X seconds a call on average, so p99
    # under 5 ms back to back would need over 6,400 gets/s from one server process on this machine.
    section["aim"]["littles_law_mean_ms_32_clients"] = round(32 / saturated["per_s"] * 1000, 2)
    # The same bound with no HTTP at all: the library alone, one caller in this process, serves in_process.per_s
    # gets a second; 32 callers of it back to back would wait 32 / that on average, before any server is added.
    section["aim"]["littles_law_mean_ms_32_callers_in_process"] = round(32 / section["in_process"]["per_s"] * 1000, 2)
    if kind == "sqlite":
        p99 = saturated["p99_ms"]
        section["aim"].update(p99_32_clients_ms=p99, p99_under_5ms_met=p99 < 5.0)
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 calls instead of 2000: check that it runs")
    parser.add_argument(
        "--clients",
        default=",".join(map(str, CLIENT_COUNTS)),
        help="closed-loop client counts, comma-separated (default 1,8,32; the single caller is always measured)",
    )
    parser.add_argument("--no-paced", action="store_true", help="skip the open-loop (paced) runs")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), action="append", help="only this database")
    args = parser.parse_args(argv)
    calls = 200 if args.quick else 2000
    client_counts = tuple(int(n) for n in args.clients.split(",") if n.strip())
    settings: dict[str, Any] = {"quick": "200 calls"} if args.quick else {}
    if client_counts != CLIENT_COUNTS:
        settings["clients"] = list(client_counts)
    if args.no_paced:
        settings["paced"] = False
    out: dict[str, Any] = {
        "benchmark": "vault_service",
        "command": " ".join(["python tests/bench/vault_service.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": settings,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "anchor": "HashiCorp Vault transit decrypt: about 0.6 ms mean (its own benchmark docs)",
    }
    engines = args.db or ["sqlite", "postgresql"]
    skipped = pg_available() if "postgresql" in engines else None
    if skipped:
        engines.remove("postgresql")
        out["postgresql_skipped"] = skipped
    started = time.perf_counter()
    for kind in engines:
        out[kind] = bench_database(kind, calls, client_counts, paced=not args.no_paced)
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
