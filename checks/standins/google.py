"""What the stand-ins of the Google hosts the ``oauth_google`` kind asks share: their scenarios, the base class
:class:`GoogleStandin` (the request record, faults, the control surface), Google's JSON error shape and
:func:`set_scenario` for several hosts at once. The token endpoint is ``oauth_google.py``.

One provider class per host, each a :class:`~checks.standins.server.Provider` in its own module
(``google_accounts``, ``google_apis``: Service Usage and Business Profile, ``google_calendar``):

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

Named scenarios (:data:`SCENARIOS`), set with :meth:`GoogleStandin.set_scenario` (every provider accepts
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

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from checks.standins.provider import Response, json_response
from checks.standins.scenarios import FAULTS, Scenarios

__all__ = [
    "ACCOUNTS_HOST",
    "BUSINESS_ACCOUNTS_HOST",
    "CALENDAR_HOST",
    "SCENARIOS",
    "SERVICE_USAGE_HOST",
    "UNAUTHENTICATED",
    "GoogleStandin",
    "Recorded",
    "first_value",
    "google_error",
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
UNAUTHENTICATED = (
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


class GoogleStandin:
    """What the four hosts share: the lock, the request record, scenarios and faults, the control surface."""

    host: ClassVar[str]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Recorded] = []
        self.scenarios = Scenarios(self.host, SCENARIOS, faults=FAULTS)
        self._tokens_expired = False

    # -- scenarios ------------------------------------------------------------------------------------------------

    def set_scenario(self, name: str, **options: Any) -> None:
        """Apply a named scenario (module docstring); names about another host change nothing here."""
        with self._lock:
            effect = self.scenarios.set(name, **options)
            if effect == "reset":
                self._tokens_expired = False
                self._restore()
            elif name == "token_expired":
                self._tokens_expired = True
            elif effect == "state":
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
        fault = self.scenarios.take_fault()
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

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        raise NotImplementedError

    def _garbage(self) -> Response:
        return 200, {"Content-Type": "text/html; charset=UTF-8"}, _GARBAGE_HTML

    def _not_found(self, method: str, path: str) -> Response:
        return 404, {"Content-Type": "text/html; charset=UTF-8"}, b"<html><body>404. That's an error.</body></html>"

    # -- control surface ------------------------------------------------------------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``POST scenario {name, ...options}``, ``POST reset``, ``GET calls``, ``GET state``, and each host's own."""
        return self.scenarios.control(
            method,
            action,
            payload,
            apply=self.set_scenario,
            reset=self.reset,
            state=self._locked_state,
            reads={"calls": self._calls_answer},
            writes=self._writes(),
        )

    def _calls_answer(self) -> list[dict[str, Any]]:
        return [{"method": c.method, "path": c.path, "query": c.query, "bearer": c.bearer} for c in self.calls]

    def _locked_state(self) -> dict[str, Any]:
        with self._lock:
            return self._state()

    def _writes(self) -> dict[str, Callable[[Any], Any]]:
        """Each host's own control actions: name -> what it does with the JSON payload."""
        return {}

    def _state(self) -> dict[str, Any]:
        """Each host's own state for ``GET state`` (called with the lock held)."""
        return {"tokens_expired": self._tokens_expired}

    def _bearer_ok(self, token: str | None, accepted: set[str] | None) -> bool:
        if not token or self._tokens_expired:
            return False
        return accepted is None or token in accepted

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host})"


def set_scenario(providers: Iterable[Any], name: str, **options: Any) -> None:
    """Apply one scenario to several providers (those of other hosts ignore it)."""
    for provider in providers:
        if isinstance(provider, GoogleStandin):
            provider.set_scenario(name, **options)


def first_value(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]
