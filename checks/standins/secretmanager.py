"""Stand-in for Google Secret Manager's REST API (``secretmanager.googleapis.com``), v1.

Implements what ``google.cloud.secretmanager.SecretManagerServiceClient(transport="rest")`` sends for

* ListSecretVersions: ``GET /v1/projects/{p}/secrets/{s}/versions`` (``filter=state:ENABLED``,
  ``pageSize``/``pageToken``), newest first;
* GetSecretVersion: ``GET /v1/projects/{p}/secrets/{s}/versions/{v}``;
* AccessSecretVersion: ``GET /v1/projects/{p}/secrets/{s}/versions/{v}:access`` (``{v}`` may be
  ``latest``: the most recently created version, refused if it is disabled, as the real service does),

with the real JSON shapes (enums as numbers when the client asks ``$alt=json;enum-encoding=int``, as the
generated clients do) and the real error bodies (``{"error": {"code", "message", "status"}}``).

Point the real client at it::

    SecretManagerServiceClient(
        client_options={"api_endpoint": f"{server.url}/secretmanager.googleapis.com"},
        transport="rest", credentials=google.auth.credentials.AnonymousCredentials())

The REST transport joins ``api_endpoint`` and the request path as text (``{host}{uri}``), keeps an
explicit ``http://`` scheme, and adds no port when one is given, so the ``/HOST`` prefix of the
stand-in server's routing works as is.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import google_crc32c

from checks.standins.provider import Response, json_response

__all__ = ["HOST", "SecretManagerStandin"]

HOST = "secretmanager.googleapis.com"

_STATE_NUMBERS = {"ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FAILURE_MESSAGES = {
    429: "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project' "
    "of service 'secretmanager.googleapis.com'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


@dataclass
class _Version:
    number: int
    data: bytes
    state: str
    create_time: datetime
    crc32c: int


@dataclass
class _Secret:
    versions: list[_Version] = field(default_factory=list)
    denied: bool = False


class SecretManagerStandin:
    """In-memory secrets and versions behind the Secret Manager v1 REST API. Thread-safe.

    Test helpers change the state: :meth:`add_version`, :meth:`disable`, :meth:`enable`,
    :meth:`corrupt_crc`, :meth:`deny`, :meth:`fail_with`, :meth:`reset`. ``calls`` lists the requests
    served (``"GET /v1/..."``) for assertions about caching and call counts.
    """

    host = HOST

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._secrets: dict[tuple[str, str], _Secret] = {}
        self._last_time: datetime | None = None
        self._failure: tuple[int, int | None] | None = None
        self.calls: list[str] = []

    # -- state helpers ----------------------------------------------------------------------------------------

    def add_version(self, project: str, secret: str, data: bytes, enabled: bool = True) -> str:
        """Add a version (creating the secret if needed); return its name ``projects/P/secrets/S/versions/N``."""
        with self._lock:
            entry = self._secrets.setdefault((project, secret), _Secret())
            now = self._clock()
            if self._last_time is not None and now <= self._last_time:
                now = self._last_time + timedelta(microseconds=1)  # create times are strictly increasing
            self._last_time = now
            number = len(entry.versions) + 1
            entry.versions.append(
                _Version(number, bytes(data), "ENABLED" if enabled else "DISABLED", now, google_crc32c.value(data))
            )
            return _version_name(project, secret, number)

    def disable(self, project: str, secret: str, version: int | str) -> None:
        self._set_state(project, secret, version, "DISABLED")

    def enable(self, project: str, secret: str, version: int | str) -> None:
        self._set_state(project, secret, version, "ENABLED")

    def corrupt_crc(self, project: str, secret: str, version: int | str = "latest") -> None:
        """Make the stored CRC32C of a version wrong, as corruption in storage or transit would."""
        with self._lock:
            self._find(project, secret, version).crc32c ^= 0x1

    def deny(self, project: str, secret: str, denied: bool = True) -> None:
        """Answer 403 PERMISSION_DENIED for everything about this secret (``denied=False`` undoes it)."""
        with self._lock:
            self._secrets.setdefault((project, secret), _Secret()).denied = denied

    def fail_with(self, status: int | None, times: int | None = None) -> None:
        """Answer every request (or the next ``times``) with ``status`` (e.g. 503); ``None`` stops it."""
        with self._lock:
            self._failure = None if status is None else (status, times)

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._failure = None
            self._last_time = None
            self.calls.clear()

    def _set_state(self, project: str, secret: str, version: int | str, state: str) -> None:
        with self._lock:
            self._find(project, secret, version).state = state

    def _find(self, project: str, secret: str, version: int | str) -> _Version:
        entry = self._secrets[(project, secret)]
        if version == "latest":
            return entry.versions[-1]
        return entry.versions[int(version) - 1]

    # -- HTTP -------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Response:
        ints = "enum-encoding=int" in ";".join(query.get("$alt", []))
        with self._lock:
            self.calls.append(f"{method} {path}")
            failure = self._take_failure()
            if failure is not None:
                return failure
            return self._route(method, path.strip("/").split("/"), query, ints)

    def _route(self, method: str, parts: list[str], query: Mapping[str, list[str]], ints: bool) -> Response:
        # v1 / projects / P / secrets / S / versions [ / V[:access] ]
        shape_ok = len(parts) in (6, 7) and parts[0:2] == ["v1", "projects"] and parts[3] == "secrets"
        if method != "GET" or not shape_ok or parts[5] != "versions":
            return _error(404, "Method not found.")
        project, secret = parts[2], parts[4]
        if len(parts) == 6:
            return self._list(project, secret, query, ints)
        version, access = parts[6], False
        if version.endswith(":access"):
            version, access = version[: -len(":access")], True
        return self._get(project, secret, version, access, ints)

    def _take_failure(self) -> Response | None:
        if self._failure is None:
            return None
        status, times = self._failure
        if times is not None:
            self._failure = (status, times - 1) if times > 1 else None
        return _error(status, _FAILURE_MESSAGES.get(status, "Request failed."))

    def _list(self, project: str, secret: str, query: Mapping[str, list[str]], ints: bool) -> Response:
        parent = f"projects/{project}/secrets/{secret}"
        entry = self._secrets.get((project, secret))
        if entry is not None and entry.denied:
            return _denied("secretmanager.versions.list", parent)
        if entry is None or not entry.versions:
            return _error(404, f"Secret [{parent}] not found.")
        wanted = _state_filter(_first(query, "filter"))
        if wanted == "invalid":
            return _error(400, f"Invalid filter: {_first(query, 'filter')!r}.")
        versions = [v for v in reversed(entry.versions) if wanted is None or v.state == wanted]
        try:
            size = int(_first(query, "pageSize") or 0) or 25000
            start = int(_first(query, "pageToken") or 0)
        except ValueError:
            return _error(400, "Invalid pageSize or pageToken.")
        page = versions[start : start + size]
        answer: dict[str, Any] = {}
        if page:  # proto3 JSON leaves out empty lists and zero numbers
            answer["versions"] = [_version_json(project, secret, v, ints) for v in page]
        if start + size < len(versions):
            answer["nextPageToken"] = str(start + size)
        if versions:
            answer["totalSize"] = len(versions)
        return json_response(200, answer)

    def _get(self, project: str, secret: str, version: str, access: bool, ints: bool) -> Response:
        parent = f"projects/{project}/secrets/{secret}"
        name = f"{parent}/versions/{version}"
        entry = self._secrets.get((project, secret))
        if entry is not None and entry.denied:
            return _denied("secretmanager.versions.access" if access else "secretmanager.versions.get", name)
        if entry is None or not entry.versions:
            return _error(404, f"Secret [{parent}] not found or has no versions.")
        if version == "latest":
            found: _Version | None = entry.versions[-1]
        elif version.isdigit() and 1 <= int(version) <= len(entry.versions):
            found = entry.versions[int(version) - 1]
        else:
            found = None
        if found is None or found.state == "DESTROYED":
            return _error(404, f"Secret Version [{name}] not found or has been destroyed.")
        if not access:
            return json_response(200, _version_json(project, secret, found, ints))
        real_name = _version_name(project, secret, found.number)
        if found.state != "ENABLED":
            return _error(400, f"Secret Version [{real_name}] is in {found.state} state.", "FAILED_PRECONDITION")
        return json_response(
            200,
            {
                "name": real_name,
                "payload": {"data": base64.b64encode(found.data).decode(), "dataCrc32c": str(found.crc32c)},
            },
        )

    # -- control surface (/_standins/secretmanager.googleapis.com/ACTION) -----------------------------------------

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """``add_version`` {project, secret, data_base64, enabled?}, ``disable``/``enable``/``corrupt_crc``
        {project, secret, version}, ``deny`` {project, secret, denied?}, ``fail_with`` {status, times?},
        ``reset``, ``state`` (GET: secrets and versions, without payloads)."""
        if action == "state":
            with self._lock:
                return 200, {
                    f"projects/{p}/secrets/{s}": {
                        "denied": e.denied,
                        "versions": [
                            {"number": v.number, "state": v.state, "createTime": _time(v.create_time)}
                            for v in e.versions
                        ],
                    }
                    for (p, s), e in self._secrets.items()
                }
        if method != "POST":
            return 405, {"error": f"{action} needs POST"}
        if action == "add_version":
            data = base64.b64decode(payload["data_base64"], validate=True)
            name = self.add_version(payload["project"], payload["secret"], data, bool(payload.get("enabled", True)))
            return 200, {"name": name}
        if action in ("disable", "enable", "corrupt_crc"):
            getattr(self, action)(payload["project"], payload["secret"], payload.get("version", "latest"))
            return 200, {"ok": True}
        if action == "deny":
            self.deny(payload["project"], payload["secret"], bool(payload.get("denied", True)))
            return 200, {"ok": True}
        if action == "fail_with":
            self.fail_with(payload.get("status"), payload.get("times"))
            return 200, {"ok": True}
        if action == "reset":
            self.reset()
            return 200, {"ok": True}
        return 404, {"error": f"unknown action {action!r}"}


def _version_name(project: str, secret: str, number: int) -> str:
    return f"projects/{project}/secrets/{secret}/versions/{number}"


def _version_json(project: str, secret: str, version: _Version, ints: bool) -> dict[str, Any]:
    return {
        "name": _version_name(project, secret, version.number),
        "createTime": _time(version.create_time),
        "state": _STATE_NUMBERS[version.state] if ints else version.state,
        "replicationStatus": {"automatic": {}},
        "etag": f'"{int(version.create_time.timestamp() * 1e6):x}"',
        "clientSpecifiedPayloadChecksum": True,
    }


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]


def _state_filter(text: str) -> str | None:
    """``state:ENABLED`` (or ``state=ENABLED``) -> ``ENABLED``; empty -> None; anything else -> ``invalid``."""
    text = text.strip()
    if not text:
        return None
    for sep in (":", "="):
        key, found, value = text.partition(sep)
        if found and key.strip() == "state" and value.strip().upper() in _STATE_NUMBERS:
            return value.strip().upper()
    return "invalid"


def _error(code: int, message: str, status: str | None = None, details: list[Any] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status or _STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return json_response(code, {"error": error})


def _denied(permission: str, resource: str) -> Response:
    return _error(
        403,
        f"Permission '{permission}' denied for resource '{resource}' (or it may not exist).",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "secretmanager.googleapis.com",
                "metadata": {"permission": permission, "resource": resource},
            }
        ],
    )
