"""The watcher's memory of what it told people: the alerts open (``watch_alerts``) and every notification
(``notifications``), on SQLite or PostgreSQL. Bodies arrive here already scrubbed (the shell passes them through
:class:`checks.core.redact.Scrubber` before anything else sees them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

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

    def record(self, notes: list[Notification]) -> None:
        if not notes:
            return
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(N),
                [{k: v for k, v in n.__dict__.items() if k != "id"} for n in notes],
            )

    def sent_since(self, channel: str, since: datetime) -> int:
        """Messages sent (or attempted) to ``channel`` since ``since``: what the rate limit counts."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(N)
                    .where(N.c.channel == channel, N.c.at >= since, N.c.status.in_(("sent", "failed")))
                ).scalar_one()
            )

    def notifications(self, limit: int = 100) -> list[Notification]:
        """The latest notifications, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(N).order_by(N.c.id.desc()).limit(limit)).all()
        return [
            Notification(
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
            for r in rows
        ]
