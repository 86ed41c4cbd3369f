"""The history's schema and database: the tables (mirroring the Alembic migrations in
``checks/storage/migrations``, the source of truth), and how a database URL becomes a migrated engine
(SQLite with WAL journaling and foreign keys, PostgreSQL migrated under an advisory lock)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vault.dburl import DEFAULT_DB_URL as DEFAULT_DB_URL  # one default for the history and the vault
from vault.models import UTCDateTime  # one UTC column type for both stores; vault is the bottom layer
from vault.schema_version import is_current

VERSION_TABLE = "readiness_alembic_version"
"""Our own Alembic version table, so the vault's migrations can share the database."""
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x52454144  # "READ": serialises concurrent migrations of one PostgreSQL schema


# --------------------------------------------------------------------------------------------- models


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()}


class RunRecord(Base):
    __tablename__ = "runs"
    __table_args__ = (sa.Index("ix_runs_started_at", "started_at"), sa.Index("ix_runs_seq", "seq", unique=True))

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    """Insertion order (migration 0002): "latest", "newest first" and "previous" go by it, never by a clock."""
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    verdict: Mapped[str] = mapped_column(sa.String(16))
    reasons: Mapped[list[Any]]
    manifest_digest: Mapped[str] = mapped_column(sa.String(128))
    trigger: Mapped[str] = mapped_column(sa.String(32))
    areas: Mapped[list[Any]]
    escalations: Mapped[list[Any]]
    criteria: Mapped[list[Any]]
    passed: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    """Results met (``pass`` or ``warn``), written with the run (migration 0004): lists and trends count no results."""
    total: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    blocking_passed: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    blocking_total: Mapped[int] = mapped_column(sa.Integer, server_default="0")


class ResultRecord(Base):
    __tablename__ = "results"
    __table_args__ = (
        sa.Index("ix_results_check_id_run_id", "check_id", "run_id"),
        sa.Index("ix_results_check_id_observed_at", "check_id", "observed_at"),
        sa.Index("ix_results_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"))
    check_id: Mapped[str] = mapped_column(sa.String(200))
    item: Mapped[str] = mapped_column(sa.String(200))
    area: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(100))
    severity: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    summary: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[dict[str, Any]]
    remediation: Mapped[str] = mapped_column(sa.Text)
    duration_ms: Mapped[float] = mapped_column(sa.Float)
    observed_at: Mapped[datetime | None]
    waived: Mapped[bool]
    conditions: Mapped[list[Any]]


class RunItemRecord(Base):
    """One item in one run, its results counted (migration 0004): what the heatmap and time to green read."""

    __tablename__ = "run_items"

    run_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    area: Mapped[str] = mapped_column(sa.String(200))
    passed: Mapped[int]
    """Results met (``pass`` or ``warn``); the item is green in the run when ``passed == total``."""
    total: Mapped[int]
    waiting: Mapped[int]
    """Results ``pending`` or ``skipped``."""
    pending: Mapped[int]


class CheckStreakRecord(Base):
    """Each check's current streak (migration 0004): its latest status and when the unbroken run of it began."""

    __tablename__ = "check_streaks"

    check_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    since: Mapped[datetime]
    last_observed: Mapped[datetime]
    """The newest ``observed_at`` seen; an older result recorded later makes the store rescan the check."""


class DailyRunRecord(Base):
    """One UTC day of runs (migration 0004): the blocking trend of long ranges; ``history prune`` keeps it."""

    __tablename__ = "daily_runs"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    runs: Mapped[int]
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    last_verdict: Mapped[str] = mapped_column(sa.String(16))
    go: Mapped[int]
    conditional: Mapped[int]
    no_go: Mapped[int]
    blocking_runs: Mapped[int]
    """Runs with any blocking result: ``share_sum / blocking_runs`` is the day's mean share."""
    share_sum: Mapped[float] = mapped_column(sa.Float)
    share_min: Mapped[float | None] = mapped_column(sa.Float)
    share_max: Mapped[float | None] = mapped_column(sa.Float)


class DailyItemRecord(Base):
    """One item on one UTC day (migration 0004): its last run's counts (the heatmap) and when it last went red and
    then green (time to green) in that day; ``history prune`` keeps it."""

    __tablename__ = "daily_items"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    area: Mapped[str] = mapped_column(sa.String(200))
    runs: Mapped[int]
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    passed: Mapped[int]
    total: Mapped[int]
    waiting: Mapped[int]
    pending: Mapped[int]
    last_green: Mapped[bool]
    red_last_at: Mapped[datetime | None]
    """The day's last run in which the item was not green."""
    green_after: Mapped[datetime | None]
    """The day's first green run after its last red one (after none: the day's first green run)."""


class AttestationRecord(Base):
    __tablename__ = "attestations"
    __table_args__ = (sa.Index("ix_attestations_item_at", "item", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(64))
    by: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(sa.Text)
    effective: Mapped[date | None]


class WaiverRecord(Base):
    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[str] = mapped_column(sa.String(200))
    """A check id or an fnmatch pattern over check ids."""
    reason: Mapped[str] = mapped_column(sa.Text)
    by: Mapped[str] = mapped_column(sa.String(200))
    until: Mapped[datetime]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(sa.String(200))
    extra: Mapped[dict[str, Any]]


class CheckpointRecord(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    run_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("runs.id"))
    manifest_digest: Mapped[str] = mapped_column(sa.String(128))
    title: Mapped[str] = mapped_column(sa.Text)
    snapshot: Mapped[dict[str, Any]]
    decision: Mapped[str | None] = mapped_column(sa.String(16))
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    decided_at: Mapped[datetime | None]
    rationale: Mapped[str | None] = mapped_column(sa.Text)


class WatchLeaseRecord(Base):
    """``readiness watch``'s leader lease and shared schedule (migration 0003, :mod:`checks.storage.lease`)."""

    __tablename__ = "watch_lease"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime | None]
    acquired_at: Mapped[datetime | None]
    next_sweep_at: Mapped[datetime | None]
    last_sweep_at: Mapped[datetime | None]
    last_run_id: Mapped[str | None] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime | None]
    """Set by the dashboard ("sweep now"); the leader sweeps at its next tick and clears it."""
    interval_s: Mapped[float | None] = mapped_column(sa.Float)
    """The leader's interval between sweeps, so the dashboard can tell a silent watcher from a patient one."""


class WatchAlertRecord(Base):
    """An alert the watcher announced and has not yet announced resolved (:mod:`checks.storage.notifications`)."""

    __tablename__ = "watch_alerts"

    key: Mapped[str] = mapped_column(sa.String(400), primary_key=True)
    event: Mapped[str] = mapped_column(sa.String(32))
    fingerprint: Mapped[str] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.Text)
    detail: Mapped[list[Any]]
    area: Mapped[str | None] = mapped_column(sa.String(200))
    contact: Mapped[str | None] = mapped_column(sa.String(200))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NotificationRecord(Base):
    """One message to one channel (or none: ``unrouted``), its body scrubbed before it was stored."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_channel_at", "channel", "at"), sa.Index("ix_notifications_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(sa.String(32))
    key: Mapped[str] = mapped_column(sa.String(400))
    transition: Mapped[str] = mapped_column(sa.String(16))
    channel: Mapped[str | None] = mapped_column(sa.String(200))
    area: Mapped[str | None] = mapped_column(sa.String(200))
    contact: Mapped[str | None] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.Text)
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))
    """``sent``, ``failed``, ``suppressed`` (the channel's rate limit) or ``unrouted`` (no route matched)."""
    error: Mapped[str | None] = mapped_column(sa.Text)
    run_id: Mapped[str | None] = mapped_column(sa.String(64))
    holder: Mapped[str | None] = mapped_column(sa.String(200))


# ---------------------------------------------------------------------------------- engine, migration


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; for SQLite, the database file's directory is created, WAL and foreign keys on."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2"):
        # No HSTORE column here: without this, the first connection of every engine looks the type up in the
        # catalogue (psycopg's TypeInfo.fetch, one more query on a fresh backend).
        return sa.create_engine(url, json_serializer=_dumps, pool_pre_ping=True, use_native_hstore=False)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, json_serializer=_dumps, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, json_serializer=_dumps)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Run the history migrations up to ``revision`` (on PostgreSQL under an advisory lock); a database already at the
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


def _dumps(value: Any) -> str:
    # Evidence should already be JSON; a stray datetime or Path must not lose the whole run.
    return json.dumps(value, default=str)
