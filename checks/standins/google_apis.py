"""Stand-ins for two Google Cloud APIs the ``oauth_google`` kind reads with a bearer token:

* :class:`ServiceUsageStandin`: ``serviceusage.googleapis.com`` ``GET /v1/projects/P/services/S``:
  ``{"name", "config", "state", "parent"}``; 403 PERMISSION_DENIED, 403 USER_PROJECT_DENIED and 401
  UNAUTHENTICATED in Google's error shape;
* :class:`BusinessAccountsStandin`: ``mybusinessaccountmanagement.googleapis.com`` ``GET /v1/accounts``:
  429 RESOURCE_EXHAUSTED (quota 0) until Google approves the project's access.

Their scenarios are in :mod:`checks.standins.google`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from checks.standins.google import (
    BUSINESS_ACCOUNTS_HOST,
    SERVICE_USAGE_HOST,
    UNAUTHENTICATED,
    GoogleStandin,
    google_error,
)
from checks.standins.provider import Response, json_response

__all__ = ["DEFAULT_PROJECT", "DEFAULT_PROJECT_NUMBER", "BusinessAccountsStandin", "ServiceUsageStandin"]

# ------------------------------------------------------------------------------- serviceusage.googleapis.com

_TITLES = {
    "calendar-json.googleapis.com": "Google Calendar API",
    "mybusinessbusinessinformation.googleapis.com": "My Business Business Information API",
    "mybusinessaccountmanagement.googleapis.com": "My Business Account Management API",
}
DEFAULT_PROJECT = "maxai-readiness"
DEFAULT_PROJECT_NUMBER = "123456789012"


class ServiceUsageStandin(GoogleStandin):
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

    def _writes(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "set_state": lambda p: self.set_state(str(p["project"]), str(p["service"]), str(p["state"])),
            "add_token": lambda p: self.add_token(str(p["token"])),
        }

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
        UNAUTHENTICATED,
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


class BusinessAccountsStandin(GoogleStandin):
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

    def _writes(self) -> dict[str, Callable[[Any], Any]]:
        return {"approve": self._approve}

    def _approve(self, payload: Any) -> None:
        with self._lock:
            self.approved = bool(payload.get("approved", True))

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
