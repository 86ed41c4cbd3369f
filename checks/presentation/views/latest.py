"""The "current" run: the latest complete sweep with the newer partial runs (``--only``, "re-run this
check") laid over it and decided again, so one re-run check never reads as a verdict on its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from checks.core.facts import Attestation, Waiver
from checks.core.manifest import Manifest
from checks.core.run import Run
from checks.core.status import Status
from checks.core.verdict import decide

if TYPE_CHECKING:
    from checks.storage.history import RunSummary


def pick_base_run(summaries: Sequence[RunSummary], n_checks: int) -> tuple[str | None, list[str]]:
    """From runs newest first: the newest complete sweep (at least ``n_checks`` results) and the ids of
    the partial runs (``--only``, "re-run this check") recorded after it, oldest first.

    With no complete sweep, the newest run is the base.
    """
    if not summaries:
        return None, []
    newer: list[str] = []
    for s in summaries:
        if s.total >= n_checks:
            return s.id, list(reversed(newer))
        newer.append(s.id)
    return summaries[0].id, []


def current_run(
    manifest: Manifest,
    base: Run,
    rechecks: Sequence[Run],
    *,
    now: datetime,
    waivers: Iterable[Waiver] = (),
    attestations: Mapping[str, Attestation] | None = None,
    status_since: Mapping[str, tuple[Status, datetime]] | None = None,
) -> Run:
    """``base`` with the results of newer partial runs laid over it (newest wins), decided again.

    A single re-run check is recorded as a run of one; shown alone it would read as a verdict on one check.
    Without rechecks, ``base`` is returned as is.
    """
    if not rechecks:
        return base
    merged = {r.id: r for r in base.results}
    for run in rechecks:
        for r in run.results:
            merged[r.id] = r
    order = {c.id: n for n, c in enumerate(manifest.all_checks)}
    results = sorted(merged.values(), key=lambda r: order.get(r.id, len(order)))
    verdict, results = decide(
        manifest, results, now=now, waivers=waivers, attestations=attestations, status_since=status_since
    )
    last = rechecks[-1]
    return replace(
        base,
        results=results,
        verdict=verdict,
        finished_at=max(base.finished_at, last.finished_at),
        trigger=f"{base.trigger} + {len(rechecks)} re-run(s)",
    )
