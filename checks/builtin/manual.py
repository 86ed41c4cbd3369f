"""Kind ``manual``: a fact only a person can state, read from the latest attestation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.result import Result
from checks.core.status import Status


class ManualParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attest: str | None = None
    """Item whose attestation is read; the check's own item when unset."""
    pass_on: list[str] = Field(min_length=1)
    """Attested statuses that pass, e.g. ``["approved"]``."""
    pending_on: list[str] = []
    """Statuses that mean "waiting on someone outside", e.g. ``["submitted"]``."""
    warn_on: list[str] = []
    ttl_days: float | None = Field(default=None, gt=0)
    """An attestation older than this reads as stale (fail), not as passing."""
    expect: str = ""
    """What a person should attest, in words, for the remediation line."""


@check_kind("manual", params=ManualParams)
async def manual(params: ManualParams, ctx: CheckContext) -> Result:
    """Reads the latest attestation for the item: passes on the listed statuses, pending while waiting
    on an outside party, fails when missing, stale (older than ``ttl_days``) or in any other status."""
    item = params.attest or ctx.check.item
    att = ctx.attestations.get(item)
    how = f"readiness attest {item} <status> --note '...'"
    wanted = params.expect or " or ".join(params.pass_on)
    if att is None:
        return Result.failed(
            f"No attestation for {item} yet: record one when it is {wanted}",
            remediation=f"Run `{how}` (statuses that pass: {', '.join(params.pass_on)})",
            item=item,
            attested=None,
        )
    now = ctx.clock.now()
    age_days = att.age(now).total_seconds() / 86400
    evidence = {
        "item": item,
        "attested": att.status,
        "by": att.by,
        "at": att.at.isoformat(),
        "since": att.since.date().isoformat(),
        "age_days": round(age_days, 2),
        "note": att.note,
    }
    said = f"{att.status} (attested by {att.by} on {att.since.date().isoformat()})"
    if params.ttl_days is not None and (now - att.at).total_seconds() / 86400 > params.ttl_days:
        return Result.failed(
            f"Attestation for {item} is stale: {said}, older than {params.ttl_days:g} days",
            remediation=f"Confirm it is still true and attest again: `{how}`",
            stale=True,
            **evidence,
        )
    if att.status in params.pass_on:
        return Result.passed(f"{item}: {said}", **evidence)
    if att.status in params.warn_on:
        return Result(Status.WARN, f"{item}: {said}", evidence)
    if att.status in params.pending_on:
        return Result.pending(
            f"{item}: {said}, waiting for {wanted} ({age_days:.0f} days so far)",
            remediation="Follow up with the provider; escalate per the manifest's rules",
            **evidence,
        )
    return Result.failed(
        f"{item}: {said}; needs {wanted}",
        remediation=f"When it is {wanted}, run `{how}`",
        **evidence,
    )
