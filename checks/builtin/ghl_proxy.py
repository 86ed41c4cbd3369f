"""Probe ``proxy`` of kind ``ghl``: the proxy is reachable (its health route), refuses a request without the
key and accepts one with it; each kept as a :class:`~checks.core.result.Condition`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from checks.builtin.ghl_refusals import TOKEN_INVALID, refusal
from checks.builtin.ghl_setup import Setup, auth_headers
from checks.core.hookspecs import CheckContext
from checks.core.outbound import request, server_error
from checks.core.result import Condition, Result
from checks.core.status import Status

if TYPE_CHECKING:
    from checks.builtin.ghl import GhlParams

__all__ = ["probe_proxy"]


PROBE_ID = "probe"
"""Location id the ``proxy`` probe asks for when no test location is configured."""


@dataclass(frozen=True)
class _Finding:
    condition: Condition
    status: Status
    """PASS, FAIL, or ERROR (could not tell)."""
    summary: str = ""
    remediation: str = ""


async def probe_proxy(params: GhlParams, ctx: CheckContext, setup: Setup) -> Result:
    where = f"The GHL proxy at {setup.shown}"
    probed = setup.ids[0] if setup.ids else PROBE_ID
    path = params.location_path.replace("{id}", quote(probed, safe=""))
    version = {"Version": params.version}
    evidence = {**setup.evidence, "health_path": params.health_path, "location_probed": probed}

    health_url = setup.base + params.health_path
    health = await request(ctx, "GET", health_url, what="The GHL proxy's health route", provider=False)
    evidence["health_status"] = health.status_code
    findings = [_health(health, params, ctx, where, health_url)]

    url = setup.base + path
    bare = await request(ctx, "GET", url, what="The GHL proxy", provider=False, headers=version)
    evidence["without_key_status"] = bare.status_code
    findings.append(_without_key(bare, ctx, where, url, path))

    if setup.key:
        headers = {**version, **auth_headers(params, setup.key)}
        keyed = await request(ctx, "GET", url, what="The GHL proxy", provider=False, headers=headers)
        evidence["with_key_status"] = keyed.status_code
        reason, message = refusal(keyed)
        if reason is not None and message:
            evidence["ghl_message"] = ctx.scrubber.clip(message, 200)
        findings.append(_with_key(keyed, params, ctx, where, url, setup.key_env))
    else:
        findings.append(
            _Finding(
                Condition("accepts a request with the key", False, f"{setup.key_env} is not set"),
                Status.FAIL,
                f"{setup.key_env} is not set: ask the proxy's owner for its API key and set it",
                "Set it in the process environment or the .env file next to the manifest",
            )
        )
    conditions = tuple(f.condition for f in findings)
    failed = [f for f in findings if f.status is Status.FAIL]
    unknown = [f for f in findings if f.status is Status.ERROR]
    if not failed and not unknown:
        return Result(
            Status.PASS,
            f"{where} is up, refuses requests without {setup.key_env} and accepts it",
            evidence,
            "",
            conditions,
        )
    # A definite finding outranks "could not tell" for another part: it needs acting on either way.
    first = (failed or unknown)[0]
    status = Status.FAIL if failed else Status.ERROR
    more = len(failed or unknown) - 1
    summary = first.summary + (f" (and {more} more: see the conditions)" if more else "")
    return Result(status, summary, evidence, first.remediation, conditions)


def _health(response: httpx.Response, params: GhlParams, ctx: CheckContext, where: str, url: str) -> _Finding:
    code, name = response.status_code, "reachable"
    got = f"GET {params.health_path} answered {code}"
    if 200 <= code < 300 or code in (401, 403):
        detail = got + (" (the health route wants the key: it is up)" if code in (401, 403) else "")
        return _Finding(Condition(name, True, detail), Status.PASS)
    if code == 429:
        unknown = server_error(response, "The GHL proxy", url, ctx)
        return _Finding(Condition(name, False, got), Status.ERROR, unknown.summary, unknown.remediation)
    if code >= 500:  # "unhealthy" and "overloaded" look alike from here: could not tell
        return _Finding(
            Condition(name, False, got),
            Status.ERROR,
            f"{where} answers GET {params.health_path} with {code}: it is running but "
            f"{'reports itself unhealthy' if code == 503 else 'failing'}: could not tell whether it works; check its "
            "logs and its connection to GHL",
            "A 503 usually means the proxy cannot reach GHL or its token store; a 502/504 that nothing listens "
            "behind the load balancer",
        )
    if code == 404:
        summary = (
            f"{where} has no {params.health_path} route (404): set the check's health_path to the proxy's "
            "health route, or check the URL points at the proxy"
        )
    else:
        summary = f"{where} answers GET {params.health_path} with {code}: check the URL points at the proxy"
    fix = "GHL_PROXY_URL is the proxy's base URL; health_path is appended to it"
    return _Finding(Condition(name, False, got), Status.FAIL, summary, fix)


def _without_key(response: httpx.Response, ctx: CheckContext, where: str, url: str, path: str) -> _Finding:
    code, name = response.status_code, "refuses a request without the key"
    got = f"GET {path} without the key answered {code}"
    reason, message = refusal(response)
    lock = "lock it down: require the API key on every route before anything is forwarded to GHL"
    # Only GHL's own words prove the request went through; "Invalid JWT" may as well be the proxy's.
    forwarded = reason is not None and reason is not TOKEN_INVALID and code != 404
    if code in (401, 403) and not forwarded:
        return _Finding(Condition(name, True, got), Status.PASS)
    if forwarded:
        return _Finding(
            Condition(name, False, f"{got}: GHL's own answer ({ctx.scrubber.clip(message, 80)!r})"),
            Status.FAIL,
            f"{where} forwards requests without an API key to GHL (GHL itself answered {code}): {lock}",
            "Security: anyone who can reach the proxy can call GHL with its tokens",
        )
    if 200 <= code < 300:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return _Finding(
                Condition(name, False, f"{got} with a body that is not JSON"),
                Status.ERROR,
                f"{where} answered {code} without an API key, with a body that is not JSON: could not tell whether "
                "it serves GHL data; check the URL points at the proxy and not a web page",
                "A sign-in page or captive portal answers 200 with HTML; the proxy should answer 401/403 with JSON",
            )
        return _Finding(
            Condition(name, False, got),
            Status.FAIL,
            f"{where} serves GHL data without an API key (200 for {path}): {lock}",
            "Security: anyone who can reach the proxy reads the sub-accounts' data; rotate the proxy's GHL tokens "
            "if it was exposed",
        )
    if code == 429 or code >= 500:
        unknown = server_error(response, "The GHL proxy", url, ctx)
        return _Finding(Condition(name, False, got), Status.ERROR, unknown.summary, unknown.remediation)
    return _Finding(
        Condition(name, False, got),
        Status.FAIL,
        f"{where} did not refuse a request without an API key (answered {code}, not 401/403): {lock}",
        "Security: a proxy that evaluates a request before checking its key may serve data on another route",
    )


def _with_key(
    response: httpx.Response, params: GhlParams, ctx: CheckContext, where: str, url: str, key_env: str
) -> _Finding:
    code, name = response.status_code, "accepts a request with the key"
    got = f"with the key answered {code}"
    reason, message = refusal(response)
    if code == 429 or code >= 500:
        unknown = server_error(response, "The GHL proxy", url, ctx)
        return _Finding(Condition(name, False, got), Status.ERROR, unknown.summary, unknown.remediation)
    if code in (401, 403) and reason is None:
        return _Finding(
            Condition(name, False, got),
            Status.FAIL,
            f"{where} refuses {key_env} ({code}): set it to the key the proxy expects (ask its owner)",
            f"The key goes in the {params.auth_header} header"
            + (f" as '{params.auth_scheme} <key>'" if params.auth_scheme else "")
            + "; set the check's auth_header/auth_scheme if the proxy wants another (e.g. X-API-Key, no scheme)",
        )
    detail = got if reason is None else f"{got}: accepted, GHL answered {ctx.scrubber.clip(message, 80)!r}"
    return _Finding(Condition(name, True, detail), Status.PASS)
