"""The ``apis`` probe of ``oauth_google``: whether each API the app needs is enabled in its project (the Service
Usage API), and whether Google approved the project's Business Profile access."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from checks.builtin.google_common import BUSINESS_ACCOUNTS_URL, SERVICE_USAGE_URL
from checks.builtin.google_errors import google_error
from checks.builtin.google_service_account import service_usage_token
from checks.core.hookspecs import CheckContext
from checks.core.manifest import OAuthApp
from checks.core.outbound import NoAnswer, json_body, request, server_error
from checks.core.result import Condition, Result
from checks.core.status import Status, worst

if TYPE_CHECKING:
    from checks.builtin.oauth_google import OAuthGoogleParams

__all__ = ["probe_apis"]


_BUSINESS_PROFILE = "Google Business Profile API"
_SERVICES: Mapping[str, tuple[str, ...]] = {
    "google calendar api": ("calendar-json.googleapis.com",),
    # The Business Profile API is split in several services; these two are what reading accounts and
    # locations needs (account management is also what the approval probe calls).
    "google business profile api": (
        "mybusinessbusinessinformation.googleapis.com",
        "mybusinessaccountmanagement.googleapis.com",
    ),
    "google my business api": ("mybusiness.googleapis.com",),
    "gmail api": ("gmail.googleapis.com",),
    "google people api": ("people.googleapis.com",),
    "google drive api": ("drive.googleapis.com",),
}
"""The manifest's API names (lower case) -> Service Usage service names. A name already shaped like
``x.googleapis.com`` is used as given."""


def _services(api: str) -> tuple[str, ...]:
    if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.googleapis\.com", api):
        return (api,)
    return _SERVICES.get(api.strip().lower(), ())


async def probe_apis(app: OAuthApp, params: OAuthGoogleParams, ctx: CheckContext) -> Result:
    if not app.apis:
        return Result.skipped(
            f"not configured: the manifest lists no APIs for [oauth_apps.{params.app}], so there is nothing to check",
            remediation=f"List the APIs the app needs in [oauth_apps.{params.app}] apis",
        )
    approval = (
        " Business Profile access also needs Google's approval (until then its quota is 0)."
        if any(a.lower() == _BUSINESS_PROFILE.lower() for a in app.apis)
        else ""
    )
    project = ctx.value(params.project_env)
    credential_vars = [v for v in (params.access_token_env, params.service_account_env) if v]
    has_credential = any(ctx.env.get(v) for v in credential_vars)
    if not project or not has_credential:
        names = " or ".join(credential_vars) or "access_token_env (e.g. GOOGLE_SERVICE_USAGE_TOKEN)"
        return Result.skipped(
            f"not configured: could not check whether the APIs are enabled; set {names} (a credential allowed "
            f"serviceusage.services.get and .use, role Service Usage Consumer) and {params.project_env} to let "
            "this check ask the Service Usage API." + approval,
            remediation="Meanwhile check APIs & Services › Enabled APIs & services in Google Cloud Console: "
            + ", ".join(app.apis),
            apis=list(app.apis),
            project_set=bool(project),
            credential_set=has_credential,
        )
    token = await service_usage_token(params, ctx)
    if isinstance(token, Result):
        return token
    headers = {"Authorization": f"Bearer {token}", "X-Goog-User-Project": project}
    conditions: list[Condition] = []
    problems: list[Result] = []
    states: dict[str, str] = {}
    for api in app.apis:
        services = _services(api)
        if not services:
            problems.append(
                Result.errored(f"no Service Usage name known for API {api!r}: write it as NAME.googleapis.com")
            )
            conditions.append(Condition(f"{api} enabled", False, "unknown service name"))
            continue
        for service in services:
            outcome = await _service_state(ctx, project, service, api, headers)
            if isinstance(outcome, Result):
                return outcome  # the credential or the project is the problem: the same for every API
            states[service] = outcome
            conditions.append(Condition(f"{service} ENABLED", outcome == "ENABLED", f"state {outcome}"))
            if outcome != "ENABLED":
                problems.append(
                    Result.failed(
                        f"{api} ({service}) is {outcome} in project {project}: enable it in APIs & Services › Library",
                        remediation=f"Google Cloud Console › APIs & Services › Library › {api} › Enable "
                        f"(project {project}), or `gcloud services enable {service} --project {project}`",
                    )
                )
    evidence: dict[str, Any] = {"project": project, "services": states}
    business = _services(_BUSINESS_PROFILE)
    if approval and all(states.get(s) == "ENABLED" for s in business):
        judged = await _business_approval(ctx, headers)
        conditions.append(Condition("Business Profile access approved", judged.status is Status.PASS, judged.summary))
        evidence["business_profile"] = judged.evidence
        if judged.status is not Status.PASS:
            problems.append(judged)
    status = worst(r.status for r in problems)
    if not problems:
        summary = f"{' and '.join(app.apis)} enabled in project {project}"
        return Result(
            Status.PASS,
            summary + ("; Business Profile access approved" if approval else ""),
            evidence,
            "",
            tuple(conditions),
        )
    first = next(r for r in problems if r.status is status)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Result(status, first.summary + more, evidence, first.remediation, tuple(conditions))


async def _service_state(
    ctx: CheckContext, project: str, service: str, api: str, headers: dict[str, str]
) -> str | Result:
    """The service's state (``ENABLED``, ``DISABLED``), or a Result for an answer that ends the probe."""
    url = SERVICE_USAGE_URL.format(project=quote(project, safe=""), service=service)
    what = "Google's Service Usage API"
    response = await request(ctx, "GET", url, what=what, headers=headers)
    code = response.status_code
    if code == 429 or code >= 500:
        return server_error(response, what, url, ctx)
    body = json_body(response, what, url, ctx)
    if code == 200:
        state = body.get("state")
        if isinstance(state, str) and state:
            return state
        raise NoAnswer(
            Result.errored(
                f"{what} answered 200 without a state for {service}: could not tell",
                url=url,
                body_excerpt=ctx.scrubber.clip(response.text, 200),
            )
        )
    status, message, reason = google_error(body)
    evidence: dict[str, Any] = {
        "url": url,
        "status_code": code,
        "error_status": status,
        "error_reason": reason,
        "error_message": ctx.scrubber.clip(message, 300),
        "project": project,
    }
    if code == 401:
        return Result.failed(
            f"Google refuses the Service Usage credential (401 {status}): it expired or is not a valid token",
            remediation="Set a fresh access token, or use service_account_env so the check mints its own",
            **evidence,
        )
    if reason == "SERVICE_DISABLED" or "has not been used in project" in message:
        return Result.failed(
            f"the Service Usage API itself is disabled for the credential's project: enable "
            f"serviceusage.googleapis.com to let this check tell whether {api} is enabled",
            remediation=f"`gcloud services enable serviceusage.googleapis.com --project {project}`",
            **evidence,
        )
    if reason == "USER_PROJECT_DENIED":
        return Result.failed(
            f"Google refuses project {project} as the quota project (403 USER_PROJECT_DENIED): grant the "
            f"credential's principal serviceusage.services.use on {project} (role Service Usage Consumer)",
            remediation=f"`gcloud projects add-iam-policy-binding {project} --member=PRINCIPAL "
            "--role=roles/serviceusage.serviceUsageConsumer` (IAM & Admin › IAM › Grant access › Service Usage "
            "Consumer); the check bills its calls to the project (X-Goog-User-Project), which needs "
            "serviceusage.services.use; Service Usage Viewer does not grant it",
            **evidence,
        )
    if code == 403:
        return Result.failed(
            f"the Service Usage credential may not read project {project}'s services (403 {status}): grant it "
            "serviceusage.services.get",
            remediation=f"Give the credential's principal the Service Usage Consumer role (roles/serviceusage."
            f"serviceUsageConsumer: services.get, and services.use for the quota project) on project {project}, "
            f"and check {project} is the OAuth client's project",
            **evidence,
        )
    if code == 404:
        return Result.failed(f"Google knows no project {project} (404): fix {project!r}", **evidence)
    return Result.errored(f"{what} answered {code} {status}: could not tell whether {api} is enabled", **evidence)


async def _business_approval(ctx: CheckContext, headers: dict[str, str]) -> Result:
    """Whether Google approved this project's Business Profile API access: quota 0 (429) until it does."""
    what = "Google's Business Profile API"
    # A quota of 0 does not lift within seconds: no retries, the 429 is the answer.
    response = await request(ctx, "GET", BUSINESS_ACCOUNTS_URL, what=what, retries=0, headers=headers)
    code = response.status_code
    if code == 200:
        return Result.passed("Business Profile access approved", status_code=200)
    if code >= 500:
        return server_error(response, what, BUSINESS_ACCOUNTS_URL, ctx)
    try:
        body = response.json()
    except ValueError:
        body = {}
    status, message, reason = google_error(body if isinstance(body, dict) else {})
    evidence: dict[str, Any] = {
        "status_code": code,
        "error_status": status,
        "error_reason": reason,
        "error_message": ctx.scrubber.clip(message, 300),
    }
    if code == 429 and status in ("RESOURCE_EXHAUSTED", ""):
        return Result.pending(
            "waiting on Google's Business Profile API approval: until Google approves access the quota is 0 "
            "and calls answer 429 RESOURCE_EXHAUSTED",
            remediation="Request access with Google's Business Profile API access form (developers.google.com/"
            "my-business/content/prereqs); once approved the quota becomes non-zero (check IAM & Admin › Quotas)",
            **evidence,
        )
    return Result.errored(
        f"could not tell whether Business Profile access is approved: {what} answered {code} {status}",
        remediation="The Service Usage credential may lack the business.manage scope; this is not a verdict",
        **evidence,
    )
