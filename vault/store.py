"""The token vault: :class:`Vault` (open, put, get, list, revoke, rotate, audit, stats).

See ``docs/vault.md`` for the design on one page: envelope encryption, associated data, key rotation,
the RBAC matrix (:mod:`vault.rbac`) and the audit chain (:mod:`vault.audit`).
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

import vault.crypto as crypto
import vault.integrity as integrity
import vault.transport as transport
from vault.anchor import ENV_ANCHOR, FileAnchor, anchor_from_spec
from vault.audit import PENDING_HEAD, AuditChain, AuditEvent, AuditReport, Prepared, event_from_row
from vault.errors import AccessDenied, KeyUnavailable, VaultError
from vault.integrity import CREDENTIAL_COLUMNS, DATA_KEY_COLUMNS, RowMac
from vault.keys import KeyRing, KeySource
from vault.models import AuditEventRecord, Credential, DataKey, Tenant, VaultMeta, upgrade, utc
from vault.rbac import Actor, Op, Role, denial_reason
from vault.secret import Secret, TokenSet
from vault.transport import check_transport

__all__ = [
    "DEFAULT_DB_URL",
    "SYSTEM_ACTOR",
    "Clock",
    "CredentialInfo",
    "RotationReport",
    "SystemClock",
    "Vault",
    "VaultStats",
    "check_transport",
    "refresh_due",
]

log = logging.getLogger("vault")

DEFAULT_DB_URL = "sqlite:///./.readiness/readiness.db"
SYSTEM_ACTOR = Actor("vault", Role.ADMIN)
"""The actor of entries the vault writes on its own (init, a new primary KEK seen in the key source)."""

_AUDIT_KEY_SCOPE = "__audit__"  # the "tenant" the audit key is wrapped for (its associated data)
_PG_INIT_LOCK = 0x5641494E  # "VAIN": serialises first-time initialisation of one PostgreSQL schema
_T = TypeVar("_T")

# Prebuilt Core statements for the per-operation paths (put, get): building ORM statements per call costs
# several times the SQL itself.
_CREDENTIALS: sa.Table = Credential.metadata.tables["credentials"]
_TENANTS: sa.Table = Tenant.metadata.tables["tenants"]
# get() is the hottest path: only the columns it needs, run through the DBAPI cursor (audit.Prepared).
_GET_CREDENTIAL = Prepared(
    sa.select(*CREDENTIAL_COLUMNS).where(
        _CREDENTIALS.c.id == sa.bindparam("b_id"), _CREDENTIALS.c.tenant == sa.bindparam("b_tenant")
    )
)
_SELECT_BY_ACCOUNT_FOR_UPDATE = (
    sa.select(*CREDENTIAL_COLUMNS, _CREDENTIALS.c.version)
    .where(
        _CREDENTIALS.c.tenant == sa.bindparam("b_tenant"),
        _CREDENTIALS.c.provider == sa.bindparam("b_provider"),
        _CREDENTIALS.c.account == sa.bindparam("b_account"),
    )
    .with_for_update()
)
_UPDATE_CREDENTIAL_IF_VERSION = _CREDENTIALS.update().where(
    _CREDENTIALS.c.id == sa.bindparam("b_id"), _CREDENTIALS.c.version == sa.bindparam("b_version")
)
_SELECT_ACTIVE_DEK_VERSION = (
    sa.select(_TENANTS.c.active_dek_version).where(_TENANTS.c.id == sa.bindparam("b_tenant")).with_for_update(read=True)
)
"""Shares the tenant row's lock until the writer commits (PostgreSQL; SQLite's write lock does it already):
``rotate_dek`` locks that row before it moves the tenant to a new DEK, so it waits for every writer that is
sealing under the old version, and then finds (re-seals) what they wrote before it retires that version.
Without it a writer that read the old version (and holds its DEK in its cache) could commit a credential
under a DEK rotation had just erased: unreadable for ever."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock (``checks.core.clock.FixedClock`` or any object with ``now()`` also fits)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


# ----------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CredentialInfo:
    """One credential's metadata, as :meth:`Vault.list` returns it: never a token or a ciphertext."""

    id: str
    tenant: str
    provider: str
    account: str
    scopes: tuple[str, ...]
    state: str
    """``active``, ``revoked`` or ``needs_reauth``."""
    expires_at: datetime | None
    has_refresh_token: bool
    token_fingerprint: str
    """``hmac:…`` of the access token: the same value names it in the audit log."""
    dek_version: int
    refresh_due_at: datetime | None
    last_refresh_at: datetime | None
    last_refresh_error: str | None
    failures: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RotationReport:
    """What one run of :meth:`Vault.rotate_kek` or :meth:`Vault.rotate_dek` did."""

    kind: str
    """``kek`` or ``dek``."""
    target: str
    """The primary KEK's fingerprint, or ``tenant@vN`` for a DEK rotation."""
    total: int
    """Rows that still needed rewriting when this run started (an earlier, interrupted run did the rest)."""
    rewritten: int
    """Rows this run rewrapped (KEK: data keys and the audit key) or re-sealed (DEK: credentials)."""
    remaining: int
    """Rows not at the target when the run finished: 0 means complete."""
    retired: tuple[str, ...] = ()
    """DEK versions this run retired, ``tenant@v1``."""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class VaultStats:
    """Counts for dashboards: metadata only."""

    at: datetime
    tenants: int
    credentials: int
    by_state: dict[str, int]
    by_provider: dict[str, int]
    by_provider_state: dict[str, dict[str, int]]
    expiring_soon: int
    """Active credentials that expire within the window (and have not yet)."""
    expired: int
    """Active credentials already past ``expires_at``."""
    refresh_failing: int
    """Credentials whose last refresh attempts failed (``failures > 0``)."""
    primary_kek: str
    pending_rewrap: dict[str, int] = field(default_factory=dict)
    """Older KEK fingerprint -> data keys still wrapped under it (a KEK rotation is due)."""
    rotations_in_progress: tuple[str, ...] = ()
    """``kek`` and/or ``dek:<tenant>`` for rotations interrupted or running."""


# ------------------------------------------------------------------------------------------ helpers


def refresh_due(now: datetime, expires_at: datetime | None) -> datetime | None:
    """When a credential should be refreshed: 10 minutes before expiry, or at 80 % of a shorter lifetime."""
    if expires_at is None:
        return None
    expires_at = utc(expires_at)
    lifetime = expires_at - utc(now)
    if lifetime <= timedelta(0):
        return expires_at
    return expires_at - min(timedelta(minutes=10), lifetime / 5)


def _create_engine(url: str) -> sa.Engine:
    check_transport(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
        transport.install(engine)  # judges every pooled connection on what libpq actually connected to
        return engine
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, hide_parameters=True)

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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


def _zero(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise VaultError(f"{what} must be a non-empty string")
    return value


def _as_secret(value: Secret | str | bytes | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


def _wipe(value: object) -> None:
    if isinstance(value, TokenSet):
        value.wipe()


class _Retry(Exception):
    """A compare-and-set lost a race: run the transaction again."""


class _AuditUnwritable(Exception):
    """The operation's audit entry could not be written: the operation must not happen."""


# ---------------------------------------------------------------------------------------------- vault


class Vault:
    """The token vault. Open with :meth:`open` (or :meth:`init` the first time); share between threads.

    Every public method takes the calling :class:`~vault.rbac.Actor` first, checks it against the RBAC
    matrix, and writes one audit entry in the same transaction as its effect (a denial or a failure gets
    its own entry). Plaintext leaves only as :class:`~vault.secret.Secret` inside a ``TokenSet``.

    **Hooks for companions (the refresher in ``vault.refresh``, the CLI, the self-test).** These
    underscore methods are internal but stable; use them instead of reaching into the tables blind:

    * ``authorize(actor, Op.REFRESH, tenant, target)``: the audited permission check (public);
    * ``_ring()``: the current :class:`~vault.keys.KeyRing`, cached for ``dek_cache_ttl``; call it
      *outside* a transaction (a reload may write ``vault_meta``);
    * ``_begin()``: a transaction (``with vault._begin() as conn``); SQLite takes the write lock at
      ``BEGIN IMMEDIATE``; on PostgreSQL lock what you rewrite (``.with_for_update(skip_locked=True)``
      to claim) and compare-and-set ``Credential.version`` everywhere;
    * ``_active_dek(conn, ring, tenant) -> (version, dek)`` and ``_dek_for(conn, ring, tenant, version)``;
    * ``_seal_field(dek, tenant, provider, credential_id, field, version, plaintext)`` and
      ``_open_field(...)`` with ``field`` ``"access"`` or ``"refresh"``;
    * ``_fingerprint(conn, ring, plaintext)``: the ``hmac:…`` name of a token for rows and audit details;
    * ``_append(conn, ring, actor, op, tenant, target, outcome, detail)``: one audit entry, inside the
      same transaction as the write it records;
    * :func:`refresh_due` and ``self.clock`` for every time decision.
    """

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

    # ------------------------------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        db_url: str | None,
        key_source: KeySource,
        clock: Clock | None = None,
        *,
        dek_cache_ttl: float = 300.0,
        create: bool = False,
        anchor: str | None = None,
    ) -> Vault:
        """Connect to ``db_url`` (else TOKEN_VAULT_DB_URL, READINESS_DB_URL, SQLite under ``./.readiness/``),
        migrate, and check the key source against the KEKs this vault knows.

        With ``create=True`` an empty database becomes a new vault whose primary KEK is the key source's
        primary; otherwise an uninitialised database is refused. A key source whose keys match no known KEK
        is refused (:class:`KeyUnavailable`). A new primary the vault has not seen is accepted only next to
        an older known key (a KEK rotation waiting to happen) and is then recorded.

        ``anchor``: the external audit anchor (``file:/path``, see :mod:`vault.anchor`); ``None`` reads
        TOKEN_VAULT_AUDIT_ANCHOR, ``""`` means none. A vault from before row MACs is bound on open (once,
        audited as ``bind_rows``; see :mod:`vault.integrity`).
        """
        external = anchor_from_spec(os.environ.get(ENV_ANCHOR) if anchor is None else anchor)
        url = db_url or os.environ.get("TOKEN_VAULT_DB_URL") or os.environ.get("READINESS_DB_URL") or DEFAULT_DB_URL
        engine = _create_engine(url)
        try:
            try:
                upgrade(engine)
            except sa.exc.SQLAlchemyError as exc:
                shown = sa.make_url(url).render_as_string(hide_password=True)
                raise VaultError(
                    f"could not open the vault database {shown} ({type(exc).__name__}): check TOKEN_VAULT_DB_URL "
                    "and that the database is reachable"
                ) from None
            vault = cls(engine, key_source, clock or SystemClock(), dek_cache_ttl)
            vault._anchor = external
            vault._start(create)
        except BaseException:
            engine.dispose()
            raise
        return vault

    @classmethod
    def init(
        cls, db_url: str | None, key_source: KeySource, clock: Clock | None = None, *, dek_cache_ttl: float = 300.0,
        anchor: str | None = None,
    ) -> Vault:
        """Open, creating the vault when the database holds none yet (``open(..., create=True)``)."""
        return cls.open(db_url, key_source, clock, dek_cache_ttl=dek_cache_ttl, create=True, anchor=anchor)

    def close(self) -> None:
        """Forget every cached key (zeroed) and release pooled connections."""
        with self._lock:
            for dek, _ in self._deks.values():
                _zero(dek)
            self._deks.clear()
            self._ring_cache = None
            self._chain_cache = None
        self.engine.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault({self.engine.url.render_as_string(hide_password=True)!r}, {self.key_source.name!r})"

    def _start(self, create: bool) -> None:
        ring = self._load_ring()
        with self._begin() as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_INIT_LOCK})
            if _meta_get(conn, "primary_kek") is None:
                if not create:
                    raise VaultError(
                        "this database holds no vault yet: run `readiness vault init` (Vault.init) first"
                    )
                self._initialise(conn, ring)
            else:
                self._accept_ring(conn, ring)
                if not (_meta_get(conn, "audit_key") or {}).get("rows"):
                    self._bind_rows(conn, ring)
        with self._lock:
            self._ring_cache = (ring, self.clock.now() + self._ttl)

    def _initialise(self, conn: sa.Connection, ring: KeyRing) -> None:
        now = self.clock.now()
        fp = ring.primary.fingerprint
        audit_key = crypto.new_key()
        try:
            wrapped = crypto.wrap_key(ring.primary.key, audit_key, _AUDIT_KEY_SCOPE, 0, fp,
                                      purpose=integrity.AUDIT_KEY_PURPOSE)
            chain = AuditChain(audit_key)
            fp_key = crypto.derive_key(audit_key, "token-fingerprint")
            rows = RowMac(audit_key, required=True)
        finally:
            _zero(audit_key)
        _meta_set(conn, "primary_kek", fp, now)
        _meta_set(conn, "known_keks", [fp], now)
        _meta_set(conn, "audit_key", _audit_key_meta(rows, fp, wrapped, chain.next_seq(conn)), now)
        chain.append(
            conn, at=now, actor=SYSTEM_ACTOR.name, role=SYSTEM_ACTOR.role.value, op="init", tenant=None, target=fp,
            outcome="ok", detail={"kek": fp, "key_source": self.key_source.name},
        )
        with self._lock:
            self._chain_cache = (chain, fp_key, rows, now + self._ttl)

    def _bind_rows(self, conn: sa.Connection, ring: KeyRing) -> None:
        """Bind a vault written before row MACs, once: MAC every row as it stands, record this entry's seq in
        each, and rewrap the audit key under the bound purpose (which makes a missing MAC tampering from now on).
        The rows are trusted as they are at this moment; run it (any open) right after upgrading."""
        meta = _meta_get(conn, "audit_key", lock=True)
        if not meta or meta.get("rows"):
            return  # another process bound it first
        kek = ring.by_fingerprint(meta["kek"])
        if kek is None:
            raise KeyUnavailable(
                f"the audit key is wrapped under {meta['kek']}, which key source {self.key_source.name} does not "
                "offer: put that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS)"
            )
        key = crypto.unwrap_key(kek.key, _unb64(meta["wrapped"]), _AUDIT_KEY_SCOPE, 0, kek.fingerprint,
                                purpose=integrity.LEGACY_AUDIT_KEY_PURPOSE)
        try:
            chain, rows = AuditChain(key), RowMac(key, required=True)
            wrapped = crypto.wrap_key(kek.key, key, _AUDIT_KEY_SCOPE, 0, kek.fingerprint,
                                      purpose=integrity.AUDIT_KEY_PURPOSE)
        finally:
            _zero(key)
        seq = chain.next_seq(conn)
        counts = integrity.bind_unbound_rows(conn, rows, seq)
        now = self.clock.now()
        _meta_set(conn, "audit_key", _audit_key_meta(rows, kek.fingerprint, wrapped, seq), now)
        with self._lock:
            self._chain_cache = None
        self._append(conn, ring, SYSTEM_ACTOR, "bind_rows", None, None, "ok", counts)

    def _accept_ring(self, conn: sa.Connection, ring: KeyRing) -> None:
        known: builtins.list[str] = builtins.list(_meta_get(conn, "known_keks") or [])
        offered = ring.fingerprints
        if not set(offered) & set(known):
            raise KeyUnavailable(
                f"the key source's keys match none this vault knows (known: {', '.join(known)}; "
                f"{self.key_source.name} offers: {', '.join(offered)}); wrong TOKEN_VAULT_ENCRYPTION_KEY?"
            )
        primary = ring.primary.fingerprint
        if primary in known and _meta_get(conn, "primary_kek") == primary:
            return
        known = builtins.list(_meta_get(conn, "known_keks", lock=True) or [])
        now = self.clock.now()
        if primary not in known:
            # Only reachable when an older known key is also offered: a rotation waiting to happen.
            known.append(primary)
            _meta_set(conn, "known_keks", known, now)
            op = "kek_added"
        else:
            op = "kek_primary"
        _meta_set(conn, "primary_kek", primary, now)
        self._append(conn, ring, SYSTEM_ACTOR, op, None, primary, "ok",
                     {"kek": primary, "key_source": self.key_source.name, "known": known})

    # ----------------------------------------------------------------------------------------- keys

    def _load_ring(self) -> KeyRing:
        try:
            return self.key_source.load()
        except KeyUnavailable:
            raise
        except Exception as exc:  # a key source must fail as KeyUnavailable; never leak its message
            raise KeyUnavailable(
                f"key source {self.key_source.name} failed ({type(exc).__name__}); check TOKEN_VAULT_KEY_SOURCE"
            ) from None

    def _ring(self, *, reload: bool = False) -> KeyRing:
        """The key ring, loaded from the key source at most once per ``dek_cache_ttl``."""
        now = self.clock.now()
        with self._lock:
            if not reload and self._ring_cache is not None and now < self._ring_cache[1]:
                return self._ring_cache[0]
        ring = self._load_ring()
        with self._begin() as conn:
            self._accept_ring(conn, ring)
        with self._lock:
            self._ring_cache = (ring, now + self._ttl)
        return ring

    def _chain(self, conn: sa.Connection, ring: KeyRing) -> tuple[AuditChain, bytes]:
        """The audit chain and the token-fingerprint key, from the audit key (unwrapped once per TTL)."""
        chain, fp_key, _ = self._audit_keys(conn, ring)
        return chain, fp_key

    def _rows(self, conn: sa.Connection, ring: KeyRing) -> RowMac:
        """Computes and checks row MACs (vault.integrity); from the audit key, like the chain."""
        return self._audit_keys(conn, ring)[2]

    def _next_seq(self, conn: sa.Connection, ring: KeyRing) -> int:
        """The seq of this transaction's audit entry, for ``audit_seq`` of the rows it writes (locks the head)."""
        return self._chain(conn, ring)[0].next_seq(conn)

    def _audit_keys(self, conn: sa.Connection, ring: KeyRing) -> tuple[AuditChain, bytes, RowMac]:
        now = self.clock.now()
        with self._lock:
            if self._chain_cache is not None and now < self._chain_cache[3]:
                return self._chain_cache[0], self._chain_cache[1], self._chain_cache[2]
        meta = _meta_get(conn, "audit_key")
        if not meta:
            raise VaultError("the vault's audit key is missing from vault_meta: the database was tampered with")
        kek = ring.by_fingerprint(meta["kek"])
        if kek is None:
            raise KeyUnavailable(
                f"the audit key is wrapped under {meta['kek']}, which key source {self.key_source.name} does not "
                "offer: put that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS)"
            )
        bound = bool(meta.get("rows"))
        purpose = integrity.AUDIT_KEY_PURPOSE if bound else integrity.LEGACY_AUDIT_KEY_PURPOSE
        key = crypto.unwrap_key(kek.key, _unb64(meta["wrapped"]), _AUDIT_KEY_SCOPE, 0, kek.fingerprint, purpose=purpose)
        try:
            chain, fp_key = AuditChain(key), crypto.derive_key(key, "token-fingerprint")
            rows = RowMac(key, required=bound)
        finally:
            _zero(key)
        if bound:
            rows.check_audit_key(meta)
        with self._lock:
            self._chain_cache = (chain, fp_key, rows, now + self._ttl)
        return chain, fp_key, rows

    def _dek_for(self, conn: sa.Connection, ring: KeyRing, tenant: str, version: int) -> bytes:
        """``tenant``'s DEK ``version``, unwrapped (cached for ``dek_cache_ttl``)."""
        now = self.clock.now()
        with self._lock:
            hit = self._deks.get((tenant, version))
            if hit is not None and now < hit[1]:
                return bytes(hit[0])
        row = conn.execute(
            sa.select(*DATA_KEY_COLUMNS).where(DataKey.tenant == tenant, DataKey.version == version)
        ).first()
        if row is None or row.state != "active" or not row.wrapped:
            raise VaultError(f"tenant {tenant!r} has no usable data key version {version}")
        self._rows(conn, ring).check_data_key(row)
        kek = ring.by_fingerprint(row.kek_fingerprint)
        if kek is None:
            raise KeyUnavailable(
                f"tenant {tenant!r}'s data key v{version} is wrapped under {row.kek_fingerprint}, which key source "
                f"{self.key_source.name} does not offer: put that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS)"
            )
        dek = crypto.unwrap_key(kek.key, row.wrapped, tenant, version, row.kek_fingerprint)
        with self._lock:
            for key in [k for k, (_, exp) in self._deks.items() if exp <= now]:
                _zero(self._deks.pop(key)[0])
            old = self._deks.get((tenant, version))
            if old is not None:
                _zero(old[0])
            self._deks[(tenant, version)] = (dek, now + self._ttl)
            return bytes(dek)

    def _forget_dek(self, tenant: str, version: int) -> None:
        with self._lock:
            hit = self._deks.pop((tenant, version), None)
            if hit is not None:
                _zero(hit[0])

    def _active_dek(self, conn: sa.Connection, ring: KeyRing, tenant: str) -> tuple[int, bytes]:
        """``(version, dek)`` of the tenant's active DEK; :class:`VaultError` for an unknown tenant."""
        version = conn.execute(_SELECT_ACTIVE_DEK_VERSION, {"b_tenant": tenant}).scalar_one_or_none()
        if version is None:
            raise VaultError(f"no tenant {tenant!r} in this vault (nothing stored for it yet)")
        return version, self._dek_for(conn, ring, tenant, version)

    def _tenant_dek(self, conn: sa.Connection, ring: KeyRing, tenant: str, now: datetime) -> tuple[int, bytes]:
        """Like :meth:`_active_dek`, creating the tenant and its first DEK on first use."""
        version = conn.execute(_SELECT_ACTIVE_DEK_VERSION, {"b_tenant": tenant}).scalar_one_or_none()
        if version is not None:
            return version, self._dek_for(conn, ring, tenant, version)
        insert = (pg_dialect.insert if self._pg else sqlite_dialect.insert)(Tenant)
        created = conn.execute(
            insert.values(id=tenant, created_at=now, active_dek_version=1)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Tenant.id)
        ).first()
        if created is None:  # another writer created it first (PostgreSQL waited for its commit)
            return self._active_dek(conn, ring, tenant)
        dek = crypto.new_key()
        try:
            self._insert_dek(conn, ring, tenant, 1, dek, now)
            # Not cached: if this transaction rolls back, the cache must not hold a DEK the database lacks.
            return 1, bytes(dek)
        finally:
            _zero(dek)

    def _insert_dek(self, conn: sa.Connection, ring: KeyRing, tenant: str, version: int, dek: bytearray,
                    now: datetime) -> None:
        fp = ring.primary.fingerprint
        wrapped = crypto.wrap_key(ring.primary.key, dek, tenant, version, fp)
        values = {"tenant": tenant, "version": version, "wrapped": wrapped, "kek_fingerprint": fp, "state": "active"}
        bound = self._rows(conn, ring).bind("data_key", values, self._next_seq(conn, ring))
        conn.execute(sa.insert(DataKey).values(**bound, created_at=now, retired_at=None))

    @staticmethod
    def _seal_field(dek: bytes, tenant: str, provider: str, credential_id: str, field: str, version: int,
                    plaintext: bytes | bytearray) -> bytes:
        return crypto.seal(dek, plaintext, crypto.credential_aad(tenant, provider, credential_id, field, version))

    @staticmethod
    def _open_field(dek: bytes, tenant: str, provider: str, credential_id: str, field: str, version: int,
                    blob: bytes) -> bytearray:
        return crypto.open_blob(dek, blob, crypto.credential_aad(tenant, provider, credential_id, field, version))

    def _fingerprint(self, conn: sa.Connection, ring: KeyRing, plaintext: bytes | bytearray) -> str:
        return crypto.hmac_fingerprint(self._chain(conn, ring)[1], plaintext)

    # ---------------------------------------------------------------------------------- audit, rbac

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A transaction; once it commits, the audit head it wrote (if any) goes to the external anchor."""
        with self.engine.begin() as conn:
            conn.info.pop(PENDING_HEAD, None)
            try:
                yield conn
            finally:
                head = conn.info.pop(PENDING_HEAD, None)
        if head is not None and self._anchor is not None:
            self._write_anchor(head)

    def _write_anchor(self, head: dict[str, Any]) -> None:
        assert self._anchor is not None
        with self._lock:
            cached = self._chain_cache
        try:
            if cached is None:
                raise VaultError("audit key not loaded")
            self._anchor.record(cached[0], head)
        except Exception as exc:  # committed already: say so loudly; verify_audit shows the anchor behind
            log.warning("could not write the external audit anchor %s for seq %s (%s)", self._anchor.spec,
                        head.get("seq"), type(exc).__name__)

    def _append(self, conn: sa.Connection, ring: KeyRing, actor: Actor, op: Op | str, tenant: str | None,
                target: str | None, outcome: str, detail: dict[str, Any]) -> AuditEvent:
        chain = self._chain(conn, ring)[0]
        return chain.append(
            conn, at=self.clock.now(), actor=actor.name, role=actor.role.value, op=Op(op).value if isinstance(op, Op)
            else op, tenant=tenant, target=target, outcome=outcome, detail=detail,
        )

    def authorize(self, actor: Actor, op: Op, tenant: str | None = None, target: str | None = None) -> None:
        """Raise :class:`AccessDenied` unless the RBAC matrix lets ``actor`` do ``op``; audit the denial."""
        reason = denial_reason(actor, op, tenant)
        if reason is None:
            return
        try:
            ring = self._ring()
            with self._begin() as conn:
                self._append(conn, ring, actor, op, tenant, target, "denied", {"reason": reason})
        except Exception as exc:  # still a denial; the missing entry is itself worth a warning
            log.warning("could not audit a denied %s by %s (%s)", Op(op).value, actor.name, type(exc).__name__)
        raise AccessDenied(f"access denied: {reason}")

    def _record_failure(self, actor: Actor, op: Op | str, tenant: str | None, target: str | None,
                        exc: BaseException) -> None:
        """Best effort: an ``error`` entry for an operation that failed (its own transaction rolled back)."""
        detail = {"error": type(exc).__name__, "message": str(exc)[:300]}
        try:
            ring = self._ring()
            with self._begin() as conn:
                self._append(conn, ring, actor, op, tenant, target, "error", detail)
        except Exception as audit_exc:
            name = op.value if isinstance(op, Op) else op
            log.warning("could not audit a failed %s by %s (%s)", name, actor.name, type(audit_exc).__name__)

    def _run(
        self,
        actor: Actor,
        op: Op,
        tenant: str | None,
        target: str | None,
        body: Callable[[sa.Connection, KeyRing], tuple[_T, str | None, dict[str, Any]]],
        *,
        retries: int = 0,
    ) -> _T:
        """Run ``body`` and its audit entry in one transaction; on failure audit an ``error`` and raise."""
        attempt = 0
        while True:
            result: Any = None
            try:
                ring = self._ring()
                with self._begin() as conn:
                    result, target_, detail = body(conn, ring)
                    named = target_ if target_ is not None else target
                    try:
                        self._append(conn, ring, actor, op, tenant, named, "ok", detail)
                    except sa.exc.SQLAlchemyError as exc:
                        raise _AuditUnwritable(type(exc).__name__) from exc
                return result  # type: ignore[no-any-return]
            except VaultError as exc:
                _wipe(result)
                self._record_failure(actor, op, tenant, target, exc)
                raise
            except _AuditUnwritable as exc:
                _wipe(result)
                self._record_failure(actor, op, tenant, target, exc)
                raise VaultError(
                    f"{op.value} was not performed: its audit entry could not be written ({exc}); nothing was "
                    "changed and nothing is returned"
                ) from exc
            except (_Retry, sa.exc.IntegrityError) as exc:
                _wipe(result)
                if attempt < retries:
                    attempt += 1
                    continue
                self._record_failure(actor, op, tenant, target, exc)
                if isinstance(exc, _Retry):
                    raise VaultError(f"{op.value} lost a race {attempt + 1} times; retry it") from None
                raise VaultError(
                    f"{op.value} was not performed: the vault database refused it ({type(exc).__name__})"
                ) from exc
            except sa.exc.SQLAlchemyError as exc:
                _wipe(result)
                self._record_failure(actor, op, tenant, target, exc)
                raise VaultError(
                    f"{op.value} was not performed: the vault database refused it ({type(exc).__name__}); nothing "
                    "was changed and nothing is returned"
                ) from exc
            except BaseException:
                _wipe(result)
                raise

    # ------------------------------------------------------------------------------------------ api

    def put(
        self,
        actor: Actor,
        tenant: str,
        provider: str,
        account: str,
        access_token: Secret | str,
        refresh_token: Secret | str | None = None,
        expires_at: datetime | None = None,
        scopes: Iterable[str] = (),
        credential_id: str | None = None,
    ) -> str:
        """Store a credential's tokens, sealed under the tenant's DEK; return its id.

        Upserts by ``(tenant, provider, account)``: storing again replaces the tokens, reactivates a revoked
        or ``needs_reauth`` credential and clears its refresh failures. ``refresh_token=None`` keeps the
        stored refresh token (a provider that does not rotate it must never wipe it). A ``str`` token is
        wrapped in a :class:`Secret` and wiped when done; a ``Secret`` passed in is left to the caller.
        """
        self.authorize(actor, Op.PUT, tenant, credential_id)
        for value, what in ((tenant, "tenant"), (provider, "provider"), (account, "account")):
            _name(value, what)
        access = _as_secret(access_token)
        refresh = _as_secret(refresh_token)
        assert access is not None
        pairs = ((access, access_token), (refresh, refresh_token))
        ours = [s for s, given in pairs if s is not None and s is not given]  # ours to wipe
        scope_list = [str(s) for s in scopes]
        expires = utc(expires_at) if expires_at is not None else None

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[str, str | None, dict[str, Any]]:
            now = self.clock.now()
            version, dek = self._tenant_dek(conn, ring, tenant, now)
            existing = conn.execute(
                _SELECT_BY_ACCOUNT_FOR_UPDATE, {"b_tenant": tenant, "b_provider": provider, "b_account": account}
            ).first()
            rows = self._rows(conn, ring)
            if existing is not None:
                rows.check_credential(existing)  # a forged row must not be rewritten into a valid one
            if existing is not None and credential_id and existing.id != credential_id:
                raise VaultError(
                    f"{provider} account {account!r} of tenant {tenant!r} is already stored as credential "
                    f"{existing.id}; put to that id (or omit credential_id)"
                )
            if existing is None and credential_id:
                taken = conn.execute(sa.select(Credential.tenant).where(Credential.id == credential_id)).first()
                if taken is not None:
                    raise VaultError(f"credential id {credential_id} already names another credential; omit it")
            cid = existing.id if existing is not None else (credential_id or str(uuid.uuid4()))
            access_ct = self._seal_field(dek, tenant, provider, cid, "access", version, access.buffer())
            refresh_ct: bytes | None = None
            if refresh is not None:
                refresh_ct = self._seal_field(dek, tenant, provider, cid, "refresh", version, refresh.buffer())
            elif existing is not None and existing.refresh_ct:
                if existing.dek_version == version:
                    refresh_ct = existing.refresh_ct
                else:
                    old_dek = self._dek_for(conn, ring, tenant, existing.dek_version)
                    plain = self._open_field(old_dek, tenant, provider, cid, "refresh", existing.dek_version,
                                             existing.refresh_ct)
                    try:
                        refresh_ct = self._seal_field(dek, tenant, provider, cid, "refresh", version, plain)
                    finally:
                        _zero(plain)
            fp = self._fingerprint(conn, ring, access.buffer())
            values: dict[str, Any] = {
                "scopes": scope_list, "expires_at": expires, "access_ct": access_ct, "refresh_ct": refresh_ct,
                "dek_version": version, "token_fingerprint": fp, "state": "active",
                "refresh_due_at": refresh_due(now, expires), "last_refresh_error": None, "failures": 0,
                "next_attempt_at": None, "lease_owner": None, "lease_until": None, "updated_at": now,
            }
            bound = rows.bind("credential", {**values, "id": cid, "tenant": tenant, "provider": provider,
                                             "account": account}, self._next_seq(conn, ring))
            values.update(audit_seq=bound["audit_seq"], row_mac=bound["row_mac"])
            if existing is not None:
                done = conn.execute(
                    _UPDATE_CREDENTIAL_IF_VERSION,
                    {"b_id": cid, "b_version": existing.version, "version": existing.version + 1, **values},
                )
                if done.rowcount != 1:
                    raise _Retry()
            else:
                conn.execute(
                    _CREDENTIALS.insert(),
                    {"id": cid, "tenant": tenant, "provider": provider, "account": account, "version": 1,
                     "created_at": now, "last_refresh_at": None, **values},
                )
            return cid, cid, {
                "provider": provider, "account": account, "fingerprint": fp, "dek_version": version,
                "created": existing is None, "has_refresh_token": refresh_ct is not None, "scopes": scope_list,
                "expires_at": expires.isoformat() if expires else None,
            }

        try:
            return self._run(actor, Op.PUT, tenant, credential_id, body, retries=2)
        finally:
            for secret in ours:
                secret.wipe()

    def get(self, actor: Actor, tenant: str, credential_id: str) -> TokenSet:
        """Reveal a credential's tokens as a :class:`TokenSet` of :class:`Secret` s (wipe it when done).

        A revoked credential, or one in another tenant, is a :class:`VaultError`; a ciphertext that fails
        authentication is an :class:`IntegrityError`. Both are audited as ``error``. If the audit entry
        cannot be written, nothing is returned.
        """
        self.authorize(actor, Op.GET, tenant, credential_id)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[TokenSet, str | None, dict[str, Any]]:
            rows = _GET_CREDENTIAL.execute(conn, {"b_id": credential_id, "b_tenant": tenant})
            if not rows:
                raise VaultError(f"no credential {credential_id!r} in tenant {tenant!r}")
            row = dict(zip([c.name for c in CREDENTIAL_COLUMNS], rows[0], strict=True))
            self._rows(conn, ring).check_credential(row)
            cid, provider, account, state = row["id"], row["provider"], row["account"], row["state"]
            dek_version, access_ct, refresh_ct = row["dek_version"], row["access_ct"], row["refresh_ct"]
            expires_at, scopes, fp = row["expires_at"], row["scopes"], row["token_fingerprint"]
            if state == "revoked":
                raise VaultError(f"credential {credential_id} was revoked; store new tokens with put")
            dek = self._dek_for(conn, ring, tenant, dek_version)
            access = self._open_field(dek, tenant, provider, cid, "access", dek_version, access_ct)
            try:
                refresh = (
                    self._open_field(dek, tenant, provider, cid, "refresh", dek_version, refresh_ct)
                    if refresh_ct else None
                )
            except BaseException:
                _zero(access)
                raise
            tokens = TokenSet(
                tenant=tenant, provider=provider, account=account, credential_id=cid,
                access_token=Secret(access), refresh_token=Secret(refresh) if refresh is not None else None,
                expires_at=expires_at, scopes=builtins.list(scopes or []),
            )
            return tokens, cid, {
                "provider": provider, "account": account, "fingerprint": fp, "state": state,
                "dek_version": dek_version,
            }

        return self._run(actor, Op.GET, tenant, credential_id, body)

    def list(
        self, actor: Actor, tenant: str | None = None, provider: str | None = None
    ) -> builtins.list[CredentialInfo]:
        """Credential metadata (no token, no ciphertext), optionally for one tenant and/or provider.

        Without ``tenant``, an actor scoped to tenants sees only its own.
        """
        self.authorize(actor, Op.LIST, tenant)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[builtins.list[CredentialInfo], str | None,
                                                               dict[str, Any]]:
            c = Credential
            query = sa.select(
                *CREDENTIAL_COLUMNS, c.refresh_due_at, c.last_refresh_at, c.last_refresh_error, c.failures,
                c.next_attempt_at, c.created_at, c.updated_at,
            ).order_by(c.tenant, c.provider, c.account)
            if tenant is not None:
                query = query.where(c.tenant == tenant)
            elif actor.tenants is not None:
                query = query.where(c.tenant.in_(sorted(actor.tenants)))
            if provider is not None:
                query = query.where(c.provider == provider)
            rows = self._rows(conn, ring)
            infos: builtins.list[CredentialInfo] = []
            for row in conn.execute(query):
                rows.check_credential(row)  # list describes tokens: never a forged description
                fields = row._asdict()
                for hidden in ("access_ct", "refresh_ct", "audit_seq", "row_mac"):
                    del fields[hidden]
                infos.append(CredentialInfo(**{**fields, "scopes": tuple(row.scopes or ()),
                                               "has_refresh_token": row.refresh_ct is not None}))
            return infos, None, {"provider": provider, "count": len(infos)}

        return self._run(actor, Op.LIST, tenant, None, body)

    def revoke(self, actor: Actor, tenant: str, credential_id: str) -> None:
        """Mark a credential revoked and erase its ciphertexts. Idempotent.

        It does not call the provider's revocation endpoint; ``put`` stores new tokens and reactivates it.
        """
        self.authorize(actor, Op.REVOKE, tenant, credential_id)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[None, str | None, dict[str, Any]]:
            row = conn.execute(
                sa.select(*CREDENTIAL_COLUMNS, Credential.version)
                .where(Credential.id == credential_id, Credential.tenant == tenant)
                .with_for_update()
            ).first()
            if row is None:
                raise VaultError(f"no credential {credential_id!r} in tenant {tenant!r}")
            rows = self._rows(conn, ring)
            rows.check_credential(row)
            detail = {"provider": row.provider, "fingerprint": row.token_fingerprint, "already": row.state == "revoked"}
            if row.state != "revoked":
                erased = {"state": "revoked", "access_ct": b"", "refresh_ct": None}
                bound = rows.bind("credential", {**row._asdict(), **erased}, self._next_seq(conn, ring))
                done = conn.execute(
                    sa.update(Credential)
                    .where(Credential.id == credential_id, Credential.version == row.version)
                    .values(**erased, refresh_due_at=None, lease_owner=None, lease_until=None, next_attempt_at=None,
                            version=row.version + 1, updated_at=self.clock.now(), audit_seq=bound["audit_seq"],
                            row_mac=bound["row_mac"])
                )
                if done.rowcount != 1:
                    raise _Retry()
            return None, credential_id, detail

        self._run(actor, Op.REVOKE, tenant, credential_id, body, retries=2)

    def stats(self, actor: Actor, tenant: str | None = None, *,
              expiring_within: timedelta = timedelta(hours=24)) -> VaultStats:
        """Counts by state and provider, expiring soon, and key-rotation status: metadata only."""
        self.authorize(actor, Op.STATS, tenant)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[VaultStats, str | None, dict[str, Any]]:
            now = self.clock.now()
            c = Credential
            scope: builtins.list[sa.ColumnElement[bool]] = []
            if tenant is not None:
                scope.append(c.tenant == tenant)
            elif actor.tenants is not None:
                scope.append(c.tenant.in_(sorted(actor.tenants)))
            by_provider_state: dict[str, dict[str, int]] = {}
            by_state: dict[str, int] = {}
            for provider, state, n in conn.execute(
                sa.select(c.provider, c.state, sa.func.count()).where(*scope).group_by(c.provider, c.state)
            ):
                by_provider_state.setdefault(provider, {})[state] = n
                by_state[state] = by_state.get(state, 0) + n
            active = [*scope, c.state == "active", c.expires_at.is_not(None)]
            expired = conn.execute(sa.select(sa.func.count()).where(*active, c.expires_at <= now)).scalar_one()
            soon = conn.execute(
                sa.select(sa.func.count()).where(*active, c.expires_at > now, c.expires_at <= now + expiring_within)
            ).scalar_one()
            failing = conn.execute(sa.select(sa.func.count()).where(*scope, c.failures > 0)).scalar_one()
            tenants_q = sa.select(sa.func.count()).select_from(Tenant)
            if tenant is not None:
                tenants_q = tenants_q.where(Tenant.id == tenant)
            elif actor.tenants is not None:
                tenants_q = tenants_q.where(Tenant.id.in_(sorted(actor.tenants)))
            primary = str(_meta_get(conn, "primary_kek"))
            pending = {
                fp: n for fp, n in conn.execute(
                    sa.select(DataKey.kek_fingerprint, sa.func.count())
                    .where(DataKey.state == "active", DataKey.kek_fingerprint != primary)
                    .group_by(DataKey.kek_fingerprint)
                )
            }
            rotations = conn.execute(
                sa.select(VaultMeta.key).where(sa.or_(VaultMeta.key == "kek_rotation",
                                                      VaultMeta.key.like("dek_rotation:%")))
            ).scalars().all()
            stats = VaultStats(
                at=now, tenants=conn.execute(tenants_q).scalar_one(), credentials=sum(by_state.values()),
                by_state=by_state, by_provider={p: sum(s.values()) for p, s in by_provider_state.items()},
                by_provider_state=by_provider_state, expiring_soon=soon, expired=expired, refresh_failing=failing,
                primary_kek=primary, pending_rewrap=pending,
                rotations_in_progress=tuple(sorted(k.replace("dek_rotation:", "dek:").replace("kek_rotation", "kek")
                                                   for k in rotations)),
            )
            return stats, None, {"credentials": stats.credentials}

        return self._run(actor, Op.STATS, tenant, None, body)

    # -------------------------------------------------------------------------------------- rotation

    def rotate_kek(self, actor: Actor, progress: Callable[[int, int], None] | None = None,
                   batch: int = 500) -> RotationReport:
        """Rewrap every DEK, and the audit key, from any older KEK to the key source's primary.

        Resumable: each row is rewrapped by a compare-and-set on its KEK fingerprint, one transaction per
        ``batch`` rows (``FOR UPDATE`` on PostgreSQL), so a crash after any row and a rerun completes the job.
        ``progress(done, total)`` is called after each committed batch. Token ciphertexts are untouched.
        """
        self.authorize(actor, Op.ROTATE_KEK, None, None)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        started = self.clock.now()
        try:
            ring = self._ring(reload=True)  # rotation must see the key source's current primary
        except VaultError as exc:
            self._record_failure(actor, Op.ROTATE_KEK, None, None, exc)
            raise
        primary = ring.primary
        fp = primary.fingerprint
        pending = sa.and_(DataKey.state == "active", DataKey.kek_fingerprint != fp)
        done = 0
        total = 0

        def report(conn: sa.Connection) -> int:
            dek_rows = conn.execute(sa.select(sa.func.count()).select_from(DataKey).where(pending)).scalar_one()
            audit_meta = _meta_get(conn, "audit_key") or {}
            return int(dek_rows) + int(audit_meta.get("kek") != fp)

        try:
            with self._begin() as conn:
                total = report(conn)
                if total:
                    _meta_set(conn, "kek_rotation", {"to": fp, "started_at": started.isoformat(), "total": total},
                              started)
                self._append(conn, ring, actor, Op.ROTATE_KEK, None, fp, "ok", {"phase": "start", "pending": total})
            with self._begin() as conn:
                meta = _meta_get(conn, "audit_key", lock=True)
                if meta and meta["kek"] != fp:
                    old = ring.by_fingerprint(meta["kek"])
                    if old is None:
                        raise KeyUnavailable(
                            f"the audit key is wrapped under {meta['kek']}, which key source {self.key_source.name} "
                            "does not offer: put that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS) and rerun"
                        )
                    macs = self._rows(conn, ring)
                    macs.check_audit_key(meta)  # never rewrap (and re-MAC) an entry that was edited
                    key = crypto.unwrap_key(old.key, _unb64(meta["wrapped"]), _AUDIT_KEY_SCOPE, 0, old.fingerprint,
                                            purpose=integrity.AUDIT_KEY_PURPOSE)
                    try:
                        wrapped = crypto.wrap_key(primary.key, key, _AUDIT_KEY_SCOPE, 0, fp,
                                                  purpose=integrity.AUDIT_KEY_PURPOSE)
                    finally:
                        _zero(key)
                    _meta_set(conn, "audit_key", _audit_key_meta(macs, fp, wrapped, self._next_seq(conn, ring)),
                              self.clock.now())
                    with self._lock:
                        self._chain_cache = None  # the entry changed; the keys did not
                    self._append(conn, ring, actor, Op.ROTATE_KEK, None, fp, "ok",
                                 {"phase": "audit_key", "from": meta["kek"]})
                    done += 1
            if done and progress:
                progress(done, total)
            while True:
                with self._begin() as conn:
                    rows = conn.execute(
                        sa.select(DataKey.id, *DATA_KEY_COLUMNS)
                        .where(pending).order_by(DataKey.id).limit(batch).with_for_update()
                    ).all()
                    if not rows:
                        break
                    n = 0
                    olds: set[str] = set()
                    macs = self._rows(conn, ring)
                    seq = self._next_seq(conn, ring)
                    for row in rows:
                        macs.check_data_key(row)
                        old = ring.by_fingerprint(row.kek_fingerprint)
                        if old is None:
                            raise KeyUnavailable(
                                f"tenant {row.tenant!r}'s data key v{row.version} is wrapped under "
                                f"{row.kek_fingerprint}, which key source {self.key_source.name} does not offer: put "
                                "that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS) and rerun"
                            )
                        dek = crypto.unwrap_key(old.key, row.wrapped, row.tenant, row.version, row.kek_fingerprint)
                        try:
                            wrapped = crypto.wrap_key(primary.key, dek, row.tenant, row.version, fp)
                        finally:
                            _zero(dek)
                        bound = macs.bind("data_key", {**row._asdict(), "wrapped": wrapped, "kek_fingerprint": fp}, seq)
                        n += conn.execute(
                            sa.update(DataKey)
                            .where(DataKey.id == row.id, DataKey.kek_fingerprint == row.kek_fingerprint)
                            .values(wrapped=wrapped, kek_fingerprint=fp, audit_seq=seq, row_mac=bound["row_mac"])
                        ).rowcount
                        olds.add(row.kek_fingerprint)
                    self._append(conn, ring, actor, Op.ROTATE_KEK, None, fp, "ok",
                                 {"phase": "batch", "rewrapped": n, "from": sorted(olds)})
                done += n
                if progress:
                    progress(done, total)
            with self._begin() as conn:
                remaining = report(conn)
                if not remaining:
                    _meta_delete(conn, "kek_rotation")
                finished = self.clock.now()
                self._append(conn, ring, actor, Op.ROTATE_KEK, None, fp, "ok",
                             {"phase": "done", "rewrapped": done, "remaining": remaining})
        except sa.exc.SQLAlchemyError as exc:
            self._record_failure(actor, Op.ROTATE_KEK, None, fp, exc)
            raise VaultError(f"KEK rotation interrupted after {done} rows ({type(exc).__name__}); rerun it") from exc
        except BaseException as exc:
            self._record_failure(actor, Op.ROTATE_KEK, None, fp, exc)
            raise
        return RotationReport("kek", fp, total, done, remaining, (), started, finished)

    def rotate_dek(self, actor: Actor, tenant: str, progress: Callable[[int, int], None] | None = None,
                   batch: int = 500) -> RotationReport:
        """Give ``tenant`` a new DEK version and re-seal its credentials under it, ``batch`` rows a transaction.

        Resumable: the target version is recorded in ``vault_meta`` (``dek_rotation:<tenant>``) until the run
        completes, so a rerun after a crash continues to the same version and skips rows already there.
        Old DEK versions no credential references any more are retired (their wrapped bytes erased).
        ``progress(done, total)`` is called after each committed batch.
        """
        self.authorize(actor, Op.ROTATE_DEK, tenant, None)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        started = self.clock.now()
        checkpoint = f"dek_rotation:{tenant}"
        c = Credential
        done = 0
        target = tenant
        try:
            ring = self._ring()
            with self._begin() as conn:
                active = conn.execute(
                    sa.select(Tenant.active_dek_version).where(Tenant.id == tenant).with_for_update()
                ).scalar_one_or_none()
                if active is None:
                    raise VaultError(f"no tenant {tenant!r} in this vault (nothing stored for it yet)")
                resume = _meta_get(conn, checkpoint, lock=True)
                if resume:
                    to = int(resume["to"])
                else:
                    latest = conn.execute(
                        sa.select(sa.func.max(DataKey.version)).where(DataKey.tenant == tenant)
                    ).scalar_one()
                    to = int(latest or 0) + 1
                    dek = crypto.new_key()
                    try:
                        self._insert_dek(conn, ring, tenant, to, dek, started)
                    finally:
                        _zero(dek)
                    conn.execute(sa.update(Tenant).where(Tenant.id == tenant).values(active_dek_version=to))
                    _meta_set(conn, checkpoint, {"to": to, "from": active, "started_at": started.isoformat()}, started)
                target = f"{tenant}@v{to}"
                stale = sa.and_(c.tenant == tenant, c.dek_version != to, c.state != "revoked")
                total = conn.execute(sa.select(sa.func.count()).select_from(Credential).where(stale)).scalar_one()
                self._append(conn, ring, actor, Op.ROTATE_DEK, tenant, target, "ok",
                             {"phase": "start", "to": to, "resumed": bool(resume), "pending": total})
            while True:
                with self._begin() as conn:
                    rows = conn.execute(
                        sa.select(*CREDENTIAL_COLUMNS, c.version)
                        .where(stale).order_by(c.id).limit(batch).with_for_update()
                    ).all()
                    if not rows:
                        break
                    new_dek = self._dek_for(conn, ring, tenant, to)
                    n = 0
                    macs = self._rows(conn, ring)
                    seq = self._next_seq(conn, ring)
                    for row in rows:
                        macs.check_credential(row)
                        old_dek = self._dek_for(conn, ring, tenant, row.dek_version)
                        values: dict[str, Any] = {}
                        for name, blob in (("access", row.access_ct), ("refresh", row.refresh_ct)):
                            if not blob:
                                values[f"{name}_ct"] = blob
                                continue
                            plain = self._open_field(old_dek, tenant, row.provider, row.id, name, row.dek_version, blob)
                            try:
                                values[f"{name}_ct"] = self._seal_field(new_dek, tenant, row.provider, row.id, name, to,
                                                                        plain)
                            finally:
                                _zero(plain)
                        bound = macs.bind("credential", {**row._asdict(), **values, "dek_version": to}, seq)
                        n += conn.execute(
                            sa.update(Credential)
                            .where(c.id == row.id, c.version == row.version)
                            .values(dek_version=to, version=row.version + 1, updated_at=self.clock.now(),
                                    audit_seq=seq, row_mac=bound["row_mac"], **values)
                        ).rowcount
                    self._append(conn, ring, actor, Op.ROTATE_DEK, tenant, target, "ok",
                                 {"phase": "batch", "resealed": n})
                done += n
                if progress:
                    progress(done, total)
            retired: builtins.list[str] = []
            with self._begin() as conn:
                now = self.clock.now()
                for version in conn.execute(
                    sa.select(DataKey.version).where(DataKey.tenant == tenant, DataKey.state == "active",
                                                     DataKey.version != to)
                ).scalars():
                    refs = conn.execute(
                        sa.select(sa.func.count()).select_from(Credential)
                        .where(c.tenant == tenant, c.dek_version == version, c.state != "revoked")
                    ).scalar_one()
                    if refs == 0:
                        old = conn.execute(sa.select(*DATA_KEY_COLUMNS).where(DataKey.tenant == tenant,
                                                                              DataKey.version == version)).one()
                        macs = self._rows(conn, ring)
                        macs.check_data_key(old)
                        bound = macs.bind("data_key", {**old._asdict(), "state": "retired", "wrapped": b""},
                                          self._next_seq(conn, ring))
                        conn.execute(
                            sa.update(DataKey).where(DataKey.tenant == tenant, DataKey.version == version)
                            .values(state="retired", wrapped=b"", retired_at=now, audit_seq=bound["audit_seq"],
                                    row_mac=bound["row_mac"])
                        )
                        retired.append(f"{tenant}@v{version}")
                remaining = conn.execute(sa.select(sa.func.count()).select_from(Credential).where(stale)).scalar_one()
                if not remaining:
                    _meta_delete(conn, checkpoint)
                self._append(conn, ring, actor, Op.ROTATE_DEK, tenant, target, "ok",
                             {"phase": "done", "resealed": done, "remaining": remaining, "retired": retired})
            for name in retired:
                self._forget_dek(tenant, int(name.rsplit("@v", 1)[1]))
        except sa.exc.SQLAlchemyError as exc:
            self._record_failure(actor, Op.ROTATE_DEK, tenant, target, exc)
            raise VaultError(f"DEK rotation interrupted after {done} rows ({type(exc).__name__}); rerun it") from exc
        except BaseException as exc:
            self._record_failure(actor, Op.ROTATE_DEK, tenant, target, exc)
            raise
        return RotationReport("dek", target, total, done, remaining, tuple(retired), started, now)

    def remove_kek(self, actor: Actor, fingerprint: str) -> None:
        """Forget an old KEK, once no data key and not the audit key is wrapped under it.

        After this the vault refuses a key source that offers only that key. Remove it from the key source
        yourself (TOKEN_VAULT_PREVIOUS_KEYS, the key file, or disable the secret version).
        """
        self.authorize(actor, Op.REMOVE_KEK, None, fingerprint)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[None, str | None, dict[str, Any]]:
            known: builtins.list[str] = builtins.list(_meta_get(conn, "known_keks", lock=True) or [])
            if fingerprint not in known:
                raise VaultError(f"{fingerprint} is not a KEK this vault knows (known: {', '.join(known)})")
            if fingerprint == _meta_get(conn, "primary_kek"):
                raise VaultError(f"{fingerprint} is the primary KEK: make another key primary and rotate_kek first")
            deks = conn.execute(
                sa.select(sa.func.count()).select_from(DataKey)
                .where(DataKey.state == "active", DataKey.kek_fingerprint == fingerprint)
            ).scalar_one()
            audit_key = (_meta_get(conn, "audit_key") or {}).get("kek") == fingerprint
            if deks or audit_key:
                what = [f"{deks} data key(s)"] if deks else []
                what += ["the audit key"] if audit_key else []
                raise VaultError(
                    f"{fingerprint} still wraps {' and '.join(what)}: "
                    "run rotate_kek (`readiness vault rotate-key`) first"
                )
            known.remove(fingerprint)
            _meta_set(conn, "known_keks", known, self.clock.now())
            return None, fingerprint, {"kek": fingerprint, "known": known}

        self._run(actor, Op.REMOVE_KEK, None, fingerprint, body)

    # ----------------------------------------------------------------------------------------- audit

    def verify_audit(self, actor: Actor) -> AuditReport:
        """Walk the audit chain; the report names the first broken entry and why (the check is itself audited)."""
        self.authorize(actor, Op.AUDIT_VERIFY)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[AuditReport, str | None, dict[str, Any]]:
            report = self._verify(conn, ring)
            return report, None, {"intact": report.ok, "checked": report.checked,
                                  "first_bad_seq": report.first_bad_seq, "reason": report.reason,
                                  "external": report.external}

        return self._run(actor, Op.AUDIT_VERIFY, None, None, body)

    def _verify(self, conn: sa.Connection, ring: KeyRing) -> AuditReport:
        """The chain, then every row's MAC and ``audit_seq`` against its length, then the external anchor."""
        chain, _, rows = self._audit_keys(conn, ring)
        anchored = self._anchor.latest(chain) if self._anchor is not None else None  # before the walk: see below
        report = chain.verify(conn)
        if not report.ok:
            return report
        meta = _meta_get(conn, "audit_key") or {}
        broken = integrity.check_store(conn, rows, int(meta.get("seq") or 0), report.head_seq)
        if broken is not None:
            return dataclasses.replace(report, ok=False, first_bad_seq=broken[0], reason=broken[1])
        if self._anchor is None:
            return report
        # The anchor file was read first: every line in it was written after its transaction committed, so the
        # chain walked after it includes that entry unless the database lost it.
        external = self._anchor.check(conn, chain, anchored, report.head_seq)
        if isinstance(external, tuple):
            return dataclasses.replace(report, ok=False, first_bad_seq=external[0], reason=external[1])
        return dataclasses.replace(report, external=external)

    def audit_events(self, actor: Actor, limit: int = 100, *, tenant: str | None = None,
                     before_seq: int | None = None) -> builtins.list[AuditEvent]:
        """The latest audit entries, newest first (optionally one tenant's, or those before ``before_seq``)."""
        self.authorize(actor, Op.AUDIT_READ)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[builtins.list[AuditEvent], str | None,
                                                               dict[str, Any]]:
            query = sa.select(AuditEventRecord).order_by(AuditEventRecord.seq.desc()).limit(limit)
            if tenant is not None:
                query = query.where(AuditEventRecord.tenant == tenant)
            if before_seq is not None:
                query = query.where(AuditEventRecord.seq < before_seq)
            events = [event_from_row(row) for row in conn.execute(query)]
            return events, None, {"count": len(events), "tenant": tenant}

        return self._run(actor, Op.AUDIT_READ, None, None, body)


# --------------------------------------------------------------------------------------------- meta


def _audit_key_meta(rows: RowMac, kek: str, wrapped: bytes, seq: int) -> dict[str, Any]:
    """The ``audit_key`` entry of a bound vault: wrapped key, its KEK, the seq of its last write, and their MAC."""
    text = _b64(wrapped)
    return {"wrapped": text, "kek": kek, "rows": 1, "seq": seq, "mac": rows.audit_key(kek, text, seq)}


def _meta_get(conn: sa.Connection, key: str, *, lock: bool = False) -> Any:
    query = sa.select(VaultMeta.value).where(VaultMeta.key == key)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).scalar_one_or_none()


def _meta_set(conn: sa.Connection, key: str, value: Any, now: datetime) -> None:
    done = conn.execute(sa.update(VaultMeta).where(VaultMeta.key == key).values(value=value, updated_at=now))
    if done.rowcount == 0:
        conn.execute(sa.insert(VaultMeta).values(key=key, value=value, updated_at=now))


def _meta_delete(conn: sa.Connection, key: str) -> None:
    conn.execute(sa.delete(VaultMeta).where(VaultMeta.key == key))

