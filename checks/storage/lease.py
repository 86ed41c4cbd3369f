"""The watchers' lease: which ``readiness watch`` process leads, and the sweep schedule they share.

One row of ``watch_lease`` per watched release. Every statement is a single guarded ``UPDATE`` (or the
``INSERT`` of the first row), so on PostgreSQL concurrent watchers serialise on the row and exactly one
wins; nothing is coordinated through local files::

    acquire   holder := me, expires_at := now + ttl   WHERE holder IS NULL OR holder = me OR expires_at <= now
    claim     next_sweep_at := now + interval, requested_at := NULL
              WHERE holder = me AND expires_at > now AND (next_sweep_at <= now OR requested_at IS NOT NULL)
    release   holder := NULL, expires_at := NULL      WHERE holder = me

The schedule (``next_sweep_at``) lives in the row, not in a process: a watcher that takes over sweeps when the
dead leader's next sweep was due, neither at once nor an interval late, so no interval is swept twice.
``requested_at`` is the dashboard's "sweep now" (:func:`request_sweep`). Times come from the injected clock;
replicas on several hosts need synchronised clocks (NTP), as any lease does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa

from checks.core.clock import Clock, utc
from checks.storage.schema import WatchLeaseRecord

__all__ = ["Lease", "LeaseState", "lease_name", "read_lease", "request_sweep"]

T = cast(sa.Table, WatchLeaseRecord.__table__)


def lease_name(story: str) -> str:
    """The lease row of the watchers of one release (``release.story``)."""
    return f"watch:{story}"


@dataclass(frozen=True)
class LeaseState:
    """The row as last read (for ``/healthz`` and the dashboard)."""

    name: str
    holder: str | None
    expires_at: datetime | None
    next_sweep_at: datetime | None
    last_sweep_at: datetime | None
    last_run_id: str | None
    requested_at: datetime | None
    interval_s: float | None = None

    def held(self, now: datetime) -> bool:
        return self.holder is not None and self.expires_at is not None and utc(self.expires_at) > now


class Lease:
    """``holder``'s handle on the lease ``name`` (``ttl``: how long a silent leader keeps it)."""

    def __init__(
        self,
        engine: sa.Engine,
        name: str,
        holder: str,
        *,
        ttl: timedelta,
        clock: Clock,
        interval_s: float | None = None,
    ) -> None:
        self.engine, self.name, self.holder, self.ttl, self.clock = engine, name, holder, ttl, clock
        self.interval_s = interval_s

    def __repr__(self) -> str:
        return f"Lease({self.name!r}, holder={self.holder!r}, ttl={self.ttl.total_seconds():g}s)"

    def acquire(self) -> bool:
        """Take the lease if free or expired, or renew it if ours; True when we hold it afterwards."""
        now = self.clock.now()
        free = sa.or_(T.c.holder.is_(None), T.c.holder == self.holder, T.c.expires_at <= now)
        values: dict[str, object] = {"holder": self.holder, "expires_at": now + self.ttl, "interval_s": self.interval_s}
        with self.engine.begin() as conn:
            taking = conn.execute(
                sa.update(T)
                .where(T.c.name == self.name, free, sa.or_(T.c.holder.is_(None), T.c.holder != self.holder))
                .values(**values, acquired_at=now)
            ).rowcount
            if taking:
                return True
            if conn.execute(
                sa.update(T).where(T.c.name == self.name, T.c.holder == self.holder).values(**values)
            ).rowcount:
                return True
            if conn.execute(sa.select(T.c.name).where(T.c.name == self.name)).first() is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(T).values(name=self.name, acquired_at=now, next_sweep_at=now, **values))
        except sa.exc.IntegrityError:
            return False  # another watcher inserted the row first: it leads
        return True

    def claim_sweep(self, interval: timedelta) -> str | None:
        """If we lead and a sweep is due (scheduled, or requested), book it: ``"schedule"`` or ``"request"``;
        else None. The next sweep is booked ``interval`` after this one starts."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(T.c.requested_at, T.c.next_sweep_at).where(
                    T.c.name == self.name, T.c.holder == self.holder, T.c.expires_at > now
                )
            ).first()
            if row is None:
                return None
            requested = row.requested_at is not None
            if not requested and row.next_sweep_at is not None and utc(row.next_sweep_at) > now:
                return None
            booked = conn.execute(
                sa.update(T)
                .where(T.c.name == self.name, T.c.holder == self.holder, T.c.expires_at > now)
                .values(next_sweep_at=now + interval, requested_at=None, last_sweep_at=now)
            ).rowcount
        if not booked:
            return None
        return "request" if requested else "schedule"

    def sweep_done(self, run_id: str | None) -> bool:
        """Record the run the sweep produced; False when the lease was lost meanwhile (do not notify)."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    sa.update(T)
                    .where(T.c.name == self.name, T.c.holder == self.holder, T.c.expires_at > now)
                    .values(last_run_id=run_id)
                ).rowcount
            )

    def release(self) -> None:
        """Give the lease up (a clean stop): a standby takes it at its next tick, not after ``ttl``."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(T)
                .where(T.c.name == self.name, T.c.holder == self.holder)
                .values(holder=None, expires_at=None)
            )


def read_lease(engine: sa.Engine, name: str) -> LeaseState | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(T).where(T.c.name == name)).first()
    if row is None:
        return None
    return LeaseState(
        name=row.name,
        holder=row.holder,
        expires_at=utc(row.expires_at) if row.expires_at else None,
        next_sweep_at=utc(row.next_sweep_at) if row.next_sweep_at else None,
        last_sweep_at=utc(row.last_sweep_at) if row.last_sweep_at else None,
        last_run_id=row.last_run_id,
        requested_at=utc(row.requested_at) if row.requested_at else None,
        interval_s=row.interval_s,
    )


def request_sweep(engine: sa.Engine, name: str, at: datetime) -> None:
    """Ask the leading watcher for a sweep now (the dashboard's button); it runs at the leader's next tick."""
    with engine.begin() as conn:
        if conn.execute(sa.update(T).where(T.c.name == name).values(requested_at=at)).rowcount:
            return
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(T).values(name=name, requested_at=at, next_sweep_at=at))
    except sa.exc.IntegrityError:  # a watcher inserted the row meanwhile: flag it there
        with engine.begin() as conn:
            conn.execute(sa.update(T).where(T.c.name == name).values(requested_at=at))
