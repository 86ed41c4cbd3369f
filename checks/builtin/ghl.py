"""Kind ``ghl``: the GHL OAuth proxy is up and locked down, and reaches every test location through GHL.

The proxy at ``GHL_PROXY_URL`` is ours, not GHL's: its URL is used as given (never rerouted to the
stand-ins), must be https off loopback, and is the only place the API key is sent. Probe ``proxy`` asks
three things of it, each kept as a :class:`~checks.core.result.Condition`: reachable (``GET {health_path}``),
refuses a request without the key, accepts one with it. Probe ``locations`` reads each test location
(``GET /locations/{id}`` with ``Version: 2021-07-28``) and tells GHL's refusals apart, as the proxy
forwards them (HighLevel API 2.0 bodies are ``{"statusCode": N, "message": "..."}``):

* 401 ``version header was not found.`` / ``version header is invalid``: the proxy drops or rewrites
  the ``Version`` header (GHL answers 401 for it, not 400);
* 403 ``The token does not have access to this location.``: the app's OAuth install does not cover it;
* 401 ``The token is not authorized for this scope.``: the app lacks ``locations.readonly``;
* 401 ``Token's user type mismatch!`` (an agency token on a sub-account route), ``This authClass type is
  not allowed to access this scope.`` (an OAuth *Company* token where a *Location* token is needed),
  ``This route is not yet supported by the IAM Service.``: the token's class does not fit the route;
* 401 ``Invalid JWT``: the proxy's GHL token is expired or revoked;
* 404: no such location (GHL does not document this answer; a location token usually gets the 403 above
  for any location but its own, so a wrong id can read as "no access").

A 401/403 whose message is none of GHL's is the proxy refusing our key. The key is registered with the
scrubber: an error body that echoes request headers cannot show it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.outbound import NoAnswer, display_url, json_body, request, server_error
from checks.core.redact import fingerprint
from checks.core.result import Condition, Result
from checks.core.status import Status

__all__ = ["GhlParams", "ghl"]

DEFAULT_URL_ENV = "GHL_PROXY_URL"
DEFAULT_KEY_ENV = "GHL_PROXY_API_KEY"
DEFAULT_LOCATIONS_ENV = "GHL_TEST_LOCATION_IDS"
PROBE_ID = "probe"
"""Location id the ``proxy`` probe asks for when no test location is configured."""
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class GhlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["proxy", "locations"] = "proxy"
    """``proxy``: reachable, refuses a request without the key, accepts one with it; ``locations``: each
    test location is readable through the proxy."""
    url_env: str | None = Field(default=None, min_length=1)
    """Variable holding the proxy's URL; default ``[ghl_proxy].url_env``, else ``GHL_PROXY_URL``."""
    key_env: str | None = Field(default=None, min_length=1)
    """Variable holding the proxy's API key; default ``[ghl_proxy].api_key_env``, else ``GHL_PROXY_API_KEY``."""
    locations_env: str | None = Field(default=None, min_length=1)
    """Variable holding the comma-separated test location ids; default ``[ghl_proxy].location_ids_env``,
    else ``GHL_TEST_LOCATION_IDS``."""
    health_path: str = Field(default="/health", pattern=r"^/")
    """The proxy's health route, appended to its URL."""
    location_path: str = "/locations/{id}"
    """The proxy's route for GHL's Get Sub-Account (``{id}`` is replaced by the location id)."""
    auth_header: str = Field(default="Authorization", pattern=_HEADER_NAME.pattern)
    """Header carrying the key, e.g. ``Authorization`` or ``X-API-Key``."""
    auth_scheme: str = "Bearer"
    """Put before the key with a space (``Bearer KEY``); empty sends the bare key."""
    version: str = Field(default="2021-07-28", min_length=1)
    """GHL's ``Version`` header for the location route."""

    @field_validator("location_path")
    @classmethod
    def _has_id(cls, value: str) -> str:
        if not value.startswith("/") or "{id}" not in value:
            raise ValueError("location_path must start with / and contain {id}, e.g. /locations/{id}")
        return value


@dataclass(frozen=True)
class _Setup:
    """What both probes need, read from the environment."""

    base: str
    """The proxy's URL without a trailing slash."""
    shown: str
    key: str | None
    key_env: str
    ids: list[str]
    locations_env: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class _Reason:
    code: str
    """For evidence: ``no_access``, ``wrong_scope``, ...; ``ok`` and ``unexpected`` are not reasons."""
    what: str
    """What the answer means, e.g. ``the app's OAuth install does not cover it``."""
    fix: str


_NO_ACCESS = _Reason(
    "no_access",
    "the app's OAuth install does not cover it",
    "install (or reinstall) the app on that sub-account so the proxy gets a token for it",
)
_WRONG_SCOPE = _Reason(
    "wrong_scope",
    "the app's token lacks the locations.readonly scope",
    "add locations.readonly to the app's scopes (Marketplace › your app › Auth) and reinstall it on the location",
)
_USER_TYPE = _Reason(
    "user_type",
    "the token's class (Company/agency vs Location/sub-account) does not fit the route",
    "make the proxy call location routes with a Location token (POST /oauth/locationToken exchanges a Company "
    "token for one), or install the app from inside the sub-account",
)
_TOKEN_INVALID = _Reason(
    "token_invalid",
    "the proxy's GHL token is expired or revoked",
    "the proxy's refresh failed: reconnect (reinstall) the app on that location and check the proxy's refresh logs",
)
_VERSION = _Reason(
    "version_header",
    "the proxy does not forward the Version header unchanged",
    "make the proxy forward the Version header (GHL wants Version: 2021-07-28 on this route)",
)
_MISSING = _Reason(
    "missing",
    "GHL has no such location",
    "fix the id (the sub-account's Settings › Business Profile, or the id after /location/ in its URL)",
)
_NO_ROUTE = _Reason(
    "no_route",
    "the proxy has no such route",
    "set the check's location_path to the proxy's route for GHL's GET /locations/{id}",
)

# GHL's own refusals, as the proxy forwards them. Anything else in a 401/403 is the proxy refusing our key.
_GHL_REFUSALS: tuple[tuple[re.Pattern[str], _Reason], ...] = (
    (re.compile(r"version header", re.I), _VERSION),
    (re.compile(r"does not have access to this location", re.I), _NO_ACCESS),
    (re.compile(r"not authorized for this scope", re.I), _WRONG_SCOPE),
    (re.compile(r"user type mismatch|authclass|not yet supported by the iam service", re.I), _USER_TYPE),
    (re.compile(r"invalid jwt|jwt expired|invalid private integration token", re.I), _TOKEN_INVALID),
)


@check_kind("ghl", params=GhlParams)
async def ghl(params: GhlParams, ctx: CheckContext) -> Result:
    """Calls the GHL OAuth proxy at ``GHL_PROXY_URL`` as given (never rerouted; https required off
    loopback). Probe ``proxy``: ``GET {health_path}`` answers 2xx, ``GET /locations/{id}`` without the key
    is refused (401/403; a 200 is a security failure: the proxy serves GHL data without an API key) and
    with ``GHL_PROXY_API_KEY`` is accepted. Probe ``locations``: each id of ``GHL_TEST_LOCATION_IDS`` is
    read with the key and ``Version: 2021-07-28``; GHL's forwarded refusals are told apart: a dropped
    Version header, "does not have access to this location" (install the app on it), a scope error
    (``locations.readonly``), a user-type mismatch (Company vs Location token), an expired token, 404
    (no such location). Timeouts, refused connections, 429/5xx after retries and non-JSON answers are
    errors. Never shows the key: evidence holds its fingerprint."""
    setup = _setup(params, ctx)
    if isinstance(setup, Result):
        return setup
    try:
        if params.probe == "proxy":
            return await _proxy(params, ctx, setup)
        return await _locations(params, ctx, setup)
    except NoAnswer as exc:
        return exc.result


def _setup(params: GhlParams, ctx: CheckContext) -> _Setup | Result:
    section = ctx.manifest.ghl_proxy
    url_env = params.url_env or (section.url_env if section else DEFAULT_URL_ENV)
    key_env = params.key_env or (section.api_key_env if section else DEFAULT_KEY_ENV)
    locations_env = params.locations_env or (section.location_ids_env if section else DEFAULT_LOCATIONS_ENV)
    raw = (ctx.value(url_env) or "").strip()
    key = ctx.secret(key_env)
    ids = list(dict.fromkeys(part.strip() for part in (ctx.value(locations_env) or "").split(",") if part.strip()))
    evidence: dict[str, Any] = {"probe": params.probe, "url_env": url_env}
    if key:
        evidence["key_fingerprint"] = fingerprint(key)
    missing = [url_env] if not raw else []
    if params.probe == "locations":
        missing += [name for name, value in ((key_env, key), (locations_env, ids)) if not value]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return Result.failed(
            f"{' and '.join(missing)} {verb} not set: set the GHL proxy's https:// URL, its API key (from the "
            "proxy's owner) and the test location ids (comma-separated)",
            remediation="Set them in the process environment or the .env file next to the manifest",
            missing=missing,
            **evidence,
        )
    problem = _url_problem(raw)
    shown = display_url(raw, ctx.scrubber)
    evidence["url"] = shown
    if problem:
        return Result(
            Status.FAIL,
            f"{url_env} {problem}",
            evidence,
            "The proxy's URL is used as given; the API key is sent only over https (or to 127.0.0.1)",
            (Condition("https off loopback", False, problem.split(":")[0]),),
        )
    return _Setup(raw.rstrip("/"), shown, key, key_env, ids, locations_env, evidence)


def _url_problem(raw: str) -> str:
    """Why ``raw`` cannot be the proxy's URL, followed by what to do; empty when it can."""
    try:
        parts = urlsplit(raw)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "does not parse as a URL: set it to the proxy's https:// URL"
    if parts.scheme not in ("http", "https") or not host:
        return "is not an absolute http(s) URL: set it to the proxy's https:// URL"
    if parts.query or parts.fragment:
        return "has a query string or fragment: set it to the proxy's base URL and the key in the key variable"
    if parts.scheme == "http" and not _loopback(host):
        return (
            f"uses plain http:// off loopback ({host}): the API key would cross the network in clear; "
            "serve the proxy over https:// and use that URL"
        )
    return ""


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth(params: GhlParams, key: str) -> dict[str, str]:
    return {params.auth_header: f"{params.auth_scheme} {key}" if params.auth_scheme else key}


def _ghl_message(response: httpx.Response) -> str:
    """The ``message`` of a GHL-style error body (a list is joined), or ``""``."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    return message if isinstance(message, str) else ""


def _refusal(response: httpx.Response) -> tuple[_Reason | None, str]:
    """GHL's reason for a non-200 answer as the proxy forwarded it (None: not one of GHL's), and its message."""
    message = _ghl_message(response)
    code = response.status_code
    for pattern, reason in _GHL_REFUSALS:
        if code in (400, 401, 403) and pattern.search(message):
            return reason, message
    if code == 404:
        return (_NO_ROUTE if message.startswith("Cannot ") else _MISSING), message
    if code in (400, 422) and re.search(r"not found", message, re.I):
        return _MISSING, message
    return None, message


# -- probe "proxy" ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    condition: Condition
    status: Status
    """PASS, FAIL, or ERROR (could not tell)."""
    summary: str = ""
    remediation: str = ""


async def _proxy(params: GhlParams, ctx: CheckContext, setup: _Setup) -> Result:
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
        keyed = await request(
            ctx, "GET", url, what="The GHL proxy", provider=False, headers={**version, **_auth(params, setup.key)}
        )
        evidence["with_key_status"] = keyed.status_code
        reason, message = _refusal(keyed)
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
    reason, message = _refusal(response)
    lock = "lock it down: require the API key on every route before anything is forwarded to GHL"
    # Only GHL's own words prove the request went through; "Invalid JWT" may as well be the proxy's.
    forwarded = reason is not None and reason is not _TOKEN_INVALID and code != 404
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
    reason, message = _refusal(response)
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


# -- probe "locations" -----------------------------------------------------------------------------------------


async def _locations(params: GhlParams, ctx: CheckContext, setup: _Setup) -> Result:
    assert setup.key  # _setup fails the locations probe without one
    headers = {"Version": params.version, **_auth(params, setup.key)}
    outcomes: list[dict[str, Any]] = []
    conditions: list[Condition] = []
    reasons: dict[str, _Reason | None] = {}
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
        reason, message = _refusal(response)
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
    setup: _Setup, evidence: dict[str, Any], conditions: list[Condition], reasons: dict[str, _Reason | None]
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
