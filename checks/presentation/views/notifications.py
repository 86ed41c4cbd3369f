"""The watcher's notifications as the dashboard lists them: what was sent to whom, what failed and why, what the
rate limit held back, and the alerts still open.

Bodies and errors were scrubbed before they were stored; the page passes them through its scrubber again
(``clean``), so a value that became secret after the message was written is masked as well."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from checks.storage.notifications import Notification

if TYPE_CHECKING:
    import pandas as pd

    from checks.core.alerts import Alert

__all__ = ["STATUSES", "NotificationSummary", "daily_counts", "notification_table", "open_alert_rows", "summary"]

STATUSES = ("sent", "failed", "suppressed", "unrouted", "pending", "sending")
"""Every status a stored notification can have, in the order the page shows them."""


@dataclass(frozen=True)
class NotificationSummary:
    days: int
    counts: dict[str, int]

    @property
    def text(self) -> str:
        total = sum(self.counts.values())
        if not total:
            return f"No notification in the last {self.days} days."
        parts = ", ".join(f"{n} {s}" for s in STATUSES if (n := self.counts.get(s, 0)))
        return f"{total} notification{'s' if total != 1 else ''} in the last {self.days} days: {parts}."

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)


def summary(notes: Iterable[Notification], now: datetime, days: int = 7) -> NotificationSummary:
    """Counts by status of the notifications of the last ``days`` days (``now`` excluded from nothing)."""
    since = now - timedelta(days=days)
    counts: dict[str, int] = {}
    for n in notes:
        if since <= n.at <= now:
            counts[n.status] = counts.get(n.status, 0) + 1
    return NotificationSummary(days, counts)


def notification_table(
    notes: Sequence[Notification],
    clean: Callable[[str], str],
    statuses: Sequence[str] = (),
    events: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per notification, newest first, optionally only some statuses and events; text scrubbed."""
    import pandas as pd

    rows = [
        {
            "at": n.at,
            "event": n.event,
            "change": n.transition,
            "channel": clean(n.channel) if n.channel else "",
            "status": n.status,
            "title": clean(n.title),
            "contact": clean(n.contact) if n.contact else "",
            "area": n.area or "",
            "error": clean(n.error) if n.error else "",
            "run": (n.run_id or "")[:12],
        }
        for n in sorted(notes, key=lambda n: (n.at, n.id or 0), reverse=True)
        if (not statuses or n.status in statuses) and (not events or n.event in events)
    ]
    columns = ["at", "status", "event", "title", "contact", "error", "change", "channel", "area", "run"]
    return pd.DataFrame(rows, columns=columns)


def daily_counts(notes: Iterable[Notification], now: datetime, days: int = 30) -> pd.DataFrame:
    """Notifications per UTC day and status over the last ``days`` days (every day present, zeros included)."""
    import pandas as pd

    end = now.date()
    start = end - timedelta(days=days - 1)
    counts: dict[tuple[object, str], int] = {}
    for n in notes:
        day = n.at.date()
        if start <= day <= end:
            counts[(day, n.status)] = counts.get((day, n.status), 0) + 1
    seen = [s for s in STATUSES if any(k[1] == s for k in counts)]
    rows = [
        {"day": start + timedelta(days=i), "status": s, "count": counts.get((start + timedelta(days=i), s), 0)}
        for i in range(days)
        for s in seen
    ]
    return pd.DataFrame(rows, columns=["day", "status", "count"])


def open_alert_rows(alerts: dict[str, Alert], clean: Callable[[str], str]) -> list[dict[str, str]]:
    """The alerts announced and not yet resolved, by event then title."""
    return [
        {
            "event": a.event,
            "title": clean(a.title),
            "area": a.area or "",
            "contact": clean(a.contact) if a.contact else "",
        }
        for a in sorted(alerts.values(), key=lambda a: (a.event, a.title))
    ]
