"""The vault's engine and sessions: the database connection (SQLite's write lock taken at ``BEGIN``, PostgreSQL's
transport judged on every connection), the state every part of the :class:`~vault.store.Vault` shares (key
caches, lock, clock), its transactions, and the external audit anchor written after each commit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa

import vault.transport as transport
from vault.anchor import FileAnchor
from vault.audit import PENDING_HEAD, AuditChain
from vault.dburl import DEFAULT_DB_URL as DEFAULT_DB_URL  # re-exported: vault.store and the sweep read it here
from vault.errors import VaultError
from vault.integrity import RowMac
from vault.keys import KeyRing, KeySource
from vault.store_meta import zero
from vault.store_values import Clock
from vault.transport import check_transport

__all__ = ["DEFAULT_DB_URL", "VaultSession", "create_engine"]

log = logging.getLogger("vault")

_RECYCLE_S = 1800
_DEPTH, _BROKEN = "vault_group_depth", "vault_group_broken"
"""``Connection.info`` keys of a group's transaction: savepoints open, and a savepoint that could not be undone."""


def create_engine(url: str) -> sa.Engine:
    check_transport(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping (a round trip on every checkout, 1 of 7 in an audited get): a connection found dead is
        # invalidated by the statement that finds it and the audited operation runs once more (store_ops), and
        # connections are renewed before the idle timeouts servers and poolers commonly apply.
        engine = sa.create_engine(url, pool_recycle=_RECYCLE_S, hide_parameters=True)
        transport.install(engine)  # judges every pooled connection on what libpq actually connected to
        return engine
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # An in-memory database by URI (the self-test's scratch vault): one connection per thread, as SQLAlchemy
    # picks today from ``mode=memory`` and has announced it will stop picking; named here so it stays.
    memory = parsed.query.get("mode") == "memory"
    engine = sa.create_engine(url, hide_parameters=True, poolclass=sa.pool.SingletonThreadPool if memory else None)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Every vault transaction writes (at least its audit entry): take the write lock up front, so two
        # processes never both read and then deadlock upgrading to write.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]

    return engine


class VaultSession:
    """The state and the transactions of a :class:`~vault.store.Vault` (its first base class)."""

    def __init__(self, engine: sa.Engine, key_source: KeySource, clock: Clock, dek_cache_ttl: float) -> None:
        """Wrap a migrated engine; use :meth:`open` or :meth:`init` instead."""
        self.engine = engine
        self.key_source = key_source
        self.clock = clock
        self._ttl = timedelta(seconds=dek_cache_ttl)
        self._pg = engine.dialect.name == "postgresql"
        self._lock = threading.RLock()
        self._ring_cache: tuple[KeyRing, datetime] | None = None
        self._deks: dict[tuple[str, int], tuple[bytearray, datetime]] = {}
        self._chain_cache: tuple[AuditChain, bytes, RowMac, datetime] | None = None
        self._anchor: FileAnchor | None = None
        self._grouped = threading.local()

    def close(self) -> None:
        """Forget every cached key (zeroed) and release pooled connections."""
        with self._lock:
            for dek, _ in self._deks.values():
                zero(dek)
            self._deks.clear()
            self._ring_cache = None
            self._chain_cache = None
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault({self.engine.url.render_as_string(hide_password=True)!r}, {self.key_source.name!r})"

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction; once it commits, the audit head it wrote (if any) goes to the external anchor.

        Inside :meth:`_group` (on the same thread), a savepoint of the group's transaction instead: the work is
        all-or-nothing as before, but durable only when the group commits."""
        grouped = self._group_conn()
        if grouped is not None:
            with self._savepoint(grouped):
                yield grouped
            return
        with self.engine.begin() as conn:
            conn.info.pop(PENDING_HEAD, None)
            try:
                yield conn
            finally:  # (a connection found dead has no info left to read: its transaction is gone)
                head = None if conn.invalidated else conn.info.pop(PENDING_HEAD, None)
        if head is not None and self._anchor is not None:
            self._write_anchor(head)

    @staticmethod
    @contextmanager
    def _savepoint(conn: sa.Connection) -> Iterator[None]:
        """A savepoint of the group's transaction, in the driver's own SQL: SQLAlchemy's ``begin_nested`` compiles
        its two statements on every use, a fifth of a grouped get's CPU. On failure the savepoint is rolled back,
        and so is any audit head written inside it; if even that fails, the whole group is marked to roll back
        (a half-done operation must not be committed with the others)."""
        depth = conn.info.get(_DEPTH, 0)
        name = f"vault_group_{depth}"
        raw: Any = conn.connection.driver_connection
        before = conn.info.get(PENDING_HEAD)
        raw.execute(f"SAVEPOINT {name}")
        conn.info[_DEPTH] = depth + 1
        try:
            yield
        except BaseException:
            if before is None:
                conn.info.pop(PENDING_HEAD, None)
            else:
                conn.info[PENDING_HEAD] = before
            try:
                raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raw.execute(f"RELEASE SAVEPOINT {name}")
            except Exception:
                conn.info[_BROKEN] = True
            raise
        else:
            raw.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            conn.info[_DEPTH] = depth

    @contextmanager
    def _group(self) -> Iterator[None]:
        """Group commit: every vault operation this thread runs inside the block shares one transaction, each in
        a savepoint of it (an operation that fails rolls back alone, and its ``error`` entry is written as
        usual), and the whole is committed once at the end: one write lock and one fsync for many audited gets.

        Nothing an operation inside returned may leave the process before the block has exited without an
        exception: until then its audit entry is not durable (a failed commit raises here and undoes them all).
        The vault service's SQLite path (:mod:`vault.service_batch`) is the caller. Not reentrant."""
        if self._group_conn() is not None:
            raise RuntimeError("vault operations are already grouped on this thread")
        with self.engine.begin() as conn:
            conn.info.pop(PENDING_HEAD, None)
            self._grouped.conn = conn
            try:
                yield
                if conn.info.pop(_BROKEN, False):
                    raise VaultError("an operation of the group could not be undone: the whole group is rolled back")
            finally:
                self._grouped.conn = None
                conn.info.pop(_DEPTH, None)
                head = None if conn.invalidated else conn.info.pop(PENDING_HEAD, None)
        if head is not None and self._anchor is not None:
            self._write_anchor(head)

    @contextmanager
    def _reading(self, *, own: bool = False) -> Iterator[sa.Connection]:
        """A connection for one read: the group's inside :meth:`_group` (a connection of its own would wait for the
        write lock the group holds: every SQLite transaction here takes it at ``BEGIN``), else a pooled one
        (on PostgreSQL in autocommit: the statement alone, no transaction around it).

        ``own``: a pooled one even inside a group, for a read whose failure must not abort the group's transaction
        (on SQLite only through the DBAPI cursor, :class:`vault.audit.Prepared`, which takes no write lock)."""
        grouped = None if own else self._group_conn()
        if grouped is not None:
            yield grouped
            return
        if self._pg:  # one round trip for a read, not three (BEGIN, the query, ROLLBACK when it goes back)
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn

    def _group_conn(self) -> sa.Connection | None:
        """The connection of this thread's :meth:`_group`, if one is open."""
        conn: sa.Connection | None = getattr(self._grouped, "conn", None)
        return conn

    def _in_group(self) -> bool:
        return self._group_conn() is not None

    def _write_anchor(self, head: dict[str, Any]) -> None:
        assert self._anchor is not None
        with self._lock:
            cached = self._chain_cache
        try:
            if cached is None:
                raise VaultError("audit key not loaded")
            self._anchor.record(cached[0], head)
        except Exception as exc:  # committed already: say so loudly; verify_audit shows the anchor behind
            log.warning(
                "could not write the external audit anchor %s for seq %s (%s)",
                self._anchor.spec,
                head.get("seq"),
                type(exc).__name__,
            )
