"""What an audited ``get`` costs the database, counted on the driver's own wire (not timed): on PostgreSQL the
round trips libpq makes (its trace: the server ends each with ``ReadyForQuery``), on SQLite the statements
sqlite3 runs (its trace callback). And the vault keeps serving when the server dropped its connection (no
pre-ping on checkout any more: the connection found dead is replaced and the operation runs once more)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from tests.vault.conftest import STORE_KEY
from vault import Actor, Role, StaticKeySource, Vault

ADMIN = Actor("ada", Role.ADMIN)
TOKEN = "ya29.round-trip-token"


class WireCounter:
    """Counts what each pooled DBAPI connection of an engine sends, from the connection it opens next on."""

    def __init__(self, engine: sa.Engine, tmp_path) -> None:
        self.dialect = engine.dialect.name
        self.trace = tmp_path / "libpq-trace.txt"
        self.trace.write_text("")
        self.statements: list[str] = []
        self.conns: list = []
        self.pids: list[int] = []
        engine.dispose()
        sa.event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi_conn, _record) -> None:
        self.conns.append(dbapi_conn)
        if self.dialect == "sqlite":
            dbapi_conn.set_trace_callback(self.statements.append)
        else:
            self.pids.append(dbapi_conn.info.backend_pid)

    def count(self, fn) -> int:
        """Round trips (PostgreSQL) or statements (SQLite) while ``fn`` runs."""
        if self.dialect == "sqlite":
            before = len(self.statements)
            fn()
            return len(self.statements) - before
        from psycopg import pq

        with self.trace.open("a") as out:
            for conn in self.conns:
                conn.pgconn.trace(out.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                fn()
            finally:
                for conn in self.conns:
                    conn.pgconn.untrace()  # flushes libpq's buffer
        return self.trace.read_text().count("\tReadyForQuery")


def test_an_audited_get_costs_five_round_trips_on_postgresql_and_six_statements_on_sqlite(vault_, db_url, tmp_path):
    """PostgreSQL: BEGIN, the credential, the audit head locked, the entry inserted and the head moved in one
    statement, COMMIT (the psycopg floor, doing the read and an audit insert by hand, is 4). SQLite has no round
    trips, but each statement is work: BEGIN IMMEDIATE, the credential, the head, the entry, the head, COMMIT."""
    cid = vault_.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN)
    wire = WireCounter(vault_.engine, tmp_path)
    vault_.get(ADMIN, "acme", cid).wipe()  # a pooled connection, as in a running process

    def get() -> None:
        with vault_.get(ADMIN, "acme", cid) as tokens:
            assert tokens.access_token.reveal() == TOKEN

    expected = 5 if vault_.engine.dialect.name == "postgresql" else 6
    assert wire.count(get) == expected
    assert vault_.verify_audit(ADMIN).ok  # the merged append keeps the chain and its anchor


def test_a_get_after_the_server_dropped_the_connection_is_served_and_audited_once(pg_url, clock, tmp_path):
    """A database restart or an idle timeout kills the pooled connection under a long-running process (the
    refresher, a vault service). Without a pre-ping the next statement finds it dead: the operation runs once
    more on a fresh connection, so the caller gets the tokens, and the log has one entry for that get."""
    with Vault.init(pg_url, StaticKeySource(STORE_KEY), clock) as vault_:
        _served_after_the_drop(vault_, pg_url, tmp_path)


def _served_after_the_drop(vault_: Vault, pg_url: str, tmp_path) -> None:
    cid = vault_.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN)
    wire = WireCounter(vault_.engine, tmp_path)
    vault_.get(ADMIN, "acme", cid).wipe()
    assert len(wire.pids) == 1
    killer = sa.create_engine(pg_url)
    with killer.begin() as conn:
        assert conn.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": wire.pids[0]}).scalar_one()
    killer.dispose()
    before = max(e.seq for e in vault_.audit_events(ADMIN, limit=100))
    with vault_.get(ADMIN, "acme", cid) as tokens:
        assert tokens.access_token.reveal() == TOKEN
    events = [e for e in vault_.audit_events(ADMIN, limit=100) if e.seq > before]
    assert [(e.op, e.outcome) for e in events if e.op == "get"] == [("get", "ok")]
    assert all(e.outcome == "ok" for e in events) and len(wire.pids) == 2  # a second connection, no error entry


@pytest.mark.parametrize("read", ["token-check", "locate"])
def test_a_service_read_on_a_connection_the_server_dropped_discards_it_and_the_next_read_is_served(
    pg_url, clock, tmp_path, caplog, read
):
    """The vault service's reads (the token check, the credential's locate) run in autocommit on a pooled
    connection, no transaction around them, so no rollback of SQLAlchemy's is there to notice a dropped
    connection: the read itself must. The request fails as a database error marked as a lost connection (the
    service answers 503, Retry-After), the dead connection is discarded on the spot, not handed back to the pool
    as live for its reset to fail on (SQLAlchemy then logs an ERROR with a traceback), and the next read is
    served on a fresh connection."""
    from vault.service_refresh import OnDemandRefresh
    from vault.service_tokens import ServiceTokens

    with Vault.init(pg_url, StaticKeySource(STORE_KEY), clock) as vault_:
        vault_.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN)
        tokens = ServiceTokens(vault_)
        token = tokens.create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
        finder = OnDemandRefresh(vault_, None)

        def run() -> str:
            if read == "token-check":
                return tokens.authenticate(token).name
            located = finder.locate("acme", "google", "ops@acme.test")
            assert located is not None
            return located.credential_id

        wire = WireCounter(vault_.engine, tmp_path)
        served = run()  # (the token's use recorded now: the clock stands still, so not again below)
        assert len(wire.pids) == 1
        killer = sa.create_engine(pg_url)
        with killer.begin() as conn:
            assert conn.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": wire.pids[0]}).scalar_one()
        killer.dispose()
        caplog.clear()
        with pytest.raises(sa.exc.OperationalError) as err:
            run()
        assert err.value.connection_invalidated
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert run() == served and len(wire.pids) == 2  # a fresh connection


def test_a_lone_get_through_the_service_costs_the_round_trips_of_an_in_process_get(vault_, tmp_path):
    """``GET /v1/tokens/…`` through the service's app (in process, over ASGI), alone: on PostgreSQL the 5 round
    trips of an in-process get, in the group's worker thread with no group around it, the credential found by the
    statement that reads it (``Vault._get_account``; main made 8: a locate, BEGIN, SAVEPOINT and RELEASE more). On
    SQLite, in the loop, the 6 statements of an in-process get too: no group of one around it (it made 8 with the
    group's SAVEPOINT and RELEASE)."""
    import asyncio

    import httpx

    from vault.service_app import ServiceSettings, build_app
    from vault.service_tokens import ServiceTokens

    vault_.put(ADMIN, "acme", "google", "ops@acme.test", TOKEN)
    token = ServiceTokens(vault_).create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
    app = build_app(vault_, settings=ServiceSettings(auth_cache_ttl=3600))  # the identity checked once, below

    def get() -> str:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://vault.test") as c:
                return await c.get("/v1/tokens/acme/google/ops@acme.test", headers={"Authorization": f"Bearer {token}"})

        response = asyncio.run(call())
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    wire = WireCounter(vault_.engine, tmp_path)
    answers = [get()]  # the identity looked up and its use recorded; a pooled connection, as in a running server
    counted = wire.count(lambda: answers.append(get()))
    assert answers == [TOKEN, TOKEN]
    assert counted == (5 if vault_._pg else 6)
    gets = [e for e in vault_.audit_events(ADMIN, 10) if e.op == "get"]
    assert [(e.actor, e.outcome) for e in gets] == [("svc:wizard", "ok")] * 2


def test_a_service_token_is_checked_in_one_round_trip_or_one_statement(vault_, tmp_path):
    """An auth-cache miss of the vault service: on PostgreSQL the lookup alone (autocommit; a pooled connection's
    transaction would add BEGIN and ROLLBACK), on SQLite the lookup alone (no BEGIN IMMEDIATE: no write lock)."""
    from vault.service_tokens import ServiceTokens

    tokens = ServiceTokens(vault_)
    token = tokens.create(ADMIN, "wizard", Role.SERVICE, tenants=["acme"]).token.reveal()
    wire = WireCounter(vault_.engine, tmp_path)
    tokens.authenticate(token)  # its last use recorded (the clock stands still: not again below)
    assert wire.count(lambda: tokens.authenticate(token)) == 1
