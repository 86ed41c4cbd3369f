"""The watcher's memory of what it told people: the alerts open (``watch_alerts``) and every notification
(``notifications``), on SQLite or PostgreSQL. Bodies arrive here already scrubbed (the shell passes them through
:class:`checks.core.redact.Scrubber` before anything else sees them).

``notifications`` is also the outbox. :meth:`WatchBook.enqueue` stores a sweep's messages as ``pending`` *and*
settles the alerts they announce in one transaction; the sender then marks each ``sending``, sends it, and
marks it ``sent`` or ``failed``. A leader killed at any point loses nothing: the next leader sends what is still
``pending`` or ``sending`` (:meth:`WatchBook.undelivered`). A message can be sent twice only when the leader
dies during that message's own delivery (``sending``), never because it died between sending and recording."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from checks.core.alerts import Alert
from checks.core.clock import utc
from checks.storage.schema import NotificationRecord, WatchAlertRecord

__all__ = ["Notification", "WatchBook"]

A = cast(sa.Table, WatchAlertRecord.__table__)
N = cast(sa.Table, NotificationRecord.__table__)


@dataclass(frozen=True)
class Notification:
    """One message to one channel; ``status``: sent, failed, suppressed (rate limit) or unrouted."""

    at: datetime
    event: str
    key: str
    transition: str
    channel: str | None
    title: str
    body: str
    status: str
    area: str | None = None
    contact: str | None = None
    error: str | None = None
    run_id: str | None = None
    holder: str | None = None
    id: int | None = None


class WatchBook:
    """Reads and writes the alerts open and the notifications log."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def open_alerts(self) -> dict[str, Alert]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(A)).all()
        return {
            r.key: Alert(r.key, r.event, r.fingerprint, r.title, tuple(r.detail or ()), r.area, r.contact) for r in rows
        }

    def settle(self, announced: list[Alert], resolved: list[str], now: datetime) -> None:
        """Remember ``announced`` as open (insert or update) and forget ``resolved``, in one transaction."""
        with self.engine.begin() as conn:
            self._settle(conn, announced, resolved, now)

    @staticmethod
    def _settle(conn: sa.Connection, announced: list[Alert], resolved: list[str], now: datetime) -> None:
        if resolved:
            conn.execute(sa.delete(A).where(A.c.key.in_(resolved)))
        for a in announced:
            values = {
                "event": a.event,
                "fingerprint": a.fingerprint,
                "title": a.title,
                "detail": list(a.detail),
                "area": a.area,
                "contact": a.contact,
                "updated_at": now,
            }
            if not conn.execute(sa.update(A).where(A.c.key == a.key).values(**values)).rowcount:
                conn.execute(sa.insert(A).values(key=a.key, opened_at=now, **values))

    def enqueue(
        self, notes: list[Notification], announced: list[Alert], resolved: list[str], now: datetime
    ) -> list[int]:
        """Store ``notes`` (``pending``, or already final: ``unrouted``, ``suppressed``) and settle the alerts, in
        one transaction; the new rows' ids in order."""
        ids: list[int] = []
        with self.engine.begin() as conn:
            for n in notes:
                row = {k: v for k, v in n.__dict__.items() if k != "id"}
                ids.append(int(conn.execute(sa.insert(N).values(**row).returning(N.c.id)).scalar_one()))
            self._settle(conn, announced, resolved, now)
        return ids

    def mark(self, note_id: int, status: str, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(N).where(N.c.id == note_id).values(status=status, error=error))

    def undelivered(self) -> list[Notification]:
        """Messages not yet sent (``pending``) or whose sender died while sending (``sending``), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(N).where(N.c.status.in_(("pending", "sending"))).order_by(N.c.id)).all()
        return [_note(r) for r in rows]

    def attempted_since(self, channel: str, since: datetime) -> int:
        """Messages to ``channel`` since ``since`` that were (or are to be) sent: what the rate limit counts."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(N)
                    .where(
                        N.c.channel == channel,
                        N.c.at >= since,
                        N.c.status.in_(("sent", "failed", "pending", "sending")),
                    )
                ).scalar_one()
            )

    def notifications(self, limit: int = 100, ids: list[int] | None = None) -> list[Notification]:
        """The latest notifications, newest first (or those of ``ids``, in id order)."""
        query = sa.select(N)
        query = query.where(N.c.id.in_(ids)).order_by(N.c.id) if ids is not None else query.order_by(N.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit if ids is None else None)).all()
        return [_note(r) for r in rows]


def _note(r: sa.Row[Any]) -> Notification:
    return Notification(
        at=utc(r.at),
        event=r.event,
        key=r.key,
        transition=r.transition,
        channel=r.channel,
        title=r.title,
        body=r.body,
        status=r.status,
        area=r.area,
        contact=r.contact,
        error=r.error,
        run_id=r.run_id,
        holder=r.holder,
        id=r.id,
    )
