"""Probe ``locations`` of kind ``ghl``: each test location read through the proxy with the key and GHL's
``Version`` header, and GHL's refusals told apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from checks.builtin.ghl_refusals import Reason, refusal
from checks.builtin.ghl_setup import Setup, auth_headers
from checks.core.hookspecs import CheckContext
from checks.core.outbound import json_body, request, server_error
from checks.core.result import Condition, Result
from checks.core.status import Status

if TYPE_CHECKING:
    from checks.builtin.ghl import GhlParams

__all__ = ["probe_locations"]


async def probe_locations(params: GhlParams, ctx: CheckContext, setup: Setup) -> Result:
    assert setup.key  # read_setup fails the locations probe without one
    headers = {"Version": params.version, **auth_headers(params, setup.key)}
    outcomes: list[dict[str, Any]] = []
    conditions: list[Condition] = []
    reasons: dict[str, Reason | None] = {}
    evidence = {**setup.evidence, "version": params.version, "locations": outcomes}
    for location_id in setup.ids:
        path = params.location_path.replace("{id}", quote(location_id, safe=""))
        url = setup.base + path
        what = f"The GHL proxy (location {location_id})"
        response = await request(ctx, "GET", url, what=what, provider=False, headers=headers)
        code = response.status_code
        if code == 429 or code >= 500:
            unknown = server_error(response, what, url, ctx)
            return Result(unknown.status, unknown.summary, {**evidence, **unknown.evidence}, unknown.remediation)
        outcome: dict[str, Any] = {"id": location_id, "status_code": code}
        outcomes.append(outcome)
        if code == 200:
            location = json_body(response, what, url, ctx).get("location")
            if isinstance(location, dict):
                outcome.update(
                    outcome="ok",
                    name=ctx.scrubber.clip(str(location.get("name") or ""), 100) or None,
                    company_id=location.get("companyId") if isinstance(location.get("companyId"), str) else None,
                )
                conditions.append(Condition(f"location {location_id} readable", True, f"200 {outcome['name']!r}"))
                continue
            reasons[location_id] = None
            outcome.update(outcome="unexpected", detail="200 without a location object")
            conditions.append(Condition(f"location {location_id} readable", False, "200 without a location object"))
            continue
        reason, message = refusal(response)
        shown = ctx.scrubber.clip(message, 200)
        if code in (401, 403) and reason is None:
            return Result(
                Status.FAIL,
                f"The GHL proxy at {setup.shown} refuses {setup.key_env} ({code}): set it to the key the proxy "
                "expects (ask its owner)",
                {**evidence, "status_code": code, "body_excerpt": ctx.scrubber.clip(response.text, 200)},
                f"The key goes in the {params.auth_header} header; set the check's auth_header/auth_scheme if the "
                "proxy wants another (e.g. X-API-Key, no scheme)",
            )
        reasons[location_id] = reason
        outcome.update(outcome=reason.code if reason else "unexpected", ghl_message=shown or None)
        detail = f"{code} {shown!r}" if shown else str(code)
        conditions.append(Condition(f"location {location_id} readable", False, detail))
    return _judge(setup, evidence, conditions, reasons)


def _judge(
    setup: Setup, evidence: dict[str, Any], conditions: list[Condition], reasons: dict[str, Reason | None]
) -> Result:
    total = len(setup.ids)
    outcomes = {o["id"]: o for o in evidence["locations"]}
    if not reasons:
        names = ", ".join(f"{o['name'] or '(unnamed)'} ({i})" for i, o in outcomes.items())
        which = "The GHL test location is" if total == 1 else f"All {total} GHL test locations are"
        return Result(Status.PASS, f"{which} readable through the proxy: {names}", evidence, "", tuple(conditions))
    known = {i: r for i, r in reasons.items() if r is not None}
    groups: dict[str, list[str]] = {}
    for location_id, reason in known.items():
        groups.setdefault(reason.code, []).append(location_id)
    parts = []
    for ids in groups.values():
        reason = known[ids[0]]
        answers = {str(outcomes[i].get("ghl_message") or outcomes[i]["status_code"]) for i in ids}
        quoted = f" (GHL: {sorted(answers)[0]!r})" if len(answers) == 1 else ""
        parts.append(f"{', '.join(ids)}: {reason.what}{quoted}; {reason.fix}")
    odd = [i for i, r in reasons.items() if r is None]
    if odd:
        parts.append(
            f"{', '.join(odd)}: answered "
            + ", ".join(str(outcomes[i].get("ghl_message") or outcomes[i]["status_code"]) for i in odd)
            + " (could not tell why)"
        )
    count = f"{len(reasons)} of {total} GHL test location{'s' if total != 1 else ''}"
    summary = f"{count} not readable through the proxy: " + " | ".join(parts)
    remediation = (
        f"Location ids come from {setup.locations_env}; a sub-account's id is in Settings › Business Profile "
        "and in its URL after /location/"
    )
    status = Status.FAIL if known else Status.ERROR
    return Result(status, summary, evidence, remediation, tuple(conditions))
