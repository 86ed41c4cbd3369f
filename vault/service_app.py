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

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from vault.rbac import Actor, Op, Role, denial_reason
from vault.redact import install
from vault.secret import TokenSet
from vault.service_auth import Authenticator, RateLimiter, bearer
from vault.service_batch import GroupCommit
from vault.service_http import (
    ERRORS,
    PUT_FIELDS,
    AccessLog,
    ApiError,
    bad_name,
    expiry_field,
    handlers,
    info_dict,
    parse_json,
    path_of,
    read_body,
    token_field,
    when,
)
from vault.service_metrics import ServiceMetrics
from vault.service_openapi import openapi_document
from vault.service_refresh import Located, OnDemandRefresh
from vault.service_tokens import ServiceIdentity, ServiceTokens, Unauthenticated
from vault.store import Vault

__all__ = ["ERRORS", "ApiError", "ServiceSettings", "build_app"]

log = logging.getLogger("vault.service")

ANONYMOUS = Actor("anonymous", Role.VIEWER)
"""Who an unidentified caller is in the audit log."""


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
        self.batch = GroupCommit(vault, threaded=vault._pg)
        self._openapi: bytes | None = None

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking vault work: inline on SQLite, else in a worker thread, at most ``db_threads`` at once."""
        if not self.vault._pg:
            return fn(*args)
        if self._limiter is None:  # made on first use: it belongs to the server's event loop
            self._limiter = anyio.CapacityLimiter(self.settings.db_threads if self.vault._pg else 1)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def _audited(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Like :meth:`_db`, for work that writes audit entries: grouped with the requests that arrived with it
        into one commit (:mod:`vault.service_batch`; on SQLite in the loop, on PostgreSQL in the group's worker
        thread). On SQLite ``fn`` must not identify the caller (a token's last-use stamp is written on a connection
        of its own, which the group's write lock would stall)."""
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
                raise ApiError(
                    "rate_limited",
                    "too many unidentified requests from this address",
                    {"Retry-After": str(max(1, round(wait)))},
                ) from None
            self._audit(
                ANONYMOUS, f"{op}", None, None, "denied", {"reason": f"unauthenticated: {exc.code}", "client": client}
            )
            raise ApiError("unauthorized", str(exc), {"WWW-Authenticate": 'Bearer realm="vault"'}) from None
        request.state.identity = identity.name
        wait = self.limits.take(identity.id)
        if wait is not None:
            self.metrics.limited()
            raise ApiError(
                "rate_limited",
                f"identity {identity.name!r} is over {self.settings.rate:g} requests a second",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return identity

    def authorize(
        self,
        identity: ServiceIdentity,
        op: Op,
        tenant: str | None,
        provider: str | None,
        target: str | None = None,
        *,
        account: str | None = None,
    ) -> Actor:
        """The identity's actor, if the names are valid and the RBAC matrix and its providers allow ``op``; else
        an audited 400 (the names left out of the audit entry: they may be anything) or 403."""
        actor = identity.actor
        if (bad := bad_name(tenant=tenant, provider=provider, account=account)) is not None:
            self._audit(actor, op.value, None, None, "error", {"error": "invalid_request", "reason": bad})
            raise ApiError("invalid_request", bad)
        reason = denial_reason(actor, op, tenant)
        if reason is None and provider is not None and not identity.allows_provider(provider):
            reason = (
                f"identity {identity.name!r} is scoped to providers "
                f"{', '.join(sorted(identity.providers or ()))}, not {provider!r}"
            )
        if reason is not None:
            self._audit(actor, op.value, tenant, target, "denied", {"reason": reason, "provider": provider})
            raise ApiError("forbidden", f"access denied: {reason}")
        return actor

    def _audit(
        self, actor: Actor, op: str, tenant: str | None, target: str | None, outcome: str, detail: dict[str, Any]
    ) -> None:
        try:
            ring = self.vault._ring()
            with self.vault._begin() as conn:
                self.vault._append(conn, ring, actor, op, tenant, target, outcome, detail)
        except Exception as exc:  # still refused; the missing entry is worth a warning
            log.warning("could not audit a refused %s by %s (%s)", op, actor.name, type(exc).__name__)

    # ----------------------------------------------------------------------------------------- routes

    async def get_token(self, request: Request) -> Response:
        tenant, provider, account = path_of(request)
        # SQLite: identified here, on the loop, outside the group commit; PostgreSQL: in the worker thread below.
        known = None if self.batch.threaded else self.identify(request, "get")

        def answer(tokens: TokenSet, refreshed: str | None) -> dict[str, Any]:
            with tokens:
                now = self.vault.clock.now()
                if (
                    tokens.expires_at is not None
                    and tokens.expires_at <= now
                    and refreshed not in (None, "fresh", "refreshed")
                ):
                    raise ApiError(
                        "refresh_failed",
                        f"the access token expired and its refresh did not succeed ({refreshed}); try again later",
                        {"Retry-After": "30"},
                    )
                return {
                    "access_token": tokens.access_token.reveal(),
                    "token_type": "Bearer",
                    "expires_at": when(tokens.expires_at),
                    "scopes": list(tokens.scopes),
                    "credential_id": tokens.credential_id,
                    "tenant": tenant,
                    "provider": provider,
                    "account": account,
                    "refreshed": refreshed == "refreshed",
                }

        def first() -> tuple[Actor, Located | None, dict[str, Any] | None]:
            """The common case in one thread hop and one statement to find the credential: identify, authorise,
            and reveal in the statement that locates it (``Vault._get_account``), unless it is missing, revoked,
            waiting for the user, or due (then nothing is revealed or audited there: the ways below take over)."""
            identity = known or self.identify(request, "get")
            actor = self.authorize(identity, Op.GET, tenant, provider, account=account)
            seen: list[Located | None] = []

            def admit(row: dict[str, Any] | None) -> bool:
                located = self.refresh.located(row)
                seen.append(located)
                return located is not None and located.state not in ("revoked", "needs_reauth") and not located.due

            tokens = self.vault._get_account(actor, tenant, provider, account, admit)
            if tokens is not None:
                return actor, None, answer(tokens, None)
            located = seen[-1]
            if located is None:
                self._audit(actor, "get", tenant, f"{provider}/{account}", "error", {"error": "not_found"})
                raise ApiError("not_found", f"no {provider} credential for {account!r} in tenant {tenant!r}")
            if located.state == "revoked":
                raise ApiError(
                    "revoked",
                    f"credential {located.credential_id} was revoked: store new tokens "
                    "(PUT) after the user authorises again",
                )
            if located.state == "needs_reauth":
                raise ApiError(
                    "needs_reauth",
                    f"credential {located.credential_id} needs the user to authorise "
                    "again (its refresh token was refused)",
                )
            return actor, located, None  # due

        def reveal(actor: Actor, located: Located, refreshed: str | None) -> dict[str, Any]:
            return answer(self.vault.get(actor, tenant, located.credential_id), refreshed)

        actor, located, body = await self._audited(first)
        if body is None:  # due: refresh once (per server, and across replicas), then reveal what was stored
            assert located is not None
            outcome = await self.refresh.ensure_fresh(located)
            if outcome == "needs_reauth":
                raise ApiError(
                    "needs_reauth",
                    f"credential {located.credential_id} needs the user to authorise "
                    "again (the provider refused its refresh token)",
                )
            body = await self._audited(reveal, actor, located, outcome)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def put_token(self, request: Request) -> Response:
        tenant, provider, account = path_of(request)
        raw = await read_body(request, self.settings.max_body)

        def store() -> dict[str, Any]:
            identity = self.identify(request, "put")
            actor = self.authorize(identity, Op.PUT, tenant, provider, account=account)
            data = parse_json(raw)
            if unknown := sorted(set(data) - PUT_FIELDS):  # a misspelt refresh_token would keep the old one silently
                raise ApiError("invalid_request", f"unknown field(s): {', '.join(repr(k[:40]) for k in unknown[:5])}")
            access, refresh = token_field(data, "access_token", required=True), token_field(data, "refresh_token")
            assert access is not None
            try:
                expires = expiry_field(data, self.vault.clock.now())
                scopes = data.get("scopes")
                scopes = [] if scopes is None else scopes
                if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                    raise ApiError("invalid_request", "scopes must be a list of strings")
                cid = self.vault.put(
                    actor, tenant, provider, account, access, refresh, expires_at=expires, scopes=scopes
                )
            finally:
                access.wipe()
                if refresh is not None:
                    refresh.wipe()
            return {
                "credential_id": cid,
                "tenant": tenant,
                "provider": provider,
                "account": account,
                "expires_at": when(expires),
                "has_refresh_token": refresh is not None,
            }

        return JSONResponse(await self._db(store), 200)

    async def revoke(self, request: Request) -> Response:
        tenant, provider, account = path_of(request)

        def revoke() -> dict[str, Any]:
            identity = self.identify(request, "revoke")
            actor = self.authorize(identity, Op.REVOKE, tenant, provider, account=account)
            located = self.refresh.locate(tenant, provider, account)
            if located is None:
                self._audit(actor, "revoke", tenant, f"{provider}/{account}", "error", {"error": "not_found"})
                raise ApiError("not_found", f"no {provider} credential for {account!r} in tenant {tenant!r}")
            self.vault.revoke(actor, tenant, located.credential_id)
            return {"credential_id": located.credential_id, "state": "revoked"}

        return JSONResponse(await self._db(revoke))

    async def credentials(self, request: Request) -> Response:
        tenant = request.query_params.get("tenant")  # "" is a bad name, not "every tenant": leave it out for that
        provider = request.query_params.get("provider")

        def listing() -> list[dict[str, Any]]:
            identity = self.identify(request, "list")
            actor = self.authorize(identity, Op.LIST, tenant, provider)
            infos = self.vault.list(actor, tenant, provider)
            return [info_dict(i) for i in infos if identity.allows_provider(i.provider)]

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
        return JSONResponse(
            {"status": "ok" if ok else "down", "service": "token-vault", "database": "ok" if ok else "unreachable"},
            200 if ok else 503,
        )

    async def metrics_route(self, request: Request) -> Response:
        def check() -> None:
            identity = self.identify(request, "stats")
            actor = self.authorize(identity, Op.STATS, None, None)
            self._audit(actor, "metrics", None, None, "ok", {})

        await self._db(check)
        groups = (self.batch.groups, self.batch.grouped)
        return Response(
            self.metrics.render(self.refresh.refreshes, groups), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:  # the same document every time: rendered once
            self._openapi = bytes(JSONResponse(openapi_document()).body)
        return Response(self._openapi, media_type="application/json")


def build_app(vault: Vault, refresh: OnDemandRefresh | None = None, settings: ServiceSettings | None = None) -> ASGIApp:
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
        exception_handlers=handlers(),
    )
    app.state.service = service
    return AccessLog(app, service.metrics)
