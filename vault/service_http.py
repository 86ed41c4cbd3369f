"""The vault service's HTTP plumbing (:mod:`vault.service_app` has the routes): the error codes and their JSON
answers, reading a request's path, body and fields, the exception handlers, and the request log (one scrubbed line
per request, and the per-route counters)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vault.errors import AccessDenied, IntegrityError, VaultError
from vault.names import check_names
from vault.redact import scrub_text
from vault.secret import Secret
from vault.service_metrics import ServiceMetrics

__all__ = ["ERRORS", "AccessLog", "ApiError", "handlers"]

log = logging.getLogger("vault.service")

ERRORS: dict[str, int] = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "needs_reauth": 409,
    "revoked": 410,
    "too_large": 413,
    "rate_limited": 429,
    "internal": 500,
    "refresh_failed": 502,
    "unavailable": 503,
}
"""Every error code the service answers, with its HTTP status: a contract (``docs/vault.md``)."""


class ApiError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.headers = headers or {}


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": scrub_text(message)[:500]}}, ERRORS[code], headers=headers)


def when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def path_of(request: Request) -> tuple[str, str, str]:
    """The (tenant, provider, account) a path names, as sent: :func:`bad_name` judges them once the caller is
    known (an unidentified caller is told 401 whatever it sent)."""
    p = request.path_params
    return p["tenant"], p["provider"], p["account"]


def bad_name(**names: str | None) -> str | None:
    """Why one of the tenant, provider or account names given is not a valid one, if one is not
    (:func:`vault.names.check_name`; ``None`` values are not given)."""
    try:
        check_names(given_only=True, **names)
    except VaultError as exc:
        return str(exc)
    return None


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError("too_large", f"the body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError("too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError("invalid_request", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "the body must be a JSON object")
    return data


PUT_FIELDS = frozenset({"access_token", "refresh_token", "expires_in", "expires_at", "scopes"})
"""The fields a PUT body may have (the OpenAPI document's ``StoreTokens``; anything else is refused)."""

TOKEN_PATTERN = "^[\\u0021-\\u007e](?:[\\u0020-\\u007e]*[\\u0021-\\u007e])?$"
"""An OAuth access or refresh token (RFC 6749, appendix A: ``1*VSCHAR``, printable ASCII), with no space at
either end. ECMA-262 and Python read it alike: the OpenAPI document's pattern and the check below."""
_TOKEN = re.compile(TOKEN_PATTERN)


def token_field(data: dict[str, Any], name: str, *, required: bool = False) -> Secret | None:
    value = data.pop(name, None)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError("invalid_request", f"{name} must be a non-empty string")
    if not _TOKEN.fullmatch(value):
        raise ApiError("invalid_request", f"{name} must be printable ASCII with no space at either end (RFC 6749)")
    return Secret(value)


MAX_EXPIRES_IN = 10 * 366 * 86400
"""The longest lifetime an access token may be stored with (ten years; providers' are hours to days)."""


def expiry_field(data: dict[str, Any], now: datetime) -> datetime | None:
    expires_in, expires_at = data.get("expires_in"), data.get("expires_at")
    if expires_in is not None and expires_at is not None:
        raise ApiError("invalid_request", "give expires_in or expires_at, not both")
    if expires_in is not None:
        if isinstance(expires_in, float) and expires_in.is_integer():
            expires_in = int(expires_in)  # JSON has one number type: 3600.0 is the integer 3600
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or not 0 < expires_in <= MAX_EXPIRES_IN:
            raise ApiError(
                "invalid_request", f"expires_in must be a whole number of seconds from 1 to {MAX_EXPIRES_IN}"
            )
        return now + timedelta(seconds=expires_in)
    if expires_at is not None:
        try:
            when = datetime.fromisoformat(str(expires_at).replace("Z", "+00:00"))
        except ValueError:
            raise ApiError("invalid_request", "expires_at must be an ISO 8601 time") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def info_dict(info: Any) -> dict[str, Any]:
    return {
        k: (when(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
        for k, v in vars(info).items()
    }


class AccessLog:
    """Pure ASGI middleware: one scrubbed log line per request, and the per-route counters."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_name(scope.get("path", ""))
            self.metrics.request(route, status[0])
            identity = scope.get("state", {}).get("identity", "-")
            log.info(
                "%s %s %d %s %.1fms",
                scope.get("method"),
                scope.get("path"),
                status[0],
                identity,
                (time.perf_counter() - started) * 1000,
            )


def route_name(path: str) -> str:
    if path.startswith("/v1/tokens/"):
        return "revoke" if path.endswith("/revoke") else "tokens"
    return {
        "/v1/credentials": "credentials",
        "/healthz": "healthz",
        "/metrics": "metrics",
        "/openapi.json": "openapi",
    }.get(path, "other")


def handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, str(exc), exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response("method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        if exc.status_code == 404:
            return error_response("not_found", f"no route {request.url.path}: see /openapi.json")
        return error_response("invalid_request", str(exc.detail))

    async def denied(request: Request, exc: Exception) -> Response:
        return error_response("forbidden", str(exc))

    async def vault_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, IntegrityError):
            log.error("integrity failure serving %s: %s", request.url.path, type(exc).__name__)
            return error_response("internal", "the vault refused to serve a row that fails its integrity check")
        text = str(exc)
        if "was revoked" in text:
            return error_response("revoked", text)
        if "no credential" in text:
            return error_response("not_found", text)
        if "could not open" in text or "database refused" in text or "audit entry could not" in text:
            return error_response("unavailable", text, {"Retry-After": "5"})
        return error_response("invalid_request", text)

    async def db_error(request: Request, exc: Exception) -> Response:
        log.warning("database error serving %s (%s)", request.url.path, type(exc).__name__)
        return error_response("unavailable", "the vault database did not answer", {"Retry-After": "5"})

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s serving %s", type(exc).__name__, request.url.path)
        return error_response("internal", "the vault service failed; see its log")

    return {
        ApiError: api_error,
        HTTPException: http_error,
        AccessDenied: denied,
        VaultError: vault_error,
        sa.exc.SQLAlchemyError: db_error,
        sqlite3.Error: db_error,
        Exception: crash,
    }
