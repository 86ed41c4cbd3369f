"""Key rotation in a :class:`~vault.store.Vault`: ``rotate_kek`` (rewrap every data key and the audit key under
the key source's primary), ``rotate_dek`` (a tenant's new data key, its credentials re-sealed, old versions
retired), both resumable in batches, and ``remove_kek`` (forget an old KEK nothing is wrapped under)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import vault.crypto as crypto
import vault.integrity as integrity
from vault.audit import Prepared
from vault.errors import KeyUnavailable, VaultError
from vault.integrity import CREDENTIAL_COLUMNS, DATA_KEY_COLUMNS
from vault.keys import KeyRing
from vault.models import Credential, DataKey, Tenant
from vault.rbac import Actor, Op
from vault.store_meta import AUDIT_KEY_SCOPE, audit_key_meta, meta_delete, meta_get, meta_set, unb64, zero
from vault.store_ops import AuditedOps
from vault.store_values import RotationReport

__all__ = ["RotationOps"]

_CREDENTIALS: sa.Table = Credential.metadata.tables["credentials"]
_RESEAL = (
    "UPDATE credentials SET access_ct = ?, refresh_ct = ?, row_mac = ?, dek_version = ?, version = version + 1, "
    "updated_at = ?, audit_seq = ? WHERE id = ? AND version = ?"
)
"""A credential re-sealed under a new DEK, compare-and-set on its version: on SQLite, given to the driver's
``executemany`` with every row's values once a batch (SQLAlchemy's per-row parameter processing cost as much as
SQLite's own work; the one datetime is processed once a batch)."""
_REWRAP = (
    "UPDATE data_keys SET wrapped = ?, row_mac = ?, kek_fingerprint = ?, audit_seq = ? "
    "WHERE id = ? AND kek_fingerprint = ?"
)
"""A data key rewrapped under the primary KEK, compare-and-set on its KEK fingerprint (as _RESEAL)."""
_PG_RESEAL = sa.text(
    "UPDATE credentials SET access_ct = v.access_ct, refresh_ct = v.refresh_ct, row_mac = v.row_mac, "
    "dek_version = :dek_version, version = credentials.version + 1, updated_at = :updated_at, audit_seq = :audit_seq "
    "FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:versions AS INTEGER[]), CAST(:access AS BYTEA[]), "
    "CAST(:refresh AS BYTEA[]), CAST(:macs AS VARCHAR[])) AS v(id, version, access_ct, refresh_ct, row_mac) "
    "WHERE credentials.id = v.id AND credentials.version = v.version"
).bindparams(
    sa.bindparam("ids", type_=sa.ARRAY(sa.String())),
    sa.bindparam("versions", type_=sa.ARRAY(sa.Integer())),
    sa.bindparam("access", type_=sa.ARRAY(sa.LargeBinary())),
    sa.bindparam("refresh", type_=sa.ARRAY(sa.LargeBinary())),
    sa.bindparam("macs", type_=sa.ARRAY(sa.String())),
    sa.bindparam("updated_at", type_=_CREDENTIALS.c.updated_at.type),
)
"""_RESEAL on PostgreSQL: the whole batch in one statement, its rows joined from arrays (``unnest``): one
statement bound and executed, not one per row (the same compare-and-set on ``version``)."""
_PG_REWRAP = sa.text(
    "UPDATE data_keys SET wrapped = v.wrapped, row_mac = v.row_mac, kek_fingerprint = :kek_fingerprint, "
    "audit_seq = :audit_seq FROM unnest(CAST(:ids AS INTEGER[]), CAST(:keks AS VARCHAR[]), "
    "CAST(:wrapped AS BYTEA[]), CAST(:macs AS VARCHAR[])) AS v(id, kek, wrapped, row_mac) "
    "WHERE data_keys.id = v.id AND data_keys.kek_fingerprint = v.kek"
).bindparams(
    sa.bindparam("ids", type_=sa.ARRAY(sa.Integer())),
    sa.bindparam("keks", type_=sa.ARRAY(sa.String())),
    sa.bindparam("wrapped", type_=sa.ARRAY(sa.LargeBinary())),
    sa.bindparam("macs", type_=sa.ARRAY(sa.String())),
)
"""_REWRAP on PostgreSQL, as _PG_RESEAL: one statement a batch (compare-and-set on the old KEK fingerprint)."""


def _stale_page(after: bool) -> Prepared:
    """A DEK rotation's page: a tenant's credentials not yet on DEK ``b_to`` (and not revoked), in
    ``(provider, account)`` order, ``b_limit`` of them, past ``(b_provider, b_account)`` if ``after``; under a row
    lock. Run through the DBAPI cursor (:class:`~vault.audit.Prepared`): SQLAlchemy's execution and its result
    rows cost about as much as SQLite's own work on a page."""
    c = _CREDENTIALS.c
    stale = sa.select(*CREDENTIAL_COLUMNS, c.version).where(
        c.tenant == sa.bindparam("b_tenant"), c.dek_version != sa.bindparam("b_to"), c.state != "revoked"
    )
    if after:
        stale = stale.where(
            sa.tuple_(c.provider, c.account) > sa.tuple_(sa.bindparam("b_provider"), sa.bindparam("b_account"))
        )
    return Prepared(
        stale.order_by(c.provider, c.account).limit(sa.bindparam("b_limit", type_=sa.Integer())).with_for_update()
    )


_STALE_FIRST = _stale_page(after=False)
_STALE_AFTER = _stale_page(after=True)


class RotationOps(AuditedOps):
    """Rotate and remove keys: the rotation methods of a :class:`~vault.store.Vault`."""

    def rotate_kek(
        self, actor: Actor, progress: Callable[[int, int], None] | None = None, batch: int = 500
    ) -> RotationReport:
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
            audit_meta = meta_get(conn, "audit_key") or {}
            return int(dek_rows) + int(audit_meta.get("kek") != fp)

        try:
            with self._begin() as conn:
                total = report(conn)
                if total:
                    meta_set(
                        conn, "kek_rotation", {"to": fp, "started_at": started.isoformat(), "total": total}, started
                    )
                self._append(conn, ring, actor, Op.ROTATE_KEK, None, fp, "ok", {"phase": "start", "pending": total})
            with self._begin() as conn:
                meta = meta_get(conn, "audit_key", lock=True)
                if meta and meta["kek"] != fp:
                    old = ring.by_fingerprint(meta["kek"])
                    if old is None:
                        raise KeyUnavailable(
                            f"the audit key is wrapped under {meta['kek']}, which key source {self.key_source.name} "
                            "does not offer: put that key back (e.g. in TOKEN_VAULT_PREVIOUS_KEYS) and rerun"
                        )
                    macs = self._rows(conn, ring)
                    macs.check_audit_key(meta)  # never rewrap (and re-MAC) an entry that was edited
                    key = crypto.unwrap_key(
                        old.key,
                        unb64(meta["wrapped"]),
                        AUDIT_KEY_SCOPE,
                        0,
                        old.fingerprint,
                        purpose=integrity.AUDIT_KEY_PURPOSE,
                    )
                    try:
                        wrapped = crypto.wrap_key(
                            primary.key, key, AUDIT_KEY_SCOPE, 0, fp, purpose=integrity.AUDIT_KEY_PURPOSE
                        )
                    finally:
                        zero(key)
                    meta_set(
                        conn,
                        "audit_key",
                        audit_key_meta(macs, fp, wrapped, self._next_seq(conn, ring)),
                        self.clock.now(),
                    )
                    with self._lock:
                        self._chain_cache = None  # the entry changed; the keys did not
                    self._append(
                        conn, ring, actor, Op.ROTATE_KEK, None, fp, "ok", {"phase": "audit_key", "from": meta["kek"]}
                    )
                    done += 1
            if done and progress:
                progress(done, total)

            def rewrap(conn: sa.Connection, rows: Sequence[Any]) -> int:
                n, olds = self._rewrap(conn, ring, rows)
                self._append(
                    conn,
                    ring,
                    actor,
                    Op.ROTATE_KEK,
                    None,
                    fp,
                    "ok",
                    {"phase": "batch", "rewrapped": n, "from": sorted(olds)},
                )
                return n

            # Keyset pagination on the primary key.
            def page(conn: sa.Connection, after: int | None) -> Sequence[Any]:
                rows = (
                    sa.select(DataKey.id, *DATA_KEY_COLUMNS)
                    .where(pending, DataKey.id > (0 if after is None else after))
                    .order_by(DataKey.id)
                    .limit(batch)
                    .with_for_update()
                )
                return conn.execute(rows).all()

            for n in self._in_batches(page, rewrap, lambda row: row.id, batch):
                done += n
                if progress:
                    progress(done, total)
            with self._begin() as conn:
                remaining = report(conn)
                if not remaining:
                    meta_delete(conn, "kek_rotation")
                finished = self.clock.now()
                self._append(
                    conn,
                    ring,
                    actor,
                    Op.ROTATE_KEK,
                    None,
                    fp,
                    "ok",
                    {"phase": "done", "rewrapped": done, "remaining": remaining},
                )
        except sa.exc.SQLAlchemyError as exc:
            self._record_failure(actor, Op.ROTATE_KEK, None, fp, exc)
            raise VaultError(f"KEK rotation interrupted after {done} rows ({type(exc).__name__}); rerun it") from exc
        except BaseException as exc:
            self._record_failure(actor, Op.ROTATE_KEK, None, fp, exc)
            raise
        return RotationReport("kek", fp, total, done, remaining, (), started, finished)

    def rotate_dek(
        self, actor: Actor, tenant: str, progress: Callable[[int, int], None] | None = None, batch: int = 500
    ) -> RotationReport:
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
                resume = meta_get(conn, checkpoint, lock=True)
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
                        zero(dek)
                    conn.execute(sa.update(Tenant).where(Tenant.id == tenant).values(active_dek_version=to))
                    meta_set(conn, checkpoint, {"to": to, "from": active, "started_at": started.isoformat()}, started)
                target = f"{tenant}@v{to}"
                stale = sa.and_(c.tenant == tenant, c.dek_version != to, c.state != "revoked")
                total = conn.execute(sa.select(sa.func.count()).select_from(Credential).where(stale)).scalar_one()
                self._append(
                    conn,
                    ring,
                    actor,
                    Op.ROTATE_DEK,
                    tenant,
                    target,
                    "ok",
                    {"phase": "start", "to": to, "resumed": bool(resume), "pending": total},
                )

            def page(conn: sa.Connection, after: tuple[str, str] | None) -> Sequence[Any]:
                where = {"b_tenant": tenant, "b_to": to, "b_limit": batch}
                if after is None:
                    return _STALE_FIRST.execute(conn, where)
                return _STALE_AFTER.execute(conn, {**where, "b_provider": after[0], "b_account": after[1]})

            def reseal(conn: sa.Connection, rows: Sequence[Any]) -> int:
                n = self._reseal(conn, ring, tenant, to, rows)
                self._append(conn, ring, actor, Op.ROTATE_DEK, tenant, target, "ok", {"phase": "batch", "resealed": n})
                return n

            # Keyset pagination over the tenant's unique (provider, account) index. Writers seal under ``to`` since
            # the transaction above, so nothing behind the key can turn stale.
            for n in self._in_batches(page, reseal, lambda row: (row[2], row[3]), batch):
                done += n
                if progress:
                    progress(done, total)
            retired: builtins.list[str] = []
            with self._begin() as conn:
                now = self.clock.now()
                for version in conn.execute(
                    sa.select(DataKey.version).where(
                        DataKey.tenant == tenant, DataKey.state == "active", DataKey.version != to
                    )
                ).scalars():
                    refs = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(Credential)
                        .where(c.tenant == tenant, c.dek_version == version, c.state != "revoked")
                    ).scalar_one()
                    if refs == 0:
                        old = conn.execute(
                            sa.select(*DATA_KEY_COLUMNS).where(DataKey.tenant == tenant, DataKey.version == version)
                        ).one()
                        macs = self._rows(conn, ring)
                        macs.check_data_key(old)
                        bound = macs.bind(
                            "data_key",
                            {**old._asdict(), "state": "retired", "wrapped": b""},
                            self._next_seq(conn, ring),
                        )
                        conn.execute(
                            sa.update(DataKey)
                            .where(DataKey.tenant == tenant, DataKey.version == version)
                            .values(
                                state="retired",
                                wrapped=b"",
                                retired_at=now,
                                audit_seq=bound["audit_seq"],
                                row_mac=bound["row_mac"],
                            )
                        )
                        retired.append(f"{tenant}@v{version}")
                remaining = conn.execute(sa.select(sa.func.count()).select_from(Credential).where(stale)).scalar_one()
                if not remaining:
                    meta_delete(conn, checkpoint)
                self._append(
                    conn,
                    ring,
                    actor,
                    Op.ROTATE_DEK,
                    tenant,
                    target,
                    "ok",
                    {"phase": "done", "resealed": done, "remaining": remaining, "retired": retired},
                )
            for name in retired:
                self._forget_dek(tenant, int(name.rsplit("@v", 1)[1]))
        except sa.exc.SQLAlchemyError as exc:
            self._record_failure(actor, Op.ROTATE_DEK, tenant, target, exc)
            raise VaultError(f"DEK rotation interrupted after {done} rows ({type(exc).__name__}); rerun it") from exc
        except BaseException as exc:
            self._record_failure(actor, Op.ROTATE_DEK, tenant, target, exc)
            raise
        return RotationReport("dek", target, total, done, remaining, tuple(retired), started, now)

    def _in_batches(
        self,
        page: Callable[[sa.Connection, Any], Sequence[Any]],
        work: Callable[[sa.Connection, Sequence[Any]], int],
        key: Callable[[Any], Any],
        batch: int,
    ) -> Iterator[int]:
        """Keyset pagination of a rotation: ``page(conn, after)`` (the next ``batch`` rows still to do past the key
        ``after``, None for the first batch, in key order, read under a row lock), each batch given to ``work``
        (which rewrites it and audits it, returning how many rows it rewrote) in its own transaction, and the
        next batch starting at ``key`` of the last row, so no batch re-reads (or sorts) the rows before it. A row
        whose compare-and-set lost (it cannot, under the row lock, but the guard stays) is picked up by one more
        pass. Yields each committed batch's count, so the caller's progress is current if a later batch fails."""
        for _pass in range(2):
            after = None
            missed = 0
            while True:
                with self._begin() as conn:
                    rows = page(conn, after)
                    if not rows:
                        break
                    n = work(conn, rows)
                missed += len(rows) - n
                after = key(rows[-1])
                yield n
                if len(rows) < batch:
                    break
            if not missed:
                break

    def _rewrap(self, conn: sa.Connection, ring: KeyRing, rows: Sequence[Any]) -> tuple[int, set[str]]:
        """Rewrap one batch of data keys under the primary KEK (each row's MAC checked first), one ``UPDATE``
        executed with the whole batch's parameters, each a compare-and-set on the old KEK fingerprint. How many
        rows it rewrote, and the fingerprints they were wrapped under. ``rows``: the id, then
        :data:`DATA_KEY_COLUMNS`, read by position (a result row's named columns cost more than the crypto)."""
        primary = ring.primary
        fp = primary.fingerprint
        sealer = crypto.cipher(primary.key)  # one AES-GCM instance per KEK for the batch, not one per row
        openers: dict[str, AESGCM] = {}
        macs = self._rows(conn, ring)
        seq = self._next_seq(conn, ring)
        ids, keks, wrapped, row_macs = [], [], [], []
        for row in rows:
            row_id, tenant, version, old_fp, _state, old_wrapped = row[:6]
            shared = macs.checked_data_key(row[1:])  # the row's MAC checked before anything else is done with it
            opener = openers.get(old_fp)
            if opener is None:
                old = ring.by_fingerprint(old_fp)
                if old is None:
                    raise KeyUnavailable(
                        f"tenant {tenant!r}'s data key v{version} is wrapped under {old_fp}, which key source "
                        f"{self.key_source.name} does not offer: put that key back (e.g. in "
                        "TOKEN_VAULT_PREVIOUS_KEYS) and rerun"
                    )
                opener = openers[old_fp] = crypto.cipher(old.key)
            dek = crypto.unwrap_with(opener, old_wrapped, tenant, version, old_fp)
            try:
                new = crypto.wrap_with(sealer, dek, tenant, version, fp)
            finally:
                zero(dek)
            ids.append(row_id)
            keks.append(old_fp)
            wrapped.append(new)
            row_macs.append(macs.rebound_data_key(shared, new, fp, seq))
        if self._pg:
            arrays = {"ids": ids, "keks": keks, "wrapped": wrapped, "macs": row_macs}
            done = conn.execute(_PG_REWRAP, {**arrays, "kek_fingerprint": fp, "audit_seq": seq}).rowcount
        else:
            each = zip(wrapped, row_macs, repeat(fp), repeat(seq), ids, keks, strict=False)
            done = conn.exec_driver_sql(_REWRAP, builtins.list(each)).rowcount
        return int(done), set(openers)

    def _reseal(self, conn: sa.Connection, ring: KeyRing, tenant: str, to: int, rows: Sequence[Any]) -> int:
        """Re-seal one batch of ``tenant``'s credentials under DEK ``to``: every row's MAC checked, its tokens
        opened and sealed again, and one ``UPDATE`` executed with the whole batch's parameters (a
        compare-and-set on each row's ``version``). How many rows it rewrote. ``rows``:
        :data:`CREDENTIAL_COLUMNS` then ``version``, read by position (a result row's named columns cost more
        than the crypto)."""
        # One AES-GCM instance per key for the batch (as _seal_field/_open_field, without building one per field).
        sealer = crypto.cipher(self._dek_for(conn, ring, tenant, to))
        openers: dict[int, AESGCM] = {}
        macs = self._rows(conn, ring)
        seq = self._next_seq(conn, ring)
        now = self.clock.now()
        aads = crypto.reseal_aads
        open_with, seal_with = crypto.open_with, crypto.seal_with

        def again(opener: AESGCM, blob: bytes | None, was: bytes, becomes: bytes) -> bytes | None:
            """A token field opened under its old DEK and sealed under the new one (an empty one stays as it is)."""
            if not blob:
                return blob
            plain = open_with(opener, blob, was)
            try:
                return seal_with(sealer, plain, becomes)
            finally:
                zero(plain)

        ids, versions, access, refresh, row_macs = [], [], [], [], []
        for row in rows:
            cid, provider, old, access_ct, refresh_ct, version = row[0], row[2], row[7], row[9], row[10], row[13]
            shared = macs.checked_credential(row)  # the row's MAC checked before anything else is done with it
            opener = openers.get(old)
            if opener is None:
                opener = openers[old] = crypto.cipher(self._dek_for(conn, ring, tenant, old))
            access_was, access_becomes, refresh_was, refresh_becomes = aads(tenant, provider, cid, old, to)
            sealed = (
                again(opener, access_ct, access_was, access_becomes),
                again(opener, refresh_ct, refresh_was, refresh_becomes),
            )
            ids.append(cid)
            versions.append(version)
            access.append(sealed[0])
            refresh.append(sealed[1])
            row_macs.append(macs.rebound_credential(shared, sealed[0], sealed[1], to, seq))
        if self._pg:
            arrays = {"ids": ids, "versions": versions, "access": access, "refresh": refresh, "macs": row_macs}
            done = conn.execute(_PG_RESEAL, {**arrays, "dek_version": to, "updated_at": now, "audit_seq": seq}).rowcount
        else:
            when = _CREDENTIALS.c.updated_at.type.dialect_impl(conn.dialect)  # the datetime as SQLAlchemy binds it
            stored = when.bind_processor(conn.dialect)
            at = stored(now) if stored else now
            each = zip(access, refresh, row_macs, repeat(to), repeat(at), repeat(seq), ids, versions, strict=False)
            done = conn.exec_driver_sql(_RESEAL, builtins.list(each)).rowcount
        return int(done)

    def remove_kek(self, actor: Actor, fingerprint: str) -> None:
        """Forget an old KEK, once no data key and not the audit key is wrapped under it.

        After this the vault refuses a key source that offers only that key. Remove it from the key source
        yourself (TOKEN_VAULT_PREVIOUS_KEYS, the key file, or disable the secret version).
        """
        self.authorize(actor, Op.REMOVE_KEK, None, fingerprint)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[None, str | None, dict[str, Any]]:
            known: builtins.list[str] = builtins.list(meta_get(conn, "known_keks", lock=True) or [])
            if fingerprint not in known:
                raise VaultError(f"{fingerprint} is not a KEK this vault knows (known: {', '.join(known)})")
            if fingerprint == meta_get(conn, "primary_kek"):
                raise VaultError(f"{fingerprint} is the primary KEK: make another key primary and rotate_kek first")
            deks = conn.execute(
                sa.select(sa.func.count())
                .select_from(DataKey)
                .where(DataKey.state == "active", DataKey.kek_fingerprint == fingerprint)
            ).scalar_one()
            audit_key = (meta_get(conn, "audit_key") or {}).get("kek") == fingerprint
            if deks or audit_key:
                what = [f"{deks} data key(s)"] if deks else []
                what += ["the audit key"] if audit_key else []
                raise VaultError(
                    f"{fingerprint} still wraps {' and '.join(what)}: "
                    "run rotate_kek (`readiness vault rotate-key`) first"
                )
            known.remove(fingerprint)
            meta_set(conn, "known_keks", known, self.clock.now())
            return None, fingerprint, {"kek": fingerprint, "known": known}

        self._run(actor, Op.REMOVE_KEK, None, fingerprint, body)
