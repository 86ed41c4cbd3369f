"""The checks page's data: the checks table and its filters, one check's last change, sparkline and
evidence (scrubbed again), its item's results, and the statuses worth attesting for an item."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from checks.core.manifest import Manifest
from checks.core.redact import Scrubber
from checks.core.result import CheckResult
from checks.core.run import Run
from checks.core.status import Status
from checks.presentation.views.oauth import OAUTH_LIFECYCLE

if TYPE_CHECKING:
    pass

STATUS_LEVEL: Mapping[str, int] = {s.value: s.rank for s in Status}
"""Status as a height for sparklines: ``pass`` 5 ... ``error`` 0."""


def check_title(manifest: Manifest, check_id: str) -> str:
    """The check's title in the manifest, else its id."""
    spec = manifest.checks_by_id.get(check_id)
    return spec.title if spec is not None and spec.title else check_id


CHECK_COLUMNS = [
    "id",
    "title",
    "item",
    "area",
    "kind",
    "severity",
    "status",
    "waived",
    "summary",
    "observed_at",
    "last_changed",
]


def check_table(manifest: Manifest, run: Run | None, changed: Mapping[str, datetime] | None = None) -> pd.DataFrame:
    """One row per result of ``run``, worst status first, then in manifest order; ``last_changed`` from
    ``changed`` (check -> since)."""
    changed = changed or {}
    rows = []
    if run is not None:
        order = {c.id: n for n, c in enumerate(manifest.all_checks)}
        for r in sorted(run.results, key=lambda r: (r.status.rank, order.get(r.id, len(order)))):
            rows.append(
                {
                    "id": r.id,
                    "title": check_title(manifest, r.id),
                    "item": r.item,
                    "area": r.area,
                    "kind": r.kind,
                    "severity": r.severity.value,
                    "status": r.status.value,
                    "waived": r.waived,
                    "summary": r.result.summary,
                    "observed_at": r.result.observed_at,
                    "last_changed": changed.get(r.id),
                }
            )
    frame = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    for name in ("observed_at", "last_changed"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def filter_checks(
    frame: pd.DataFrame,
    areas: Iterable[str] = (),
    statuses: Iterable[str] = (),
    severities: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows whose area, status and severity are among those given (an empty selection keeps all)."""
    keep = pd.Series(True, index=frame.index)
    for column, wanted in (("area", areas), ("status", statuses), ("severity", severities)):
        values = list(wanted)
        if values:
            keep &= frame[column].isin(values)
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True)
class LastChange:
    status: str
    since: datetime
    """Start of the current unbroken streak of ``status`` (the run's start)."""
    previous: str | None
    """The status before the streak, None when the check never had another."""
    runs: int
    """Runs in the streak."""


def last_change(history: pd.DataFrame) -> LastChange | None:
    """When a check last changed status, from its :func:`~checks.storage.frames.check_frame` (oldest first)."""
    if history.empty:
        return None
    statuses = history["status"].tolist()
    times = history["started_at"].tolist()
    current = statuses[-1]
    n = len(statuses) - 1
    while n > 0 and statuses[n - 1] == current:
        n -= 1
    previous = statuses[n - 1] if n > 0 else None
    return LastChange(str(current), pd.Timestamp(times[n]).to_pydatetime(), previous, len(statuses) - n)


def sparkline_points(history: pd.DataFrame, limit: int = 60) -> pd.DataFrame:
    """The last ``limit`` results of one check: ``started_at``, ``status``, ``level`` (pass 5 ... error 0)."""
    tail = history.tail(limit)
    return pd.DataFrame(
        {
            "started_at": tail["started_at"].to_numpy(),
            "status": tail["status"].astype(str).to_numpy(),
            "level": tail["status"].map(STATUS_LEVEL).fillna(0).astype(int).to_numpy(),
        }
    )


def scrub_json(value: Any, scrubber: Scrubber) -> Any:
    """``value`` (evidence) with every string passed through ``scrubber``: a second guard before a page."""
    if isinstance(value, str):
        return scrubber(value)
    if isinstance(value, Mapping):
        return {str(k): scrub_json(v, scrubber) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v, scrubber) for v in value]
    return value


def item_results(manifest: Manifest, item: str, run: Run | None) -> list[CheckResult]:
    """The run's results for the checks of ``item``, in manifest order."""
    if run is None:
        return []
    ids = {c.id for c in manifest.checks_for_items([item])}
    return [r for r in run.results if r.id in ids]


def attestable_statuses(manifest: Manifest, item: str) -> list[str]:
    """Statuses worth attesting for ``item``: its OAuth lifecycle, what its manual checks and escalation
    rules react to, in that order, without repeats."""
    out: list[str] = []
    if any(app.item == item for app in manifest.oauth_apps.values()):
        out += [*OAUTH_LIFECYCLE, "rejected"]
    for check in manifest.all_checks:
        if check.kind != "manual" or (check.params.get("attest") or check.item) != item:
            continue
        for key in ("pending_on", "warn_on", "pass_on"):
            out += [str(s) for s in check.params.get(key, [])]
    for rule in manifest.escalations:
        if item in rule.items:
            out += rule.when.attested
    return list(dict.fromkeys(out))
