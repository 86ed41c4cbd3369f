"""Benchmark the token vault on SQLite and PostgreSQL. Prints one JSON object.

Every figure is min/median/max over rounds, beside a floor or a baseline measured in the same run:

1. ``get`` (audited: the credential read, both tokens opened, one audit entry, one transaction) against a
   floor doing the least an audited read must do, by hand on the raw driver (``sqlite3`` / ``psycopg``):
   begin, select the credential, insert one audit row, commit. On PostgreSQL also the round trips each
   makes (libpq's trace: one ``ReadyForQuery`` per round trip). Rounds of floor and vault interleave.
2. ``put`` of a new credential against its floor on the raw driver: begin, insert the credential row, insert
   one audit row, commit.
3. DEK rotation of one tenant's credentials at N/10 and N (both tokens of every credential opened and sealed
   again): seconds, rows/s, and the ratio N over N/10 (linear is 10). The same tenant is rotated once per
   round (each round is a new DEK version).
4. KEK rotation of T/10 and T tenants (one DEK each rewrapped), alternating two KEKs round by round.
5. The refresher (``vault.refresh``) over 500 due Google credentials against the token stand-in in another
   process (SQLite; one round).

Fixtures are inserted in bulk with real ciphertexts and row MACs, exactly as ``put`` writes them.

Run: python tests/bench/vault.py            (default settings: N = 100,000 credentials, T = 100,000 tenants)
     python tests/bench/vault.py --quick    (sizes / 10, a smoke test; stated in "settings")
     python tests/bench/vault.py --only get (sections: get, dek, kek, refresh; rotation = dek and kek; stated in
                                            "settings")
     READINESS_TEST_PG_URL=...              (PostgreSQL; default postgresql+psycopg://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and this file is named vault.py: drop it,
# or `import vault` would import this script. The repository goes last (after PYTHONPATH and the install).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parents[1]))

import sqlalchemy as sa  # noqa: E402

from vault import Actor, Role, StaticKeySource, Vault, crypto  # noqa: E402
from vault.models import Credential, DataKey, Tenant  # noqa: E402

ADMIN = Actor("bench", Role.ADMIN)
K1, K2 = (bytes((i * 37 + n) % 256 for n in range(32)) for i in (1, 2))
TOKEN = "ya29.a0AfB_bench-access-token-" + "x" * 140  # about the size of a Google access token
REFRESH = "1//0gBench-refresh-token-" + "y" * 80
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PG_URL = os.environ.get("READINESS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def stats(values: list[float], digits: int = 3) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def per_op_us(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


# ------------------------------------------------------------------------------------------- databases


class Engines:
    """One database per figure: a fresh SQLite file, or a fresh PostgreSQL schema (dropped at the end)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.schemas: list[str] = []

    def url(self, engine: str, name: str) -> str:
        if engine == "sqlite":
            return f"sqlite:///{self.work / (name + '.db')}"
        schema = f"vb_{name}_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'create schema "{schema}"'))
        admin.dispose()
        self.schemas.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    def close(self) -> None:
        if not self.schemas:
            return
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            for schema in self.schemas:
                conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at READINESS_TEST_PG_URL unreachable ({type(exc).__name__})"
    return None


# ----------------------------------------------------------------------------------------------- get, put


class RoundTrips:
    """Round trips to PostgreSQL, from libpq's own trace of the tracked psycopg connections: each round trip
    ends with the server's ``ReadyForQuery``. The trace is on only while :meth:`count` runs (``PQuntrace``
    flushes it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("w")
        self.pgconns: list[Any] = []

    def count(self, fn: Callable[[], Any]) -> int:
        from psycopg import pq

        before = self.path.read_text().count("\tReadyForQuery")
        for pgconn in self.pgconns:
            pgconn.trace(self.file.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            fn()
        finally:
            for pgconn in self.pgconns:
                pgconn.untrace()
        return self.path.read_text().count("\tReadyForQuery") - before


class RawFloor:
    """The least an audited read (and a put) does, by hand on the raw driver, on the vault's own schema."""

    def __init__(self, url: str, engine: str) -> None:
        with Vault.init(url, StaticKeySource(K1)) as v:  # the vault's schema, indexes and (SQLite) pragmas
            self.cid = v.put(ADMIN, "acme", "google", "floor@acme.test", TOKEN, REFRESH)
            self.seq = v.audit_events(ADMIN, 1)[0].seq + 10_000_000  # out of the chain's way
        self.engine = engine
        self.detail = json.dumps(
            {
                "provider": "google",
                "account": "floor@acme.test",
                "fingerprint": "hmac:" + "0" * 16,
                "state": "active",
                "dek_version": 1,
            }
        )
        self.ct = os.urandom(200)
        self.at: Any = NOW.strftime("%Y-%m-%d %H:%M:%S.%f") if engine == "sqlite" else NOW  # as the vault binds it
        self.n = 0
        if engine == "sqlite":
            self.db: Any = sqlite3.connect(sa.make_url(url).database, isolation_level=None)
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000"):  # as vault.store_session
                self.db.execute(f"PRAGMA {pragma}")
            self.p = "?"
        else:
            import psycopg

            parsed = sa.make_url(url)
            self.db = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
            self.p = "%s"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.p)

    def _begin(self) -> None:
        if self.engine == "sqlite":
            self.db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        if self.engine == "sqlite":
            self.db.execute("COMMIT")
        else:
            self.db.commit()

    def _audit(self, op: str, target: str) -> None:
        self.seq += 1
        self.db.execute(
            self._sql(
                "INSERT INTO audit_events (seq, at, actor, role, op, tenant, target, outcome, detail, prev_mac, mac) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (self.seq, self.at, "bench", "admin", op, "acme", target, "ok", self.detail, "a" * 64, "b" * 64),
        )

    def get(self) -> None:
        self._begin()
        self.db.execute(
            self._sql(
                "SELECT id, tenant, provider, account, scopes, expires_at, state, dek_version, token_fingerprint, "
                "access_ct, refresh_ct, audit_seq, row_mac FROM credentials WHERE id = ? AND tenant = ?"
            ),
            (self.cid, "acme"),
        ).fetchone()
        self._audit("get", self.cid)
        self._commit()

    def put(self) -> None:
        self.n += 1
        cid = str(uuid.uuid4())
        self._begin()
        self.db.execute(
            self._sql(
                "INSERT INTO credentials (id, tenant, provider, account, scopes, expires_at, access_ct, refresh_ct, "
                "dek_version, token_fingerprint, state, refresh_due_at, failures, version, created_at, updated_at, "
                "row_mac, audit_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                cid,
                "acme",
                "google",
                f"floor{self.n}@acme.test",
                '["openid"]',
                NOW,
                self.ct,
                self.ct,
                1,
                "hmac:" + "0" * 16,
                "active",
                self.at,
                0,
                1,
                self.at,
                self.at,
                "c" * 64,
                self.seq + 1,
            ),
        )
        self._audit("put", cid)
        self._commit()

    def close(self) -> None:
        self.db.close()


def bench_get_put(engines: Engines, engine: str, n: int, rounds: int) -> dict[str, Any]:
    floor = RawFloor(engines.url(engine, "floor"), engine)
    v = Vault.init(engines.url(engine, "get"), StaticKeySource(K1))
    cid = v.put(
        ADMIN,
        "acme",
        "google",
        "ops@acme.test",
        TOKEN,
        REFRESH,
        expires_at=NOW + timedelta(hours=1),
        scopes=["openid", "email"],
    )

    def get() -> None:
        v.get(ADMIN, "acme", cid).wipe()

    accounts = iter(range(10**9))

    def put() -> None:
        i = next(accounts)
        v.put(
            ADMIN,
            "acme",
            "google",
            f"user{i}@example.test",
            TOKEN,
            REFRESH,
            expires_at=NOW + timedelta(hours=1),
            scopes=["openid"],
        )

    out: dict[str, Any] = {}
    if engine == "postgresql":
        trips = RoundTrips(engines.work / "libpq-trace.txt")
        trips.pgconns.append(floor.db.pgconn)
        out["floor_get_round_trips"] = trips.count(floor.get)
        v.engine.dispose()
        sa.event.listen(v.engine, "connect", lambda dbapi_conn, _rec: trips.pgconns.append(dbapi_conn.pgconn))
        get()  # a connection in the pool, as in a running process
        out["get_round_trips"] = trips.count(get)
        out["get_round_trips_over_floor"] = round(out["get_round_trips"] / out["floor_get_round_trips"], 2)
        out["put_round_trips"] = trips.count(put)
        out["floor_put_round_trips"] = trips.count(floor.put)
    for fn in (floor.get, get, floor.put, put):
        per_op_us(fn, max(n // 5, 1))  # warm
    floors, gets, pfloors, puts = [], [], [], []
    for _ in range(rounds):
        floors.append(per_op_us(floor.get, n))
        gets.append(per_op_us(get, n))
        pfloors.append(per_op_us(floor.put, n // 2))
        puts.append(per_op_us(put, n // 2))
    out.update(
        {
            "get_us": stats(gets, 1),
            "floor_get_us": stats(floors, 1),
            # each round's get over the floor round just before it (the same noise)
            "get_over_floor": stats([g / f for g, f in zip(gets, floors, strict=True)], 2),
            "put_us": stats(puts, 1),
            "floor_put_us": stats(pfloors, 1),
            "put_over_floor": stats([p / f for p, f in zip(puts, pfloors, strict=True)], 2),
            "audit_chain_intact_after": v.verify_audit(ADMIN).ok,
            "ops_per_round": {"get": n, "put": n // 2},
            "rounds": rounds,
        }
    )
    v.close()
    floor.close()
    return out


# ---------------------------------------------------------------------------------------------- fixtures


@contextmanager
def _writing(v: Vault) -> Iterator[tuple[sa.Connection, Any, int]]:
    """A transaction on the vault's engine with its row MAC key and the chain's current head seq (which the
    fixture rows record as their last write, as rows ``put`` wrote before it would)."""
    ring = v._ring()
    with v._begin() as conn:
        macs = v._rows(conn, ring)
        head = v._next_seq(conn, ring) - 1
        yield conn, macs, head


def insert_tenants(v: Vault, kek: bytes, count: int) -> None:
    """``count`` tenants with one DEK each, wrapped under ``kek`` as the vault wraps them, with row MACs."""
    fp = crypto.kek_fingerprint(kek)
    with _writing(v) as (conn, macs, head):
        for start in range(0, count, 5000):
            chunk = [f"tenant-{i:06d}" for i in range(start, min(start + 5000, count))]
            conn.execute(sa.insert(Tenant), [{"id": t, "created_at": NOW, "active_dek_version": 1} for t in chunk])
            rows = []
            for t in chunk:
                values = {
                    "tenant": t,
                    "version": 1,
                    "wrapped": crypto.wrap_key(kek, crypto.new_key(), t, 1, fp),
                    "kek_fingerprint": fp,
                    "state": "active",
                }
                rows.append({**macs.bind("data_key", values, head), "created_at": NOW, "retired_at": None})
            conn.execute(sa.insert(DataKey), rows)


def insert_credentials(v: Vault, tenant: str, count: int) -> None:
    """``count`` credentials of ``tenant`` sealed under its active DEK, as ``put`` seals them, in bulk."""
    v.put(ADMIN, tenant, "google", f"user0@{tenant}.test", TOKEN, REFRESH)  # creates the tenant and its DEK
    ring = v._ring()
    with v._begin() as conn:
        version, dek = v._active_dek(conn, ring, tenant)
        fingerprint = v._fingerprint(conn, ring, TOKEN.encode())
    token, refresh = TOKEN.encode(), REFRESH.encode()
    expires = NOW + timedelta(hours=1)
    for start in range(1, count, 10_000):
        with _writing(v) as (conn, macs, head):
            rows = []
            for i in range(start, min(start + 10_000, count)):
                cid = str(uuid.uuid4())
                values = {
                    "id": cid,
                    "tenant": tenant,
                    "provider": "google",
                    "account": f"user{i}@{tenant}.test",
                    "scopes": ["openid"],
                    "expires_at": expires,
                    "access_ct": v._seal_field(dek, tenant, "google", cid, "access", version, token),
                    "refresh_ct": v._seal_field(dek, tenant, "google", cid, "refresh", version, refresh),
                    "dek_version": version,
                    "token_fingerprint": fingerprint,
                    "state": "active",
                }
                rows.append(
                    {
                        **macs.bind("credential", values, head),
                        "refresh_due_at": expires - timedelta(minutes=10),
                        "last_refresh_at": None,
                        "last_refresh_error": None,
                        "failures": 0,
                        "next_attempt_at": None,
                        "lease_owner": None,
                        "lease_until": None,
                        "version": 1,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
            conn.execute(sa.insert(Credential), rows)


# ---------------------------------------------------------------------------------------------- rotations


def bench_dek(engines: Engines, engine: str, credentials: int, rounds: int, big_rounds: int) -> dict[str, Any]:
    """DEK rotation of one tenant at ``credentials`` / 10 and ``credentials``, rotated once per round."""
    small = max(credentials // 10, 1)
    url = engines.url(engine, "dek")
    out: dict[str, Any] = {
        "credentials": [small, credentials],
        "rounds": {str(small): rounds, str(credentials): big_rounds},
    }
    with Vault.init(url, StaticKeySource(K1)) as v:
        t0 = time.perf_counter()
        for size in (small, credentials):
            insert_credentials(v, f"t{size}", size)
        out["fixture_s"] = round(time.perf_counter() - t0, 1)
        walls: dict[int, list[float]] = {small: [], credentials: []}
        for size, n in ((small, rounds), (credentials, big_rounds)):
            for _ in range(n):
                t0 = time.perf_counter()
                report = v.rotate_dek(ADMIN, f"t{size}")
                walls[size].append(time.perf_counter() - t0)
                assert report.complete and report.rewritten == size and len(report.retired) == 1, report
        cid = v.list(ADMIN, f"t{credentials}")[-1].id
        with v.get(ADMIN, f"t{credentials}", cid) as tokens:
            out["opens_after_and_chain_intact"] = tokens.access_token.reveal() == TOKEN and v.verify_audit(ADMIN).ok
    for size in (small, credentials):
        out[f"at_{size}_s"] = stats(walls[size], 2)
        out[f"at_{size}_rows_per_s"] = round(size / statistics.median(walls[size]))
    out["ratio_10x_rows"] = round(statistics.median(walls[credentials]) / statistics.median(walls[small]), 2)
    return out


def bench_kek(engines: Engines, engine: str, tenants: int, rounds: int, big_rounds: int) -> dict[str, Any]:
    """KEK rotation (every DEK and the audit key rewrapped) at ``tenants`` / 10 and ``tenants``, the primary
    alternating between two KEKs round by round."""
    small = max(tenants // 10, 1)
    out: dict[str, Any] = {"tenants": [small, tenants], "rounds": {str(small): rounds, str(tenants): big_rounds}}
    walls: dict[int, list[float]] = {small: [], tenants: []}
    for size, n in ((small, rounds), (tenants, big_rounds)):
        url = engines.url(engine, f"kek{size}")
        with Vault.init(url, StaticKeySource(K1)) as v:
            t0 = time.perf_counter()
            insert_tenants(v, K1, size)
            out[f"fixture_{size}_s"] = round(time.perf_counter() - t0, 1)
        keys = (K1, K2)
        for r in range(n):
            with Vault.open(url, StaticKeySource(keys[(r + 1) % 2], keys[r % 2])) as v:
                t0 = time.perf_counter()
                report = v.rotate_kek(ADMIN)
                walls[size].append(time.perf_counter() - t0)
                assert report.complete and report.rewritten == size + 1, report  # + the audit key
                intact = v.verify_audit(ADMIN).ok
        out[f"at_{size}_chain_intact"] = intact
    for size in (small, tenants):
        out[f"at_{size}_s"] = stats(walls[size], 2)
        out[f"at_{size}_rows_per_s"] = round(size / statistics.median(walls[size]))
    out["ratio_10x_rows"] = round(statistics.median(walls[tenants]) / statistics.median(walls[small]), 2)
    return out


# ----------------------------------------------------------------------------------------------- refresher


def _serve(queue: Any, stop: Any) -> None:
    from checks.standins.oauth import GoogleOAuthStandin
    from checks.standins.server import StandinServer

    with StandinServer([GoogleOAuthStandin()]) as server:
        queue.put(server.url)
        stop.wait()


def bench_refresh(engines: Engines, count: int) -> dict[str, Any]:
    """One ``Refresher.run_once`` over ``count`` due Google credentials, against the stand-in in another process."""
    import httpx

    from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter

    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(queue, stop), daemon=True)
    server.start()
    try:
        base = queue.get(timeout=60)
        control = f"{base}/_standins/oauth2.googleapis.com"
        client_id, secret = "bench-client.apps.googleusercontent.com", "bench-client-secret"
        httpx.post(
            f"{control}/register_client", json={"client_id": client_id, "client_secret": secret}, timeout=60
        ).raise_for_status()
        accounts = [f"user{i}@bench.test" for i in range(count)]
        grants = httpx.post(
            f"{control}/grant_many", json={"accounts": accounts, "client_id": client_id}, timeout=60
        ).json()["tokens"]
        with Vault.init(engines.url("sqlite", "refresh"), StaticKeySource(K1)) as v:
            expired = datetime.now(UTC) - timedelta(minutes=1)  # due at once (refresh_due_at = expires_at)
            for i, account in enumerate(accounts):
                v.put(
                    ADMIN,
                    f"tenant-{i % 20}",
                    "google",
                    account,
                    "ya29.stale-" + uuid.uuid4().hex,
                    grants[account],
                    expires_at=expired,
                    scopes=["openid"],
                )
            endpoints = {"google": ProviderEndpoint.google(client_id, secret)}
            with Refresher(v, ADMIN, endpoints=endpoints, url_rewriter=standins_rewriter(base)) as refresher:
                t0 = time.perf_counter()
                report = refresher.run_once()
                wall = time.perf_counter() - t0
        return {
            "credentials": count,
            "refreshed": report.refreshed,
            "errors": report.errors,
            "rounds": 1,
            "wall_s": stats([wall], 2),
            "credentials_per_s": stats([report.refreshed / wall], 1),
            "note": "SQLite; the stand-in serves from its own process on the same cores",
        }
    finally:
        stop.set()
        server.join(10)


# ---------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes / 10: check that the script runs")
    parser.add_argument(
        "--only",
        action="append",
        choices=["get", "dek", "kek", "refresh", "rotation"],
        help="run only these sections (repeatable; rotation: dek and kek)",
    )
    parser.add_argument(
        "--engine", action="append", choices=["sqlite", "postgresql"], help="run only on these engines (repeatable)"
    )
    args = parser.parse_args()
    settings: dict[str, Any] = {}
    if args.quick:
        settings["quick"] = "every size / 10"
    if args.only:
        settings["only"] = args.only
    if args.engine:
        settings["engine"] = args.engine
    only = set(args.only or ["get", "dek", "kek", "refresh"])
    if "rotation" in only:
        only |= {"dek", "kek"}
    scale = 10 if args.quick else 1
    argv = " ".join(sys.argv[1:])
    out: dict[str, Any] = {
        "benchmark": "vault",
        "command": f"python tests/bench/vault.py{' ' + argv if argv else ''}",
        "settings": settings,
        "python": platform.python_version(),
        "sqlite_version": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    engines_run = list(args.engine or ["sqlite", "postgresql"])
    skipped = pg_available() if "postgresql" in engines_run else None
    if skipped:
        engines_run.remove("postgresql")
        out["postgresql_skipped"] = skipped
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vault-bench-") as tmp:
        engines = Engines(Path(tmp))
        try:
            for engine in engines_run:
                section: dict[str, Any] = {}
                if "get" in only:
                    section["get_put"] = bench_get_put(engines, engine, 1000 // scale, 7)
                if "dek" in only:
                    section["dek_rotation"] = bench_dek(engines, engine, 100_000 // scale, 5, 3)
                if "kek" in only:
                    section["kek_rotation"] = bench_kek(engines, engine, 100_000 // scale, 5, 3)
                out[engine] = section
            if "refresh" in only:
                out["refresher"] = bench_refresh(engines, 500 // scale)
        finally:
            engines.close()
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
