"""The audit log as a :class:`~vault.store.Vault` shows it: ``verify_audit`` (the chain, every row's MAC, the
external anchor; the check itself audited) and ``audit_events`` (the latest entries). The chain itself is
:mod:`vault.audit`."""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

import sqlalchemy as sa

import vault.integrity as integrity
from vault.audit import AuditEvent, AuditReport, event_from_row
from vault.keys import KeyRing
from vault.models import AuditEventRecord
from vault.rbac import Actor, Op
from vault.store_meta import meta_get
from vault.store_ops import AuditedOps

__all__ = ["AuditOps"]


class AuditOps(AuditedOps):
    """Verify and read the audit log: the audit methods of a :class:`~vault.store.Vault`."""

    def verify_audit(self, actor: Actor) -> AuditReport:
        """Walk the audit chain; the report names the first broken entry and why (the check is itself audited)."""
        self.authorize(actor, Op.AUDIT_VERIFY)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[AuditReport, str | None, dict[str, Any]]:
            report = self._verify(conn, ring)
            return (
                report,
                None,
                {
                    "intact": report.ok,
                    "checked": report.checked,
                    "first_bad_seq": report.first_bad_seq,
                    "reason": report.reason,
                    "external": report.external,
                },
            )

        return self._run(actor, Op.AUDIT_VERIFY, None, None, body)

    def _verify(self, conn: sa.Connection, ring: KeyRing) -> AuditReport:
        """The chain, then every row's MAC and ``audit_seq`` against its length, then the external anchor."""
        chain, _, rows = self._audit_keys(conn, ring)
        anchored = self._anchor.latest(chain) if self._anchor is not None else None  # before the walk: see below
        report = chain.verify(conn)
        if not report.ok:
            return report
        meta = meta_get(conn, "audit_key") or {}
        broken = integrity.check_store(conn, rows, int(meta.get("seq") or 0), report.head_seq)
        if broken is not None:
            return dataclasses.replace(report, ok=False, first_bad_seq=broken[0], reason=broken[1])
        if self._anchor is None:
            return report
        # The anchor file was read first: every line in it was written after its transaction committed, so the
        # chain walked after it includes that entry unless the database lost it.
        external = self._anchor.check(conn, chain, anchored, report.head_seq)
        if isinstance(external, tuple):
            return dataclasses.replace(report, ok=False, first_bad_seq=external[0], reason=external[1])
        return dataclasses.replace(report, external=external)

    def audit_events(
        self, actor: Actor, limit: int = 100, *, tenant: str | None = None, before_seq: int | None = None
    ) -> builtins.list[AuditEvent]:
        """The latest audit entries, newest first (optionally one tenant's, or those before ``before_seq``)."""
        self.authorize(actor, Op.AUDIT_READ)

        def body(conn: sa.Connection, ring: KeyRing) -> tuple[builtins.list[AuditEvent], str | None, dict[str, Any]]:
            query = sa.select(AuditEventRecord).order_by(AuditEventRecord.seq.desc()).limit(limit)
            if tenant is not None:
                query = query.where(AuditEventRecord.tenant == tenant)
            if before_seq is not None:
                query = query.where(AuditEventRecord.seq < before_seq)
            events = [event_from_row(row) for row in conn.execute(query)]
            return events, None, {"count": len(events), "tenant": tenant}

        return self._run(actor, Op.AUDIT_READ, None, None, body)
