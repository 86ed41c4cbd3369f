"""Service identities: the API tokens of ``readiness vault serve``'s callers.

A token is ``rvs_`` and 43 characters of a random 32-byte value (``secrets.token_urlsafe(32)``): shown once,
when it is created, and stored nowhere; the ``service_tokens`` table keeps its SHA-256. Each identity has a
name (the audit log's actor is ``svc:NAME``), one of the vault's roles (:mod:`vault.rbac`), the tenants and
providers it may touch (``None``: all; a ``service`` identity must name its tenants), an optional expiry, and
a revocation time. Only an unscoped ``admin`` creates, lists or revokes identities; each of those is written to
the vault's audit chain (a denial too), in the same transaction as its effect.

:meth:`ServiceTokens.authenticate` turns a presented token into a :class:`ServiceIdentity`, or raises
:class:`Unauthenticated` with a stable code (``unknown``, ``expired``, ``revoked``) that reveals nothing of the
token. A 32-byte random value needs no slow hash: a SHA-256 lookup is as safe as a password hash here, and it
is what lets every request be checked against the database without a cost worth caching.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from vault.audit import Prepared
from vault.errors import AccessDenied, VaultError
from vault.models import ServiceToken, utc
from vault.rbac import Actor, Role
from vault.secret import Secret

if TYPE_CHECKING:
    from vault.store import Vault

__all__ = ["PREFIX", "IssuedToken", "ServiceIdentity", "ServiceTokens", "Unauthenticated", "token_hash"]

PREFIX = "rvs_"
"""Every service token starts with it, so a leaked one is recognisable (the scrubber masks ``rvs_…``)."""
_SHAPE = re.compile(r"^rvs_[A-Za-z0-9_-]{43}$")
_T: sa.Table = ServiceToken.metadata.tables["service_tokens"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_BY_HASH = Prepared(sa.select(_T).where(_T.c.token_hash == sa.bindparam("h")))


class Unauthenticated(VaultError):
    """A presented token names no usable identity. ``code``: ``missing``, ``unknown``, ``expired`` or ``revoked``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def token_hash(token: str | bytes | bytearray) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    data = token.encode() if isinstance(token, str) else bytes(token)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ServiceIdentity:
    """One service identity's row, without its hash."""

    id: str
    name: str
    role: Role
    tenants: frozenset[str] | None
    providers: frozenset[str] | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def actor(self) -> Actor:
        """The vault actor it calls as: ``svc:NAME`` with its role and tenants (what the audit log records)."""
        return Actor(f"svc:{self.name}", self.role, self.tenants)

    def allows_provider(self, provider: str) -> bool:
        return self.providers is None or provider in self.providers

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_dict(self, now: datetime) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "state": self.state(now),
            "tenants": sorted(self.tenants) if self.tenants is not None else None,
            "providers": sorted(self.providers) if self.providers is not None else None,
            "created_by": self.created_by,
            "created_at": when(self.created_at),
            "expires_at": when(self.expires_at),
            "revoked_at": when(self.revoked_at),
            "last_used_at": when(self.last_used_at),
        }


@dataclass(frozen=True, repr=False)
class IssuedToken:
    """What :meth:`ServiceTokens.create` returns: the identity, and its token (the only time it exists)."""

    identity: ServiceIdentity
    token: Secret

    def __repr__(self) -> str:
        return f"IssuedToken(identity={self.identity!r}, token=Secret(***))"


def _identity(row: Any) -> ServiceIdentity:
    return ServiceIdentity(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        tenants=frozenset(row.tenants) if row.tenants is not None else None,
        providers=frozenset(row.providers) if row.providers is not None else None,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _scope(values: Iterable[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    cleaned = sorted({v.strip() for v in values if v and v.strip()})
    if not cleaned:
        raise VaultError(f"an empty {what} list would allow nothing; omit it to allow every {what[:-1]}")
    return cleaned


class ServiceTokens:
    """Create, list, revoke and authenticate service identities, in ``vault``'s database and audit chain."""

    TOUCH_EVERY = timedelta(minutes=1)
    """``last_used_at`` is written at most this often per identity (a write per request would cost more
    than the request)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def _admin_only(self, actor: Actor, op: str, target: str | None) -> None:
        if actor.role is Role.ADMIN and actor.tenants is None:
            return
        reason = f"only an unscoped admin may manage service identities; {actor.name!r} is {actor.role.value}" + (
            " scoped to tenants" if actor.tenants is not None else ""
        )
        ring = self.vault._ring()
        with self.vault._begin() as conn:
            self.vault._append(conn, ring, actor, op, None, target, "denied", {"reason": reason})
        raise AccessDenied(f"access denied: {reason}")

    def create(
        self,
        actor: Actor,
        name: str,
        role: Role | str,
        *,
        tenants: Iterable[str] | None = None,
        providers: Iterable[str] | None = None,
        expires_in: timedelta | None = None,
    ) -> IssuedToken:
        """A new identity and its token (shown once: wipe the :class:`Secret` when it has been handed over)."""
        self._admin_only(actor, "service_token_create", name)
        if not _NAME.match(name or ""):
            raise VaultError(f"service identity name {name!r}: use letters, digits, '.', '_' or '-' (up to 100)")
        role = Role(role)
        tenant_list, provider_list = _scope(tenants, "tenants"), _scope(providers, "providers")
        if role is Role.SERVICE and tenant_list is None:
            raise VaultError(f"a service identity must be scoped to its tenants: pass --tenant for {name!r}")
        if expires_in is not None and expires_in <= timedelta(0):
            raise VaultError("the expiry must be in the future")
        now = self.vault.clock.now()
        token = Secret(PREFIX + secrets.token_urlsafe(32))
        identity_id = uuid.uuid4().hex[:16]
        expires_at = now + expires_in if expires_in is not None else None
        row: dict[str, Any] = {
            "id": identity_id,
            "name": name,
            "token_hash": token_hash(token.buffer()),
            "role": role.value,
            "tenants": tenant_list,
            "providers": provider_list,
            "created_by": actor.name,
            "created_at": now,
            "expires_at": expires_at,
            "revoked_at": None,
            "last_used_at": None,
        }
        ring = self.vault._ring()
        try:
            with self.vault._begin() as conn:
                taken = conn.execute(sa.select(_T.c.id).where(_T.c.name == name)).first()
                if taken is not None:
                    raise VaultError(
                        f"a service identity named {name!r} exists (id {taken.id}); revoke it or pick another name"
                    )
                conn.execute(_T.insert(), row)
                self.vault._append(
                    conn,
                    ring,
                    actor,
                    "service_token_create",
                    None,
                    identity_id,
                    "ok",
                    {
                        "name": name,
                        "role": role.value,
                        "tenants": tenant_list,
                        "providers": provider_list,
                        "expires_at": expires_at.isoformat() if expires_at else None,
                    },
                )
        except BaseException:
            token.wipe()
            raise
        return IssuedToken(_identity(SimpleNamespace(**row)), token)

    def list(self, actor: Actor) -> list[ServiceIdentity]:
        """Every identity (never a token or its hash), newest first."""
        self._admin_only(actor, "service_token_list", None)
        with self.vault.engine.connect() as conn:
            rows = conn.execute(sa.select(_T).order_by(_T.c.created_at.desc(), _T.c.name)).all()
        return [_identity(r) for r in rows]

    def revoke(self, actor: Actor, id_or_name: str) -> ServiceIdentity:
        """Revoke an identity by id or name (idempotent): its token is refused from the next request on."""
        self._admin_only(actor, "service_token_revoke", id_or_name)
        ring = self.vault._ring()
        with self.vault._begin() as conn:
            row = conn.execute(
                sa.select(_T).where(sa.or_(_T.c.id == id_or_name, _T.c.name == id_or_name)).with_for_update()
            ).first()
            if row is None:
                raise VaultError(f"no service identity {id_or_name!r}: `readiness vault service-token list` shows them")
            already = row.revoked_at is not None
            if not already:
                conn.execute(_T.update().where(_T.c.id == row.id).values(revoked_at=self.vault.clock.now()))
            self.vault._append(
                conn, ring, actor, "service_token_revoke", None, row.id, "ok", {"name": row.name, "already": already}
            )
            row = conn.execute(sa.select(_T).where(_T.c.id == row.id)).one()
        return _identity(row)

    def authenticate(self, token: str | None) -> ServiceIdentity:
        """The identity a presented token names, if usable now; else :class:`Unauthenticated` (the code says
        why; nothing about the token is in the message)."""
        if not token:
            raise Unauthenticated("missing", "no service token: send Authorization: Bearer rvs_…")
        if not _SHAPE.match(token):
            raise Unauthenticated("unknown", "not a service token (expected rvs_ and 43 characters)")
        # One round trip on PostgreSQL (autocommit), no write lock on SQLite; a connection of its own, so a failed
        # read fails this request, not the group commit it may run in (vault.service_batch).
        with self.vault._reading(own=True) as conn:
            rows = _BY_HASH.execute(conn, {"h": token_hash(token)})
        if not rows:
            raise Unauthenticated("unknown", "this service token names no identity")
        identity = _identity(SimpleNamespace(**dict(zip(_T.c.keys(), rows[0], strict=True))))
        now = self.vault.clock.now()
        state = identity.state(now)
        if state != "active":
            raise Unauthenticated(state, f"the service token of {identity.name!r} is {state}")
        if identity.last_used_at is None or now - utc(identity.last_used_at) >= self.TOUCH_EVERY:
            self._touch(identity.id, now)
        return identity

    def _touch(self, identity_id: str, now: datetime) -> None:
        try:
            with self.vault.engine.begin() as conn:
                conn.execute(_T.update().where(_T.c.id == identity_id).values(last_used_at=now))
        except sa.exc.SQLAlchemyError:  # bookkeeping: never fail a request for it (SQLite busy, say)
            pass
