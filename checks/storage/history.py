"""The history store: runs, results, attestations, waivers and checkpoints, on SQLite or PostgreSQL.

:meth:`Store.open` connects and migrates (:mod:`checks.storage.schema`: the tables and the Alembic
migrations). Every timestamp comes back timezone-aware UTC. The store's rows map to and from the engine's
values (:class:`~checks.core.result.CheckResult`, :class:`~checks.core.facts.Waiver`, ...) here; the pandas
loaders for pages and notebooks are in :mod:`checks.storage.frames`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from checks.core.clock import utc
from checks.core.facts import Attestation, Waiver
from checks.core.result import CheckResult, Condition, Result
from checks.core.run import AreaSummary, CriterionResult, Decision, EscalationHit, Run, Verdict
from checks.core.status import Severity, Status
from checks.storage import rollups
from checks.storage.schema import (
    DEFAULT_DB_URL,
    AttestationRecord,
    CheckpointRecord,
    ResultRecord,
    RunRecord,
    WaiverRecord,
    make_engine,
    upgrade,
)

OK_STATUSES = tuple(s.value for s in Status if s.ok)
"""The status values that count as met (``pass``, ``warn``)."""


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
        engine = make_engine(url or os.environ.get("READINESS_DB_URL") or DEFAULT_DB_URL)
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
        """Store a run, all its results and its rollups (:mod:`checks.storage.rollups`) in one transaction."""
        v = run.verdict
        tally = rollups.counts(run.results)
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
                    **tally.as_row(),
                },
            )
            if run.results:
                conn.execute(sa.insert(ResultRecord), [_result_row(run.id, r) for r in run.results])
            rollups.record(conn, run.id, utc(run.started_at), v.decision.value, run.results)

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
        stmt = (
            sa.select(
                RunRecord.id,
                RunRecord.started_at,
                RunRecord.finished_at,
                RunRecord.verdict,
                RunRecord.reasons,
                RunRecord.trigger,
                RunRecord.manifest_digest,
                RunRecord.passed,
                RunRecord.total,
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
        every check. Read from ``check_streaks`` (kept by :meth:`record_run`): one indexed row per check, whatever
        the length of the history.
        """
        with self.engine.connect() as conn:
            return rollups.read_streaks(conn, check_ids)

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


# ------------------------------------------------------------------------------------------ mapping


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
