"""Benchmark the token vault. Prints one JSON object.

Every figure comes with a floor measured in the same run, so the ratios hold across machines:

1. Floors: AES-256-GCM seal + open alone (cryptography's ``AESGCM``, fresh nonce); a raw ``sqlite3``
   transaction doing what an audited read must at least do: ``BEGIN IMMEDIATE``, select the credential,
   insert one audit row, ``COMMIT``, on the vault's own schema with the vault's pragmas (WAL, default
   ``synchronous``, busy timeout).
2. ``Vault.get`` on SQLite (audited, both tokens opened), per operation, and its ratio to the raw floor
   (target: 5 or less); ``Vault.put`` of a new credential. Rounds of the floor and of the vault are
   interleaved and the medians reported, so a noisy neighbour hits both.
3. KEK rotation of 10,000 tenants (one DEK each): wall time, rows/s, and tracemalloc's peak during the
   rotation at 1,000 and at 10,000 tenants (flat means it streams in batches).
4. DEK rotation of 100,000 credentials of one tenant: wall time, rows/s, and the peak at 10,000 and at
   100,000 credentials. The fixtures are inserted in bulk with SQL, with real ciphertexts sealed under the
   tenant's DEK exactly as ``put`` seals them (``put`` 100,000 times would dominate the run).
5. The refresher (``vault.refresh``) against the Google token stand-in running in another process:
   credentials refreshed per second in one ``run_once``.

Run: python tests/bench/vault.py            (about 2-3 minutes on 2 cores)
     python tests/bench/vault.py --quick    (sizes / 10, a smoke test of the script)
     python tests/bench/vault.py --only get (sections: get, kek, dek, refresh)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path, and this file is named vault.py: drop it,
# or `import vault` would import this script. The repository goes last (after PYTHONPATH and the install).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE.parents[1]))

import sqlalchemy as sa  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from vault import (  # noqa: E402
    Actor,
    Role,
    StaticKeySource,
    Vault,
    crypto,  # noqa: E402
)
from vault.models import Credential, DataKey, Tenant  # noqa: E402

ADMIN = Actor("bench", Role.ADMIN)
K1, K2, K3 = (bytes((i * 37 + n) % 256 for n in range(32)) for i in (1, 2, 3))
TOKEN = "ya29.a0AfB_bench-access-token-" + "x" * 140  # about the size of a Google access token
REFRESH = "1//0gBench-refresh-token-" + "y" * 80
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _per_op_us(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


# ------------------------------------------------------------------------------------------- floors, get


def aesgcm_floor(n: int) -> float:
    aes = AESGCM(os.urandom(32))
    plaintext = TOKEN.encode()
    aad = crypto.credential_aad("acme", "google", str(uuid.uuid4()), "access", 1)

    def once() -> None:
        nonce = os.urandom(12)
        aes.decrypt(nonce, aes.encrypt(nonce, plaintext, aad), aad)

    _per_op_us(once, n // 10)
    return statistics.median(_per_op_us(once, n) for _ in range(5))


class RawFloor:
    """The least an audited read can do on SQLite: one select and one audit insert in a committed transaction."""

    def __init__(self, path: Path) -> None:
        with Vault.init(_url(path), StaticKeySource(K1)) as v:  # the vault's schema, indexes and pragmas
            self.cid = v.put(ADMIN, "acme", "google", "floor@acme.test", TOKEN, REFRESH)
            self.seq = v.audit_events(ADMIN, 1)[0].seq + 10_000_000  # out of the chain's way
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000"):  # as vault.store
            self.db.execute(f"PRAGMA {pragma}")
        self.synchronous = self.db.execute("PRAGMA synchronous").fetchone()[0]
        self.detail = json.dumps({"provider": "google", "account": "floor@acme.test", "fingerprint": "hmac:" + "0" * 16,
                                  "state": "active", "dek_version": 1})

    def once(self) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "SELECT id, provider, account, state, dek_version, access_ct, refresh_ct, expires_at, scopes, "
            "token_fingerprint FROM credentials WHERE id = ? AND tenant = ?", (self.cid, "acme"),
        ).fetchone()
        self.seq += 1
        db.execute(
            "INSERT INTO audit_events (seq, at, actor, role, op, tenant, target, outcome, detail, prev_mac, mac) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.seq, "2026-01-05 09:00:00.000000", "bench", "admin", "get", "acme", self.cid, "ok", self.detail,
             "a" * 64, "b" * 64),
        )
        db.execute("COMMIT")


def bench_get_put(work: Path, n: int, rounds: int) -> dict[str, Any]:
    floor = RawFloor(work / "floor.db")
    v = Vault.init(_url(work / "get.db"), StaticKeySource(K1))
    cid = v.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN, REFRESH, expires_at=NOW + timedelta(hours=1),
                scopes=["openid", "email"])

    def get() -> None:
        v.get(ADMIN, "acme", cid).wipe()

    _per_op_us(floor.once, n // 5)
    _per_op_us(get, n // 5)
    floors, gets = [], []
    for _ in range(rounds):
        floors.append(_per_op_us(floor.once, n))
        gets.append(_per_op_us(get, n))
    accounts = iter(range(10**9))

    def put() -> None:
        i = next(accounts)
        v.put(ADMIN, f"tenant-{i % 10}", "google", f"user{i}@example.test", TOKEN, REFRESH,
              expires_at=NOW + timedelta(hours=1), scopes=["openid"])

    _per_op_us(put, n // 5)
    puts = [_per_op_us(put, n // 2) for _ in range(rounds)]
    intact = v.verify_audit(ADMIN).ok
    v.close()
    floor.db.close()
    raw, audited = statistics.median(floors), statistics.median(gets)
    return {
        "raw_sqlite_floor_us": round(raw, 1),
        "raw_sqlite_floor_rounds_us": [round(x, 1) for x in floors],
        "sqlite_synchronous": floor.synchronous,
        "get_us": round(audited, 1),
        "get_rounds_us": [round(x, 1) for x in gets],
        # each round's get against the floor round just before it (same noise), the median of those; and the
        # best round of each (least disturbed by anything else on the machine)
        "get_over_raw_floor": round(statistics.median(g / f for g, f in zip(gets, floors, strict=True)), 2),
        "get_over_raw_floor_best_rounds": round(min(gets) / min(floors), 2),
        "get_target_ratio": 5.0,
        "put_new_credential_us": round(statistics.median(puts), 1),
        "audit_chain_intact_after": intact,
        "ops_per_round": n,
        "rounds": rounds,
    }


# ---------------------------------------------------------------------------------------------- fixtures


def _insert_tenants(engine: sa.Engine, kek: bytes, tenants: list[str]) -> None:
    """Tenants with one DEK each, wrapped under ``kek`` as the vault wraps them (real ciphertexts)."""
    fp = crypto.kek_fingerprint(kek)
    with engine.begin() as conn:
        for start in range(0, len(tenants), 5000):
            chunk = tenants[start:start + 5000]
            conn.execute(sa.insert(Tenant), [{"id": t, "created_at": NOW, "active_dek_version": 1} for t in chunk])
            rows = []
            for t in chunk:
                dek = crypto.new_key()
                rows.append({"tenant": t, "version": 1, "wrapped": crypto.wrap_key(kek, dek, t, 1, fp),
                             "kek_fingerprint": fp, "state": "active", "created_at": NOW, "retired_at": None})
            conn.execute(sa.insert(DataKey), rows)


def _insert_credentials(v: Vault, tenant: str, count: int) -> None:
    """``count`` credentials of ``tenant`` sealed under its active DEK, inserted with executemany."""
    seed = v.put(ADMIN, tenant, "google", f"seed@{tenant}.test", TOKEN, REFRESH)  # creates tenant and DEK v1
    ring = v._ring()
    with v._begin() as conn:
        version, dek = v._active_dek(conn, ring, tenant)
        fp_key = v._chain(conn, ring)[1]
    token, refresh = TOKEN.encode(), REFRESH.encode()
    fingerprint = crypto.hmac_fingerprint(fp_key, token)
    expires = NOW + timedelta(hours=1)
    with v.engine.begin() as conn:
        for start in range(1, count, 10_000):
            rows = []
            for i in range(start, min(start + 10_000, count)):
                cid = str(uuid.uuid4())
                rows.append({
                    "id": cid, "tenant": tenant, "provider": "google", "account": f"user{i}@{tenant}.test",
                    "scopes": ["openid"], "expires_at": expires,
                    "access_ct": v._seal_field(dek, tenant, "google", cid, "access", version, token),
                    "refresh_ct": v._seal_field(dek, tenant, "google", cid, "refresh", version, refresh),
                    "dek_version": version, "token_fingerprint": fingerprint, "state": "active",
                    "refresh_due_at": expires - timedelta(minutes=10), "last_refresh_at": None,
                    "last_refresh_error": None, "failures": 0, "next_attempt_at": None, "lease_owner": None,
                    "lease_until": None, "version": 1, "created_at": NOW, "updated_at": NOW,
                })
            conn.execute(sa.insert(Credential), rows)
    assert seed


def _proc_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _measure(fn: Callable[[], Any], *, trace: bool) -> tuple[Any, float, int | None]:
    """Run ``fn``: its result, wall seconds, and (``trace``) tracemalloc's peak in bytes during it.

    tracemalloc slows allocation-heavy code 3-4x: traced runs are not the timed ones.
    """
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = fn()
    finally:
        wall = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    return result, wall, peak


def _mib(n: int | None) -> float | None:
    return None if n is None else round(n / 2**20, 2)


def _growth(small: float | None, large: float | None) -> float | None:
    return round(large / small, 2) if small and large is not None else None


def rotate_dek_child(url: str, tenant: str) -> None:
    """``--rotate-dek-child``: one timed DEK rotation in a fresh process, with its resident-set high-water mark.

    A fresh process holds nothing from the fixture, so the kernel's peak RSS during the rotation, over the
    RSS just before it, is what the rotation itself needed: no tracing overhead, SQLite's page cache included.
    """
    with Vault.open(url, StaticKeySource(K1)) as v:
        v.list(ADMIN, "no-such-tenant")  # warm: connection, key ring, audit key
        before = _proc_kib("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        except OSError:
            before = None
        report, wall, _ = _measure(lambda: v.rotate_dek(ADMIN, tenant), trace=False)
        peak = _proc_kib("VmHWM")
    growth = (peak - before) * 1024 if before is not None and peak is not None else None
    print(json.dumps({"rows": report.rewritten, "complete": report.complete, "wall_s": wall,
                      "rss_before_mib": _mib(before * 1024 if before is not None else None),
                      "rss_peak_growth_mib": _mib(growth)}))


def _rotate_dek_in_child(url: str, tenant: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--rotate-dek-child", url, tenant], capture_output=True,
                          text=True, timeout=1800, check=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------- rotations


def bench_kek(work: Path, tenants: int) -> dict[str, Any]:
    """KEK rotation (every DEK rewrapped) at ``tenants`` / 10 and ``tenants``: timed, then traced."""
    out: dict[str, Any] = {"tenants": tenants}
    small = max(tenants // 10, 1)
    for size in (small, tenants):
        url = _url(work / f"kek-{size}.db")
        Vault.init(url, StaticKeySource(K1)).close()
        engine = sa.create_engine(url)
        _insert_tenants(engine, K1, [f"tenant-{i:06d}" for i in range(size)])
        engine.dispose()
        with Vault.open(url, StaticKeySource(K2, K1)) as v:
            report, wall, _ = _measure(lambda v=v: v.rotate_kek(ADMIN), trace=False)
            assert report.complete and report.rewritten == size + 1, report  # + the audit key
            v.remove_kek(ADMIN, crypto.kek_fingerprint(K1))
        with Vault.open(url, StaticKeySource(K3, K2)) as v:  # K1 gone: every row had moved off it
            report, _, peak = _measure(lambda v=v: v.rotate_kek(ADMIN), trace=True)
            assert report.complete and report.rewritten == size + 1, report
            v.remove_kek(ADMIN, crypto.kek_fingerprint(K2))
            intact = v.verify_audit(ADMIN).ok
        out[f"at_{size}"] = {"wall_s": round(wall, 3), "rows_per_s": round(report.rewritten / wall),
                             "tracemalloc_peak_mib": _mib(peak), "old_keks_removed_and_chain_intact": intact}
    out["tracemalloc_peak_growth_10x_rows"] = _growth(out[f"at_{small}"]["tracemalloc_peak_mib"],
                                                      out[f"at_{tenants}"]["tracemalloc_peak_mib"])
    return out


def bench_dek(work: Path, credentials: int) -> dict[str, Any]:
    """DEK rotation of one tenant's credentials (each in a fresh process, timed, with its peak RSS growth) at
    ``credentials`` / 10 and ``credentials``; tracemalloc's peak at / 100 and / 10 (a traced run of the
    largest would take several minutes)."""
    sizes = [max(credentials // 100, 1), max(credentials // 10, 1), credentials]
    url = _url(work / "dek.db")
    out: dict[str, Any] = {"credentials": credentials}
    with Vault.init(url, StaticKeySource(K1)) as v:
        t0 = time.perf_counter()
        for size in sizes:
            _insert_credentials(v, f"t{size}", size)
        out["fixture_s"] = round(time.perf_counter() - t0, 1)
    for size in sizes[1:]:
        child = _rotate_dek_in_child(url, f"t{size}")
        assert child["complete"] and child["rows"] == size, child
        out[f"at_{size}"] = {"wall_s": round(child["wall_s"], 2), "rows_per_s": round(size / child["wall_s"]),
                             "rss_before_mib": child["rss_before_mib"],
                             "rss_peak_growth_mib": child["rss_peak_growth_mib"]}
    with Vault.open(url, StaticKeySource(K1)) as v:
        for size in sizes[:2]:
            report, _, peak = _measure(lambda v=v, t=f"t{size}": v.rotate_dek(ADMIN, t), trace=True)
            assert report.complete and report.rewritten == size, report
            out.setdefault(f"at_{size}", {})["tracemalloc_peak_mib"] = _mib(peak)
        cid = v.list(ADMIN, f"t{credentials}")[-1].id
        with v.get(ADMIN, f"t{credentials}", cid) as tokens:
            out["opens_after_and_chain_intact"] = tokens.access_token.reveal() == TOKEN and v.verify_audit(ADMIN).ok
    s0, s1, s2 = (out[f"at_{n}"] for n in sizes)
    out["tracemalloc_peak_growth_10x_rows"] = _growth(s0["tracemalloc_peak_mib"], s1["tracemalloc_peak_mib"])
    out["rss_peak_growth_10x_rows"] = _growth(s1["rss_peak_growth_mib"], s2["rss_peak_growth_mib"])
    return out


# ----------------------------------------------------------------------------------------------- refresher


def _serve(queue: Any, stop: Any) -> None:
    from checks.standins.oauth import GoogleOAuthStandin
    from checks.standins.server import StandinServer

    with StandinServer([GoogleOAuthStandin()]) as server:
        queue.put(server.url)
        stop.wait()


def bench_refresh(work: Path, count: int) -> dict[str, Any]:
    """One ``Refresher.run_once`` over ``count`` due Google credentials, against the stand-in in another process."""
    import httpx

    try:
        from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter
    except ImportError as exc:
        return {"skipped": f"vault.refresh is not importable ({exc})"}

    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(queue, stop), daemon=True)
    server.start()
    try:
        base = queue.get(timeout=60)
        control = f"{base}/_standins/oauth2.googleapis.com"
        client_id, secret = "bench-client.apps.googleusercontent.com", "bench-client-secret"
        httpx.post(f"{control}/register_client", json={"client_id": client_id, "client_secret": secret},
                   timeout=60).raise_for_status()
        accounts = [f"user{i}@bench.test" for i in range(count)]
        grants = httpx.post(f"{control}/grant_many", json={"accounts": accounts, "client_id": client_id},
                            timeout=60).json()["tokens"]
        with Vault.init(_url(work / "refresh.db"), StaticKeySource(K1)) as v:
            expired = datetime.now(UTC) - timedelta(minutes=1)  # due at once (refresh_due_at = expires_at)
            for i, account in enumerate(accounts):
                v.put(ADMIN, f"tenant-{i % 20}", "google", account, "ya29.stale-" + uuid.uuid4().hex,
                      grants[account], expires_at=expired, scopes=["openid"])
            endpoints = {"google": ProviderEndpoint.google(client_id, secret)}
            with Refresher(v, ADMIN, endpoints=endpoints, url_rewriter=standins_rewriter(base)) as refresher:
                t0 = time.perf_counter()
                report = refresher.run_once()
                wall = time.perf_counter() - t0
            calls = httpx.get(f"{control}/counters", timeout=60).json()["total"]
        return {"credentials": count, "refreshed": report.refreshed, "errors": report.errors,
                "token_endpoint_calls": calls, "wall_s": round(wall, 2),
                "credentials_per_s": round(report.refreshed / wall, 1),
                "note": "one refresher, one HTTP connection; the stand-in serves from its own process on the same "
                        "cores; per credential a re-read transaction, the token call and an audited settle "
                        "transaction, claims 50 at a time"}
    finally:
        stop.set()
        server.join(10)


# ---------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes / 10: check that the script runs")
    parser.add_argument("--only", action="append", choices=["get", "kek", "dek", "refresh"],
                        help="run only these sections (repeatable)")
    parser.add_argument("--rotate-dek-child", nargs=2, metavar=("URL", "TENANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rotate_dek_child:
        rotate_dek_child(*args.rotate_dek_child)
        return
    only = set(args.only or ["get", "kek", "dek", "refresh"])
    scale = 10 if args.quick else 1
    out: dict[str, Any] = {
        "benchmark": "vault",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "quick": args.quick,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vault-bench-") as tmp:
        work = Path(tmp)
        if "get" in only:
            out["aesgcm_seal_open_floor_us"] = round(aesgcm_floor(20_000 // scale), 2)
            out.update(bench_get_put(work, 2000 // scale, 7))
        if "kek" in only:
            out["kek_rotation"] = bench_kek(work, 10_000 // scale)
        if "dek" in only:
            out["dek_rotation"] = bench_dek(work, 100_000 // scale)
        if "refresh" in only:
            out["refresher"] = bench_refresh(work, 500 // scale)
    out["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
