"""The vault's keys as a :class:`~vault.store.Vault` holds them: the key ring from the key source (checked
against the KEKs the vault knows, a new primary recorded), the audit key (the chain, the row MACs, token
fingerprints) and the tenants' data keys (unwrapped and cached for ``dek_cache_ttl``, created on first use),
the field seal, and the audit entry every write appends with that key."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import sqlalchemy as sa

import vault.crypto as crypto
import vault.integrity as integrity
from vault.audit import AuditChain, AuditEvent
from vault.errors import KeyUnavailable, VaultError
from vault.integrity import DATA_KEY_COLUMNS, RowMac
from vault.keys import KeyRing
from vault.models import DataKey, Tenant
from vault.rbac import Actor, Op, Role
from vault.store_meta import AUDIT_KEY_SCOPE, meta_get, meta_set, unb64, zero
from vault.store_session import VaultSession

__all__ = ["SYSTEM_ACTOR", "VaultKeys"]

SYSTEM_ACTOR = Actor("vault", Role.ADMIN)
"""The actor of entries the vault writes on its own (init, a new primary KEK seen in the key source)."""

_TENANTS: sa.Table = Tenant.metadata.tables["tenants"]
_SELECT_ACTIVE_DEK_VERSION = (
    sa.select(_TENANTS.c.active_dek_version).where(_TENANTS.c.id == sa.bindparam("b_tenant")).with_for_update(read=True)
)
"""Shares the tenant row's lock until the writer commits (PostgreSQL; SQLite's write lock does it already):
``rotate_dek`` locks that row before it moves the tenant to a new DEK, so it waits for every writer that is
sealing under the old version, and then finds (re-seals) what they wrote before it retires that version.
Without it a writer that read the old version (and holds its DEK in its cache) could commit a credential
under a DEK rotation had just erased: unreadable for ever."""


class VaultKeys(VaultSession):
    """Keys and the audit entry: the second layer of a :class:`~vault.store.Vault`."""

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
        meta = meta_get(conn, "audit_key")
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
        key = crypto.unwrap_key(kek.key, unb64(meta["wrapped"]), AUDIT_KEY_SCOPE, 0, kek.fingerprint, purpose=purpose)
        try:
            chain, fp_key = AuditChain(key), crypto.derive_key(key, "token-fingerprint")
            rows = RowMac(key, required=bound)
        finally:
            zero(key)
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
                zero(self._deks.pop(key)[0])
            old = self._deks.get((tenant, version))
            if old is not None:
                zero(old[0])
            self._deks[(tenant, version)] = (dek, now + self._ttl)
            return bytes(dek)

    def _forget_dek(self, tenant: str, version: int) -> None:
        with self._lock:
            hit = self._deks.pop((tenant, version), None)
            if hit is not None:
                zero(hit[0])

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
        insert: Any  # the dialect's own (ON CONFLICT), its module imported only where it is used
        if self._pg:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            insert = pg_insert(Tenant)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert = sqlite_insert(Tenant)
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
            zero(dek)

    def _insert_dek(
        self, conn: sa.Connection, ring: KeyRing, tenant: str, version: int, dek: bytearray, now: datetime
    ) -> None:
        fp = ring.primary.fingerprint
        wrapped = crypto.wrap_key(ring.primary.key, dek, tenant, version, fp)
        values = {"tenant": tenant, "version": version, "wrapped": wrapped, "kek_fingerprint": fp, "state": "active"}
        bound = self._rows(conn, ring).bind("data_key", values, self._next_seq(conn, ring))
        conn.execute(sa.insert(DataKey).values(**bound, created_at=now, retired_at=None))

    @staticmethod
    def _seal_field(
        dek: bytes,
        tenant: str,
        provider: str,
        credential_id: str,
        field: str,
        version: int,
        plaintext: bytes | bytearray,
    ) -> bytes:
        return crypto.seal(dek, plaintext, crypto.credential_aad(tenant, provider, credential_id, field, version))

    @staticmethod
    def _open_field(
        dek: bytes, tenant: str, provider: str, credential_id: str, field: str, version: int, blob: bytes
    ) -> bytearray:
        return crypto.open_blob(dek, blob, crypto.credential_aad(tenant, provider, credential_id, field, version))

    def _fingerprint(self, conn: sa.Connection, ring: KeyRing, plaintext: bytes | bytearray) -> str:
        return crypto.hmac_fingerprint(self._chain(conn, ring)[1], plaintext)

    def _accept_ring(self, conn: sa.Connection, ring: KeyRing) -> None:
        known: builtins.list[str] = builtins.list(meta_get(conn, "known_keks") or [])
        offered = ring.fingerprints
        if not set(offered) & set(known):
            raise KeyUnavailable(
                f"the key source's keys match none this vault knows (known: {', '.join(known)}; "
                f"{self.key_source.name} offers: {', '.join(offered)}); wrong TOKEN_VAULT_ENCRYPTION_KEY?"
            )
        primary = ring.primary.fingerprint
        if primary in known and meta_get(conn, "primary_kek") == primary:
            return
        known = builtins.list(meta_get(conn, "known_keks", lock=True) or [])
        now = self.clock.now()
        if primary not in known:
            # Only reachable when an older known key is also offered: a rotation waiting to happen.
            known.append(primary)
            meta_set(conn, "known_keks", known, now)
            op = "kek_added"
        else:
            op = "kek_primary"
        meta_set(conn, "primary_kek", primary, now)
        self._append(
            conn,
            ring,
            SYSTEM_ACTOR,
            op,
            None,
            primary,
            "ok",
            {"kek": primary, "key_source": self.key_source.name, "known": known},
        )

    def _append(
        self,
        conn: sa.Connection,
        ring: KeyRing,
        actor: Actor,
        op: Op | str,
        tenant: str | None,
        target: str | None,
        outcome: str,
        detail: dict[str, Any],
    ) -> AuditEvent:
        chain = self._chain(conn, ring)[0]
        return chain.append(
            conn,
            at=self.clock.now(),
            actor=actor.name,
            role=actor.role.value,
            op=Op(op).value if isinstance(op, Op) else op,
            tenant=tenant,
            target=target,
            outcome=outcome,
            detail=detail,
        )
