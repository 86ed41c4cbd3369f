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

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.result import Result

__all__ = ["GhlParams", "ghl"]


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
    # The probes (and the outbound HTTP they use) load when a check runs: `readiness validate` needs the params.
    from checks.builtin.ghl_locations import probe_locations
    from checks.builtin.ghl_proxy import probe_proxy
    from checks.builtin.ghl_setup import read_setup
    from checks.core.outbound import NoAnswer

    setup = read_setup(params, ctx)
    if isinstance(setup, Result):
        return setup
    try:
        if params.probe == "proxy":
            return await probe_proxy(params, ctx, setup)
        return await probe_locations(params, ctx, setup)
    except NoAnswer as exc:
        return exc.result
