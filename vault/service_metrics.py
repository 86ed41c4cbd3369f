"""The vault service's ``/metrics``: a few counters in Prometheus' text format, kept by hand (the service
needs no registry, and importing one costs more than its counters)."""

from __future__ import annotations

import threading
import time
from collections import Counter

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    """Requests by route and status, authentication failures by code, rate-limit refusals, on-demand refreshes."""

    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.auth_failures: Counter[str] = Counter()
        self.rate_limited = 0

    def request(self, route: str, status: int) -> None:
        with self._lock:
            self.requests[(route, status)] += 1

    def auth_failure(self, code: str) -> None:
        with self._lock:
            self.auth_failures[code] += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def render(self, refreshes: int, groups: tuple[int, int] | None = None) -> bytes:
        """The text format; ``groups`` is (commits, requests in them) of the group commit."""
        with self._lock:
            requests, failures, limited = dict(self.requests), dict(self.auth_failures), self.rate_limited
        lines = [
            "# HELP vault_service_requests_total Requests answered, by route and status.",
            "# TYPE vault_service_requests_total counter",
            *(
                f'vault_service_requests_total{{route="{r}",status="{s}"}} {n}'
                for (r, s), n in sorted(requests.items())
            ),
            "# HELP vault_service_auth_failures_total Requests refused before identification, by code.",
            "# TYPE vault_service_auth_failures_total counter",
            *(f'vault_service_auth_failures_total{{code="{c}"}} {n}' for c, n in sorted(failures.items())),
            "# HELP vault_service_rate_limited_total Requests refused by a rate limit.",
            "# TYPE vault_service_rate_limited_total counter",
            f"vault_service_rate_limited_total {limited}",
            "# HELP vault_service_refreshes_total Access tokens this server refreshed on demand.",
            "# TYPE vault_service_refreshes_total counter",
            f"vault_service_refreshes_total {refreshes}",
            "# HELP vault_service_start_time_seconds When this server started (Unix time).",
            "# TYPE vault_service_start_time_seconds gauge",
            f"vault_service_start_time_seconds {self.started:.3f}",
        ]
        if groups is not None:
            lines += [
                "# HELP vault_service_group_commits_total Transactions committed for grouped requests.",
                "# TYPE vault_service_group_commits_total counter",
                f"vault_service_group_commits_total {groups[0]}",
                "# HELP vault_service_grouped_requests_total Requests whose audited work went through a group "
                "commit (divide by the commits: requests per fsync).",
                "# TYPE vault_service_grouped_requests_total counter",
                f"vault_service_grouped_requests_total {groups[1]}",
            ]
        return ("\n".join(lines) + "\n").encode()
