"""Stand-ins for the Google hosts the ``oauth_google`` kind asks (the token endpoint is in ``oauth.py``).

One provider class per host, each a :class:`~checks.standins.server.Provider`:

* :class:`GoogleAccountsStandin`: ``accounts.google.com`` ``GET /o/oauth2/v2/auth``. Registered clients
  with their redirect URIs; answers as Google does, with a 302 either to the sign-in page
  (``/v3/signin/identifier?...``) or to ``/signin/oauth/error?authError=...``, where ``authError`` is
  base64 of a real protobuf message (field 1 the error code, 2 its description, 4 the HTTP status):
  ``invalid_client``, ``deleted_client``, ``disabled_client``, ``redirect_uri_mismatch``, ``invalid_scope``;
* :class:`ServiceUsageStandin`: ``serviceusage.googleapis.com`` ``GET /v1/projects/P/services/S``:
  ``{"name", "config", "state", "parent"}``; 403 PERMISSION_DENIED and 401 UNAUTHENTICATED in Google's
  error shape;
* :class:`BusinessAccountsStandin`: ``mybusinessaccountmanagement.googleapis.com`` ``GET /v1/accounts``:
  429 RESOURCE_EXHAUSTED (quota 0) until Google approves the project's access;
* :class:`CalendarStandin`: ``www.googleapis.com`` ``GET /calendar/v3/calendars/ID/events``:
  ``{"kind": "calendar#events", "items": [...]}`` for a known bearer token, 401 otherwise.

Named scenarios (:data:`SCENARIOS`), set with :meth:`_GoogleStandin.set_scenario` (every provider accepts
every name and ignores those about another host; :func:`set_scenario` applies one to several providers)
or over HTTP with ``POST /_standins/HOST/scenario {"name": ..., ...}``:

======================  =====================================================================================
``valid``               back to the state the provider was built with, no fault
``unknown_client``      accounts: no client is registered (``client_id`` to remove only one)
``deleted_client``      accounts: the client was deleted (``client_id`` for only one)
``disabled_client``     accounts: the client was disabled (``client_id`` for only one); the token endpoint's
                        counterpart is ``GoogleOAuthStandin.disable_client``
``redirect_mismatch``   accounts: one redirect URI is not registered (``environment`` or ``uri``)
``invalid_scope``       accounts: a scope is refused (``scope``, default business.manage)
``signin_page``         accounts: a registered redirect URI goes on to another page (``path``, default
                        ``/o/oauth2/v2/auth/identifier``; ``host``, default accounts.google.com)
``api_disabled``        Service Usage: a service is DISABLED (``service``, default Business Profile's)
``no_permission``       Service Usage: 403 PERMISSION_DENIED for every project
``quota_denied``        Service Usage: 403 USER_PROJECT_DENIED: the caller may not bill the quota project
                        (``X-Goog-User-Project``), it lacks ``serviceusage.services.use``
``approval_pending``    Business Profile: quota 0, every call answers 429 RESOURCE_EXHAUSTED
``no_events``           Calendar: every calendar is empty
``token_expired``       Calendar, Service Usage, Business Profile: every bearer token answers 401
``slow``                any host: sleep ``seconds`` (default 2) before answering
``500``                 any host: 500 INTERNAL (``status`` for 502, 503, ...)
``429``                 any host: 429 RESOURCE_EXHAUSTED with ``Retry-After`` (``retry_after``, default 1)
``garbage``             any host: an answer that is not what Google sends (HTML; a junk ``authError``)
======================  =====================================================================================

A fault (``slow``, ``500``, ``429``, ``garbage``) lasts until replaced, or for ``times`` requests. ``calls``
records each request (method, path, query, whether a bearer token came) without the token itself.
"""

from __future__ import annotations

import base64
import copy
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

from checks.standins.provider import Response, json_response

__all__ = [
    "ACCOUNTS_HOST",
    "BUSINESS_ACCOUNTS_HOST",
    "CALENDAR_HOST",
    "SCENARIOS",
    "SERVICE_USAGE_HOST",
    "BusinessAccountsStandin",
    "CalendarStandin",
    "GoogleAccountsStandin",
    "Recorded",
    "ServiceUsageStandin",
    "encode_auth_error",
    "set_scenario",
]

ACCOUNTS_HOST = "accounts.google.com"
SERVICE_USAGE_HOST = "serviceusage.googleapis.com"
BUSINESS_ACCOUNTS_HOST = "mybusinessaccountmanagement.googleapis.com"
CALENDAR_HOST = "www.googleapis.com"

SCENARIOS = (
    "valid", "unknown_client", "deleted_client", "disabled_client", "redirect_mismatch", "invalid_scope", "signin_page",
    "api_disabled", "no_permission", "quota_denied", "approval_pending", "no_events", "token_expired", "slow",
    "500", "429", "garbage",
)  # fmt: skip
_FAULTS = frozenset({"slow", "500", "429", "garbage"})

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
KNOWN_SCOPES = frozenset(
    {"openid", "email", "profile"}
    | {
        SCOPE_PREFIX + s
        for s in (
            "calendar", "calendar.readonly", "calendar.events", "calendar.events.readonly", "business.manage",
            "userinfo.email", "userinfo.profile", "cloud-platform", "gmail.readonly", "drive.readonly",
        )
    }
)  # fmt: skip
"""Scopes the authorize stand-in knows; anything else (``calendar.readonly`` without its prefix) is
``invalid_scope``, as at Google."""

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_GARBAGE_HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Loading...</body></html>"


@dataclass(frozen=True)
class Recorded:
    """One request a stand-in served. The bearer token itself is never kept."""

    method: str
    path: str
    query: dict[str, list[str]]
    bearer: bool
    headers: dict[str, str]
    """Request headers without ``authorization`` and ``cookie``."""


@dataclass
class _Fault:
    name: str
    seconds: float = 2.0
    status: int = 500
    retry_after: int | None = 1
    times: int | None = None


def encode_auth_error(code: str, description: str = "", status: int = 400) -> str:
    """Google's ``authError`` value: base64 of a protobuf with field 1 ``code``, 2 ``description``, 4 ``status``."""
    message = _field_bytes(1, code.encode()) + (_field_bytes(2, description.encode()) if description else b"")
    message += bytes([4 << 3 | 0]) + _varint(status)
    return base64.b64encode(message).decode()


def _field_bytes(number: int, data: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def google_error(
    code: int,
    message: str,
    status: str | None = None,
    details: list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
    errors: list[Any] | None = None,
) -> Response:
    """Google's JSON error body: ``{"error": {"code", "message", "status", "details"?, "errors"?}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if errors:
        error["errors"] = errors
    error["status"] = status or _STATUS_NAMES.get(code, "UNKNOWN")
    if details:
        error["details"] = details
    return json_response(code, {"error": error}, headers)


class _GoogleStandin:
    """What the four hosts share: the lock, the request record, scenarios and faults, the control surface."""

    host: ClassVar[str]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Recorded] = []
        self._fault: _Fault | None = None
        self._tokens_expired = False

    # -- scenarios ------------------------------------------------------------------------------------------------

    def set_scenario(self, name: str, **options: Any) -> None:
        """Apply a named scenario (module docstring); names about another host change nothing here."""
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
        with self._lock:
            if name == "valid":
                self._fault = None
                self._tokens_expired = False
                self._restore()
            elif name in _FAULTS:
                self._fault = _Fault(
                    name,
                    seconds=float(options.get("seconds", 2.0)),
                    status=int(options.get("status", 500)),
                    retry_after=options.get("retry_after", 1),
                    times=options.get("times"),
                )
            elif name == "token_expired":
                self._tokens_expired = True
            else:
                self._scenario(name, options)

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        """A host-specific scenario (called with the lock held); others ignore it."""

    def _restore(self) -> None:
        """Back to the state the provider was built with (called with the lock held)."""

    @property
    def calls(self) -> list[Recorded]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        """``valid``, and forget the recorded calls."""
        self.set_scenario("valid")
        with self._lock:
            self._calls.clear()

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        kept = {k: v for k, v in headers.items() if k not in ("authorization", "cookie")}
        with self._lock:
            self._calls.append(Recorded(method, path, {k: list(v) for k, v in query.items()}, bool(token), kept))
            fault = self._take_fault()
        if fault is not None:
            if fault.name == "slow":
                time.sleep(fault.seconds)
            elif fault.name == "500":
                return google_error(fault.status, "Internal error encountered.")
            elif fault.name == "429":
                retry = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return google_error(429, "Resource has been exhausted (e.g. check quota).", headers=retry)
            else:
                return self._garbage()
        with self._lock:
            return self._answer(method, path, query, token)

    def _take_fault(self) -> _Fault | None:
        fault = self._fault
        if fault is not None and fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._fault = None
        return fault

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        raise NotImplementedError

    def _garbage(self) -> Response:
        return 200, {"Content-Type": "text/html; charset=UTF-8"}, _GARBAGE_HTML

    def _not_found(self, method: str, path: str) -> Response:
        return 404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>404. That's an error.</body></html>"

    # -- control surface ------------------------------------------------------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``POST scenario {name, ...options}``, ``POST reset``, ``GET calls``, ``GET state``, and each host's own."""
        if action == "calls":
            return 200, [{"method": c.method, "path": c.path, "query": c.query, "bearer": c.bearer} for c in self.calls]
        if action == "state":
            with self._lock:
                return 200, self._state()
        if method != "POST":
            return 405, {"error": f"{action} needs POST"}
        if action == "scenario":
            options = {k: v for k, v in payload.items() if k != "name"}
            self.set_scenario(str(payload["name"]), **options)
        elif action == "reset":
            self.reset()
        elif not self._control(action, payload):
            return 404, {"error": f"unknown action {action!r}"}
        return 200, {"ok": True}

    def _control(self, action: str, payload: Any) -> bool:
        return False

    def _state(self) -> dict[str, Any]:
        return {"fault": vars(self._fault).copy() if self._fault else None, "tokens_expired": self._tokens_expired}

    def _bearer_ok(self, token: str | None, accepted: set[str] | None) -> bool:
        if not token or self._tokens_expired:
            return False
        return accepted is None or token in accepted

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host})"


# --------------------------------------------------------------------------------------- accounts.google.com


@dataclass
class _Client:
    redirect_uris: dict[str, str]
    """Environment (or the URI itself) -> URI."""
    deleted: bool = False
    disabled: bool = False


class GoogleAccountsStandin(_GoogleStandin):
    """``accounts.google.com``: the OAuth authorize endpoint, as an unauthenticated browser meets it."""

    host = ACCOUNTS_HOST

    def __init__(self, clients: Mapping[str, Mapping[str, str] | Iterable[str]] | None = None) -> None:
        """``clients``: client id -> its redirect URIs (``{environment: uri}`` or a list of URIs)."""
        super().__init__()
        self._clients: dict[str, _Client] = {}
        self._refused: set[str] = set()
        self._signin = f"https://{ACCOUNTS_HOST}/v3/signin/identifier"
        for client_id, uris in (clients or {}).items():
            self._clients[client_id] = _Client(_uri_map(uris))
        self._initial = copy.deepcopy(self._clients)

    def register_client(self, client_id: str, redirect_uris: Mapping[str, str] | Iterable[str]) -> None:
        """Register (or replace) a client; it becomes part of the ``valid`` state."""
        with self._lock:
            self._clients[client_id] = _Client(_uri_map(redirect_uris))
            self._initial[client_id] = copy.deepcopy(self._clients[client_id])

    def _restore(self) -> None:
        self._clients = copy.deepcopy(self._initial)
        self._refused.clear()
        self._signin = f"https://{ACCOUNTS_HOST}/v3/signin/identifier"

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        only = options.get("client_id")
        chosen = [c for c in self._clients if only is None or c == only]
        if name == "unknown_client":
            for client_id in chosen:
                del self._clients[client_id]
        elif name == "deleted_client":
            for client_id in chosen:
                self._clients[client_id].deleted = True
        elif name == "disabled_client":
            for client_id in chosen:
                self._clients[client_id].disabled = True
        elif name == "redirect_mismatch":
            which = options.get("environment") or options.get("uri")
            for client_id in chosen:
                uris = self._clients[client_id].redirect_uris
                for key in [k for k, v in uris.items() if which is None or which in (k, v)]:
                    del uris[key]
        elif name == "invalid_scope":
            self._refused.add(str(options.get("scope") or SCOPE_PREFIX + "business.manage"))
        elif name == "signin_page":
            host = str(options.get("host") or ACCOUNTS_HOST)
            self._signin = f"https://{host}{options.get('path') or '/o/oauth2/v2/auth/identifier'}"

    def _control(self, action: str, payload: Any) -> bool:
        if action == "register_client":
            self.register_client(str(payload["client_id"]), payload.get("redirect_uris") or [])
            return True
        return False

    def _state(self) -> dict[str, Any]:
        clients = {
            cid: {"redirect_uris": c.redirect_uris, "deleted": c.deleted, "disabled": c.disabled}
            for cid, c in self._clients.items()
        }
        return {**super()._state(), "clients": clients, "refused_scopes": sorted(self._refused)}

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        if path.rstrip("/") not in ("/o/oauth2/v2/auth", "/o/oauth2/auth"):
            return self._not_found(method, path)
        client_id = _first(query, "client_id")
        redirect_uri = _first(query, "redirect_uri")
        client = self._clients.get(client_id)
        if not client_id:
            return self._error(client_id, "invalid_request", "Missing required parameter: client_id", 400)
        if client is None:
            return self._error(client_id, "invalid_client", "The OAuth client was not found.", 401)
        if client.deleted:
            return self._error(client_id, "deleted_client", "The OAuth client was deleted.", 401)
        if client.disabled:
            return self._error(client_id, "disabled_client", "The OAuth client was disabled.", 401)
        if redirect_uri not in client.redirect_uris.values():
            return self._error(
                client_id,
                "redirect_uri_mismatch",
                "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.\n\n"
                "If you're the app developer, register the redirect URI in the Google Cloud Console.\n"
                f"Request details: redirect_uri={redirect_uri} flowName=GeneralOAuthFlow",
                400,
            )
        scopes = _first(query, "scope").split()
        if not scopes:
            return self._error(client_id, "invalid_request", "Missing required parameter: scope", 400)
        invalid = [s for s in scopes if s not in KNOWN_SCOPES or s in self._refused]
        if invalid:
            valid = [s for s in scopes if s not in invalid]
            return self._error(
                client_id,
                "invalid_scope",
                f"Some requested scopes were invalid. {{valid=[{', '.join(valid)}], invalid=[{', '.join(invalid)}]}}",
                400,
            )
        if _first(query, "response_type") not in ("code", "token", "code id_token", "id_token"):
            return self._error(client_id, "unsupported_response_type", "Invalid response_type", 400)
        forward = {
            "opparams": "%3F",
            "dsh": "S-1204598813:1759741200000000",
            "client_id": client_id,
            "o2v": "2",
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "service": "lso",
            "flowName": "GeneralOAuthFlow",
        }
        joiner = "&" if "?" in self._signin else "?"
        return _redirect(f"{self._signin}{joiner}{urlencode(forward)}")

    def _error(self, client_id: str, code: str, description: str, status: int) -> Response:
        params = {
            "authError": encode_auth_error(code, description, status),
            "client_id": client_id,
            "flowName": "GeneralOAuthFlow",
        }
        return _redirect(f"https://{ACCOUNTS_HOST}/signin/oauth/error?{urlencode(params)}")

    def _garbage(self) -> Response:
        junk = base64.b64encode(b"\xff\xfe<html>not a protobuf</html>").decode()
        return _redirect(f"https://{ACCOUNTS_HOST}/signin/oauth/error?{urlencode({'authError': junk})}")


def _uri_map(uris: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    if isinstance(uris, Mapping):
        return {str(k): str(v) for k, v in uris.items()}
    return {str(u): str(u) for u in uris}


def _redirect(location: str) -> Response:
    return 302, {"Location": location, "Content-Type": "text/html; charset=UTF-8"}, b""


# ------------------------------------------------------------------------------- serviceusage.googleapis.com

_TITLES = {
    "calendar-json.googleapis.com": "Google Calendar API",
    "mybusinessbusinessinformation.googleapis.com": "My Business Business Information API",
    "mybusinessaccountmanagement.googleapis.com": "My Business Account Management API",
}
DEFAULT_PROJECT = "maxai-readiness"
DEFAULT_PROJECT_NUMBER = "123456789012"


class ServiceUsageStandin(_GoogleStandin):
    """``serviceusage.googleapis.com``: which services a project has enabled."""

    host = SERVICE_USAGE_HOST

    def __init__(
        self,
        projects: Mapping[str, Mapping[str, str]] | None = None,
        tokens: Iterable[str] | None = None,
        numbers: Mapping[str, str] | None = None,
    ) -> None:
        """``projects``: project id -> {service: ``ENABLED`` | ``DISABLED``} (default: :data:`DEFAULT_PROJECT`
        with the Calendar and Business Profile services enabled); ``tokens``: the bearer tokens accepted
        (``None``: any); ``numbers``: project id -> project number."""
        super().__init__()
        default = {DEFAULT_PROJECT: {s: "ENABLED" for s in _TITLES}}
        self._initial = {p: dict(s) for p, s in (projects if projects is not None else default).items()}
        self._projects = copy.deepcopy(self._initial)
        self._numbers = dict(numbers or {DEFAULT_PROJECT: DEFAULT_PROJECT_NUMBER})
        self._tokens = set(tokens) if tokens is not None else None
        self._denied = False
        self._quota_denied = False

    def add_token(self, token: str) -> None:
        with self._lock:
            if self._tokens is not None:
                self._tokens.add(token)

    def set_state(self, project: str, service: str, state: str) -> None:
        with self._lock:
            self._projects.setdefault(project, {})[service] = state

    def _restore(self) -> None:
        self._projects = copy.deepcopy(self._initial)
        self._denied = self._quota_denied = False

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        if name == "api_disabled":
            service = str(options.get("service") or "mybusinessbusinessinformation.googleapis.com")
            for project, services in self._projects.items():
                if options.get("project") in (None, project):
                    services[service] = "DISABLED"
        elif name == "no_permission":
            self._denied = True
        elif name == "quota_denied":
            self._quota_denied = True

    def _control(self, action: str, payload: Any) -> bool:
        if action == "set_state":
            self.set_state(str(payload["project"]), str(payload["service"]), str(payload["state"]))
            return True
        if action == "add_token":
            self.add_token(str(payload["token"]))
            return True
        return False

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "projects": copy.deepcopy(self._projects), "denied": self._denied}

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        parts = path.strip("/").split("/")
        if method != "GET" or len(parts) != 5 or parts[:2] != ["v1", "projects"] or parts[3] != "services":
            return self._not_found(method, path)
        if not self._bearer_ok(token, self._tokens):
            return _unauthenticated()
        project, service = parts[2], parts[4]
        if self._quota_denied:
            return _user_project_denied(project)
        services = self._projects.get(project)
        if services is None or self._denied:
            return google_error(
                403,
                f"Permission denied to get service [{service}]\nHelp Token: AeNz4Pj-readiness-standin",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "AUTH_PERMISSION_DENIED",
                        "domain": "serviceusage.googleapis.com",
                        "metadata": {"permission": "serviceusage.services.get", "service": service},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                        "violations": [
                            {
                                "type": "googleapis.com",
                                "subject": f"?error_code=210002&type=Project&resource_id={project}",
                            }
                        ],
                    },
                ],
            )
        number = self._numbers.get(project, project)
        return json_response(
            200,
            {
                "name": f"projects/{number}/services/{service}",
                "config": {
                    "name": service,
                    "title": _TITLES.get(service, service),
                    "documentation": {},
                    "quota": {},
                    "authentication": {},
                    "usage": {"requirements": []},
                    "monitoring": {},
                },
                "state": services.get(service, "DISABLED"),
                "parent": f"projects/{number}",
            },
        )


def _user_project_denied(project: str) -> Response:
    """Google's answer when the caller may not use the ``X-Goog-User-Project`` it names as quota project."""
    return google_error(
        403,
        f"Caller does not have required permission to use project {project}. Grant the caller the "
        "roles/serviceusage.serviceUsageConsumer role, or a custom role with the serviceusage.services.use "
        f"permission, by visiting https://console.developers.google.com/iam-admin/iam/project?project={project} "
        "and then retry. Propagation of the new permission may take a few minutes.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Google developer console IAM admin",
                        "url": f"https://console.developers.google.com/iam-admin/iam/project?project={project}",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "USER_PROJECT_DENIED",
                "domain": "googleapis.com",
                "metadata": {"consumer": f"projects/{project}", "service": "serviceusage.googleapis.com"},
            },
        ],
    )


def _unauthenticated() -> Response:
    return google_error(
        401,
        _UNAUTHENTICATED,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_EXPIRED",
                "domain": "googleapis.com",
                "metadata": {"method": "google.api.serviceusage.v1.ServiceUsage"},
            }
        ],
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


# ------------------------------------------------------------------ mybusinessaccountmanagement.googleapis.com


class BusinessAccountsStandin(_GoogleStandin):
    """``mybusinessaccountmanagement.googleapis.com``: lists accounts once Google approved the project's
    access; until then the quota is 0 and every call answers 429 RESOURCE_EXHAUSTED."""

    host = BUSINESS_ACCOUNTS_HOST

    def __init__(
        self, approved: bool = True, tokens: Iterable[str] | None = None, project_number: str = DEFAULT_PROJECT_NUMBER
    ) -> None:
        super().__init__()
        self._initial_approved = approved
        self.approved = approved
        self._tokens = set(tokens) if tokens is not None else None
        self._number = project_number

    def add_token(self, token: str) -> None:
        with self._lock:
            if self._tokens is not None:
                self._tokens.add(token)

    def _restore(self) -> None:
        self.approved = self._initial_approved

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        if name == "approval_pending":
            self.approved = False

    def _control(self, action: str, payload: Any) -> bool:
        if action == "approve":
            with self._lock:
                self.approved = bool(payload.get("approved", True))
            return True
        return False

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "approved": self.approved}

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        if method != "GET" or path.rstrip("/") != "/v1/accounts":
            return self._not_found(method, path)
        if not self._bearer_ok(token, self._tokens):
            return _unauthenticated()
        if not self.approved:
            service = BUSINESS_ACCOUNTS_HOST
            return google_error(
                429,
                f"Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service '{service}' "
                f"for consumer 'project_number:{self._number}'.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "quota_limit_value": "0",
                            "quota_location": "global",
                            "quota_metric": f"{service}/default_requests",
                            "service": service,
                            "consumer": f"projects/{self._number}",
                            "quota_limit": "DefaultRequestsPerMinutePerProject",
                        },
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": [
                            {
                                "description": "Request a higher quota limit.",
                                "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                            }
                        ],
                    },
                ],
            )
        return json_response(
            200,
            {
                "accounts": [
                    {
                        "name": "accounts/106328190452287263120",
                        "accountName": "MaxAI Sandbox Business",
                        "type": "PERSONAL",
                        "verificationState": "UNVERIFIED",
                        "vettedState": "NOT_VETTED",
                    }
                ]
            },
        )


# -------------------------------------------------------------------------------------------- www.googleapis.com

SAMPLE_EVENTS: tuple[dict[str, Any], ...] = (
    {
        "id": "readiness0sample0discovery",
        "summary": "Sample: discovery call",
        "start": {"dateTime": "2025-10-07T10:00:00Z"},
        "end": {"dateTime": "2025-10-07T10:30:00Z"},
    },
    {
        "id": "readiness0sample0demo",
        "summary": "Sample: product demo",
        "start": {"dateTime": "2025-10-08T15:00:00Z"},
        "end": {"dateTime": "2025-10-08T16:00:00Z"},
    },
    {
        "id": "readiness0sample0followup",
        "summary": "Sample: follow-up",
        "start": {"dateTime": "2025-10-09T09:00:00Z"},
        "end": {"dateTime": "2025-10-09T09:15:00Z"},
    },
)
DEFAULT_ACCOUNT = "sandbox.tester@maxai-sandbox.test"


@dataclass
class _Calendar:
    account: str
    events: list[dict[str, Any]] = field(default_factory=list)


class CalendarStandin(_GoogleStandin):
    """``www.googleapis.com``: the Calendar API v3 events list of test accounts."""

    host = CALENDAR_HOST

    def __init__(
        self, accounts: Mapping[str, str] | None = None, events: Mapping[str, Iterable[Mapping[str, Any]]] | None = None
    ) -> None:
        """``accounts``: bearer token -> account (``None``: any token is :data:`DEFAULT_ACCOUNT`);
        ``events``: account -> its primary calendar's events (default: :data:`SAMPLE_EVENTS`)."""
        super().__init__()
        self._accounts = dict(accounts) if accounts is not None else None
        self._initial: dict[str, _Calendar] = {}
        for account in {*(self._accounts or {}).values(), *(events or {}), DEFAULT_ACCOUNT}:
            given = (events or {}).get(account)
            items = [dict(e) for e in given] if given is not None else [copy.deepcopy(e) for e in SAMPLE_EVENTS]
            self._initial[account] = _Calendar(account, items)
        self._calendars = copy.deepcopy(self._initial)

    def add_account(self, account: str, token: str, events: Iterable[Mapping[str, Any]] | None = None) -> None:
        """Accept ``token`` for ``account``, whose calendar holds ``events`` (default: the samples)."""
        with self._lock:
            if self._accounts is None:
                self._accounts = {}
            self._accounts[token] = account
            items = [dict(e) for e in events] if events is not None else [copy.deepcopy(e) for e in SAMPLE_EVENTS]
            self._initial[account] = _Calendar(account, items)
            self._calendars[account] = copy.deepcopy(self._initial[account])

    def _restore(self) -> None:
        self._calendars = copy.deepcopy(self._initial)

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        if name == "no_events":
            for calendar in self._calendars.values():
                calendar.events.clear()

    def _control(self, action: str, payload: Any) -> bool:
        if action == "add_account":
            self.add_account(str(payload["account"]), str(payload["token"]), payload.get("events"))
            return True
        return False

    def _state(self) -> dict[str, Any]:
        counts = {a: len(c.events) for a, c in self._calendars.items()}
        return {**super()._state(), "events": counts}

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        parts = path.strip("/").split("/")
        if method != "GET" or len(parts) != 5 or parts[:3] != ["calendar", "v3", "calendars"] or parts[4] != "events":
            return self._not_found(method, path)
        account = self._account(token)
        if account is None:
            return google_error(
                401,
                _UNAUTHENTICATED,
                errors=[
                    {
                        "message": "Invalid Credentials",
                        "domain": "global",
                        "reason": "authError",
                        "location": "Authorization",
                        "locationType": "header",
                    }
                ],
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        calendar_id = parts[3]
        calendar = self._calendars.get(account if calendar_id == "primary" else calendar_id)
        if calendar is None or (calendar_id != "primary" and calendar.account != account):
            return google_error(
                404, "Not Found", errors=[{"domain": "global", "reason": "notFound", "message": "Not Found"}]
            )
        try:
            limit = max(1, min(2500, int(_first(query, "maxResults") or 250)))
        except ValueError:
            return google_error(400, "Invalid value for: maxResults")
        return json_response(
            200,
            {
                "kind": "calendar#events",
                "etag": '"p33c9fjtq3n8o80o"',
                "summary": calendar.account,
                "description": "",
                "updated": "2025-10-06T08:00:00.000Z",
                "timeZone": "UTC",
                "accessRole": "owner",
                "defaultReminders": [],
                "items": [
                    {
                        "kind": "calendar#event",
                        "etag": f'"{i}"',
                        "status": "confirmed",
                        "htmlLink": "",
                        **event,
                        "creator": {"email": calendar.account, "self": True},
                        "organizer": {"email": calendar.account, "self": True},
                    }
                    for i, event in enumerate(calendar.events[:limit])
                ],
            },
        )

    def _account(self, token: str | None) -> str | None:
        if not token or self._tokens_expired:
            return None
        if self._accounts is None:
            return DEFAULT_ACCOUNT
        return self._accounts.get(token)


def set_scenario(providers: Iterable[Any], name: str, **options: Any) -> None:
    """Apply one scenario to several providers (those of other hosts ignore it)."""
    for provider in providers:
        if isinstance(provider, _GoogleStandin):
            provider.set_scenario(name, **options)


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]
