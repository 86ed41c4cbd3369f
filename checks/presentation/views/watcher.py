"""The watcher as the dashboard shows it: who leads, how old the last scheduled sweep is, and a warning when
the watcher has gone silent (no leader, or no sweep for three intervals)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from checks.storage.lease import LeaseState

__all__ = ["SILENT_AFTER_INTERVALS", "WatcherStatus", "watcher_status"]

SILENT_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class WatcherStatus:
    kind: str
    """``none`` (no watcher ever ran here), ``ok``, ``silent`` (warn the release manager)."""
    text: str
    leader: str | None = None
    last_sweep_age_s: float | None = None

    @property
    def can_request(self) -> bool:
        """A leader is there to take a "sweep now" request."""
        return self.leader is not None


def watcher_status(state: LeaseState | None, now: datetime, default_interval_s: float) -> WatcherStatus:
    if state is None or (state.holder is None and state.last_sweep_at is None):
        return WatcherStatus(
            "none",
            "No watcher (`readiness watch`) runs against this database: runs are recorded "
            "only when someone runs the checks.",
        )
    interval = state.interval_s or default_interval_s
    age = (now - state.last_sweep_at).total_seconds() if state.last_sweep_at else None
    leader = state.holder if state.held(now) else None
    since = f"last scheduled sweep {_ago(age)} ago" if age is not None else "no scheduled sweep yet"
    pending = " · a sweep was requested" if state.requested_at else ""
    if leader is None:
        return WatcherStatus(
            "silent",
            f"The watcher is silent: no watcher leads ({since}, expected every "
            f"{_ago(interval)}). Check the `readiness watch` service.",
            None,
            age,
        )
    if age is not None and age > SILENT_AFTER_INTERVALS * interval:
        return WatcherStatus(
            "silent",
            f"The watcher is silent: {since}, expected every {_ago(interval)} "
            f"(leader {leader}). Check its /healthz and logs.",
            leader,
            age,
        )
    return WatcherStatus("ok", f"Watcher: leader {leader}, {since}, every {_ago(interval)}{pending}.", leader, age)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
