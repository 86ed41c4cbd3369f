"""Stand-in for Microsoft Graph (``graph.microsoft.com``), the host the ``oauth_microsoft`` kind reads.

The identity platform (``login.microsoftonline.com``: token endpoint, OpenID discovery) is
:class:`~checks.standins.oauth_microsoft.MicrosoftOAuthStandin`. :class:`GraphStandin` answers:

* ``GET /v1.0/applications(appId='ID')`` (``$select`` honoured): the app registration in Graph's shape,
  ``web.redirectUris``, ``spa.redirectUris``, ``publicClient.redirectUris`` and ``passwordCredentials``
  ``[{keyId, displayName, hint, startDateTime, endDateTime, ...}]``; 404 ``Request_ResourceNotFound``
  for an unknown app, 403 ``Authorization_RequestDenied`` when the app may not read registrations;
* ``GET /v1.0/me/events`` (``$top`` honoured): ``{"value": [...]}`` of the token's account; an app-only
  token answers 400 (``/me`` needs a delegated token), as at Graph;
* 401 ``InvalidAuthenticationToken`` for a missing, unknown or expired bearer token, with Graph's
  ``WWW-Authenticate`` header. Errors have Graph's shape ``{"error": {"code", "message", "innerError"}}``.

Bearer tokens: with ``issuer`` (the :class:`MicrosoftOAuthStandin` of the same server), a token is valid
when that stand-in issued it (app-only tokens from the client-credentials grant, delegated ones from a
refresh) and it has not expired; tokens given to :meth:`GraphStandin.add_account` are valid too. Without
``issuer``, any non-empty token reads the registrations.

Named scenarios (:data:`SCENARIOS`, shared with the identity platform; each host ignores the names about
the other), set with :meth:`GraphStandin.set_scenario`, :func:`set_scenario` (several providers at once) or
``POST /_standins/graph.microsoft.com/scenario {"name": ..., ...}``:

==========================  ===========================================================================
``valid``                   back to the state the stand-in was built with, no fault
``unknown_client``          no app registration is found (404 ``Request_ResourceNotFound``)
``expired_secret``          every client secret ended yesterday
``secret_expiring``         every client secret ends in ``days`` days (default 12)
``redirect_missing``        one redirect URI is gone (``environment``, default ``staging``, or ``uri``)
``registration_forbidden``  403 ``Authorization_RequestDenied`` on ``applications``
``no_events``               every calendar is empty
``token_expired``           every bearer token answers 401 ``InvalidAuthenticationToken``
``slow``                    sleep ``seconds`` (default 2) before answering
``500``                     500 ``generalException`` (``status`` 503 for ``serviceNotAvailable``)
``429``                     429 ``TooManyRequests`` with ``Retry-After`` (``retry_after``, default 1)
``garbage``                 200 with an HTML body
==========================  ===========================================================================

``unknown_tenant``, ``wrong_secret``, ``secret_id_pasted`` and ``aadsts`` (``code``: any code of
:data:`~checks.standins.oauth_microsoft.AADSTS_ANSWERS`) change only the identity platform. A fault
(``slow``, ``500``, ``429``, ``garbage``) lasts until replaced, or for ``times`` requests. ``calls`` records
each request (method, path, query, whether a bearer token came), never the token.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from checks.standins.oauth_microsoft import MICROSOFT_SCENARIOS, MicrosoftOAuthStandin
from checks.standins.provider import Response, json_response
from checks.standins.scenarios import FAULTS, Scenarios

__all__ = [
    "GRAPH_HOST",
    "SAMPLE_EVENTS",
    "SCENARIOS",
    "AppRegistration",
    "GraphStandin",
    "Recorded",
    "password_credential",
    "set_scenario",
]

GRAPH_HOST = "graph.microsoft.com"
SCENARIOS = MICROSOFT_SCENARIOS
_GRAPH_SCENARIOS = (
    "unknown_client",
    "expired_secret",
    "secret_expiring",
    "redirect_missing",
    "registration_forbidden",
    "no_events",
    "token_expired",
)
"""The scenarios that change Graph (the others of :data:`SCENARIOS` are about the identity platform)."""
_APPLICATION = re.compile(r"^/v1\.0/applications\(appId='([^']*)'\)/?$")
_GARBAGE_HTML = b"<!DOCTYPE html><html><head><title>Service unavailable</title></head><body>Oops</body></html>"
_WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)
DEFAULT_ACCOUNT = "adelev@maxaisandbox.onmicrosoft.com"
SAMPLE_EVENTS: tuple[dict[str, Any], ...] = (
    {"subject": "Sample: discovery call", "start": "2025-10-07T10:00:00", "end": "2025-10-07T10:30:00"},
    {"subject": "Sample: product demo", "start": "2025-10-08T15:00:00", "end": "2025-10-08T16:00:00"},
    {"subject": "Sample: follow-up", "start": "2025-10-09T09:00:00", "end": "2025-10-09T09:15:00"},
)


@dataclass(frozen=True)
class Recorded:
    """One request the stand-in served. The bearer token itself is never kept."""

    method: str
    path: str
    query: dict[str, list[str]]
    bearer: bool


def password_credential(
    display_name: str, end: datetime, *, hint: str = "", key_id: str | None = None, start: datetime | None = None
) -> dict[str, Any]:
    """One ``passwordCredentials`` entry in Graph's shape (``hint``: the secret's first three characters)."""
    return {
        "customKeyIdentifier": None,
        "displayName": display_name,
        "endDateTime": _stamp(end),
        "hint": hint,
        "keyId": key_id or str(uuid.uuid4()),
        "secretText": None,
        "startDateTime": _stamp(start or end - timedelta(days=365)),
    }


@dataclass
class AppRegistration:
    """An app registration as Graph holds it."""

    app_id: str
    web: dict[str, str]
    """Environment (or the URI itself) -> redirect URI of the Web platform."""
    spa: list[str] = field(default_factory=list)
    public_client: list[str] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    """``passwordCredentials`` entries (see :func:`password_credential`)."""
    display_name: str = "MaxAI Platform"
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_graph(self) -> dict[str, Any]:
        web = list(dict.fromkeys(self.web.values()))
        return {
            "id": self.object_id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "createdDateTime": "2025-10-01T08:00:00Z",
            "signInAudience": "AzureADMyOrg",
            "web": {
                "homePageUrl": None,
                "logoutUrl": None,
                "redirectUris": web,
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False},
                "redirectUriSettings": [{"uri": u, "index": None} for u in web],
            },
            "spa": {"redirectUris": list(self.spa)},
            "publicClient": {"redirectUris": list(self.public_client)},
            "passwordCredentials": copy.deepcopy(self.secrets),
            "keyCredentials": [],
            "requiredResourceAccess": [
                {
                    "resourceAppId": "00000003-0000-0000-c000-000000000000",
                    "resourceAccess": [
                        {"id": "1ec239c2-d7c9-4623-a91a-a9775856bb36", "type": "Scope"},
                        {"id": "570282fd-fa5c-430d-a7fd-fc8dc98a9dca", "type": "Scope"},
                        {"id": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "type": "Scope"},
                    ],
                }
            ],
        }


class GraphStandin:
    """``graph.microsoft.com``: app registrations and test accounts' calendars. Thread-safe."""

    host = GRAPH_HOST

    def __init__(
        self,
        apps: Iterable[AppRegistration] = (),
        accounts: Mapping[str, str] | None = None,
        events: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
        *,
        issuer: MicrosoftOAuthStandin | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``accounts``: bearer token -> account; ``events``: account -> its calendar's events (each
        ``{subject, start, end}``, default :data:`SAMPLE_EVENTS`); ``issuer``: accept the tokens it issued."""
        self._lock = threading.Lock()
        self._clock = clock
        self._issuer = issuer
        self._initial_apps = {a.app_id: copy.deepcopy(a) for a in apps}
        self._apps = copy.deepcopy(self._initial_apps)
        self._accounts = dict(accounts or {})
        self._initial_events: dict[str, list[dict[str, Any]]] = {}
        for account in {*self._accounts.values(), *(events or {}), DEFAULT_ACCOUNT}:
            given = (events or {}).get(account)
            self._initial_events[account] = [dict(e) for e in (SAMPLE_EVENTS if given is None else given)]
        self._events = copy.deepcopy(self._initial_events)
        self._calls: list[Recorded] = []
        self.scenarios = Scenarios(self.host, SCENARIOS, faults=FAULTS, own=_GRAPH_SCENARIOS)
        self._forbidden = False
        self._tokens_expired = False

    # -- test helpers ---------------------------------------------------------------------------------------------

    def register_app(self, app: AppRegistration) -> None:
        """Add (or replace) an app registration; it becomes part of the ``valid`` state."""
        with self._lock:
            self._initial_apps[app.app_id] = copy.deepcopy(app)
            self._apps[app.app_id] = copy.deepcopy(app)

    def add_account(self, account: str, token: str, events: Iterable[Mapping[str, Any]] | None = None) -> None:
        """Accept ``token`` for ``account``, whose calendar holds ``events`` (default: the samples)."""
        with self._lock:
            self._accounts[token] = account
            items = [dict(e) for e in (SAMPLE_EVENTS if events is None else events)]
            self._initial_events[account] = items
            self._events[account] = copy.deepcopy(items)

    def set_scenario(self, name: str, **options: Any) -> None:
        """Apply a named scenario (module docstring); names about the identity platform change nothing."""
        with self._lock:
            effect = self.scenarios.set(name, **options)
            if effect == "reset":
                self._apps = copy.deepcopy(self._initial_apps)
                self._events = copy.deepcopy(self._initial_events)
                self._forbidden, self._tokens_expired = False, False
            elif name == "unknown_client":
                self._apps.clear()
            elif name in ("expired_secret", "secret_expiring"):
                days = -1.0 if name == "expired_secret" else float(options.get("days", 12))
                end = _stamp(datetime.fromtimestamp(self._clock(), UTC) + timedelta(days=days))
                for app in self._apps.values():
                    for secret in app.secrets:
                        secret["endDateTime"] = end
            elif name == "redirect_missing":
                which = options.get("uri") or options.get("environment") or "staging"
                for app in self._apps.values():
                    for key in [k for k, v in app.web.items() if which in (k, v)]:
                        del app.web[key]
                    app.spa = [u for u in app.spa if u != which]
            elif name == "registration_forbidden":
                self._forbidden = True
            elif name == "no_events":
                for items in self._events.values():
                    items.clear()
            elif name == "token_expired":
                self._tokens_expired = True

    def reset(self) -> None:
        """``valid``, and forget the recorded calls."""
        self.set_scenario("valid")
        with self._lock:
            self._calls.clear()

    @property
    def calls(self) -> list[Recorded]:
        with self._lock:
            return list(self._calls)

    # -- control surface ------------------------------------------------------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``POST scenario {name, ...options}``, ``POST reset``, ``POST add_account {account, token, events?}``,
        ``GET calls``, ``GET state``."""
        return self.scenarios.control(
            method,
            action,
            payload,
            apply=self.set_scenario,
            reset=self.reset,
            state=self._state,
            reads={"calls": self._calls_answer},
            writes={"add_account": lambda p: self.add_account(str(p["account"]), str(p["token"]), p.get("events"))},
        )

    def _calls_answer(self) -> list[dict[str, Any]]:
        return [{"method": c.method, "path": c.path, "query": c.query, "bearer": c.bearer} for c in self.calls]

    def _state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "apps": {i: a.to_graph() for i, a in self._apps.items()},
                "events": {a: len(e) for a, e in self._events.items()},
                "forbidden": self._forbidden,
                "tokens_expired": self._tokens_expired,
            }

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            self._calls.append(Recorded(method, path, {k: list(v) for k, v in query.items()}, bool(token)))
        fault = self.scenarios.take_fault()
        if fault is not None:
            if fault.name == "slow":
                time.sleep(fault.seconds)
            elif fault.name == "500":
                if fault.status == 503:
                    return graph_error(503, "serviceNotAvailable", "Service unavailable.", {"Retry-After": "1"})
                return graph_error(fault.status, "generalException", "General exception while processing.")
            elif fault.name == "429":
                retry = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return graph_error(429, "TooManyRequests", "Too many requests.", retry)
            else:
                return 200, {"Content-Type": "text/html; charset=UTF-8"}, _GARBAGE_HTML
        who = self._who(token)  # outside the lock: the issuer takes its own
        with self._lock:
            return self._answer(method, path, query, token, who)

    def _who(self, token: str) -> dict[str, Any] | None:
        """``{"type": "app"|"user", ...}`` for a valid token, ``{"expired": True}`` for an expired one."""
        if not token:
            return None
        with self._lock:
            account = self._accounts.get(token)
        if account is not None:
            return {"type": "user", "account": account}
        if self._issuer is None:
            return {"type": "app", "client_id": None}
        return self._issuer.token_info(token)

    def _answer(
        self, method: str, path: str, query: Mapping[str, list[str]], token: str, who: dict[str, Any] | None
    ) -> Response:
        app_match = _APPLICATION.match(path)
        if method != "GET" or (app_match is None and path.rstrip("/") != "/v1.0/me/events"):
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{path.strip('/')}'.")
        if not token:
            return _invalid_token("Access token is empty.")
        if self._tokens_expired or (who is not None and who.get("expired")):
            return _invalid_token("Lifetime validation failed, the token is expired.")
        if who is None:
            return _invalid_token("Access token validation failure.")
        if app_match is not None:
            return self._application(app_match.group(1), query)
        if who["type"] != "user":
            return graph_error(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        return self._my_events(str(who["account"]), query)

    def _application(self, app_id: str, query: Mapping[str, list[str]]) -> Response:
        if self._forbidden:
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        app = self._apps.get(app_id)
        if app is None:
            return graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{app_id}' does not exist or one of its queried reference-property objects are not present.",
            )
        full = app.to_graph()
        select = [s.strip() for s in ",".join(query.get("$select", [])).split(",") if s.strip()]
        context = "https://graph.microsoft.com/v1.0/$metadata#applications"
        if select:
            return json_response(
                200,
                {"@odata.context": f"{context}({','.join(select)})/$entity", **{k: full.get(k) for k in select}},
            )
        return json_response(200, {"@odata.context": f"{context}/$entity", **full})

    def _my_events(self, account: str, query: Mapping[str, list[str]]) -> Response:
        try:
            top = max(1, min(1000, int((query.get("$top") or ["10"])[0])))
        except ValueError:
            return graph_error(400, "BadRequest", "Invalid value for $top query option.")
        items = self._events.get(account, [])
        value = [
            {
                "@odata.etag": f'W/"{i}"',
                "id": f"AAMkAGI2TG93AAA{i:04d}=",
                "subject": event.get("subject", ""),
                "start": {"dateTime": f"{event.get('start', '')}.0000000", "timeZone": "UTC"},
                "end": {"dateTime": f"{event.get('end', '')}.0000000", "timeZone": "UTC"},
                "organizer": {"emailAddress": {"name": account.split("@")[0], "address": account}},
                "isCancelled": False,
            }
            for i, event in enumerate(items[:top])
        ]
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{account}')/events",
            "value": value,
        }
        if len(items) > top:
            body["@odata.nextLink"] = f"https://graph.microsoft.com/v1.0/me/events?$top={top}&$skip={top}"
        return json_response(200, body)

    def __repr__(self) -> str:
        return f"GraphStandin({self.host})"


def graph_error(code: int, error: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Graph's error body: ``{"error": {"code", "message", "innerError": {"date", "request-id", ...}}}``."""
    request_id = str(uuid.uuid4())
    inner = {"date": _stamp(datetime.now(UTC)), "request-id": request_id, "client-request-id": request_id}
    body = {"error": {"code": error, "message": message, "innerError": inner}}
    return json_response(code, body, {"request-id": request_id, **(headers or {})})


def _invalid_token(message: str) -> Response:
    return graph_error(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": _WWW_AUTHENTICATE})


def set_scenario(providers: Iterable[Any], name: str, **options: Any) -> None:
    """Apply one scenario to the Microsoft stand-ins among ``providers`` (others are left alone)."""
    for provider in providers:
        if isinstance(provider, GraphStandin):
            provider.set_scenario(name, **options)
        elif isinstance(provider, MicrosoftOAuthStandin):
            provider.set_scenario(
                name,
                seconds=float(options.get("seconds", 2.0)),
                status=int(options.get("status", 500)),
                retry_after=options.get("retry_after", 1),
                times=options.get("times"),
                code=options.get("code"),
            )


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
