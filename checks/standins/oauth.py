"""Stand-ins for the OAuth 2.0 token endpoints of Google, Microsoft and GoHighLevel.

One provider class per host, each a :class:`~checks.standins.server.Provider`:

* :class:`GoogleOAuthStandin`: ``oauth2.googleapis.com`` ``POST /token``. A refresh answers
  ``{"access_token": "ya29.…", "expires_in": 3599, "scope": …, "token_type": "Bearer"}`` and, like
  Google, no new refresh token. An ``authorization_code`` grant from a known client answers
  ``invalid_grant`` "Malformed auth code." (a provider probe uses that to validate a client without a user).
* :class:`MicrosoftOAuthStandin`: ``login.microsoftonline.com`` ``POST /{tenant}/oauth2/v2.0/token``.
  Rotates refresh tokens; errors carry ``error_codes``, ``timestamp``, ``trace_id`` and
  ``correlation_id`` and the ``AADSTS…`` codes the real service uses (90002 tenant not found,
  700016 unknown application, 7000215 invalid secret, 7000222 expired secret, 70000 invalid grant).
* :class:`GhlOAuthStandin`: ``services.leadconnectorhq.com`` ``POST /oauth/token``. Rotates refresh
  tokens (a used one stops working) and answers ``expires_in`` 86399, ``userType``, ``locationId``…

Shared state, per provider: registered clients (``client_id`` -> secret), live refresh tokens (-> the
account they were granted for), calls counted per refresh token, per account and in total, rotation on
or off, and one *scenario* at a time that makes the endpoint misbehave:

==========================  ======================================================================
``ok``                      normal service (the default)
``slow`` (``seconds``)      sleep, then answer normally (the grant is used even if the client left)
``500`` (``status``)        a server error (500 unless ``status`` says 502, 503, …)
``429`` (``retry_after``)   too many requests, with a ``Retry-After`` header in seconds
``garbage``                 200 with an HTML body, not JSON
``invalid_grant``           every refresh fails ``invalid_grant``; with ``refresh_token``, only that
                            token is revoked (a persistent change, not a scenario)
``omit_refresh_token``      succeed without a ``refresh_token`` in the answer (and keep the old one)
==========================  ======================================================================

A scenario lasts until replaced, or for ``times`` requests. Test helpers in Python:
:meth:`~_TokenStandin.register_client`, :meth:`~_TokenStandin.grant` (as if a user consented: returns a
refresh token), :meth:`~_TokenStandin.set_scenario`, :meth:`~_TokenStandin.revoke`,
:meth:`~_TokenStandin.counters`, :meth:`~_TokenStandin.latest`. The same over HTTP for a test in another
process: ``/_standins/HOST/ACTION`` with a JSON body (see :meth:`~_TokenStandin.control`).

Every token issued is random; none is ever a constant.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

from checks.standins.provider import Response, json_response

__all__ = [
    "GHL_HOST",
    "GOOGLE_HOST",
    "MICROSOFT_HOST",
    "SCENARIOS",
    "GhlOAuthStandin",
    "GoogleOAuthStandin",
    "MicrosoftOAuthStandin",
]

GOOGLE_HOST = "oauth2.googleapis.com"
MICROSOFT_HOST = "login.microsoftonline.com"
GHL_HOST = "services.leadconnectorhq.com"

SCENARIOS = ("ok", "slow", "500", "429", "garbage", "invalid_grant", "omit_refresh_token")

_GARBAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream answered something unexpected.</p></body></html>"
)


@dataclass
class _Grant:
    """What one refresh token stands for."""

    account: str
    client_id: str
    scope: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Scenario:
    name: str = "ok"
    seconds: float = 0.0
    status: int = 500
    retry_after: int | str | None = None
    """Seconds, or an HTTP-date (both forms are legal in ``Retry-After``)."""
    times: int | None = None


@dataclass
class _Call:
    """One parsed token request."""

    params: dict[str, str]
    client_id: str | None
    client_secret: str | None
    basic_auth: bool
    tenant: str = ""


class _TokenStandin:
    """The behaviour the three token endpoints share; subclasses speak each provider's dialect.

    Thread-safe: the stand-in server calls :meth:`handle` from many threads at once.
    """

    host: ClassVar[str]
    rotates_by_default: ClassVar[bool] = False
    expires_in: int = 3599

    def __init__(self, *, rotate: bool | None = None, retire_used: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.rotate = self.rotates_by_default if rotate is None else rotate
        """Issue a new refresh token on every refresh."""
        self.retire_used = retire_used
        """When rotating, the presented refresh token stops working (GHL does this; Microsoft keeps it)."""
        self._clients: dict[str, str] = {}
        self._expired_secrets: set[str] = set()
        self._live: dict[str, _Grant] = {}
        self._issued: dict[str, str] = {}  # every refresh token ever issued -> account (retired ones too)
        self._latest: dict[str, str] = {}  # account -> the latest refresh token issued for it
        self._last_access: dict[str, str] = {}  # account -> the latest access token issued for it
        self._by_token: Counter[str] = Counter()
        self._by_account: Counter[str] = Counter()
        self._total = 0
        self._scenario = _Scenario()

    # -- test helpers -------------------------------------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str, **extra: Any) -> None:
        """Register an OAuth client (an app registration) with its secret."""
        with self._lock:
            self._clients[client_id] = client_secret
            self._expired_secrets.discard(client_id)

    def grant(self, account: str, client_id: str, scope: str = "", **extra: Any) -> str:
        """Issue a refresh token for ``account``, as if the user had just consented to ``client_id``."""
        with self._lock:
            return self._issue_refresh(_Grant(account, client_id, scope or self.default_scope, dict(extra)))

    def grant_many(self, accounts: list[str], client_id: str, scope: str = "") -> dict[str, str]:
        """:meth:`grant` for many accounts at once: account -> refresh token."""
        return {account: self.grant(account, client_id, scope) for account in accounts}

    def set_scenario(self, name: str, *, seconds: float = 0.0, status: int = 500, retry_after: int | str | None = None,
                     times: int | None = None, refresh_token: str | None = None) -> None:
        """Make the endpoint misbehave (see the module docstring); ``set_scenario("ok")`` restores it."""
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
        if name == "invalid_grant" and refresh_token is not None:
            self.revoke(refresh_token)
            return
        with self._lock:
            self._scenario = _Scenario(name, float(seconds), int(status), retry_after, times)

    def revoke(self, refresh_token: str) -> None:
        """The user revoked access (or the token expired): this refresh token answers ``invalid_grant``."""
        with self._lock:
            self._live.pop(refresh_token, None)

    def revoke_account(self, account: str) -> None:
        """Revoke every refresh token of ``account``."""
        with self._lock:
            for token in [t for t, g in self._live.items() if g.account == account]:
                del self._live[token]

    def expire_secret(self, client_id: str) -> None:
        """The client's secret has expired (Microsoft answers AADSTS7000222; others treat it as wrong)."""
        with self._lock:
            self._expired_secrets.add(client_id)

    def set_rotation(self, on: bool, retire_used: bool | None = None) -> None:
        with self._lock:
            self.rotate = on
            if retire_used is not None:
                self.retire_used = retire_used

    def counters(self) -> dict[str, Any]:
        """``{"total": n, "by_account": {account: n}}``: token requests seen (scenario failures included)."""
        with self._lock:
            return {"total": self._total, "by_account": dict(self._by_account)}

    def calls_for(self, refresh_token: str) -> int:
        """How many token requests presented this refresh token."""
        with self._lock:
            return self._by_token[refresh_token]

    def latest(self, account: str | None = None) -> Any:
        """The latest refresh token issued for ``account`` (or every account's, as a dict)."""
        with self._lock:
            return dict(self._latest) if account is None else self._latest.get(account)

    def last_access_token(self, account: str) -> str | None:
        with self._lock:
            return self._last_access.get(account)

    def issued_tokens(self) -> list[str]:
        """Every refresh and access token this stand-in ever issued (for scans that must not find them)."""
        with self._lock:
            return [*self._issued, *self._last_access.values()]

    def is_live(self, refresh_token: str) -> bool:
        with self._lock:
            return refresh_token in self._live

    def reset(self) -> None:
        """Forget clients, grants, counters and the scenario."""
        with self._lock:
            self._clients.clear()
            self._expired_secrets.clear()
            self._live.clear()
            self._issued.clear()
            self._latest.clear()
            self._last_access.clear()
            self._by_token.clear()
            self._by_account.clear()
            self._total = 0
            self._scenario = _Scenario()

    # -- control surface ------------------------------------------------------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``/_standins/HOST/ACTION``, JSON in and out:

        * POST ``register_client`` {client_id, client_secret, tenant?}; ``expire_secret`` {client_id};
        * POST ``grant`` {account, client_id, scope?, …} -> {refresh_token};
          ``grant_many`` {accounts: [...], client_id, scope?} -> {tokens: {account: refresh_token}};
        * POST ``scenario`` {name, seconds?, status?, retry_after?, times?, refresh_token?};
        * POST ``revoke`` {refresh_token}; ``rotation`` {on, retire_used?}; ``reset``;
        * GET ``counters`` -> {total, by_account}; ``latest`` -> {account: refresh_token};
          ``state`` -> clients (ids only), live grants, scenario, rotation.
        """
        if action == "counters":
            return 200, self.counters()
        if action == "latest":
            return 200, self.latest()
        if action == "state":
            with self._lock:
                return 200, {
                    "clients": sorted(self._clients), "live_grants": len(self._live), "rotate": self.rotate,
                    "retire_used": self.retire_used, "scenario": vars(self._scenario).copy(),
                }
        if method != "POST":
            return 405, {"error": f"{action} needs POST"}
        if action == "register_client":
            args = {k: v for k, v in payload.items() if k not in ("client_id", "client_secret")}
            self.register_client(str(payload["client_id"]), str(payload["client_secret"]), **args)
        elif action == "expire_secret":
            self.expire_secret(str(payload["client_id"]))
        elif action == "grant":
            args = {k: v for k, v in payload.items() if k not in ("account", "client_id", "scope")}
            token = self.grant(str(payload["account"]), str(payload["client_id"]), str(payload.get("scope", "")),
                               **args)
            return 200, {"refresh_token": token}
        elif action == "grant_many":
            tokens = self.grant_many([str(a) for a in payload["accounts"]], str(payload["client_id"]),
                                     str(payload.get("scope", "")))
            return 200, {"tokens": tokens}
        elif action == "scenario":
            self.set_scenario(
                str(payload["name"]), seconds=float(payload.get("seconds", 0.0)),
                status=int(payload.get("status", 500)), retry_after=payload.get("retry_after"),
                times=payload.get("times"), refresh_token=payload.get("refresh_token"),
            )
        elif action == "revoke":
            self.revoke(str(payload["refresh_token"]))
        elif action == "rotation":
            self.set_rotation(bool(payload["on"]), payload.get("retire_used"))
        elif action == "reset":
            self.reset()
        else:
            return 404, {"error": f"unknown action {action!r}"}
        return 200, {"ok": True}

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        tenant = self._match_path(path)
        if tenant is None:
            return self._not_found(method, path)
        if method != "POST":
            return self._method_not_allowed(method)
        call = _parse(headers, body)
        call.tenant = tenant
        refresh = call.params.get("refresh_token", "") if call.params.get("grant_type") == "refresh_token" else ""
        with self._lock:
            self._total += 1
            if refresh:
                self._by_token[refresh] += 1
                account = self._issued.get(refresh)
                if account is not None:
                    self._by_account[account] += 1
            scenario = self._take_scenario()
        if scenario.name == "slow":
            time.sleep(scenario.seconds)
        elif scenario.name == "500":
            return self._server_error(scenario.status)
        elif scenario.name == "429":
            retry = scenario.retry_after
            return self._too_many(retry)
        elif scenario.name == "garbage":
            return 200, {"Content-Type": "text/html; charset=UTF-8"}, _GARBAGE
        with self._lock:
            return self._token(call, scenario)

    def _take_scenario(self) -> _Scenario:
        scenario = self._scenario
        if scenario.times is not None:
            scenario.times -= 1
            if scenario.times <= 0:
                self._scenario = _Scenario()
        return scenario

    def _token(self, call: _Call, scenario: _Scenario) -> Response:
        problem = self._check_client(call)
        if problem is not None:
            return problem
        grant_type = call.params.get("grant_type", "")
        if grant_type == "refresh_token":
            token = call.params.get("refresh_token", "")
            if not token:
                return self._missing("refresh_token")
            grant = self._live.get(token)
            if grant is None or scenario.name == "invalid_grant":
                return self._invalid_grant("refresh_token")
            if grant.client_id != call.client_id:
                return self._wrong_client()
            return self._refreshed(token, grant, omit=scenario.name == "omit_refresh_token")
        if grant_type == "authorization_code":
            if not call.params.get("code"):
                return self._missing("code")
            return self._invalid_grant("code")
        if not grant_type:
            return self._missing("grant_type")
        return self._unsupported_grant(grant_type)

    def _refreshed(self, token: str, grant: _Grant, *, omit: bool) -> Response:
        access = self._new_access(grant)
        self._last_access[grant.account] = access
        new_refresh: str | None = None
        if self.rotate and not omit:
            new_refresh = self._issue_refresh(grant)
            if self.retire_used:
                self._live.pop(token, None)
        return self._success(access, new_refresh, grant)

    def _issue_refresh(self, grant: _Grant) -> str:
        token = self._new_refresh(grant)
        self._live[token] = grant
        self._issued[token] = grant.account
        self._latest[grant.account] = token
        return token

    def _check_client(self, call: _Call) -> Response | None:
        if not call.client_id:
            return self._missing("client_id")
        secret = self._clients.get(call.client_id)
        if secret is None:
            return self._unknown_client(call)
        if call.client_secret is None or not secrets.compare_digest(call.client_secret, secret):
            return self._bad_secret(call)
        if call.client_id in self._expired_secrets:
            return self._expired_secret(call)
        return None

    # -- the provider's dialect (overridden) ----------------------------------------------------------------------

    default_scope: ClassVar[str] = ""

    def _match_path(self, path: str) -> str | None:
        """``""`` (or the tenant) when ``path`` is the token endpoint, else None."""
        raise NotImplementedError

    def _new_access(self, grant: _Grant) -> str:
        raise NotImplementedError

    def _new_refresh(self, grant: _Grant) -> str:
        raise NotImplementedError

    def _success(self, access: str, refresh: str | None, grant: _Grant) -> Response:
        raise NotImplementedError

    def _error(self, status: int, error: str, description: str, code: int | None = None,
               headers: Mapping[str, str] | None = None) -> Response:
        body: dict[str, Any] = {"error": error, "error_description": description}
        return json_response(status, body, {**_NO_STORE, **(headers or {})})

    def _not_found(self, method: str, path: str) -> Response:
        return 404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>404. That's an error.</body></html>"

    def _method_not_allowed(self, method: str) -> Response:
        return 405, {"Content-Type": "text/html; charset=UTF-8", "Allow": "POST"}, b"<html>405</html>"

    def _missing(self, name: str) -> Response:
        return self._error(400, "invalid_request", f"Missing required parameter: {name}")

    def _unsupported_grant(self, grant_type: str) -> Response:
        return self._error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _unknown_client(self, call: _Call) -> Response:
        return self._error(401, "invalid_client", "The OAuth client was not found.")

    def _bad_secret(self, call: _Call) -> Response:
        return self._error(401, "invalid_client", "Unauthorized")

    def _expired_secret(self, call: _Call) -> Response:
        return self._bad_secret(call)

    def _wrong_client(self) -> Response:
        return self._error(400, "unauthorized_client", "Unauthorized")

    def _invalid_grant(self, what: str) -> Response:
        raise NotImplementedError

    def _server_error(self, status: int) -> Response:
        return self._error(status, "internal_failure", "Backend Error")

    def _too_many(self, retry_after: int | str | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self._error(429, "rate_limit_exceeded", "Rate Limit Exceeded", headers=headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host}, rotate={self.rotate})"


_NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}


# ------------------------------------------------------------------------------------------------- Google


class GoogleOAuthStandin(_TokenStandin):
    """``oauth2.googleapis.com``: Google's token endpoint. Does not rotate refresh tokens."""

    host = GOOGLE_HOST
    rotates_by_default = False
    expires_in = 3599
    default_scope = "https://www.googleapis.com/auth/calendar.readonly"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._disabled: set[str] = set()

    def disable_client(self, client_id: str) -> None:
        """The client was disabled in the Cloud Console: every token request answers 401 ``disabled_client``."""
        with self._lock:
            self._disabled.add(client_id)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._disabled.clear()

    def _check_client(self, call: _Call) -> Response | None:
        if call.client_id in self._disabled and call.client_id in self._clients:
            return self._error(401, "disabled_client", "The OAuth client was disabled.")
        return super()._check_client(call)

    def _match_path(self, path: str) -> str | None:
        return "" if path.rstrip("/") == "/token" else None

    def _new_access(self, grant: _Grant) -> str:
        return "ya29.a0" + secrets.token_urlsafe(120)

    def _new_refresh(self, grant: _Grant) -> str:
        return "1//0g" + secrets.token_urlsafe(75)

    def _success(self, access: str, refresh: str | None, grant: _Grant) -> Response:
        body: dict[str, Any] = {"access_token": access, "expires_in": self.expires_in, "scope": grant.scope,
                                "token_type": "Bearer"}
        if refresh is not None:
            body["refresh_token"] = refresh
        return json_response(200, body, _NO_STORE)

    def _missing(self, name: str) -> Response:
        if name == "client_id":
            return self._error(400, "invalid_request", "Could not determine client ID from request.")
        return super()._missing(name)

    def _invalid_grant(self, what: str) -> Response:
        if what == "code":
            return self._error(400, "invalid_grant", "Malformed auth code.")
        return self._error(400, "invalid_grant", "Token has been expired or revoked.")


# ---------------------------------------------------------------------------------------------- Microsoft


AADSTS_ANSWERS: Mapping[int, tuple[int, str, str]] = {
    7000112: (400, "unauthorized_client", "Application '{app}'(MaxAI) is disabled."),
    7000229: (400, "invalid_client", "The client application {app} is missing service principal in the tenant "
              "{tenant}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"),
    70002: (400, "invalid_client", "The client does not exist or is not enabled for consumers."),
    700025: (401, "invalid_client", "Client is public so neither 'client_assertion' nor 'client_secret' should be "
             "presented."),
    53003: (400, "access_denied", "Access has been blocked by Conditional Access policies. The access policy does "
            "not allow token issuance."),
    50194: (400, "invalid_request", "Application '{app}'(MaxAI) is not configured as a multi-tenant application. "
            "Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use "
            "a tenant-specific endpoint or configure the application to be multi-tenant."),
    900023: (400, "invalid_request", "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a "
             "valid external domain."),
    50059: (400, "invalid_request", "No tenant-identifying information found in either the request or implied by "
            "any provided credentials."),
    7000218: (401, "invalid_client", "The request body must contain the following parameter: 'client_assertion' "
              "or 'client_secret'."),
    700027: (401, "invalid_client", "Client assertion failed signature validation."),
    90014: (400, "invalid_request", "The required field 'client_secret' is missing from the credential. Ensure "
            "that you have all the necessary parameters for the login request."),
    900144: (400, "invalid_request", "The request body must contain the following parameter: 'client_id'."),
    70011: (400, "invalid_scope", "The provided request must include a 'scope' input parameter. The provided value "
            "for the input parameter 'scope' is not valid."),
    90009: (400, "invalid_request", "Application '{app}'(MaxAI) is requesting a token for itself. This scenario is "
            "supported only if resource is specified using the GUID based App Identifier."),
    500011: (400, "invalid_resource", "The resource principal named https://graph.microsoft.com was not found in "
             "the tenant named {tenant}. This can happen if the application has not been installed by the "
             "administrator of the tenant or consented to by any user in the tenant."),
    65001: (400, "invalid_grant", "The user or administrator has not consented to use the application with ID "
            "'{app}' named 'MaxAI'. Send an interactive authorization request for this user and resource."),
    50011: (400, "invalid_request", "The redirect URI 'https://app.example/callback' specified in the request does "
            "not match the redirect URIs configured for the application '{app}'."),
    700054: (400, "invalid_request", "response_type 'id_token' is not enabled for the application."),
    9002313: (400, "invalid_request", "Invalid request. Request is malformed or invalid."),
    50034: (400, "invalid_grant", "The user account {{EUII Hidden}} does not exist in the {tenant} directory."),
    50126: (400, "invalid_grant", "Error validating credentials due to invalid username or password."),
    50076: (400, "invalid_grant", "Due to a configuration change made by your administrator, or because you moved "
            "to a new location, you must use multi-factor authentication to access 'MaxAI'."),
    50079: (400, "interaction_required", "Due to a configuration change made by your administrator, or because you "
            "moved to a new location, you must enroll in multi-factor authentication to access 'MaxAI'."),
    50053: (400, "invalid_grant", "Your account is locked because you've tried to sign in too many times with an "
            "incorrect user ID or password."),
    50196: (400, "invalid_request", "The server terminated an operation because it encountered a client request "
            "loop. Please contact your app vendor."),
}
"""Codes the ``aadsts`` scenario can answer: code -> (HTTP status, ``error``, the message after ``AADSTSn: ``),
as login.microsoftonline.com words them (``{app}``, ``{tenant}`` filled in)."""

_MS_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")
_MS_SHARED_TENANTS = frozenset({"common", "organizations", "consumers"})


class MicrosoftOAuthStandin(_TokenStandin):
    """``login.microsoftonline.com``: the Microsoft identity platform v2.0 token endpoint. Rotates refresh
    tokens (the old one keeps working unless ``retire_used``, which the tests switch on to catch reuse).

    Also, for the ``oauth_microsoft`` kind:

    * ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's OpenID discovery document
      (``issuer`` ``https://login.microsoftonline.com/{tid}/v2.0``, ``token_endpoint``,
      ``authorization_endpoint``, ``jwks_uri``, ``tenant_region_scope``, ...); an unknown tenant answers
      400 ``invalid_tenant`` AADSTS90002 with ``error_codes`` [90002], ``timestamp``, ``trace_id``,
      ``correlation_id``;
    * the ``client_credentials`` grant (``scope`` must end in ``/.default``, else AADSTS1002012): an app-only
      JWT (``idtyp`` ``app``, ``roles`` from ``register_client(..., roles=[...])``), no refresh token.
      :meth:`token_info` tells :class:`~checks.standins.microsoft.GraphStandin` whom a token it issued is for;
    * the named scenarios of :attr:`scenarios` (shared with the Graph stand-in; each host ignores the
      names about the other): ``valid``; ``unknown_tenant`` (every tenant but the shared aliases is unknown:
      AADSTS90002); ``unknown_client`` (AADSTS700016); ``wrong_secret`` and ``secret_id_pasted`` (AADSTS7000215:
      the server cannot tell what was pasted, so the two answer alike); ``expired_secret`` (AADSTS7000222);
      ``aadsts`` (``code``: the client-credentials grant answers that code of :data:`AADSTS_ANSWERS` with
      Microsoft's own status, ``error`` and message);
      ``slow``, ``500``, ``429``, ``garbage`` as in the module docstring, for the discovery document too.
    """

    host = MICROSOFT_HOST
    rotates_by_default = True
    expires_in = 3599
    default_scope = "https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/Mail.Read"
    scenarios: ClassVar[tuple[str, ...]] = (
        "valid", "unknown_tenant", "unknown_client", "wrong_secret", "secret_id_pasted", "expired_secret",
        "secret_expiring", "redirect_missing", "registration_forbidden", "no_events", "token_expired",
        "aadsts", "slow", "500", "429", "garbage",
    )
    """Named scenarios of the Microsoft stand-ins (this one and ``graph.microsoft.com``)."""
    _STATE_SCENARIOS: ClassVar[frozenset[str]] = frozenset(
        {"unknown_tenant", "unknown_client", "wrong_secret", "secret_id_pasted", "expired_secret", "aadsts"}
    )
    _DISCOVERY: ClassVar[re.Pattern[str]] = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$")
    _GUID: ClassVar[re.Pattern[str]] = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
    _CONSUMERS_TID: ClassVar[str] = "9188040d-6c67-4c5b-b112-36a304b66dad"
    region: str = "NA"
    """``tenant_region_scope`` of every tenant's discovery document."""

    def __init__(self, *, rotate: bool | None = None, retire_used: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(rotate=rotate, retire_used=retire_used, clock=clock)
        self._tenants: set[str] = set()
        self._client_tenant: dict[str, str] = {}
        self._tenant_ids: dict[str, str] = {}  # a verified domain -> its tenant's GUID
        self._client_roles: dict[str, list[str]] = {}
        self._app_tokens: dict[str, tuple[str, str, list[str], int]] = {}  # token -> (client_id, tid, roles, exp)
        self._state_scenario = "valid"
        self._aadsts = 0

    def register_client(self, client_id: str, client_secret: str, **extra: Any) -> None:
        """Also takes ``tenant`` (a GUID or domain): the directory the app is registered in, and ``roles``:
        the application permissions admin-consented for it (the ``roles`` claim of its app-only tokens)."""
        tenant = str(extra.get("tenant") or "common")
        with self._lock:
            self._clients[client_id] = client_secret
            self._expired_secrets.discard(client_id)
            self._client_tenant[client_id] = tenant
            self._client_roles[client_id] = [str(r) for r in extra.get("roles") or ()]
            if tenant not in _MS_SHARED_TENANTS:
                self._tenants.add(tenant)

    def add_tenant(self, tenant: str, *, domains: tuple[str, ...] | list[str] = ()) -> None:
        """A directory (GUID or domain) that exists; ``domains`` are its verified domains (aliases of it)."""
        with self._lock:
            self._tenants.add(tenant)
            for domain in domains:
                self._tenants.add(domain)
                self._tenant_ids[domain] = tenant

    def set_scenario(self, name: str, *, seconds: float = 0.0, status: int = 500, retry_after: int | str | None = None,
                     times: int | None = None, refresh_token: str | None = None, code: int | None = None) -> None:
        """The token endpoint's own scenarios (module docstring) and the Microsoft ones (:attr:`scenarios`)."""
        if name == "aadsts" and int(code or 0) not in AADSTS_ANSWERS:
            raise ValueError(f"scenario 'aadsts' needs code, one of {', '.join(map(str, AADSTS_ANSWERS))}")
        if name == "aadsts":
            with self._lock:
                self._aadsts = int(code or 0)
        if name in ("valid", "ok"):
            with self._lock:
                self._state_scenario = "valid"
            super().set_scenario("ok")
        elif name in self._STATE_SCENARIOS:
            with self._lock:
                self._state_scenario = name
        elif name in self.scenarios and name not in SCENARIOS:
            return  # about graph.microsoft.com: nothing changes here
        else:
            super().set_scenario(name, seconds=seconds, status=status, retry_after=retry_after, times=times,
                                 refresh_token=refresh_token)

    def token_info(self, token: str) -> dict[str, Any] | None:
        """Whom an access token this stand-in issued is for: ``{"type": "app", "client_id", "tenant", "roles",
        "expired"}`` (client credentials) or ``{"type": "user", "account"}`` (the latest one of a refresh);
        None for a token it never issued."""
        with self._lock:
            app = self._app_tokens.get(token)
            if app is not None:
                client_id, tid, roles, exp = app
                return {"type": "app", "client_id": client_id, "tenant": tid, "roles": list(roles),
                        "expired": self._clock() >= exp}
            for account, access in self._last_access.items():
                if secrets.compare_digest(access, token):
                    return {"type": "user", "account": account}
        return None

    def issued_tokens(self) -> list[str]:
        """Every refresh and access token issued, app-only ones included."""
        with self._lock:
            app_tokens = list(self._app_tokens)
        return [*super().issued_tokens(), *app_tokens]

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._tenants.clear()
            self._client_tenant.clear()
            self._tenant_ids.clear()
            self._client_roles.clear()
            self._app_tokens.clear()
            self._state_scenario = "valid"

    def state(self) -> dict[str, Any]:
        """Tenants, clients (ids only) and the scenario: for ``GET /_standins/login.microsoftonline.com/state``."""
        with self._lock:
            return {"tenants": sorted(self._tenants), "clients": sorted(self._clients),
                    "scenario": self._state_scenario, "fault": vars(self._scenario).copy()}

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """The shared actions (module docstring), ``scenario`` with every name of :attr:`scenarios`, ``GET state``
        (tenants, client ids, scenario) and ``POST add_tenant`` {tenant, domains?}."""
        if action == "state":
            return 200, self.state()
        if action == "add_tenant" and method == "POST":
            self.add_tenant(str(payload["tenant"]), domains=[str(d) for d in payload.get("domains") or ()])
            return 200, {"ok": True}
        if action == "scenario" and method == "POST" and payload.get("name") == "aadsts":
            self.set_scenario("aadsts", code=payload.get("code"))
            return 200, {"ok": True}
        return super().control(method, action, payload)

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        match = self._DISCOVERY.match(path)
        if match is None:
            return super().handle(method, path, query, headers, body)
        if method not in ("GET", "HEAD"):
            return 405, {"Content-Type": "text/html; charset=UTF-8", "Allow": "GET"}, b"<html>405</html>"
        with self._lock:
            scenario = self._take_scenario()
        if scenario.name == "slow":
            time.sleep(scenario.seconds)
        elif scenario.name == "500":
            return self._server_error(scenario.status)
        elif scenario.name == "429":
            return self._too_many(scenario.retry_after)
        elif scenario.name == "garbage":
            return 200, {"Content-Type": "text/html; charset=UTF-8"}, _GARBAGE
        with self._lock:
            return self._discovery(match.group(1))

    def _tid(self, tenant: str) -> str:
        """The tenant's GUID: itself, the GUID of a verified domain, or a stable made-up one."""
        if self._GUID.match(tenant):
            return tenant.lower()
        if tenant == "consumers":
            return self._CONSUMERS_TID
        return self._tenant_ids.get(tenant) or str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant))

    def _known_tenant(self, tenant: str) -> bool:
        if tenant in _MS_SHARED_TENANTS:
            return True
        return tenant in self._tenants and self._state_scenario != "unknown_tenant"

    def _tenant_not_found(self, tenant: str, error: str = "invalid_request") -> Response:
        return self._aad(400, error, 90002,
                         f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                         "and are signing into the correct cloud. Check with your subscription administrator, "
                         "this may happen if there are no active subscriptions for the tenant.")

    def _discovery(self, tenant: str) -> Response:
        if not self._known_tenant(tenant):
            return self._tenant_not_found(tenant, "invalid_tenant")
        base = "https://login.microsoftonline.com"
        shared = tenant in ("common", "organizations")
        tid = "{tenantid}" if shared else self._tid(tenant)
        path = tenant if shared else tid
        doc: dict[str, Any] = {
            "token_endpoint": f"{base}/{path}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{path}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/{path}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{path}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{path}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                                 "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                                 "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/{path}/kerberos",
            "tenant_region_scope": None if shared or tenant == "consumers" else self.region,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return json_response(200, doc, {"Cache-Control": "max-age=86400, private",
                                        "Access-Control-Allow-Origin": "*", "x-ms-request-id": str(uuid.uuid4())})

    def _match_path(self, path: str) -> str | None:
        match = _MS_PATH.match(path)
        return match.group(1) if match else None

    def _token(self, call: _Call, scenario: _Scenario) -> Response:
        if not self._known_tenant(call.tenant):
            return self._tenant_not_found(call.tenant)
        if call.params.get("grant_type") == "client_credentials":
            return self._client_credentials(call)
        return super()._token(call, scenario)

    def _client_credentials(self, call: _Call) -> Response:
        if call.tenant in _MS_SHARED_TENANTS:
            return self._aad(400, "invalid_request", 50059,
                             "No tenant-identifying information found in either the request or implied by any "
                             "provided credentials.")
        problem = self._check_client(call)
        if problem is not None:
            return problem
        scope = call.params.get("scope", "")
        if not scope:
            return self._missing("scope")
        if not scope.endswith("/.default"):
            return self._aad(400, "invalid_scope", 1002012,
                             f"The provided value for scope {scope} is not valid. Client credential flows must have "
                             "a scope value with /.default suffixed to the resource identifier (application ID URI).")
        client_id = call.client_id or ""
        now, tid = int(self._clock()), self._tid(call.tenant)
        roles = list(self._client_roles.get(client_id, ()))
        header = {"typ": "JWT", "nonce": secrets.token_urlsafe(32), "alg": "RS256",
                  "x5t": secrets.token_urlsafe(20), "kid": secrets.token_urlsafe(20)}
        payload: dict[str, Any] = {"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{tid}/",
                                   "iat": now, "nbf": now, "exp": now + self.expires_in, "app_displayname": "MaxAI",
                                   "appid": client_id, "appidacr": "1", "idp": f"https://sts.windows.net/{tid}/",
                                   "idtyp": "app", "oid": str(uuid.uuid4()), "sub": str(uuid.uuid4()), "tid": tid,
                                   "uti": secrets.token_urlsafe(16), "ver": "1.0"}
        if roles:
            payload["roles"] = roles
        access = f"{_b64url(header)}.{_b64url(payload)}.{secrets.token_urlsafe(256)}"
        self._app_tokens[access] = (client_id, tid, roles, now + self.expires_in)
        body = {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                "access_token": access}
        return json_response(200, body, {**_NO_STORE, "x-ms-request-id": str(uuid.uuid4())})

    def _new_access(self, grant: _Grant) -> str:
        now = int(self._clock())
        tid = str(grant.extra.get("tenant") or uuid.uuid4())
        header = {"typ": "JWT", "nonce": secrets.token_urlsafe(32), "alg": "RS256",
                  "x5t": secrets.token_urlsafe(20), "kid": secrets.token_urlsafe(20)}
        payload = {"aud": "00000003-0000-0000-c000-000000000000", "iss": f"https://sts.windows.net/{tid}/",
                   "iat": now, "nbf": now, "exp": now + self.expires_in, "scp": grant.scope, "tid": tid,
                   "upn": grant.account, "oid": str(uuid.uuid4()), "uti": secrets.token_urlsafe(16), "ver": "1.0"}
        return f"{_b64url(header)}.{_b64url(payload)}.{secrets.token_urlsafe(256)}"

    def _new_refresh(self, grant: _Grant) -> str:
        return "0.A" + secrets.token_urlsafe(300)

    def _success(self, access: str, refresh: str | None, grant: _Grant) -> Response:
        body: dict[str, Any] = {"token_type": "Bearer", "scope": grant.scope, "expires_in": self.expires_in,
                                "ext_expires_in": self.expires_in, "access_token": access}
        if refresh is not None:
            body["refresh_token"] = refresh
        return json_response(200, body, {**_NO_STORE, "x-ms-request-id": str(uuid.uuid4())})

    def _aad(self, status: int, error: str, code: int, message: str,
             headers: Mapping[str, str] | None = None) -> Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.fromtimestamp(self._clock(), UTC)
        shown = stamp.strftime("%Y-%m-%d %H:%M:%SZ")
        description = f"AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {shown}"
        body = {"error": error, "error_description": description, "error_codes": [code], "timestamp": shown,
                "trace_id": trace, "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={code}"}
        return json_response(status, body, {**_NO_STORE, "x-ms-request-id": trace, **(headers or {})})

    def _error(self, status: int, error: str, description: str, code: int | None = None,
               headers: Mapping[str, str] | None = None) -> Response:
        return self._aad(status, error, code or 900144, description, headers)

    def _missing(self, name: str) -> Response:
        return self._aad(400, "invalid_request", 900144,
                         f"The request body must contain the following parameter: '{name}'.")

    def _unsupported_grant(self, grant_type: str) -> Response:
        return self._aad(400, "unsupported_grant_type", 70003,
                         "The app requested an unsupported grant type.")

    def _unknown_client(self, call: _Call) -> Response:
        return self._aad(400, "unauthorized_client", 700016,
                         f"Application with identifier '{call.client_id}' was not found in the directory "
                         f"'{call.tenant}'. This can happen if the application has not been installed by the "
                         "administrator of the tenant or consented to by any user in the tenant. You may have sent "
                         "your authentication request to the wrong tenant.")

    def _check_client(self, call: _Call) -> Response | None:
        if call.client_id and self._state_scenario == "unknown_client":
            return self._unknown_client(call)
        problem = super()._check_client(call)
        if problem is not None:
            return problem
        home = self._client_tenant.get(call.client_id or "", "common")
        if home not in _MS_SHARED_TENANTS and call.tenant not in _MS_SHARED_TENANTS \
                and self._tid(call.tenant) != self._tid(home):
            return self._unknown_client(call)
        if self._state_scenario in ("wrong_secret", "secret_id_pasted"):
            return self._bad_secret(call)
        if self._state_scenario == "expired_secret":
            return self._expired_secret(call)
        if self._state_scenario == "aadsts":
            status, error, message = AADSTS_ANSWERS[self._aadsts]
            return self._aad(status, error, self._aadsts, message.format(app=call.client_id, tenant=call.tenant))
        return None

    def _bad_secret(self, call: _Call) -> Response:
        return self._aad(401, "invalid_client", 7000215,
                         "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                         f"secret value, not the client secret ID, for a secret added to app '{call.client_id}'.")

    def _expired_secret(self, call: _Call) -> Response:
        return self._aad(401, "invalid_client", 7000222,
                         f"The provided client secret keys for app '{call.client_id}' are expired. Visit the Azure "
                         "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                         "certificate credentials for added security: https://aka.ms/certCreds.")

    def _wrong_client(self) -> Response:
        return self._aad(400, "invalid_grant", 70000,
                         "The provided value for the 'refresh_token' is not valid. The refresh token was issued to "
                         "a different client.")

    def _invalid_grant(self, what: str) -> Response:
        if what == "code":
            return self._aad(400, "invalid_grant", 9002313,
                             "Invalid request. Request is malformed or invalid.")
        return self._aad(400, "invalid_grant", 70000,
                         "Provided grant is invalid or malformed.")

    def _server_error(self, status: int) -> Response:
        return self._aad(status, "temporarily_unavailable", 90033 if status == 503 else 90100,
                         "A transient error has occurred. Please try again.")

    def _too_many(self, retry_after: int | str | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self._aad(429, "temporarily_unavailable", 50196,
                         "The server terminated an operation because it encountered a client request loop.",
                         headers)



# ----------------------------------------------------------------------------------------------------- GHL


class GhlOAuthStandin(_TokenStandin):
    """``services.leadconnectorhq.com``: HighLevel's OAuth 2.0 token endpoint. Rotates refresh tokens and
    retires the one presented (a refresh token works once)."""

    host = GHL_HOST
    rotates_by_default = True
    expires_in = 86399
    default_scope = "contacts.readonly calendars.readonly calendars/events.write locations.readonly"

    def __init__(self, *, rotate: bool | None = None, retire_used: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(rotate=rotate, retire_used=retire_used, clock=clock)

    def grant(self, account: str, client_id: str, scope: str = "", **extra: Any) -> str:
        """``account`` is the location (or company) id; ``extra`` may set ``userType``, ``companyId``."""
        extra.setdefault("userType", "Location")
        extra.setdefault("companyId", secrets.token_hex(10))
        extra.setdefault("userId", secrets.token_hex(10))
        return super().grant(account, client_id, scope, **extra)

    def _match_path(self, path: str) -> str | None:
        return "" if path.rstrip("/") == "/oauth/token" else None

    def _jwt(self, grant: _Grant, kind: str, lifetime: int) -> str:
        now = int(self._clock())
        payload = {"authClass": grant.extra.get("userType", "Location"), "authClassId": grant.account,
                   "source": "INTEGRATION", "sourceId": grant.client_id.split("-")[0], "channel": "OAUTH",
                   "primaryAuthClassId": grant.account, "oauthMeta": {"scopes": grant.scope.split(),
                                                                      "client": grant.client_id.split("-")[0]},
                   "iat": now, "exp": now + lifetime, "jti": secrets.token_hex(12), "type": kind}
        return f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url(payload)}.{secrets.token_urlsafe(32)}"

    def _new_access(self, grant: _Grant) -> str:
        return self._jwt(grant, "access", self.expires_in)

    def _new_refresh(self, grant: _Grant) -> str:
        return self._jwt(grant, "refresh", 365 * 86400)

    def _success(self, access: str, refresh: str | None, grant: _Grant) -> Response:
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in}
        if refresh is not None:
            body["refresh_token"] = refresh
        user_type = grant.extra.get("userType", "Location")
        body.update({"scope": grant.scope, "refreshTokenId": secrets.token_hex(12), "userType": user_type,
                     "companyId": grant.extra.get("companyId"), "userId": grant.extra.get("userId"),
                     "isBulkInstallation": False})
        if user_type == "Location":
            body["locationId"] = grant.account
        return json_response(200, body)

    def _error(self, status: int, error: str, description: str, code: int | None = None,
               headers: Mapping[str, str] | None = None) -> Response:
        return json_response(status, {"error": error, "error_description": description}, headers)

    def _missing(self, name: str) -> Response:
        return self._error(400, "invalid_request", f"Missing parameter: `{name}`")

    def _unsupported_grant(self, grant_type: str) -> Response:
        return self._error(400, "unsupported_grant_type", "Unsupported grant type: `grant_type` is invalid")

    def _unknown_client(self, call: _Call) -> Response:
        return self._error(401 if call.basic_auth else 400, "invalid_client", "Invalid client: client is invalid")

    def _bad_secret(self, call: _Call) -> Response:
        return self._unknown_client(call)

    def _wrong_client(self) -> Response:
        return self._error(400, "invalid_grant", "Invalid grant: refresh token is invalid")

    def _invalid_grant(self, what: str) -> Response:
        if what == "code":
            return self._error(400, "invalid_grant", "Invalid grant: authorization code is invalid")
        return self._error(400, "invalid_grant", "Invalid grant: refresh token is invalid")

    def _server_error(self, status: int) -> Response:
        return json_response(status, {"statusCode": status, "message": "Internal server error"})

    def _too_many(self, retry_after: int | str | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return json_response(429, {"statusCode": 429, "message": "Too Many Requests"}, headers)

    def _not_found(self, method: str, path: str) -> Response:
        return json_response(404, {"message": f"Cannot {method} {path}", "error": "Not Found", "statusCode": 404})


# ------------------------------------------------------------------------------------------------- helpers


def _parse(headers: Mapping[str, str], body: bytes) -> _Call:
    """Form (or JSON) parameters and the client's credentials (body, or HTTP Basic)."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    params: dict[str, str] = {}
    if kind == "application/json":
        try:
            loaded = json.loads(body or b"{}")
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            params = {str(k): str(v) for k, v in loaded.items() if v is not None}
    else:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {k: v[0] for k, v in parsed.items() if v}
    client_id = params.get("client_id") or None
    client_secret = params.get("client_secret")
    basic = False
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        if user:
            client_id, client_secret, basic = user, password, True
    return _Call(params, client_id, client_secret, basic)


def _b64url(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
