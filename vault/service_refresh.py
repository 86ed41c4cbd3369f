"""The vault service's on-demand refresh: a ``get`` of a credential that is due refreshes it first, once.

Single flight at two levels. In one server, concurrent gets of one credential queue on an ``asyncio.Lock`` of
that credential: the first refreshes, the others find it fresh when they get the lock. Across replicas (one
PostgreSQL), the refresher's lease decides (:meth:`vault.refresh.Refresher.refresh_one`, ``FOR UPDATE SKIP
LOCKED``): a replica that cannot claim the row waits, polling, until whoever holds it has recorded an outcome
(the row is no longer due, or is backing off), then serves what was stored. The provider sees one refresh.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import anyio.to_thread
import sqlalchemy as sa

from vault.audit import Prepared
from vault.models import Credential
from vault.refresh import Refresher
from vault.store import Vault

__all__ = ["Located", "OnDemandRefresh"]

_C: sa.Table = Credential.metadata.tables["credentials"]
# A revoke locates its credential (a get finds it in the statement that reads it: Vault._get_account, with
# located() below): through the DBAPI cursor (audit.Prepared), a third of the cost of conn.execute on SQLite.
_COLUMNS = (
    _C.c.id,
    _C.c.provider,
    _C.c.state,
    _C.c.refresh_due_at,
    _C.c.next_attempt_at,
    _C.c.expires_at,
    (_C.c.refresh_ct.is_not(None)).label("refreshable"),
)
"""What a located credential carries (:class:`_Row`), by account or by id."""
_LOCATE = Prepared(
    sa.select(*_COLUMNS).where(
        _C.c.tenant == sa.bindparam("t"), _C.c.provider == sa.bindparam("p"), _C.c.account == sa.bindparam("a")
    )
)
_BY_ID = sa.select(*_COLUMNS).where(_C.c.id == sa.bindparam("i"))


class _Row(NamedTuple):
    """A row of ``_LOCATE``."""

    id: str
    provider: str
    state: str
    refresh_due_at: datetime | None
    next_attempt_at: datetime | None
    expires_at: datetime | None
    refreshable: Any


@dataclass(frozen=True)
class Located:
    """Where a (tenant, provider, account) is, and whether it should be refreshed before it is served."""

    credential_id: str
    state: str
    expires_at: datetime | None
    due: bool


class OnDemandRefresh:
    """Finds credentials and refreshes the due ones, once, through ``refresher`` (``None``: never refreshes).

    ``wait``: how long a request waits for another replica's refresh before serving what is stored; ``poll``:
    how often it looks meanwhile."""

    def __init__(self, vault: Vault, refresher: Refresher | None, *, wait: float = 20.0, poll: float = 0.05) -> None:
        self.vault = vault
        self.refresher = refresher
        self.wait = wait
        self.poll = poll
        self.refreshes = 0
        """Refreshes this server performed (its ``/metrics``)."""
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def locate(self, tenant: str, provider: str, account: str) -> Located | None:
        with self.vault._reading() as conn:
            rows = _LOCATE.execute(conn, {"t": tenant, "p": provider, "a": account})
        return self._located(_Row(*rows[0])) if rows else None

    def located(self, row: Mapping[str, Any] | None) -> Located | None:
        """What :meth:`locate` says of a credential row read elsewhere (``Vault._get_account``'s: the credential
        columns and ``refresh_due_at``, ``next_attempt_at``)."""
        if row is None:
            return None
        return self._located(
            _Row(
                row["id"],
                row["provider"],
                row["state"],
                row["refresh_due_at"],
                row["next_attempt_at"],
                row["expires_at"],
                row["refresh_ct"] is not None,
            )
        )

    def _located(self, row: sa.Row[tuple[object, ...]] | _Row | None) -> Located | None:
        if row is None:
            return None
        now = self.vault.clock.now()
        due = (
            self.refresher is not None
            and row.state == "active"
            and bool(row.refreshable)
            and row.refresh_due_at is not None
            and row.refresh_due_at <= now
            and (row.next_attempt_at is None or row.next_attempt_at <= now)
            and row.provider in self.refresher.endpoints
        )
        return Located(row.id, row.state, row.expires_at, due)

    async def ensure_fresh(self, located: Located) -> str | None:
        """Refresh ``located`` if it is due: once per server (a lock per credential), once across replicas (the
        lease). Returns the refresher's outcome (``refreshed``, ``needs_reauth``, …), ``fresh`` when someone
        else refreshed it meanwhile, or ``None`` when it was not due."""
        if not located.due:
            return None
        lock = self._locks.get(located.credential_id)
        if lock is None:
            lock = self._locks[located.credential_id] = asyncio.Lock()
        async with lock:
            return await anyio.to_thread.run_sync(self._refresh, located.credential_id)

    def _refresh(self, credential_id: str) -> str:
        assert self.refresher is not None
        deadline = time.monotonic() + self.wait
        while True:
            with self.vault.engine.connect() as conn:
                now_row = self._located(conn.execute(_BY_ID, {"i": credential_id}).first())
            if now_row is None or not now_row.due:
                return "fresh"
            outcome = self.refresher.refresh_one(credential_id)
            if outcome is not None:
                if outcome.result == "refreshed":
                    self.refreshes += 1
                return outcome.result
            if time.monotonic() >= deadline:
                return "waited"
            time.sleep(self.poll)  # another replica holds the lease: it is refreshing right now
