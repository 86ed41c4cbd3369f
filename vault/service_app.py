"""``readiness vault serve``'s ASGI app (Starlette): the vault over HTTPS for the platform's backend.

Routes (the OpenAPI document, :mod:`vault.service_openapi`, is served at ``/openapi.json`` and committed as
``docs/vault-openapi.json``)::

    GET  /v1/tokens/{tenant}/{provider}/{account}         a usable access token (refreshed first when due)
    PUT  /v1/tokens/{tenant}/{provider}/{account}         store tokens from the OAuth callback
    POST /v1/tokens/{tenant}/{provider}/{account}/revoke  revoke
    GET  /v1/credentials?tenant=&provider=                metadata, never a token
    GET  /healthz                                         no identity needed; says nothing about tokens
    GET  /metrics                                         Prometheus text (the ``stats`` permission)

Every ``/v1`` call and ``/metrics`` names a service identity (``Authorization: Bearer rvs_…``,
:mod:`vault.service_tokens`), is authorised by the RBAC matrix (:mod:`vault.rbac`) and the identity's providers,
and is written to the audit chain as ``svc:NAME``: denials too, and unidentified callers as ``anonymous``
(rate-limited per address first, so a flood cannot flood the chain). Errors are JSON ``{"error": {"code",
"message"}}`` with the stable codes of :data:`ERRORS`; messages pass the scrubbing point. The refresh token never
leaves: a get answers the access token and its expiry. Request logs (``vault.service``) carry method, path,
status, identity and duration, through the redacting filter; never a header or a body.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vault.errors import AccessDenied, IntegrityError, VaultError
from vault.rbac import Actor, Op, Role, denial_reason
from vault.redact import install, scrub_text
from vault.secret import Secret
from vault.service_auth import Authenticator, RateLimiter, bearer
from vault.service_batch import GroupCommit
from vault.service_metrics import ServiceMetrics
from vault.service_openapi import openapi_document
from vault.service_refresh import OnDemandRefresh
from vault.service_tokens import ServiceIdentity, ServiceTokens, Unauthenticated
from vault.store import Vault

__all__ = ["ERRORS", "ApiError", "ServiceSettings", "build_app"]

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

ANONYMOUS = Actor("anonymous", Role.VIEWER)
"""Who an unidentified caller is in the audit log."""


class ApiError(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class ServiceSettings:
    """Limits of one server (``readiness vault serve`` options)."""

    rate: float = 100.0
    """Requests a second per identity (sustained)."""
    burst: int = 200
    """Requests per identity in a burst."""
    anonymous_rate: float = 5.0
    """Unidentified (refused) requests a second per client address, audited; beyond: 429 unaudited."""
    max_body: int = 64 * 1024
    """Largest request body accepted (bytes)."""
    auth_cache_ttl: float = 1.0
    """Seconds a checked token is trusted before it is looked up again (revocation delay across replicas)."""
    db_threads: int = 10
    """Requests working on a PostgreSQL vault at once, each in a worker thread (the rest wait their turn, in
    order). A SQLite vault is worked on in the event loop itself, one request at a time: its writers serialise
    anyway (every get commits an audit entry), queueing in the loop is fair where SQLite's busy handler sleeps
    (a get waited up to a second behind 31 others in the benchmark), and it saves two thread handoffs a request
    (about 5 ms of the benchmark's 11 on its loaded machine)."""


def _error(code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": scrub_text(message)[:500]}}, ERRORS[code],
                        headers=headers)


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


class _Service:
    """The routes' shared state: the vault, the identities, the limits, the on-demand refresher, the counters."""

    def __init__(self, vault: Vault, refresh: OnDemandRefresh, settings: ServiceSettings) -> None:
        self.vault = vault
        self.refresh = refresh
        self.settings = settings
        self.auth = Authenticator(ServiceTokens(vault), cache_ttl=settings.auth_cache_ttl)
        self.limits = RateLimiter(settings.rate, settings.burst)
        self.anonymous = RateLimiter(settings.anonymous_rate, max(1, int(settings.anonymous_rate * 2)))
        self.metrics = ServiceMetrics()
        self._limiter: anyio.CapacityLimiter | None = None
        self.batch = None if vault._pg else GroupCommit(vault)
        self._openapi: bytes | None = None

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking vault work: inline on SQLite, else in a worker thread, at most ``db_threads`` at once."""
        if not self.vault._pg:
            return fn(*args)
        if self._limiter is None:  # made on first use: it belongs to the server's event loop
            self._limiter = anyio.CapacityLimiter(self.settings.db_threads if self.vault._pg else 1)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def _audited(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Like :meth:`_db`, for work that writes audit entries: on SQLite grouped with the requests that arrived
        with it into one commit (:mod:`vault.service_batch`). ``fn`` must not identify the caller (a token's
        last-use stamp is written on a connection of its own, which the group's write lock would stall)."""
        if self.batch is None:
            return await self._db(fn, *args)
        return await self.batch.run(fn, *args)

    # -------------------------------------------------------------------------------- identity and access

    def identify(self, request: Request, op: str) -> ServiceIdentity:
        """The caller's identity (blocking: run in a thread); a refusal is audited as ``anonymous``."""
        try:
            identity = self.auth.identify(bearer(request.headers.get("authorization")))
        except Unauthenticated as exc:
            self.metrics.auth_failure(exc.code)
            client = request.client.host if request.client else "?"
            wait = self.anonymous.take(client)
            if wait is not None:
                self.metrics.limited()
                raise ApiError("rate_limited", "too many unidentified requests from this address",
                               {"Retry-After": str(max(1, round(wait)))}) from None
            self._audit(ANONYMOUS, f"{op}", None, None, "denied", {"reason": f"unauthenticated: {exc.code}",
                                                                    "client": client})
            raise ApiError("unauthorized", str(exc), {"WWW-Authenticate": 'Bearer realm="vault"'}) from None
        request.state.identity = identity.name
        wait = self.limits.take(identity.id)
        if wait is not None:
            self.metrics.limited()
            raise ApiError("rate_limited", f"identity {identity.name!r} is over {self.settings.rate:g} requests a "
                           "second", {"Retry-After": str(max(1, round(wait + 0.5)))})
        return identity

    def authorize(self, identity: ServiceIdentity, op: Op, tenant: str | None, provider: str | None,
                  target: str | None = None) -> Actor:
        """The identity's actor, if the RBAC matrix and its providers allow ``op``; else an audited 403."""
        actor = identity.actor
        reason = denial_reason(actor, op, tenant)
        if reason is None and provider is not None and not identity.allows_provider(provider):
            reason = f"identity {identity.name!r} is scoped to providers " \
                     f"{', '.join(sorted(identity.providers or ()))}, not {provider!r}"
        if reason is not None:
            self._audit(actor, op.value, tenant, target, "denied", {"reason": reason, "provider": provider})
            raise ApiError("forbidden", f"access denied: {reason}")
        return actor

    def _audit(self, actor: Actor, op: str, tenant: str | None, target: str | None, outcome: str,
               detail: dict[str, Any]) -> None:
        try:
            ring = self.vault._ring()
            with self.vault._begin() as conn:
                self.vault._append(conn, ring, actor, op, tenant, target, outcome, detail)
        except Exception as exc:  # still refused; the missing entry is worth a warning
            log.warning("could not audit a refused %s by %s (%s)", op, actor.name, type(exc).__name__)

    # ----------------------------------------------------------------------------------------- routes

    async def get_token(self, request: Request) -> Response:
        tenant, provider, account = _path(request)
        # SQLite: identified here, on the loop, outside the group commit; PostgreSQL: in the worker thread below.
        known = None if self.batch is None else self.identify(request, "get")

        def locate() -> tuple[Actor, Any]:
            identity = known or self.identify(request, "get")
            actor = self.authorize(identity, Op.GET, tenant, provider)
            located = self.refresh.locate(tenant, provider, account)
            if located is None:
                self._audit(actor, "get", tenant, f"{provider}/{account}", "error", {"error": "not_found"})
                raise ApiError("not_found", f"no {provider} credential for {account!r} in tenant {tenant!r}")
            if located.state == "revoked":
                raise ApiError("revoked", f"credential {located.credential_id} was revoked: store new tokens "
                               "(PUT) after the user authorises again")
            return actor, located

        def reveal(actor: Actor, located: Any, refreshed: str | None) -> dict[str, Any]:
            with self.vault.get(actor, tenant, located.credential_id) as tokens:
                now = self.vault.clock.now()
                if tokens.expires_at is not None and tokens.expires_at <= now and refreshed not in (None, "fresh",
                                                                                                  "refreshed"):
                    raise ApiError("refresh_failed", f"the access token expired and its refresh did not succeed "
                                   f"({refreshed}); try again later", {"Retry-After": "30"})
                return {
                    "access_token": tokens.access_token.reveal(), "token_type": "Bearer",
                    "expires_at": _when(tokens.expires_at), "scopes": list(tokens.scopes),
                    "credential_id": tokens.credential_id, "tenant": tenant, "provider": provider,
                    "account": account, "refreshed": refreshed == "refreshed",
                }

        def first() -> tuple[Actor, Any, dict[str, Any] | None]:
            """One thread hop in the common case: identify, authorise, locate, and reveal unless it is due."""
            actor, located = locate()
            if located.state == "needs_reauth":
                raise ApiError("needs_reauth", f"credential {located.credential_id} needs the user to authorise "
                               "again (its refresh token was refused)")
            return actor, located, None if located.due else reveal(actor, located, None)

        actor, located, body = await self._audited(first)
        if body is None:  # due: refresh once (per server, and across replicas), then reveal what was stored
            outcome = await self.refresh.ensure_fresh(located)
            if outcome == "needs_reauth":
                raise ApiError("needs_reauth", f"credential {located.credential_id} needs the user to authorise "
                               "again (the provider refused its refresh token)")
            body = await self._audited(reveal, actor, located, outcome)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def put_token(self, request: Request) -> Response:
        tenant, provider, account = _path(request)
        raw = await _body(request, self.settings.max_body)

        def store() -> dict[str, Any]:
            identity = self.identify(request, "put")
            actor = self.authorize(identity, Op.PUT, tenant, provider)
            data = _json(raw)
            access, refresh = _token(data, "access_token", required=True), _token(data, "refresh_token")
            assert access is not None
            try:
                expires = _expiry(data, self.vault.clock.now())
                scopes = data.get("scopes") or []
                if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                    raise ApiError("invalid_request", "scopes must be a list of strings")
                cid = self.vault.put(actor, tenant, provider, account, access, refresh, expires_at=expires,
                                     scopes=scopes)
            finally:
                access.wipe()
                if refresh is not None:
                    refresh.wipe()
            return {"credential_id": cid, "tenant": tenant, "provider": provider, "account": account,
                    "expires_at": _when(expires), "has_refresh_token": refresh is not None}

        return JSONResponse(await self._db(store), 200)

    async def revoke(self, request: Request) -> Response:
        tenant, provider, account = _path(request)

        def revoke() -> dict[str, Any]:
            identity = self.identify(request, "revoke")
            actor = self.authorize(identity, Op.REVOKE, tenant, provider)
            located = self.refresh.locate(tenant, provider, account)
            if located is None:
                self._audit(actor, "revoke", tenant, f"{provider}/{account}", "error", {"error": "not_found"})
                raise ApiError("not_found", f"no {provider} credential for {account!r} in tenant {tenant!r}")
            self.vault.revoke(actor, tenant, located.credential_id)
            return {"credential_id": located.credential_id, "state": "revoked"}

        return JSONResponse(await self._db(revoke))

    async def credentials(self, request: Request) -> Response:
        tenant = request.query_params.get("tenant") or None
        provider = request.query_params.get("provider") or None

        def listing() -> list[dict[str, Any]]:
            identity = self.identify(request, "list")
            actor = self.authorize(identity, Op.LIST, tenant, provider)
            infos = self.vault.list(actor, tenant, provider)
            return [_info(i) for i in infos if identity.allows_provider(i.provider)]

        return JSONResponse({"credentials": await self._db(listing)})

    async def health(self, request: Request) -> Response:
        def ping() -> bool:
            try:
                with self.vault.engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.SQLAlchemyError:
                return False

        ok = await self._db(ping)
        return JSONResponse({"status": "ok" if ok else "down", "service": "token-vault",
                             "database": "ok" if ok else "unreachable"}, 200 if ok else 503)

    async def metrics_route(self, request: Request) -> Response:
        def check() -> None:
            identity = self.identify(request, "stats")
            actor = self.authorize(identity, Op.STATS, None, None)
            self._audit(actor, "metrics", None, None, "ok", {})

        await self._db(check)
        groups = None if self.batch is None else (self.batch.groups, self.batch.grouped)
        return Response(self.metrics.render(self.refresh.refreshes, groups),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:  # the same document every time: rendered once
            self._openapi = JSONResponse(openapi_document()).body
        return Response(self._openapi, media_type="application/json")


def _path(request: Request) -> tuple[str, str, str]:
    p = request.path_params
    return p["tenant"], p["provider"], p["account"]


async def _body(request: Request, limit: int) -> bytes:
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


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError("invalid_request", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "the body must be a JSON object")
    return data


def _token(data: dict[str, Any], name: str, *, required: bool = False) -> Secret | None:
    value = data.pop(name, None)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError("invalid_request", f"{name} must be a non-empty string")
    return Secret(value.strip())


def _expiry(data: dict[str, Any], now: datetime) -> datetime | None:
    expires_in, expires_at = data.get("expires_in"), data.get("expires_at")
    if expires_in is not None and expires_at is not None:
        raise ApiError("invalid_request", "give expires_in or expires_at, not both")
    if expires_in is not None:
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            raise ApiError("invalid_request", "expires_in must be a positive integer (seconds)")
        return now + timedelta(seconds=expires_in)
    if expires_at is not None:
        try:
            when = datetime.fromisoformat(str(expires_at).replace("Z", "+00:00"))
        except ValueError:
            raise ApiError("invalid_request", "expires_at must be an ISO 8601 time") from None
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _info(info: Any) -> dict[str, Any]:
    return {k: (_when(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
            for k, v in vars(info).items()}


class _AccessLog:
    """Pure ASGI middleware: one scrubbed log line per request, and the per-route counters."""

    def __init__(self, app: ASGIApp, service: _Service) -> None:
        self.app = app
        self.service = service

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
            route = _route_name(scope.get("path", ""))
            self.service.metrics.request(route, status[0])
            identity = scope.get("state", {}).get("identity", "-")
            log.info("%s %s %d %s %.1fms", scope.get("method"), scope.get("path"), status[0], identity,
                     (time.perf_counter() - started) * 1000)


def _route_name(path: str) -> str:
    if path.startswith("/v1/tokens/"):
        return "revoke" if path.endswith("/revoke") else "tokens"
    return {"/v1/credentials": "credentials", "/healthz": "healthz", "/metrics": "metrics",
            "/openapi.json": "openapi"}.get(path, "other")


def _handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(exc.code, str(exc), exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return _error("method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        if exc.status_code == 404:
            return _error("not_found", f"no route {request.url.path}: see /openapi.json")
        return _error("invalid_request", str(exc.detail))

    async def denied(request: Request, exc: Exception) -> Response:
        return _error("forbidden", str(exc))

    async def vault_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, IntegrityError):
            log.error("integrity failure serving %s: %s", request.url.path, type(exc).__name__)
            return _error("internal", "the vault refused to serve a row that fails its integrity check")
        text = str(exc)
        if "was revoked" in text:
            return _error("revoked", text)
        if "no credential" in text:
            return _error("not_found", text)
        if "could not open" in text or "database refused" in text or "audit entry could not" in text:
            return _error("unavailable", text, {"Retry-After": "5"})
        return _error("invalid_request", text)

    async def db_error(request: Request, exc: Exception) -> Response:
        log.warning("database error serving %s (%s)", request.url.path, type(exc).__name__)
        return _error("unavailable", "the vault database did not answer", {"Retry-After": "5"})

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("unexpected %s serving %s", type(exc).__name__, request.url.path)
        return _error("internal", "the vault service failed; see its log")

    return {ApiError: api_error, HTTPException: http_error, AccessDenied: denied, VaultError: vault_error,
            sa.exc.SQLAlchemyError: db_error, sqlite3.Error: db_error, Exception: crash}


def build_app(vault: Vault, refresh: OnDemandRefresh | None = None,
              settings: ServiceSettings | None = None) -> ASGIApp:
    """The service's ASGI app over ``vault``; ``refresh`` refreshes due credentials on demand (``None``: never)."""
    service = _Service(vault, refresh or OnDemandRefresh(vault, None), settings or ServiceSettings())
    install(log)
    tokens = "/v1/tokens/{tenant}/{provider}/{account}"
    app = Starlette(
        routes=[
            Route(tokens, service.get_token, methods=["GET"]),
            Route(tokens, service.put_token, methods=["PUT"]),
            Route(tokens + "/revoke", service.revoke, methods=["POST"]),
            Route("/v1/credentials", service.credentials, methods=["GET"]),
            Route("/healthz", service.health, methods=["GET"]),
            Route("/metrics", service.metrics_route, methods=["GET"]),
            Route("/openapi.json", service.openapi, methods=["GET"]),
        ],
        exception_handlers=_handlers(),
    )
    app.state.service = service
    return _AccessLog(app, service)
