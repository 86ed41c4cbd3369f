"""What both probes of kind ``ghl`` read first: the proxy's URL (used as given, https off loopback), its API
key and the test location ids, from the variables the params or ``[ghl_proxy]`` name; and the key's header."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from checks.core.hookspecs import CheckContext
from checks.core.outbound import display_url
from checks.core.redact import fingerprint
from checks.core.result import Condition, Result
from checks.core.status import Status

if TYPE_CHECKING:
    from checks.builtin.ghl import GhlParams

__all__ = ["Setup", "auth_headers", "read_setup"]


DEFAULT_URL_ENV = "GHL_PROXY_URL"
DEFAULT_KEY_ENV = "GHL_PROXY_API_KEY"
DEFAULT_LOCATIONS_ENV = "GHL_TEST_LOCATION_IDS"


@dataclass(frozen=True)
class Setup:
    """What both probes need, read from the environment."""

    base: str
    """The proxy's URL without a trailing slash."""
    shown: str
    key: str | None
    key_env: str
    ids: list[str]
    locations_env: str
    evidence: dict[str, Any]


def read_setup(params: GhlParams, ctx: CheckContext) -> Setup | Result:
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
    return Setup(raw.rstrip("/"), shown, key, key_env, ids, locations_env, evidence)


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


def auth_headers(params: GhlParams, key: str) -> dict[str, str]:
    return {params.auth_header: f"{params.auth_scheme} {key}" if params.auth_scheme else key}
