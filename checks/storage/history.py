"""The history store: runs, results, attestations, waivers and checkpoints, on SQLite or PostgreSQL.

:meth:`Store.open` connects and migrates (Alembic, ``checks/storage/migrations``; the migrations are the source
of truth for the schema, the models below mirror them). Every timestamp comes back timezone-aware UTC.

The pandas loaders (:func:`results_frame`, :func:`runs_frame`, :func:`area_frame`, :func:`check_frame`)
read one SQL query (``results_frame``: one more, of the runs' start times) straight from the driver,
convert it as ``pd.read_sql`` does and return a tidy frame with UTC ``datetime64`` columns; they never load
ORM objects (``results_frame`` of 9,000 runs x 40 checks: about 1.8 s on SQLite, docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler

from checks.core.clock import utc
from checks.core.facts import Attestation, Waiver
from checks.core.result import CheckResult, Condition, Result
from checks.core.run import AreaSummary, CriterionResult, Decision, EscalationHit, Run, Verdict
from checks.core.status import Severity, Status
from vault.models import UTCDateTime  # one UTC column type for both stores; vault is the bottom layer

__all__ = [
    "DEFAULT_DB_URL",
    "VERSION_TABLE",
    "Base",
    "Checkpoint",
    "RunSummary",
    "Store",
    "area_frame",
    "check_frame",
    "results_frame",
    "runs_frame",
    "upgrade",
]

DEFAULT_DB_URL = "sqlite:///./.readiness/readiness.db"
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


# ----------------------------------------------------------------------------------------- row types


@dataclass(frozen=True)
class RunSummary:
    """One line of :meth:`Store.runs`: a run without its results."""

    id: str
    started_at: datetime
    finished_at: datetime
    verdict: Decision
    reasons: list[str]
    trigger: str
    manifest_digest: str
    passed: int
    """Results that are met (``pass`` or ``warn``)."""
    total: int


@dataclass(frozen=True)
class Checkpoint:
    """The weekly checkpoint: a frozen snapshot of a run and the facts in force, and the decision taken."""

    id: int
    at: datetime
    run_id: str
    manifest_digest: str
    title: str
    snapshot: dict[str, Any]
    """``{"verdict", "reasons", "results": [...], "waivers": [...], "attestations": [...]}`` as JSON."""
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    rationale: str | None = None


# ----------------------------------------------------------------------------------------------- store


class Store:
    """Reads and writes the history. Safe to share between threads (one engine, short sessions)."""

    def __init__(self, engine: sa.Engine) -> None:
        """Wrap an engine whose database is already migrated; prefer :meth:`open`."""
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Connect to ``url`` (else ``READINESS_DB_URL``, else SQLite under ``./.readiness/``) and migrate.

        SQLite gets WAL journaling and foreign keys, and the database file's directory is created.
        Opening an up-to-date database again changes nothing.
        """
        engine = _create_engine(url or os.environ.get("READINESS_DB_URL") or DEFAULT_DB_URL)
        upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs ------------------------------------------------------------------------------------------

    def record_run(self, run: Run) -> None:
        """Store a run and all its results in one transaction."""
        v = run.verdict
        insert = sa.insert(RunRecord)
        if self.engine.dialect.name != "postgresql":
            # PostgreSQL numbers runs from its sequence; SQLite has one writer at a time, so max + 1 in the
            # inserting statement itself is the next number.
            insert = insert.values(seq=sa.select(sa.func.coalesce(sa.func.max(RunRecord.seq), 0) + 1).scalar_subquery())
        with self.engine.begin() as conn:
            conn.execute(
                insert,
                {
                    "id": run.id,
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    "verdict": v.decision.value,
                    "reasons": list(v.reasons),
                    "manifest_digest": run.manifest_digest,
                    "trigger": run.trigger,
                    "areas": [a.to_dict() for a in v.areas],
                    "escalations": [e.to_dict() for e in v.escalations],
                    "criteria": [c.to_dict() for c in v.criteria],
                },
            )
            if run.results:
                conn.execute(sa.insert(ResultRecord), [_result_row(run.id, r) for r in run.results])

    def get_run(self, run_id: str) -> Run | None:
        """The run with its results in recorded order, or None. ``verdict.waived`` is rebuilt from them."""
        with self._session() as s:
            rec = s.get(RunRecord, run_id)
            if rec is None:
                return None
            rows = s.scalars(
                sa.select(ResultRecord).where(ResultRecord.run_id == run_id).order_by(ResultRecord.id)
            ).all()
        results = [_check_result(r) for r in rows]
        verdict = Verdict(
            decision=Decision(rec.verdict),
            reasons=list(rec.reasons),
            areas=[
                AreaSummary(
                    a["id"],
                    a["title"],
                    Status(a["status"]),
                    a["passed"],
                    a["total"],
                    a["state"],
                    a.get("pending", 0),
                    a.get("not_checked", 0),
                )
                for a in rec.areas
            ],
            escalations=[
                EscalationHit(
                    e["rule"],
                    e["item"],
                    utc(datetime.fromisoformat(e["since"])),
                    e["contact"],
                    e.get("title", ""),
                    e.get("text", ""),
                )
                for e in rec.escalations
            ],
            criteria=[CriterionResult(c["milestone"], c["text"], c["met"], list(c["checks"])) for c in rec.criteria],
            waived=sorted(r.id for r in results if r.waived),
        )
        return Run(
            id=rec.id,
            started_at=rec.started_at,
            finished_at=rec.finished_at,
            manifest_digest=rec.manifest_digest,
            results=results,
            verdict=verdict,
            trigger=rec.trigger,
        )

    def latest_run(self) -> Run | None:
        """The most recently recorded run, or None when there is none."""
        with self.engine.connect() as conn:
            run_id = conn.scalar(sa.select(RunRecord.id).order_by(RunRecord.seq.desc()).limit(1))
        return None if run_id is None else self.get_run(run_id)

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        """Runs, newest (most recently recorded) first, with their pass counts; at most ``limit`` of them."""
        r = ResultRecord
        count = sa.select(sa.func.count(r.id)).where(r.run_id == RunRecord.id)
        # Correlated counts rather than GROUP BY: evaluated only for the runs the limit keeps.
        stmt = (
            sa.select(
                RunRecord.id,
                RunRecord.started_at,
                RunRecord.finished_at,
                RunRecord.verdict,
                RunRecord.reasons,
                RunRecord.trigger,
                RunRecord.manifest_digest,
                count.where(r.status.in_(_OK)).scalar_subquery(),
                count.scalar_subquery(),
            )
            .order_by(RunRecord.seq.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            RunSummary(
                id=row[0],
                started_at=row[1],
                finished_at=row[2],
                verdict=Decision(row[3]),
                reasons=list(row[4]),
                trigger=row[5],
                manifest_digest=row[6],
                passed=int(row[7]),
                total=int(row[8]),
            )
            for row in rows
        ]

    def run_seqs(self, run_ids: Iterable[str]) -> dict[str, int]:
        """Each recorded run's place in recording order (``runs.seq``); ids not recorded are left out."""
        ids = list(run_ids)
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(RunRecord.id, RunRecord.seq).where(RunRecord.id.in_(ids))).all()
        return {row[0]: int(row[1]) for row in rows}

    def status_since(self, check_ids: Iterable[str] | None = None) -> dict[str, tuple[Status, datetime]]:
        """For each check, its latest status and when its current unbroken streak of that status began.

        A check that went pass, fail, fail reports ``(fail, <observed_at of the first fail>)``. Results are
        ordered by ``observed_at``; those without one are ignored, as are unknown checks. ``None`` means
        every check. Cost grows with the number of checks and the length of each streak, not with the
        history: three index lookups per check on ``(check_id, observed_at)``.
        """
        r = ResultRecord
        with self.engine.connect() as conn:
            ids = list(conn.scalars(sa.select(r.check_id).distinct())) if check_ids is None else list(check_ids)
            out: dict[str, tuple[Status, datetime]] = {}
            for cid in ids:
                mine = sa.select(r.observed_at).where(r.check_id == cid, r.observed_at.is_not(None))
                head = conn.execute(
                    mine.add_columns(r.status).order_by(r.observed_at.desc(), r.id.desc()).limit(1)
                ).first()
                if head is None:
                    continue
                # The newest result with another status ends the streak; the streak starts right after it.
                brk = conn.scalar(mine.where(r.status != head.status).order_by(r.observed_at.desc()).limit(1))
                first = mine.with_only_columns(sa.func.min(r.observed_at))
                since = conn.scalar(first if brk is None else first.where(r.observed_at > brk))
                out[cid] = (Status(head.status), since or head.observed_at)
            return out

    # attestations ------------------------------------------------------------------------------------

    def add_attestation(self, attestation: Attestation) -> Attestation:
        """Store an attestation; returns it with its ``id``."""
        a = attestation
        rec = AttestationRecord(item=a.item, status=a.status, by=a.by, at=a.at, note=a.note, effective=a.effective)
        with self._session.begin() as s:
            s.add(rec)
            s.flush()
            return _attestation(rec)

    def attestations(self, item: str | None = None) -> list[Attestation]:
        """Every attestation (of ``item`` when given), oldest first."""
        stmt = sa.select(AttestationRecord).order_by(AttestationRecord.at, AttestationRecord.id)
        if item is not None:
            stmt = stmt.where(AttestationRecord.item == item)
        with self._session() as s:
            return [_attestation(rec) for rec in s.scalars(stmt)]

    def latest_attestations(self, at: datetime | None = None) -> dict[str, Attestation]:
        """The newest attestation per item, recorded at or before ``at`` when given."""
        stmt = sa.select(AttestationRecord).order_by(AttestationRecord.at, AttestationRecord.id)
        if at is not None:
            stmt = stmt.where(AttestationRecord.at <= at)
        with self._session() as s:
            return {rec.item: _attestation(rec) for rec in s.scalars(stmt)}  # later rows overwrite

    # waivers -----------------------------------------------------------------------------------------

    def add_waiver(self, waiver: Waiver) -> Waiver:
        """Store a waiver; returns it with its ``id``."""
        w = waiver
        rec = WaiverRecord(
            check_id=w.check,
            reason=w.reason,
            by=w.by,
            until=w.until,
            created_at=w.created_at,
            revoked_at=None,
            revoked_by=None,
            extra=dict(w.extra),
        )
        with self._session.begin() as s:
            s.add(rec)
            s.flush()
            return _waiver(rec)

    def waivers(self, active_at: datetime | None = None) -> list[Waiver]:
        """Waivers not revoked, oldest first; only those in force at ``active_at`` when given."""
        stmt = sa.select(WaiverRecord).where(WaiverRecord.revoked_at.is_(None))
        if active_at is not None:
            stmt = stmt.where(WaiverRecord.created_at <= active_at, WaiverRecord.until > active_at)
        with self._session() as s:
            return [_waiver(rec) for rec in s.scalars(stmt.order_by(WaiverRecord.created_at, WaiverRecord.id))]

    def revoke_waiver(self, waiver_id: int, by: str, at: datetime) -> None:
        """Revoke a waiver. Raises LookupError when there is no such waiver or it is already revoked."""
        with self._session.begin() as s:
            rec = s.get(WaiverRecord, waiver_id)
            if rec is None:
                raise LookupError(f"no waiver with id {waiver_id}; `readiness waive --list` shows them")
            if rec.revoked_at is not None:
                raise LookupError(f"waiver {waiver_id} was already revoked by {rec.revoked_by}")
            rec.revoked_at, rec.revoked_by = at, by

    # checkpoints -------------------------------------------------------------------------------------

    def record_checkpoint(
        self,
        run_id: str,
        at: datetime,
        title: str,
        waivers: Iterable[Waiver],
        attestations: Iterable[Attestation] | Mapping[str, Attestation],
    ) -> int:
        """Freeze a run's results and the given waivers and attestations; returns the checkpoint id."""
        run = self.get_run(run_id)
        if run is None:
            raise LookupError(f"no run with id {run_id}; `readiness history` lists the recorded runs")
        atts = attestations.values() if isinstance(attestations, Mapping) else attestations
        snapshot = {
            "verdict": run.verdict.decision.value,
            "reasons": list(run.verdict.reasons),
            "results": [r.to_dict() for r in run.results],
            "waivers": [{"id": w.id, **w.to_dict()} for w in waivers],
            "attestations": [{"id": a.id, **a.to_dict()} for a in atts],
        }
        rec = CheckpointRecord(
            at=at,
            run_id=run_id,
            manifest_digest=run.manifest_digest,
            title=title,
            snapshot=snapshot,
        )
        with self._session.begin() as s:
            s.add(rec)
            s.flush()
            return rec.id

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, newest first."""
        stmt = sa.select(CheckpointRecord).order_by(CheckpointRecord.at.desc(), CheckpointRecord.id.desc())
        with self._session() as s:
            return [
                Checkpoint(
                    id=c.id,
                    at=c.at,
                    run_id=c.run_id,
                    manifest_digest=c.manifest_digest,
                    title=c.title,
                    snapshot=c.snapshot,
                    decision=c.decision,
                    decided_by=c.decided_by,
                    decided_at=c.decided_at,
                    rationale=c.rationale,
                )
                for c in s.scalars(stmt)
            ]

    def record_decision(
        self, checkpoint_id: int, decision: Decision | str, by: str, at: datetime, rationale: str
    ) -> None:
        """Record the meeting's decision on a checkpoint (a later call replaces it)."""
        with self._session.begin() as s:
            rec = s.get(CheckpointRecord, checkpoint_id)
            if rec is None:
                raise LookupError(f"no checkpoint with id {checkpoint_id}")
            rec.decision = decision.value if isinstance(decision, Decision) else decision
            rec.decided_by, rec.decided_at, rec.rationale = by, at, rationale


# ---------------------------------------------------------------------------------- engine, migration


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
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
    """Run the history migrations up to ``revision`` (on PostgreSQL under an advisory lock)."""
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


# ------------------------------------------------------------------------------------------ mapping

_OK = tuple(s.value for s in Status if s.ok)


def _result_row(run_id: str, cr: CheckResult) -> dict[str, Any]:
    r = cr.result
    return {
        "run_id": run_id,
        "check_id": cr.id,
        "item": cr.item,
        "area": cr.area,
        "kind": cr.kind,
        "severity": cr.severity.value,
        "status": r.status.value,
        "summary": r.summary,
        "evidence": r.evidence,
        "remediation": r.remediation,
        "duration_ms": float(r.duration_ms),
        "observed_at": r.observed_at,
        "waived": cr.waived,
        "conditions": [c.to_dict() for c in r.conditions],
    }


def _check_result(rec: ResultRecord) -> CheckResult:
    result = Result(
        status=Status(rec.status),
        summary=rec.summary,
        evidence=rec.evidence,
        remediation=rec.remediation,
        conditions=tuple(Condition(c["name"], c["passed"], c.get("detail", "")) for c in rec.conditions),
        duration_ms=rec.duration_ms,
        observed_at=rec.observed_at,
    )
    return CheckResult(rec.check_id, rec.item, rec.area, rec.kind, Severity(rec.severity), result, rec.waived)


def _attestation(rec: AttestationRecord) -> Attestation:
    return Attestation(rec.item, rec.status, rec.by, rec.at, rec.note, rec.effective, rec.id)


def _waiver(rec: WaiverRecord) -> Waiver:
    return Waiver(rec.check_id, rec.reason, rec.by, rec.until, rec.created_at, rec.id, dict(rec.extra))


# ------------------------------------------------------------------------------------------ loaders


class _UTCText(sa.sql.functions.FunctionElement[str]):
    """A UTC timestamp as naive ISO text: pandas parses a column of it far faster than it converts
    per-row datetime objects. SQLite already stores exactly that text."""

    type = sa.String()
    inherit_cache = True


@compiles(_UTCText)
def _utc_text_default(element: _UTCText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_UTCText, "postgresql")
def _utc_text_pg(element: _UTCText, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char(({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def _raw(column: InstrumentedAttribute[Any]) -> sa.ColumnElement[Any]:
    """The driver's value without SQLAlchemy's per-row conversion; pandas converts whole columns."""
    return sa.type_coerce(column, sa.types.NullType())


def _read(conn: sa.Connection, stmt: sa.Select[*tuple[Any, ...]]) -> pd.DataFrame:
    """The rows of ``stmt`` as a frame, converted column by column as ``pd.read_sql`` converts them, but read
    straight from the DBAPI cursor: a SQLAlchemy ``Row`` per result cost more than the whole conversion.
    Values arrive as the driver returns them, so select text, numbers, :class:`_UTCText` or :func:`_raw`."""
    result = conn.execute(stmt)
    try:
        columns = list(result.keys())
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)


def _frame(store: Store, stmt: sa.Select[*tuple[Any, ...]], times: Iterable[str] = ()) -> pd.DataFrame:
    with store.engine.connect() as conn:
        frame = _read(conn, stmt)
    for name in times:
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame


def results_frame(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    checks: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per recorded result, oldest run first.

    Columns: ``run_id``, ``started_at`` (the run's, UTC), ``check_id``, ``item``, ``area``, ``kind``,
    ``severity``, ``status``, ``waived`` (bool), ``duration_ms`` (float). ``since`` (inclusive) and
    ``until`` (exclusive) bound the run's start; ``checks`` keeps only those check ids.
    """
    r, run = ResultRecord, RunRecord
    # The run's start comes from one row per run, mapped onto the results in pandas: joining it in SQL
    # made the database and the driver produce a timestamp string per result.
    runs = sa.select(run.id.label("run_id"), _UTCText(run.started_at).label("started_at"))
    if since is not None:
        runs = runs.where(run.started_at >= since)
    if until is not None:
        runs = runs.where(run.started_at < until)
    stmt = sa.select(
        r.run_id,
        r.check_id,
        r.item,
        r.area,
        r.kind,
        r.severity,
        r.status,
        _raw(r.waived).label("waived"),
        _raw(r.duration_ms).label("duration_ms"),
        r.id.label("result_id"),
    )
    if since is not None or until is not None:
        stmt = stmt.where(r.run_id.in_(runs.with_only_columns(run.id)))
    if checks is not None:
        stmt = stmt.where(r.check_id.in_(list(checks)))
    with store.engine.connect() as conn:
        frame = _read(conn, stmt)
        # Read second: a run is recorded with its results in one transaction, so every run read above is here.
        starts = _read(conn, runs)
    frame.insert(1, "started_at", frame["run_id"].map(pd.Series(starts["started_at"].array, index=starts["run_id"])))
    # The same text as the join gave, parsed the same way (to_datetime's cache parses each distinct start once).
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
    # Sorting here rather than in SQL spares SQLite a temporary B-tree over every result.
    frame = frame.sort_values(["started_at", "result_id"], kind="stable", ignore_index=True)
    frame["waived"] = frame["waived"].astype(bool)
    frame["duration_ms"] = frame["duration_ms"].astype(float)
    return frame.drop(columns="result_id")


def runs_frame(store: Store) -> pd.DataFrame:
    """One row per run, oldest first.

    Columns: ``run_id``, ``started_at``, ``finished_at`` (UTC), ``verdict`` (GO/CONDITIONAL/NO-GO),
    ``passed`` and ``total`` (results met, i.e. ``pass`` or ``warn``, out of all), ``blocking_passed``
    and ``blocking_total`` (the same over blocking checks).
    """
    r, run = ResultRecord, RunRecord
    ok = r.status.in_(_OK)
    blocking = r.severity == Severity.BLOCKING.value
    stmt = (
        sa.select(
            run.id.label("run_id"),
            _UTCText(run.started_at).label("started_at"),
            _UTCText(run.finished_at).label("finished_at"),
            run.verdict,
            _count(ok).label("passed"),
            sa.func.count(r.id).label("total"),
            _count(sa.and_(ok, blocking)).label("blocking_passed"),
            _count(blocking).label("blocking_total"),
        )
        .outerjoin(r, r.run_id == run.id)
        .group_by(run.id)
        .order_by(run.started_at, run.seq)
    )
    frame = _frame(store, stmt, ["started_at", "finished_at"])
    for name in ("passed", "total", "blocking_passed", "blocking_total"):
        frame[name] = frame[name].astype("int64")
    return frame


def area_frame(store: Store) -> pd.DataFrame:
    """One row per run and area, oldest run first.

    Columns: ``run_id``, ``started_at`` (UTC), ``area``, ``passed`` (met: ``pass`` or ``warn``),
    ``total``, ``share`` (passed / total, a float in [0, 1]).
    """
    r, run = ResultRecord, RunRecord
    stmt = (
        sa.select(
            run.id.label("run_id"),
            _UTCText(run.started_at).label("started_at"),
            r.area,
            _count(r.status.in_(_OK)).label("passed"),
            sa.func.count(r.id).label("total"),
        )
        .join(r, r.run_id == run.id)
        .group_by(run.id, r.area)
        .order_by(run.started_at, run.seq, r.area)
    )
    frame = _frame(store, stmt, ["started_at"])
    frame["passed"] = frame["passed"].astype("int64")
    frame["total"] = frame["total"].astype("int64")
    frame["share"] = (frame["passed"] / frame["total"]).astype(float)
    return frame


def check_frame(store: Store, check_id: str) -> pd.DataFrame:
    """The history of one check, oldest first.

    Columns: ``run_id``, ``started_at``, ``observed_at`` (UTC; NaT when the runner set none),
    ``status``, ``severity``, ``waived`` (bool), ``summary``, ``remediation``, ``duration_ms``.
    """
    r, run = ResultRecord, RunRecord
    stmt = (
        sa.select(
            r.run_id,
            _UTCText(run.started_at).label("started_at"),
            _UTCText(r.observed_at).label("observed_at"),
            r.status,
            r.severity,
            r.waived,
            r.summary,
            r.remediation,
            r.duration_ms,
        )
        .join(run, run.id == r.run_id)
        .where(r.check_id == check_id)
        .order_by(run.started_at, r.id)
    )
    frame = _frame(store, stmt, ["started_at", "observed_at"])
    frame["waived"] = frame["waived"].astype(bool)
    frame["duration_ms"] = frame["duration_ms"].astype(float)
    return frame


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
