"""The token vault: :class:`Vault` (open, put, get, list, revoke, rotate, audit, stats).

See ``docs/vault.md`` for the design on one page: envelope encryption, associated data, key rotation,
the RBAC matrix (:mod:`vault.rbac`) and the audit chain (:mod:`vault.audit`).

The ``Vault`` is composed in layers, one module each: ``store_session`` (engine, shared state, transactions),
``store_keys`` (key ring, audit key, data keys, the audit entry), ``store_ops`` (the audited operation), and
on top of it ``store_credentials`` (put, get, list, revoke, stats), ``store_rotation`` (rotate_kek,
rotate_dek, remove_kek) and ``store_audit`` (verify_audit, audit_events). This module opens it: the first
open of a database creates the vault, a later one checks the key source and binds an older vault's rows.
The values it hands out are in ``store_values``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

import vault.crypto as crypto
import vault.integrity as integrity
from vault.anchor import ENV_ANCHOR, anchor_from_spec
from vault.audit import AuditChain
from vault.errors import KeyUnavailable, VaultError
from vault.integrity import RowMac
from vault.keys import KeyRing, KeySource
from vault.models import upgrade
from vault.store_audit import AuditOps
from vault.store_credentials import CredentialOps
from vault.store_keys import SYSTEM_ACTOR
from vault.store_meta import AUDIT_KEY_SCOPE, audit_key_meta, meta_get, meta_set, unb64, zero
from vault.store_rotation import RotationOps
from vault.store_session import DEFAULT_DB_URL, create_engine
from vault.store_values import Clock, CredentialInfo, RotationReport, SystemClock, VaultStats

__all__ = ["CredentialInfo", "RotationReport", "SystemClock", "Vault", "VaultStats"]

_PG_INIT_LOCK = 0x5641494E  # "VAIN": serialises first-time initialisation of one PostgreSQL schema


class Vault(CredentialOps, RotationOps, AuditOps):
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
        engine = create_engine(url)
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
        cls,
        db_url: str | None,
        key_source: KeySource,
        clock: Clock | None = None,
        *,
        dek_cache_ttl: float = 300.0,
        anchor: str | None = None,
    ) -> Vault:
        """Open, creating the vault when the database holds none yet (``open(..., create=True)``)."""
        return cls.open(db_url, key_source, clock, dek_cache_ttl=dek_cache_ttl, create=True, anchor=anchor)

    def _start(self, create: bool) -> None:
        ring = self._load_ring()
        with self._begin() as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_INIT_LOCK})
            if meta_get(conn, "primary_kek") is None:
                if not create:
                    raise VaultError("this database holds no vault yet: run `readiness vault init` (Vault.init) first")
                self._initialise(conn, ring)
            else:
                self._accept_ring(conn, ring)
                if not (meta_get(conn, "audit_key") or {}).get("rows"):
                    self._bind_rows(conn, ring)
        with self._lock:
            self._ring_cache = (ring, self.clock.now() + self._ttl)

    def _initialise(self, conn: sa.Connection, ring: KeyRing) -> None:
        now = self.clock.now()
        fp = ring.primary.fingerprint
        audit_key = crypto.new_key()
        try:
            wrapped = crypto.wrap_key(
                ring.primary.key, audit_key, AUDIT_KEY_SCOPE, 0, fp, purpose=integrity.AUDIT_KEY_PURPOSE
            )
            chain = AuditChain(audit_key)
            fp_key = crypto.derive_key(audit_key, "token-fingerprint")
            rows = RowMac(audit_key, required=True)
        finally:
            zero(audit_key)
        meta_set(conn, "primary_kek", fp, now)
        meta_set(conn, "known_keks", [fp], now)
        meta_set(conn, "audit_key", audit_key_meta(rows, fp, wrapped, chain.next_seq(conn)), now)
        chain.append(
            conn,
            at=now,
            actor=SYSTEM_ACTOR.name,
            role=SYSTEM_ACTOR.role.value,
            op="init",
            tenant=None,
            target=fp,
            outcome="ok",
            detail={"kek": fp, "key_source": self.key_source.name},
        )
        with self._lock:
            self._chain_cache = (chain, fp_key, rows, now + self._ttl)

    def _bind_rows(self, conn: sa.Connection, ring: KeyRing) -> None:
        """Bind a vault written before row MACs, once: MAC every row as it stands, record this entry's seq in
        each, and rewrap the audit key under the bound purpose (which makes a missing MAC tampering from now on).
        The rows are trusted as they are at this moment; run it (any open) right after upgrading."""
        meta = meta_get(conn, "audit_key", lock=True)
        if not meta or meta.get("rows"):
            return  # another process bound it first
        kek = ring.by_fingerprint(meta["kek"])
        if kek is None:
            raise KeyUnavailable(
                f"the audit key is wrapped under {meta['kek']}, which key source {self.key_source.name} does not "
                "offer: put that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS)"
            )
        key = crypto.unwrap_key(
            kek.key,
            unb64(meta["wrapped"]),
            AUDIT_KEY_SCOPE,
            0,
            kek.fingerprint,
            purpose=integrity.LEGACY_AUDIT_KEY_PURPOSE,
        )
        try:
            chain, rows = AuditChain(key), RowMac(key, required=True)
            wrapped = crypto.wrap_key(
                kek.key, key, AUDIT_KEY_SCOPE, 0, kek.fingerprint, purpose=integrity.AUDIT_KEY_PURPOSE
            )
        finally:
            zero(key)
        seq = chain.next_seq(conn)
        counts = integrity.bind_unbound_rows(conn, rows, seq)
        now = self.clock.now()
        meta_set(conn, "audit_key", audit_key_meta(rows, kek.fingerprint, wrapped, seq), now)
        with self._lock:
            self._chain_cache = None
        self._append(conn, ring, SYSTEM_ACTOR, "bind_rows", None, None, "ok", counts)
