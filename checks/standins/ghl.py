"""Stand-in for a GHL OAuth proxy: ours, in front of HighLevel's API 2.0 (``services.leadconnectorhq.com``).

It lives on a host name of its own, :data:`HOST` (``ghl-proxy.standin.local``): the demo and the tests set
``GHL_PROXY_URL={standins}/ghl-proxy.standin.local``, a URL the user configures and the product uses as given.

* ``GET /health``: ``{"status": "ok", ...}`` without a key (503 ``{"status": "down"}`` when down);
* ``GET /locations/{id}``: needs the API key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``), then
  answers as GHL's Get Sub-Account does, forwarded: 200 ``{"location": {"id", "name", "companyId", ...}}``
  or GHL's error bodies ``{"statusCode": N, "message": "..."}``. Like GHL it wants a ``Version`` header
  (``2021-07-28`` or ``2021-04-15``): 401 "version header was not found." without it, 401 "version header
  is invalid" for another value;
* anything else: 404 ``{"statusCode": 404, "message": "Cannot GET /path", "error": "Not Found"}``.

The proxy's own refusal of a missing or wrong key is 401 ``{"error": "unauthorized", ...}``, and, like a
careless proxy, echoes the credential headers it received: a probe must never copy them into a result.

A location registry (:class:`StandinLocation`: id, name, access) says what GHL answers per location:
``accessible`` (200), ``no_access`` (403 "The token does not have access to this location."),
``wrong_scope`` (401 "The token is not authorized for this scope."), ``company_token`` (401 "This authClass
type is not allowed to access this scope. ..."), ``agency_token`` (401 "Token's user type mismatch!"),
``token_expired`` (401 "Invalid JWT"), ``missing`` (404 "Location not found"). An id not in the registry
answers 403 no access, as GHL does for a location the proxy's tokens do not cover.

Named scenarios (:data:`SCENARIOS`), set with :meth:`GhlProxyStandin.set_scenario` or over
``POST /_standins/ghl-proxy.standin.local/scenario`` ``{"name": "no_access"}``:

``valid`` (the registry as it is; by default two accessible locations), ``open_proxy`` (serves without a
key), ``wrong_key`` (refuses every key), ``no_access`` and ``missing_location`` (the second location),
``wrong_scope``, ``user_type_mismatch`` (a Company token) and ``token_expired`` (every location),
``strips_version`` (the proxy drops the Version header), ``slow`` (answers after ``slow_s`` seconds),
``500`` (echoing the request headers in its body), ``429`` (with ``Retry-After``), ``garbage`` (an HTML
page with status 200), ``down`` (503 everywhere, health included).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from checks.standins.provider import Response, json_response
from checks.standins.scenarios import Scenarios

__all__ = [
    "ACCESS",
    "DEFAULT_API_KEY",
    "DEFAULT_COMPANY_ID",
    "DEFAULT_LOCATIONS",
    "HOST",
    "SCENARIOS",
    "GhlProxyStandin",
    "StandinLocation",
]

HOST = "ghl-proxy.standin.local"
DEFAULT_API_KEY = "ghlpx_sandbox_4f1c9e2b7a6d3f80c5e1"
DEFAULT_COMPANY_ID = "Zk3oQ1fQ8pLmN2rT5vWx"
VERSIONS = ("2021-07-28", "2021-04-15")
"""``Version`` values GHL accepts on the Get Sub-Account route."""

ACCESS = ("accessible", "no_access", "wrong_scope", "company_token", "agency_token", "token_expired", "missing")
SCENARIOS = (
    "valid",
    "open_proxy",
    "wrong_key",
    "no_access",
    "wrong_scope",
    "user_type_mismatch",
    "token_expired",
    "strips_version",
    "missing_location",
    "slow",
    "500",
    "429",
    "garbage",
    "down",
)
_SCENARIO_ACCESS = {
    "wrong_scope": "wrong_scope",
    "user_type_mismatch": "company_token",
    "token_expired": "token_expired",
}
"""Scenarios that change what GHL answers for every location."""
_SECOND_ACCESS = {"no_access": "no_access", "missing_location": "missing"}
"""Scenarios that change it for the second location of the registry only."""

_GHL_ERRORS: dict[str, tuple[int, str]] = {
    "no_access": (403, "The token does not have access to this location."),
    "wrong_scope": (401, "The token is not authorized for this scope."),
    "company_token": (
        401,
        "This authClass type is not allowed to access this scope. "
        "Please verify your IAM configuration if this is not the case.",
    ),
    "agency_token": (401, "Token's user type mismatch!"),
    "token_expired": (401, "Invalid JWT"),
    "missing": (404, "Location not found"),
}
_LOCATION_PATH = re.compile(r"^/locations/([^/]+)/?$")
_ECHOED = ("authorization", "x-api-key", "version", "user-agent")


@dataclass(frozen=True)
class StandinLocation:
    """One GHL sub-account (location) the proxy knows, and what GHL answers for it."""

    id: str
    name: str
    access: str = "accessible"
    """One of :data:`ACCESS`."""
    timezone: str = "America/Chicago"


DEFAULT_LOCATIONS = (
    StandinLocation("ve9EPM428h8vShlRW1KT", "Readiness Test Location"),
    StandinLocation("Kx2pQ7mN4bV8cZ1aR6tY", "Readiness Test Location (Workflows)"),
)


class GhlProxyStandin:
    """A GHL OAuth proxy and the GHL answers behind it. Thread-safe.

    ``calls`` lists the requests served (``"GET /locations/ID"``); ``user_agents`` the User-Agent of each;
    ``versions`` the ``Version`` header of each (None when absent); ``keyed`` whether each carried a key.
    """

    host = HOST

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        locations: tuple[StandinLocation, ...] = DEFAULT_LOCATIONS,
        company_id: str = DEFAULT_COMPANY_ID,
        scenario: str = "valid",
        slow_s: float = 3.0,
        retry_after: int = 1,
    ) -> None:
        self.api_key = api_key
        self.company_id = company_id
        self.slow_s = slow_s
        self.retry_after = retry_after
        self._initial = tuple(locations)
        self._lock = threading.Lock()
        self._locations: dict[str, StandinLocation] = {}
        self.scenarios = Scenarios("the GHL proxy", SCENARIOS)
        self.calls: list[str] = []
        self.user_agents: list[str] = []
        self.versions: list[str | None] = []
        self.keyed: list[bool] = []
        self.reset()
        self.set_scenario(scenario)

    # -- state helpers ----------------------------------------------------------------------------------------

    @property
    def scenario(self) -> str:
        return self.scenarios.name

    def set_scenario(self, name: str, **options: Any) -> None:
        """Switch to one of :data:`SCENARIOS`; ValueError names them for anything else."""
        self.scenarios.set(name, **options)

    @property
    def location_ids(self) -> list[str]:
        with self._lock:
            return list(self._locations)

    def set_location(self, location_id: str, name: str | None = None, access: str = "accessible") -> None:
        """Add a location to the registry, or change its name or access (one of :data:`ACCESS`)."""
        if access not in ACCESS:
            raise ValueError(f"unknown access {access!r}; choose one of {', '.join(ACCESS)}")
        with self._lock:
            known = self._locations.get(location_id)
            if known is None:
                self._locations[location_id] = StandinLocation(location_id, name or location_id, access)
            else:
                self._locations[location_id] = replace(known, name=name or known.name, access=access)

    def reset(self) -> None:
        """Back to ``valid``, the initial registry, and no calls recorded."""
        self.scenarios.reset()
        with self._lock:
            self._locations = {loc.id: loc for loc in self._initial}
            self.calls.clear()
            self.user_agents.clear()
            self.versions.clear()
            self.keyed.clear()

    # -- HTTP -------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        presented = _presented_key(headers)
        with self._lock:
            self.calls.append(f"{method} {path}")
            self.user_agents.append(headers.get("user-agent", ""))
            self.versions.append(headers.get("version"))
            self.keyed.append(presented is not None)
        scenario = self.scenarios.name
        if scenario == "slow":
            time.sleep(self.slow_s)  # outside the lock: other requests go on meanwhile
        elif scenario == "500":
            echoed = {name: headers[name] for name in _ECHOED if name in headers}
            return json_response(500, {"statusCode": 500, "message": "Internal server error", "headers": echoed})
        elif scenario == "429":
            return json_response(
                429, {"statusCode": 429, "message": "Too Many Requests"}, {"Retry-After": str(self.retry_after)}
            )
        elif scenario == "garbage":
            page = b"<html><head><title>Sign in</title></head><body>Please sign in to continue</body></html>"
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page
        elif scenario == "down":
            if path == "/health":
                return json_response(503, {"status": "down", "ghl": "unreachable"}, {"Retry-After": "30"})
            return json_response(503, {"statusCode": 503, "message": "Service Unavailable"})
        if method != "GET":
            return _not_found(method, path)
        if path == "/health":
            with self._lock:
                count = len(self._locations)
            return json_response(
                200, {"status": "ok", "service": "ghl-oauth-proxy", "ghl": "reachable", "tokens": count}
            )
        match = _LOCATION_PATH.match(path)
        if match is None:
            return _not_found(method, path)
        if scenario != "open_proxy" and (scenario == "wrong_key" or presented != self.api_key):
            echoed = {name: headers[name] for name in ("authorization", "x-api-key") if name in headers}
            refusal = {"error": "unauthorized", "message": "Missing or invalid API key", "received": echoed}
            return json_response(401, refusal, {"WWW-Authenticate": 'Bearer realm="ghl-proxy"'})
        version = None if scenario == "strips_version" else headers.get("version")
        return self._ghl(scenario, match.group(1), version)

    def _ghl(self, scenario: str, location_id: str, version: str | None) -> Response:
        """What GHL answers the proxy's forwarded ``GET /locations/{id}``."""
        if not version:
            return _ghl_error(401, "version header was not found.")
        if version not in VERSIONS:
            return _ghl_error(401, "version header is invalid")
        with self._lock:
            location = self._locations.get(location_id)
            second = list(self._locations)[1:2]
        if location is None:
            return _ghl_error(*_GHL_ERRORS["no_access"])
        access = _SCENARIO_ACCESS.get(scenario) or (
            _SECOND_ACCESS[scenario] if scenario in _SECOND_ACCESS and location_id in second else location.access
        )
        if access != "accessible":
            status, message = _GHL_ERRORS[access]
            return _ghl_error(status, message, "Not Found" if status == 404 else None)
        return json_response(200, {"location": self._location(location)})

    def _location(self, location: StandinLocation) -> dict[str, Any]:
        return {
            "id": location.id,
            "companyId": self.company_id,
            "name": location.name,
            "domain": "",
            "address": "100 Test Street",
            "city": "Austin",
            "state": "TX",
            "logoUrl": "",
            "country": "US",
            "postalCode": "78701",
            "website": "https://example.com",
            "timezone": location.timezone,
            "firstName": "Readiness",
            "lastName": "Sandbox",
            "email": "sandbox@example.com",
            "phone": "+15125550100",
            "business": {"name": location.name, "address": "100 Test Street", "city": "Austin", "country": "US"},
            "social": {},
            "settings": {"allowDuplicateContact": False, "allowDuplicateOpportunity": False},
            "reseller": {},
        }

    # -- control surface (/_standins/ghl-proxy.standin.local/ACTION) -----------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``scenario`` (POST {name}: switch; GET: the current one and the choices), ``location`` (POST
        {id, name?, access?}: add or change a registry entry), ``reset`` (POST), ``state`` (GET: scenario,
        the registry, how many calls were served; never the key)."""
        return self.scenarios.control(
            method,
            action,
            payload,
            apply=self.set_scenario,
            reset=self.reset,
            state=self._state,
            writes={"location": self._location_command},
        )

    def _state(self) -> dict[str, Any]:
        with self._lock:
            locations = [{"id": loc.id, "name": loc.name, "access": loc.access} for loc in self._locations.values()]
            return {"locations": locations, "calls": len(self.calls)}

    def _location_command(self, payload: Any) -> dict[str, Any]:
        self.set_location(str(payload["id"]), payload.get("name"), payload.get("access", "accessible"))
        return {"id": payload["id"]}


def _presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; None when neither is there."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or None


def _ghl_error(status: int, message: str, error: str | None = None) -> Response:
    body: dict[str, Any] = {"statusCode": status, "message": message}
    if error:
        body["error"] = error
    return json_response(status, body)


def _not_found(method: str, path: str) -> Response:
    return _ghl_error(404, f"Cannot {method} {path}", "Not Found")
