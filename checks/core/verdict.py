"""The verdict: GO / CONDITIONAL / NO-GO from the blocking checks, with reasons in words.

* ``GO``: every blocking check passes (``warn`` counts as passing: met, with a note; ``skipped`` and
  ``error`` never do: a check that could not look has not shown anything is met);
* ``CONDITIONAL``: every blocking gap is covered by a waiver in force (expired waivers do not count);
* ``NO-GO``: otherwise.

Escalations are evaluated against the injected clock; success criteria are ticked from the results.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from checks.core.facts import Attestation, Waiver
from checks.core.manifest import Manifest
from checks.core.result import CheckResult
from checks.core.run import AreaSummary, CriterionResult, Decision, EscalationHit, Verdict
from checks.core.status import Severity, Status, worst
from checks.core.tally import Tally

__all__ = ["area_state", "decide"]


def decide(
    manifest: Manifest,
    results: list[CheckResult],
    *,
    now: datetime,
    waivers: Iterable[Waiver] = (),
    attestations: Mapping[str, Attestation] | None = None,
    status_since: Mapping[str, tuple[Status, datetime]] | None = None,
) -> tuple[Verdict, list[CheckResult]]:
    """Decide, and return the results with ``waived`` set for checks a waiver in force covers."""
    in_force = [w for w in waivers if w.in_force(now)]
    waiver_for = {}
    for w in sorted(in_force, key=lambda w: w.until):
        for r in results:
            if fnmatch.fnmatchcase(r.id, w.check):
                waiver_for[r.id] = w
    marked = [_with_waived(r, r.id in waiver_for and not r.status.ok) for r in results]

    items = manifest.items_by_id
    reasons: list[str] = []
    gaps = [r for r in marked if r.severity is Severity.BLOCKING and not r.status.ok]
    open_gaps = [r for r in gaps if not r.waived]
    if not gaps:
        decision = Decision.GO
        blocking = sum(1 for r in marked if r.severity is Severity.BLOCKING)
        reasons.append(f"All {blocking} blocking checks pass")
    elif not open_gaps:
        decision = Decision.CONDITIONAL
    else:
        decision = Decision.NO_GO
    for r in sorted(open_gaps, key=lambda r: (r.status.rank, r.id)):
        title = items[r.item].title if r.item in items else r.item
        reasons.append(f"{title} [{r.status.value}] {r.id}: {r.result.summary}")
    for r in gaps:
        if r.waived:
            w = waiver_for[r.id]
            reasons.append(
                f"Waived until {w.until.date().isoformat()} by {w.by}: {r.id} [{r.status.value}] ({w.reason})"
            )
    for r in marked:
        if r.severity is Severity.MAJOR and not r.status.ok and not r.waived:
            reasons.append(f"Major (does not block): {r.id} [{r.status.value}]: {r.result.summary}")

    verdict = Verdict(
        decision=decision,
        reasons=reasons,
        areas=_areas(manifest, marked),
        escalations=_escalations(manifest, marked, now, attestations or {}, status_since or {}),
        criteria=_criteria(manifest, marked),
        waived=sorted(r.id for r in marked if r.waived),
    )
    return verdict, marked


def _with_waived(result: CheckResult, waived: bool) -> CheckResult:
    if result.waived == waived:
        return result
    from dataclasses import replace

    return replace(result, waived=waived)


def area_state(statuses: list[Status]) -> str:
    """An area in the seed's vocabulary: NOT STARTED, PARTIAL, NEEDS VALIDATION or READY."""
    if not statuses:
        return "NOT STARTED"
    ok = sum(1 for s in statuses if s.ok)
    if ok == len(statuses):
        return "READY"
    gaps = [s for s in statuses if not s.ok]
    if all(s in (Status.PENDING, Status.SKIPPED) for s in gaps):
        return "NEEDS VALIDATION"
    if ok == 0 and not any(s is Status.PENDING for s in statuses):
        return "NOT STARTED"
    return "PARTIAL"


def _areas(manifest: Manifest, results: list[CheckResult]) -> list[AreaSummary]:
    out = []
    for area in manifest.areas:
        mine = [r.status for r in results if r.area == area.id]
        tally = Tally.of(mine)
        out.append(
            AreaSummary(
                id=area.id,
                title=area.title,
                status=worst(mine),
                passed=tally.passed,
                total=len(mine),
                state=area_state(mine),
                pending=tally.pending,
                not_checked=tally.not_checked,
            )
        )
    return out


def _criteria(manifest: Manifest, results: list[CheckResult]) -> list[CriterionResult]:
    """A criterion is met when every check it names ran and passed: one not run (``--only``), skipped or
    errored leaves it open."""
    by_id = {r.id: r for r in results}
    out = []
    for crit in manifest.criteria:
        named = [c.id for c in manifest.match_checks(crit.checks)]
        named += [r.id for r in results if r.id not in named and any(fnmatch.fnmatchcase(r.id, p) for p in crit.checks)]
        met = bool(named) and all(i in by_id and by_id[i].status.ok for i in named)
        out.append(CriterionResult(crit.milestone, crit.text, met, named))
    return out


def _escalations(
    manifest: Manifest,
    results: list[CheckResult],
    now: datetime,
    attestations: Mapping[str, Attestation],
    status_since: Mapping[str, tuple[Status, datetime]],
) -> list[EscalationHit]:
    hits: dict[tuple[str, str], EscalationHit] = {}
    for rule in manifest.escalations:
        contact = manifest.contacts[rule.contact].name
        limit = timedelta(days=rule.when.older_than_days)

        def hit(
            item: str,
            since: datetime,
            rule_id: str = rule.id,
            title: str = rule.title,
            text: str = rule.text,
            who: str = contact,
        ) -> None:
            hits.setdefault((rule_id, item), EscalationHit(rule_id, item, since, who, title, text))

        if rule.when.attested:
            for item in rule.items:
                att = attestations.get(item)
                if att is not None and att.status in rule.when.attested and att.age(now) > limit:
                    hit(item, att.since)
        if rule.when.status:
            pool = manifest.match_checks(rule.checks) if rule.checks else manifest.checks_for_items(rule.items)
            ids = {c.id for c in pool}
            for r in results:
                if r.id not in ids or r.status not in rule.when.status:
                    continue
                since = r.result.observed_at or now
                earlier = status_since.get(r.id)
                if earlier is not None and earlier[0] is r.status:
                    since = min(since, earlier[1])
                if now - since >= limit:
                    hit(r.item, since)
    return list(hits.values())
