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
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

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
T = TypeVar("T")
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


class Base:
    """A table named as the code reads it: ``Credential.id`` is the column ``credentials.id``, and
    ``sa.select(Credential)``, ``sa.update(Credential)`` take the table (``__clause_element__``).

    Plain SQLAlchemy Core: the vault never loads an object through an ORM session, and the ORM's import
    (a sixth of every ``readiness check``, which builds the self-test's scratch vault) bought nothing. A
    subclass lists its columns as class attributes, in table order, each ``nullable=False`` unless it may be
    NULL (the columns the migrations make), and gets its :class:`~sqlalchemy.Table` as ``__table__``.
    """

    metadata: ClassVar[sa.MetaData] = sa.MetaData(
        naming_convention={
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )
    __tablename__: ClassVar[str]
    __table_args__: ClassVar[tuple[Any, ...]] = ()
    __table__: ClassVar[sa.Table]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        columns = []
        for name, value in vars(cls).items():
            if isinstance(value, sa.Column):
                value.name = value.key = name
                columns.append(value)
        cls.__table__ = sa.Table(cls.__tablename__, cls.metadata, *columns, *cls.__table_args__)

    @classmethod
    def __clause_element__(cls) -> sa.Table:
        return cls.__table__


def _column(type_: TypeEngine[T], *args: Any, **kwargs: Any) -> sa.ColumnElement[T]:
    """A column for a :class:`Base` subclass, its name that of the attribute. Typed as the expression it is
    in queries: SQLAlchemy types a ``Column`` read from a class (not a ``TypedColumns``) as unusable."""
    return sa.Column(type_, *args, **kwargs)


def _utc_time(*, nullable: bool = False) -> sa.ColumnElement[datetime]:
    return _column(UTCDateTime(), nullable=nullable)


class VaultMeta(Base):
    __tablename__ = "vault_meta"

    key = _column(sa.String(200), primary_key=True)
    value: sa.ColumnElement[Any] = _column(sa.JSON(), nullable=False)
    updated_at = _utc_time()


class Tenant(Base):
    __tablename__ = "tenants"

    id = _column(sa.String(200), primary_key=True)
    created_at = _utc_time()
    active_dek_version = _column(sa.Integer(), nullable=False)


class DataKey(Base):
    __tablename__ = "data_keys"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "version"),
        sa.CheckConstraint("state in ('active', 'retired')", name="state"),
        sa.Index("ix_data_keys_kek_fingerprint", "kek_fingerprint"),
    )

    id = _column(sa.Integer(), primary_key=True)
    tenant = _column(sa.String(200), sa.ForeignKey("tenants.id"), nullable=False)
    version = _column(sa.Integer(), nullable=False)
    wrapped = _column(sa.LargeBinary(), nullable=False)
    """The DEK sealed under the KEK named by ``kek_fingerprint`` (empty once retired)."""
    kek_fingerprint = _column(sa.String(64), nullable=False)
    state = _column(sa.String(16), nullable=False)
    created_at = _utc_time()
    retired_at = _utc_time(nullable=True)
    row_mac = _column(sa.String(64))
    """HMAC over tenant, version, KEK fingerprint, state, the wrapped bytes and ``audit_seq`` (vault.integrity)."""
    audit_seq = _column(sa.Integer())
    """The audit seq of this row's last write: the chain must be at least this long."""


class Credential(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "provider", "account"),
        sa.CheckConstraint("state in ('active', 'revoked', 'needs_reauth')", name="state"),
        sa.Index("ix_credentials_tenant_dek_version", "tenant", "dek_version"),
        sa.Index("ix_credentials_state_refresh_due_at", "state", "refresh_due_at"),
    )

    id = _column(sa.String(64), primary_key=True)
    tenant = _column(sa.String(200), sa.ForeignKey("tenants.id"), nullable=False)
    provider = _column(sa.String(100), nullable=False)
    account = _column(sa.String(320), nullable=False)
    scopes: sa.ColumnElement[Any] = _column(sa.JSON(), nullable=False)
    expires_at = _utc_time(nullable=True)
    access_ct = _column(sa.LargeBinary(), nullable=False)
    """The access token sealed under the tenant's DEK ``dek_version`` (empty once revoked)."""
    refresh_ct = _column(sa.LargeBinary())
    dek_version = _column(sa.Integer(), nullable=False)
    token_fingerprint = _column(sa.String(64), nullable=False)
    """``hmac:…`` of the access token under a key derived from the audit key: names it, reveals nothing."""
    state = _column(sa.String(16), nullable=False)
    refresh_due_at = _utc_time(nullable=True)
    last_refresh_at = _utc_time(nullable=True)
    last_refresh_error = _column(sa.Text())
    failures = _column(sa.Integer(), nullable=False)
    next_attempt_at = _utc_time(nullable=True)
    lease_owner = _column(sa.String(200))
    lease_until = _utc_time(nullable=True)
    version = _column(sa.Integer(), nullable=False)
    """Incremented by every write; SQLite writers compare-and-set on it."""
    created_at = _utc_time()
    updated_at = _utc_time()
    row_mac = _column(sa.String(64))
    """HMAC over everything that selects or describes the token (vault.integrity); NULL only before binding."""
    audit_seq = _column(sa.Integer())
    """The audit seq of the last write of a bound column: the chain must be at least this long."""


class AuditEventRecord(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.CheckConstraint("outcome in ('ok', 'denied', 'error')", name="outcome"),)

    seq = _column(sa.Integer(), primary_key=True, autoincrement=False)
    """1, 2, 3, … with no gaps: assigned from the head anchor under a lock, never by a sequence (a
    rolled-back transaction would leave a gap that looks like a deletion)."""
    at = _utc_time()
    actor = _column(sa.String(200), nullable=False)
    role = _column(sa.String(16), nullable=False)
    op = _column(sa.String(32), nullable=False)
    tenant = _column(sa.String(200))
    target = _column(sa.String(200))
    outcome = _column(sa.String(16), nullable=False)
    detail: sa.ColumnElement[Any] = _column(sa.JSON(), nullable=False)
    prev_mac = _column(sa.String(64), nullable=False)
    mac = _column(sa.String(64), nullable=False)


class ServiceToken(Base):
    __tablename__ = "service_tokens"
    __table_args__ = (
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint("role in ('admin', 'service', 'auditor', 'viewer')", name="role"),
    )

    id = _column(sa.String(32), primary_key=True)
    name = _column(sa.String(200), nullable=False)
    """The identity's name: the audit log's actor is ``svc:<name>``."""
    token_hash = _column(sa.String(64), nullable=False)
    """SHA-256 (hex) of the token: the token itself is shown once, at creation, and stored nowhere."""
    role = _column(sa.String(16), nullable=False)
    tenants: sa.ColumnElement[Any] = _column(sa.JSON(), nullable=True)
    """The tenants it may touch; NULL: every tenant (never for ``service``)."""
    providers: sa.ColumnElement[Any] = _column(sa.JSON(), nullable=True)
    """The providers it may touch; NULL: every provider."""
    created_by = _column(sa.String(200), nullable=False)
    created_at = _utc_time()
    expires_at = _utc_time(nullable=True)
    revoked_at = _utc_time(nullable=True)
    last_used_at = _utc_time(nullable=True)


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
