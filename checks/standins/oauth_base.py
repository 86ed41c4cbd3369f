"""What the OAuth 2.0 token endpoint stand-ins share: clients, grants, rotation, counters, scenarios, control.

:class:`TokenStandin` keeps, per provider: registered clients (``client_id`` -> secret), live refresh tokens
(-> the account they were granted for), calls counted per refresh token, per account and in total, rotation on
or off, and one *scenario* at a time (:class:`~checks.standins.scenarios.Scenarios`) that makes the endpoint
misbehave:

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
:meth:`~TokenStandin.register_client`, :meth:`~TokenStandin.grant` (as if a user consented: returns a
refresh token), :meth:`~TokenStandin.set_scenario`, :meth:`~TokenStandin.revoke`,
:meth:`~TokenStandin.counters`, :meth:`~TokenStandin.latest`. The same over HTTP for a test in another
process: ``/_standins/HOST/ACTION`` with a JSON body (see :meth:`~TokenStandin.control`).

Each provider's dialect (paths, token formats, error bodies) is a subclass in its own module:
``oauth_google``, ``oauth_microsoft``, ``oauth_ghl``. Every token issued is random; none is ever a constant.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

from checks.standins.provider import Response, json_response
from checks.standins.scenarios import Fault, Scenarios

__all__ = [
    "GARBAGE_HTML",
    "NO_STORE",
    "SCENARIOS",
    "Grant",
    "TokenRequest",
    "TokenStandin",
    "b64url",
    "parse_token_request",
]

SCENARIOS = ("ok", "slow", "500", "429", "garbage", "invalid_grant", "omit_refresh_token")

GARBAGE_HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The upstream answered something unexpected.</p></body></html>"
)


@dataclass
class Grant:
    """What one refresh token stands for."""

    account: str
    client_id: str
    scope: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TokenRequest:
    """One parsed token request."""

    params: dict[str, str]
    client_id: str | None
    client_secret: str | None
    basic_auth: bool
    tenant: str = ""


class TokenStandin:
    """The behaviour the three token endpoints share; subclasses speak each provider's dialect.

    Thread-safe: the stand-in server calls :meth:`handle` from many threads at once.
    """

    host: ClassVar[str]
    rotates_by_default: ClassVar[bool] = False
    expires_in: int = 3599

    def __init__(
        self, *, rotate: bool | None = None, retire_used: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.rotate = self.rotates_by_default if rotate is None else rotate
        """Issue a new refresh token on every refresh."""
        self.retire_used = retire_used
        """When rotating, the presented refresh token stops working (GHL does this; Microsoft keeps it)."""
        self._clients: dict[str, str] = {}
        self._expired_secrets: set[str] = set()
        self._live: dict[str, Grant] = {}
        self._issued: dict[str, str] = {}  # every refresh token ever issued -> account (retired ones too)
        self._latest: dict[str, str] = {}  # account -> the latest refresh token issued for it
        self._last_access: dict[str, str] = {}  # account -> the latest access token issued for it
        self._by_token: Counter[str] = Counter()
        self._by_account: Counter[str] = Counter()
        self._total = 0
        self.scenarios = self._scenarios()

    def _scenarios(self) -> Scenarios:
        """The endpoint's scenarios (module docstring): ``ok``, and faults that last ``times`` requests."""
        return Scenarios(
            self.host,
            SCENARIOS,
            default="ok",
            faults=SCENARIOS[1:],
            fault_defaults={"seconds": 0.0, "retry_after": None},
        )

    # -- test helpers -------------------------------------------------------------------------------------------

    def register_client(self, client_id: str, client_secret: str, **extra: Any) -> None:
        """Register an OAuth client (an app registration) with its secret."""
        with self._lock:
            self._clients[client_id] = client_secret
            self._expired_secrets.discard(client_id)

    def grant(self, account: str, client_id: str, scope: str = "", **extra: Any) -> str:
        """Issue a refresh token for ``account``, as if the user had just consented to ``client_id``."""
        with self._lock:
            return self._issue_refresh(Grant(account, client_id, scope or self.default_scope, dict(extra)))

    def grant_many(self, accounts: list[str], client_id: str, scope: str = "") -> dict[str, str]:
        """:meth:`grant` for many accounts at once: account -> refresh token."""
        return {account: self.grant(account, client_id, scope) for account in accounts}

    def set_scenario(
        self,
        name: str,
        *,
        seconds: float = 0.0,
        status: int = 500,
        retry_after: int | str | None = None,
        times: int | None = None,
        refresh_token: str | None = None,
        **options: Any,
    ) -> None:
        """Make the endpoint misbehave (see the module docstring); ``set_scenario("ok")`` restores it."""
        self.scenarios.check(name)
        if name == "invalid_grant" and refresh_token is not None:
            self.revoke(refresh_token)
            return
        self.scenarios.set(name, seconds=seconds, status=status, retry_after=retry_after, times=times, **options)

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
        self.scenarios.reset()

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
        return self.scenarios.control(
            method,
            action,
            payload,
            apply=self.set_scenario,
            reset=self.reset,
            state=self._state,
            reads={"counters": self.counters, "latest": self.latest},
            writes={
                "register_client": self._register_command,
                "expire_secret": self._expire_command,
                "grant": self._grant_command,
                "grant_many": self._grant_many_command,
                "revoke": lambda p: self.revoke(str(p["refresh_token"])),
                "rotation": lambda p: self.set_rotation(bool(p["on"]), p.get("retire_used")),
            },
        )

    def _state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "clients": sorted(self._clients),
                "live_grants": len(self._live),
                "rotate": self.rotate,
                "retire_used": self.retire_used,
            }

    def _register_command(self, payload: Any) -> None:
        args = {k: v for k, v in payload.items() if k not in ("client_id", "client_secret")}
        self.register_client(str(payload["client_id"]), str(payload["client_secret"]), **args)

    def _expire_command(self, payload: Any) -> None:
        self.expire_secret(str(payload["client_id"]))

    def _grant_command(self, payload: Any) -> dict[str, Any]:
        args = {k: v for k, v in payload.items() if k not in ("account", "client_id", "scope")}
        token = self.grant(str(payload["account"]), str(payload["client_id"]), str(payload.get("scope", "")), **args)
        return {"refresh_token": token}

    def _grant_many_command(self, payload: Any) -> dict[str, Any]:
        tokens = self.grant_many(
            [str(a) for a in payload["accounts"]], str(payload["client_id"]), str(payload.get("scope", ""))
        )
        return {"tokens": tokens}

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        tenant = self._match_path(path)
        if tenant is None:
            return self._not_found(method, path)
        if method != "POST":
            return self._method_not_allowed(method)
        call = parse_token_request(headers, body)
        call.tenant = tenant
        refresh = call.params.get("refresh_token", "") if call.params.get("grant_type") == "refresh_token" else ""
        with self._lock:
            self._total += 1
            if refresh:
                self._by_token[refresh] += 1
                account = self._issued.get(refresh)
                if account is not None:
                    self._by_account[account] += 1
        fault = self.scenarios.take_fault()
        answer = self._fault_answer(fault)
        if answer is not None:
            return answer
        with self._lock:
            return self._token(call, fault.name if fault else "ok")

    def _fault_answer(self, fault: Fault | None) -> Response | None:
        """What a fault answers (``slow`` sleeps, then None: answer normally)."""
        if fault is None:
            return None
        if fault.name == "slow":
            time.sleep(fault.seconds)
        elif fault.name == "500":
            return self._server_error(fault.status)
        elif fault.name == "429":
            return self._too_many(fault.retry_after)
        elif fault.name == "garbage":
            return 200, {"Content-Type": "text/html; charset=UTF-8"}, GARBAGE_HTML
        return None

    def _token(self, call: TokenRequest, scenario: str) -> Response:
        problem = self._check_client(call)
        if problem is not None:
            return problem
        grant_type = call.params.get("grant_type", "")
        if grant_type == "refresh_token":
            token = call.params.get("refresh_token", "")
            if not token:
                return self._missing("refresh_token")
            grant = self._live.get(token)
            if grant is None or scenario == "invalid_grant":
                return self._invalid_grant("refresh_token")
            if grant.client_id != call.client_id:
                return self._wrong_client()
            return self._refreshed(token, grant, omit=scenario == "omit_refresh_token")
        if grant_type == "authorization_code":
            if not call.params.get("code"):
                return self._missing("code")
            return self._invalid_grant("code")
        if not grant_type:
            return self._missing("grant_type")
        return self._unsupported_grant(grant_type)

    def _refreshed(self, token: str, grant: Grant, *, omit: bool) -> Response:
        access = self._new_access(grant)
        self._last_access[grant.account] = access
        new_refresh: str | None = None
        if self.rotate and not omit:
            new_refresh = self._issue_refresh(grant)
            if self.retire_used:
                self._live.pop(token, None)
        return self._success(access, new_refresh, grant)

    def _issue_refresh(self, grant: Grant) -> str:
        token = self._new_refresh(grant)
        self._live[token] = grant
        self._issued[token] = grant.account
        self._latest[grant.account] = token
        return token

    def _check_client(self, call: TokenRequest) -> Response | None:
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

    def _new_access(self, grant: Grant) -> str:
        raise NotImplementedError

    def _new_refresh(self, grant: Grant) -> str:
        raise NotImplementedError

    def _success(self, access: str, refresh: str | None, grant: Grant) -> Response:
        raise NotImplementedError

    def _error(
        self,
        status: int,
        error: str,
        description: str,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        body: dict[str, Any] = {"error": error, "error_description": description}
        return json_response(status, body, {**NO_STORE, **(headers or {})})

    def _not_found(self, method: str, path: str) -> Response:
        return 404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>404. That's an error.</body></html>"

    def _method_not_allowed(self, method: str) -> Response:
        return 405, {"Content-Type": "text/html; charset=UTF-8", "Allow": "POST"}, b"<html>405</html>"

    def _missing(self, name: str) -> Response:
        return self._error(400, "invalid_request", f"Missing required parameter: {name}")

    def _unsupported_grant(self, grant_type: str) -> Response:
        return self._error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _unknown_client(self, call: TokenRequest) -> Response:
        return self._error(401, "invalid_client", "The OAuth client was not found.")

    def _bad_secret(self, call: TokenRequest) -> Response:
        return self._error(401, "invalid_client", "Unauthorized")

    def _expired_secret(self, call: TokenRequest) -> Response:
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


NO_STORE = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}


def parse_token_request(headers: Mapping[str, str], body: bytes) -> TokenRequest:
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
    return TokenRequest(params, client_id, client_secret, basic)


def b64url(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
