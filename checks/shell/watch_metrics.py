"""``/metrics`` of ``readiness watch``: the verdict, each check's status, sweeps, refreshes and notifications,
in a registry of their own (prometheus_client), so two watchers in one test process do not collide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from checks.core.run import Run

__all__ = ["WatchMetrics"]

DECISIONS = ("GO", "CONDITIONAL", "NO-GO")
STATUSES = ("error", "fail", "pending", "warn", "skipped", "pass")


class WatchMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.verdict = Gauge("readiness_verdict", "1 for the verdict of the latest sweep", ["decision"], registry=r)
        self.check = Gauge(
            "readiness_check_status",
            "1 for each check's status in the latest sweep",
            ["check", "area", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "readiness_sweep_duration_seconds",
            "Wall time of a sweep",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
        )
        self.sweeps = Counter("readiness_sweeps", "Sweeps run by this process", ["outcome"], registry=r)
        self.last_sweep = Gauge("readiness_last_sweep_timestamp_seconds", "When this process last swept", registry=r)
        self.refreshes = Counter("readiness_refreshes", "Vault refresher outcomes", ["result"], registry=r)
        self.notifications = Counter(
            "readiness_notifications", "Notifications by event and status", ["event", "status"], registry=r
        )
        self.leader = Gauge("readiness_watch_leader", "1 while this process leads", registry=r)

    def observe_run(self, manifest_area_of: dict[str, str], run: Run) -> None:
        for decision in DECISIONS:
            self.verdict.labels(decision).set(1 if run.verdict.decision.value == decision else 0)
        self.check.clear()
        for result in run.results:
            area = manifest_area_of.get(result.id, "")
            for status in STATUSES:
                self.check.labels(result.id, area, status).set(1 if result.status.value == status else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
