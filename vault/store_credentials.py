"""The credentials in a :class:`~vault.store.Vault`: ``put`` (sealed under the tenant's DEK, upserted by
account), ``get`` (revealed as a :class:`~vault.secret.TokenSet`), ``list``, ``revoke`` and ``stats``
(metadata only)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vault.audit import Prepared
from vault.errors import VaultError
from vault.integrity import CREDENTIAL_COLUMNS
from vault.keys import KeyRing
from vault.models import Credential, DataKey, Tenant, VaultMeta, utc
from vault.names import check_name, check_names
from vault.rbac import Actor, Op
from vault.secret import Secret, TokenSet
from vault.store_meta import meta_get, zero
from vault.store_ops import AuditedOps, _Retry
from vault.store_values import CredentialInfo, VaultStats, refresh_due

__all__ = ["CredentialOps"]

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
_GET_NAMES = tuple(c.name for c in CREDENTIAL_COLUMNS)
_GET_BY_ACCOUNT = Prepared(
    sa.select(*CREDENTIAL_COLUMNS, _CREDENTIALS.c.refresh_due_at, _CREDENTIALS.c.next_attempt_at).where(
        _CREDENTIALS.c.tenant == sa.bindparam("b_tenant"),
        _CREDENTIALS.c.provider == sa.bindparam("b_provider"),
        _CREDENTIALS.c.account == sa.bindparam("b_account"),
    )
)
_BY_ACCOUNT_NAMES = (*_GET_NAMES, "refresh_due_at", "next_attempt_at")
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


class _NotAdmitted(Exception):  # noqa: N818 - a signal inside _get_account, never seen outside
    """``_get_account``'s caller declined the row: roll back, audit nothing (not a VaultError: _run lets it by)."""


def _as_secret(value: Secret | str | bytes | None) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    return Secret(value)


class CredentialOps(AuditedOps):
    """Put, get, list, revoke, stats: the credential methods of a :class:`~vault.store.Vault`."""

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
        check_names(tenant=tenant, provider=provider, account=account)
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
                    plain = self._open_field(
                        old_dek, tenant, provider, cid, "refresh", existing.dek_version, existing.refresh_ct
                    )
                    try:
                        refresh_ct = self._seal_field(dek, tenant, provider, cid, "refresh", version, plain)
                    finally:
                        zero(plain)
            fp = self._fingerprint(conn, ring, access.buffer())
            values: dict[str, Any] = {
                "scopes": scope_list,
                "expires_at": expires,
                "access_ct": access_ct,
                "refresh_ct": refresh_ct,
                "dek_version": version,
                "token_fingerprint": fp,
                "state": "active",
                "refresh_due_at": refresh_due(now, expires),
                "last_refresh_error": None,
                "failures": 0,
                "next_attempt_at": None,
                "lease_owner": None,
                "lease_until": None,
                "updated_at": now,
            }
            bound = rows.bind(
                "credential",
                {**values, "id": cid, "tenant": tenant, "provider": provider, "account": account},
                self._next_seq(conn, ring),
            )
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
                    {
                        "id": cid,
                        "tenant": tenant,
                        "provider": provider,
                        "account": account,
                        "version": 1,
                        "created_at": now,
                        "last_refresh_at": None,
                        **values,
                    },
                )
            return (
                cid,
                cid,
                {
                    "provider": provider,
                    "account": account,
                    "fingerprint": fp,
                    "dek_version": version,
                    "created": existing is None,
                    "has_refresh_token": refresh_ct is not None,
                    "scopes": scope_list,
                    "expires_at": expires.isoformat() if expires else None,
                },
            )

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
        check_name(tenant, "tenant")

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[TokenSet, str | None, dict[str, Any]]:
            rows = _GET_CREDENTIAL.execute(conn, {"b_id": credential_id, "b_tenant": tenant})
            if not rows:
                raise VaultError(f"no credential {credential_id!r} in tenant {tenant!r}")
            row = dict(zip(_GET_NAMES, rows[0], strict=True))
            return self._reveal(conn, ring, tenant, row)

        return self._run(actor, Op.GET, tenant, credential_id, body)

    def _get_account(
        self,
        actor: Actor,
        tenant: str,
        provider: str,
        account: str,
        admit: Callable[[dict[str, Any] | None], bool],
    ) -> TokenSet | None:
        """:meth:`get` by account, in the statement that finds the credential: the vault service's hot path
        (``vault.service_app``), which would otherwise locate it in a round trip of its own first.

        ``admit`` sees the row as read (its :data:`CREDENTIAL_COLUMNS` and ``refresh_due_at``,
        ``next_attempt_at``; ``None`` when there is none) before anything is opened: when it says no, the
        transaction is rolled back with nothing revealed or written and ``None`` is returned, for the caller to
        take its own way (audit a miss, refresh a due credential, then :meth:`get`). Otherwise as :meth:`get`
        (a missing row admitted is its ``no credential`` error), failures audited with the target
        ``provider/account``."""
        target = f"{provider}/{account}"
        self.authorize(actor, Op.GET, tenant, target)
        check_names(tenant=tenant, provider=provider, account=account)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[TokenSet, str | None, dict[str, Any]]:
            rows = _GET_BY_ACCOUNT.execute(conn, {"b_tenant": tenant, "b_provider": provider, "b_account": account})
            row = dict(zip(_BY_ACCOUNT_NAMES, rows[0], strict=True)) if rows else None
            if not admit(row):
                raise _NotAdmitted
            if row is None:
                raise VaultError(f"no {provider} credential for {account!r} in tenant {tenant!r}")
            return self._reveal(conn, ring, tenant, row)

        try:
            return self._run(actor, Op.GET, tenant, target, body)
        except _NotAdmitted:
            return None

    def _reveal(
        self, conn: sa.Connection, ring: KeyRing, tenant: str, row: dict[str, Any]
    ) -> tuple[TokenSet, str | None, dict[str, Any]]:
        """A credential row read in ``conn`` checked and opened: the tokens, and the audit entry's target and
        detail (the body of :meth:`get`)."""
        self._rows(conn, ring).check_credential(row)
        cid, provider, account, state = row["id"], row["provider"], row["account"], row["state"]
        dek_version, access_ct, refresh_ct = row["dek_version"], row["access_ct"], row["refresh_ct"]
        expires_at, scopes, fp = row["expires_at"], row["scopes"], row["token_fingerprint"]
        if state == "revoked":
            raise VaultError(f"credential {cid} was revoked; store new tokens with put")
        dek = self._dek_for(conn, ring, tenant, dek_version)
        access = self._open_field(dek, tenant, provider, cid, "access", dek_version, access_ct)
        try:
            refresh = (
                self._open_field(dek, tenant, provider, cid, "refresh", dek_version, refresh_ct) if refresh_ct else None
            )
        except BaseException:
            zero(access)
            raise
        tokens = TokenSet(
            tenant=tenant,
            provider=provider,
            account=account,
            credential_id=cid,
            access_token=Secret(access),
            refresh_token=Secret(refresh) if refresh is not None else None,
            expires_at=expires_at,
            scopes=builtins.list(scopes or []),
        )
        detail = {
            "provider": provider,
            "account": account,
            "fingerprint": fp,
            "state": state,
            "dek_version": dek_version,
        }
        return tokens, cid, detail

    def list(
        self, actor: Actor, tenant: str | None = None, provider: str | None = None
    ) -> builtins.list[CredentialInfo]:
        """Credential metadata (no token, no ciphertext), optionally for one tenant and/or provider.

        Without ``tenant``, an actor scoped to tenants sees only its own.
        """
        self.authorize(actor, Op.LIST, tenant)
        check_names(tenant=tenant, provider=provider, given_only=True)

        def body(
            conn: sa.Connection, ring: KeyRing
        ) -> tuple[builtins.list[CredentialInfo], str | None, dict[str, Any]]:
            c = Credential
            query = sa.select(
                *CREDENTIAL_COLUMNS,
                c.refresh_due_at,
                c.last_refresh_at,
                c.last_refresh_error,
                c.failures,
                c.next_attempt_at,
                c.created_at,
                c.updated_at,
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
                infos.append(
                    CredentialInfo(
                        **{**fields, "scopes": tuple(row.scopes or ()), "has_refresh_token": row.refresh_ct is not None}
                    )
                )
            return infos, None, {"provider": provider, "count": len(infos)}

        return self._run(actor, Op.LIST, tenant, None, body)

    def revoke(self, actor: Actor, tenant: str, credential_id: str) -> None:
        """Mark a credential revoked and erase its ciphertexts. Idempotent.

        It does not call the provider's revocation endpoint; ``put`` stores new tokens and reactivates it.
        """
        self.authorize(actor, Op.REVOKE, tenant, credential_id)
        check_name(tenant, "tenant")

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
                    .values(
                        **erased,
                        refresh_due_at=None,
                        lease_owner=None,
                        lease_until=None,
                        next_attempt_at=None,
                        version=row.version + 1,
                        updated_at=self.clock.now(),
                        audit_seq=bound["audit_seq"],
                        row_mac=bound["row_mac"],
                    )
                )
                if done.rowcount != 1:
                    raise _Retry()
            return None, credential_id, detail

        self._run(actor, Op.REVOKE, tenant, credential_id, body, retries=2)

    def stats(
        self, actor: Actor, tenant: str | None = None, *, expiring_within: timedelta = timedelta(hours=24)
    ) -> VaultStats:
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
            primary = str(meta_get(conn, "primary_kek"))
            pending = {
                fp: n
                for fp, n in conn.execute(
                    sa.select(DataKey.kek_fingerprint, sa.func.count())
                    .where(DataKey.state == "active", DataKey.kek_fingerprint != primary)
                    .group_by(DataKey.kek_fingerprint)
                )
            }
            rotations = (
                conn.execute(
                    sa.select(VaultMeta.key).where(
                        sa.or_(VaultMeta.key == "kek_rotation", VaultMeta.key.like("dek_rotation:%"))
                    )
                )
                .scalars()
                .all()
            )
            stats = VaultStats(
                at=now,
                tenants=conn.execute(tenants_q).scalar_one(),
                credentials=sum(by_state.values()),
                by_state=by_state,
                by_provider={p: sum(s.values()) for p, s in by_provider_state.items()},
                by_provider_state=by_provider_state,
                expiring_soon=soon,
                expired=expired,
                refresh_failing=failing,
                primary_kek=primary,
                pending_rewrap=pending,
                rotations_in_progress=tuple(
                    sorted(k.replace("dek_rotation:", "dek:").replace("kek_rotation", "kek") for k in rotations)
                ),
            )
            return stats, None, {"credentials": stats.credentials}

        return self._run(actor, Op.STATS, tenant, None, body)
