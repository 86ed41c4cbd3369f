"""The vault's tables, and :func:`upgrade`, which migrates them (Alembic, ``vault/migrations``).

The migrations are the source of truth for the schema; the models below mirror them. The vault keeps
its own Alembic version table (:data:`VERSION_TABLE`) so it can share a database with the history
store. Every timestamp comes back timezone-aware UTC.

Tables:

* ``vault_meta``: key/value JSON: the primary and known KEK fingerprints, the wrapped audit key and
  the KEK that wraps it, the audit chain's head anchor, rotation checkpoints;
* ``tenants``: one row per tenant, with its active DEK version;
* ``data_keys``: one wrapped DEK per tenant and version (``active`` or ``retired``; a retired DEK's
  wrapped bytes are erased);
* ``credentials``: ciphertexts, metadata, refresh state and lease, and a row ``version`` for
  compare-and-set;
* ``audit_events``: the HMAC-chained audit log;
* ``service_tokens``: the identities of ``readiness vault serve``'s callers (a SHA-256 hash of each token,
  never the token; role, tenant and provider scope, expiry, revocation; :mod:`vault.service_tokens`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vault.schema_version import head_revision, is_current

__all__ = [
    "VERSION_TABLE",
    "AuditEventRecord",
    "Base",
    "Credential",
    "DataKey",
    "ServiceToken",
    "Tenant",
    "VaultMeta",
    "create_at_head",
    "upgrade",
    "utc",
]

VERSION_TABLE = "vault_alembic_version"
"""The vault's own Alembic version table (the history store uses ``readiness_alembic_version``)."""
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x5641554C  # "VAUL": serialises concurrent migrations of one PostgreSQL schema

CREDENTIAL_STATES = ("active", "revoked", "needs_reauth")
DATA_KEY_STATES = ("active", "retired")
OUTCOMES = ("ok", "denied", "error")


def utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC; always returns an aware UTC datetime (SQLite keeps no offset, PostgreSQL converts)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()}


class VaultMeta(Base):
    __tablename__ = "vault_meta"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON())
    updated_at: Mapped[datetime]


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    created_at: Mapped[datetime]
    active_dek_version: Mapped[int]


class DataKey(Base):
    __tablename__ = "data_keys"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "version"),
        sa.CheckConstraint("state in ('active', 'retired')", name="state"),
        sa.Index("ix_data_keys_kek_fingerprint", "kek_fingerprint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(200), sa.ForeignKey("tenants.id"))
    version: Mapped[int]
    wrapped: Mapped[bytes] = mapped_column(sa.LargeBinary)
    """The DEK sealed under the KEK named by ``kek_fingerprint`` (empty once retired)."""
    kek_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    row_mac: Mapped[str | None] = mapped_column(sa.String(64))
    """HMAC over tenant, version, KEK fingerprint, state, the wrapped bytes and ``audit_seq`` (vault.integrity)."""
    audit_seq: Mapped[int | None]
    """The audit seq of this row's last write: the chain must be at least this long."""


class Credential(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "provider", "account"),
        sa.CheckConstraint("state in ('active', 'revoked', 'needs_reauth')", name="state"),
        sa.Index("ix_credentials_tenant_dek_version", "tenant", "dek_version"),
        sa.Index("ix_credentials_state_refresh_due_at", "state", "refresh_due_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(200), sa.ForeignKey("tenants.id"))
    provider: Mapped[str] = mapped_column(sa.String(100))
    account: Mapped[str] = mapped_column(sa.String(320))
    scopes: Mapped[list[Any]]
    expires_at: Mapped[datetime | None]
    access_ct: Mapped[bytes] = mapped_column(sa.LargeBinary)
    """The access token sealed under the tenant's DEK ``dek_version`` (empty once revoked)."""
    refresh_ct: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    dek_version: Mapped[int]
    token_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    """``hmac:…`` of the access token under a key derived from the audit key: names it, reveals nothing."""
    state: Mapped[str] = mapped_column(sa.String(16))
    refresh_due_at: Mapped[datetime | None]
    last_refresh_at: Mapped[datetime | None]
    last_refresh_error: Mapped[str | None] = mapped_column(sa.Text)
    failures: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))
    lease_until: Mapped[datetime | None]
    version: Mapped[int]
    """Incremented by every write; SQLite writers compare-and-set on it."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    row_mac: Mapped[str | None] = mapped_column(sa.String(64))
    """HMAC over everything that selects or describes the token (vault.integrity); NULL only before binding."""
    audit_seq: Mapped[int | None]
    """The audit seq of the last write of a bound column: the chain must be at least this long."""


class AuditEventRecord(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.CheckConstraint("outcome in ('ok', 'denied', 'error')", name="outcome"),)

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """1, 2, 3, … with no gaps: assigned from the head anchor under a lock, never by a sequence (a
    rolled-back transaction would leave a gap that looks like a deletion)."""
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    op: Mapped[str] = mapped_column(sa.String(32))
    tenant: Mapped[str | None] = mapped_column(sa.String(200))
    target: Mapped[str | None] = mapped_column(sa.String(200))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[dict[str, Any]]
    prev_mac: Mapped[str] = mapped_column(sa.String(64))
    mac: Mapped[str] = mapped_column(sa.String(64))


class ServiceToken(Base):
    __tablename__ = "service_tokens"
    __table_args__ = (
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint("role in ('admin', 'service', 'auditor', 'viewer')", name="role"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    """The identity's name: the audit log's actor is ``svc:<name>``."""
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    """SHA-256 (hex) of the token: the token itself is shown once, at creation, and stored nowhere."""
    role: Mapped[str] = mapped_column(sa.String(16))
    tenants: Mapped[list[Any] | None] = mapped_column(sa.JSON(), nullable=True)
    """The tenants it may touch; NULL: every tenant (never for ``service``)."""
    providers: Mapped[list[Any] | None] = mapped_column(sa.JSON(), nullable=True)
    """The providers it may touch; NULL: every provider."""
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Run the vault migrations up to ``revision`` (on PostgreSQL under an advisory lock); a database already at the
    head is left alone without importing Alembic (:mod:`vault.schema_version`)."""
    if revision == "head" and is_current(engine, VERSION_TABLE, _MIGRATIONS / "versions"):
        return  # the common case: nothing to migrate, and Alembic not even imported
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def create_at_head(engine: sa.Engine) -> None:
    """Give a new, empty database the schema straight from the models, stamped at the head, without Alembic:
    for throwaway databases only (the self-test's scratch vault, built on every ``readiness check``). The
    models mirror the migrations (``tests/checks/test_schema_version.py`` compares them), so what the vault
    then runs on is the schema a migrated database has."""
    head = head_revision(_MIGRATIONS / "versions")
    if head is None:
        upgrade(engine)
        return
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        conn.execute(sa.text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(sa.text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:head)"), {"head": head})
