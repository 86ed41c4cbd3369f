"""Stand-in for the Microsoft identity platform (``login.microsoftonline.com``): the v2.0 token endpoint
``POST /{tenant}/oauth2/v2.0/token`` and each tenant's OpenID discovery document.

Rotates refresh tokens; errors carry ``error_codes``, ``timestamp``, ``trace_id`` and ``correlation_id`` and the
``AADSTS…`` codes the real service uses (worded in :mod:`~checks.standins.oauth_microsoft_errors`; any code of
:data:`AADSTS_ANSWERS` in the ``aadsts`` scenario). Clients, grants and the control surface are
:class:`~checks.standins.oauth_base.TokenStandin`'s;
:data:`MICROSOFT_SCENARIOS` are shared with Graph's stand-in (:mod:`checks.standins.microsoft`).
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from checks.standins.oauth_base import NO_STORE, SCENARIOS, Grant, TokenRequest, b64url
from checks.standins.oauth_microsoft_errors import AADSTS_ANSWERS, MicrosoftRefusals
from checks.standins.provider import Response, json_response
from checks.standins.scenarios import Scenarios

__all__ = ["AADSTS_ANSWERS", "MICROSOFT_HOST", "MICROSOFT_SCENARIOS", "MicrosoftOAuthStandin"]

MICROSOFT_HOST = "login.microsoftonline.com"

MICROSOFT_SCENARIOS = (
    "valid",
    "unknown_tenant",
    "unknown_client",
    "wrong_secret",
    "secret_id_pasted",
    "expired_secret",
    "secret_expiring",
    "redirect_missing",
    "registration_forbidden",
    "no_events",
    "token_expired",
    "aadsts",
    "slow",
    "500",
    "429",
    "garbage",
)
"""Named scenarios of the Microsoft stand-ins (this one and ``graph.microsoft.com``)."""
_STATE_SCENARIOS = ("unknown_tenant", "unknown_client", "wrong_secret", "secret_id_pasted", "expired_secret", "aadsts")
"""The scenarios that change this host (the others of :data:`MICROSOFT_SCENARIOS` are about Graph)."""
_MS_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")
_MS_SHARED_TENANTS = frozenset({"common", "organizations", "consumers"})


class MicrosoftOAuthStandin(MicrosoftRefusals):
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
    * the named scenarios of :data:`MICROSOFT_SCENARIOS` (shared with the Graph stand-in; each host ignores the
      names about the other): ``valid``; ``unknown_tenant`` (every tenant but the shared aliases is unknown:
      AADSTS90002); ``unknown_client`` (AADSTS700016); ``wrong_secret`` and ``secret_id_pasted`` (AADSTS7000215:
      the server cannot tell what was pasted, so the two answer alike); ``expired_secret`` (AADSTS7000222);
      ``aadsts`` (``code``: the client-credentials grant answers that code of :data:`AADSTS_ANSWERS` with
      Microsoft's own status, ``error`` and message);
      ``slow``, ``500``, ``429``, ``garbage`` as in :mod:`~checks.standins.oauth_base`, for the discovery document too.
    """

    host = MICROSOFT_HOST
    rotates_by_default = True
    expires_in = 3599
    default_scope = "https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/Mail.Read"
    _DISCOVERY: ClassVar[re.Pattern[str]] = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$")
    _GUID: ClassVar[re.Pattern[str]] = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
    _CONSUMERS_TID: ClassVar[str] = "9188040d-6c67-4c5b-b112-36a304b66dad"
    region: str = "NA"
    """``tenant_region_scope`` of every tenant's discovery document."""

    def __init__(
        self, *, rotate: bool | None = None, retire_used: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(rotate=rotate, retire_used=retire_used, clock=clock)
        self._tenants: set[str] = set()
        self._client_tenant: dict[str, str] = {}
        self._tenant_ids: dict[str, str] = {}  # a verified domain -> its tenant's GUID
        self._client_roles: dict[str, list[str]] = {}
        self._app_tokens: dict[str, tuple[str, str, list[str], int]] = {}  # token -> (client_id, tid, roles, exp)

    def _scenarios(self) -> Scenarios:
        """:data:`MICROSOFT_SCENARIOS` and the token endpoint's own (``ok`` is ``valid``; faults last ``times``)."""
        names = (*MICROSOFT_SCENARIOS, *(n for n in SCENARIOS if n not in MICROSOFT_SCENARIOS))
        return Scenarios(
            self.host,
            names,
            aliases=("ok",),
            faults=SCENARIOS[1:],
            own=_STATE_SCENARIOS,
            fault_defaults={"seconds": 0.0, "retry_after": None},
        )

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

    def set_scenario(
        self,
        name: str,
        *,
        seconds: float = 0.0,
        status: int = 500,
        retry_after: int | str | None = None,
        times: int | None = None,
        refresh_token: str | None = None,
        code: int | None = None,
        **options: Any,
    ) -> None:
        """The token endpoint's own scenarios and the Microsoft ones (:data:`MICROSOFT_SCENARIOS`); ``aadsts``
        takes ``code``, one of :data:`AADSTS_ANSWERS`."""
        if name == "aadsts" and int(code or 0) not in AADSTS_ANSWERS:
            raise ValueError(f"scenario 'aadsts' needs code, one of {', '.join(map(str, AADSTS_ANSWERS))}")
        super().set_scenario(
            name,
            seconds=seconds,
            status=status,
            retry_after=retry_after,
            times=times,
            refresh_token=refresh_token,
            code=int(code or 0),
            **options,
        )

    @property
    def _state_scenario(self) -> str:
        return self.scenarios.name

    def token_info(self, token: str) -> dict[str, Any] | None:
        """Whom an access token this stand-in issued is for: ``{"type": "app", "client_id", "tenant", "roles",
        "expired"}`` (client credentials) or ``{"type": "user", "account"}`` (the latest one of a refresh);
        None for a token it never issued."""
        with self._lock:
            app = self._app_tokens.get(token)
            if app is not None:
                client_id, tid, roles, exp = app
                return {
                    "type": "app",
                    "client_id": client_id,
                    "tenant": tid,
                    "roles": list(roles),
                    "expired": self._clock() >= exp,
                }
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

    def state(self) -> dict[str, Any]:
        """Tenants, clients (ids only) and the scenario: for ``GET /_standins/login.microsoftonline.com/state``."""
        return {**self.scenarios.state(), **self._state()}

    def _state(self) -> dict[str, Any]:
        with self._lock:
            tenants = sorted(self._tenants)
        return {**super()._state(), "tenants": tenants}

    def control(self, method: str, action: str, payload: Any) -> tuple[int, Any]:
        """The shared actions (module docstring of :mod:`~checks.standins.oauth_base`), ``scenario`` with every
        name of :data:`MICROSOFT_SCENARIOS` (``aadsts`` with ``code``), ``GET state`` (tenants, client ids,
        scenario) and ``POST add_tenant`` {tenant, domains?}."""
        if action == "add_tenant" and method == "POST":
            self.add_tenant(str(payload["tenant"]), domains=[str(d) for d in payload.get("domains") or ()])
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
        answer = self._fault_answer(self.scenarios.take_fault())
        if answer is not None:
            return answer
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
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/{path}/kerberos",
            "tenant_region_scope": None if shared or tenant == "consumers" else self.region,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return json_response(
            200,
            doc,
            {
                "Cache-Control": "max-age=86400, private",
                "Access-Control-Allow-Origin": "*",
                "x-ms-request-id": str(uuid.uuid4()),
            },
        )

    def _match_path(self, path: str) -> str | None:
        match = _MS_PATH.match(path)
        return match.group(1) if match else None

    def _token(self, call: TokenRequest, scenario: str) -> Response:
        if not self._known_tenant(call.tenant):
            return self._tenant_not_found(call.tenant)
        if call.params.get("grant_type") == "client_credentials":
            return self._client_credentials(call)
        return super()._token(call, scenario)

    def _client_credentials(self, call: TokenRequest) -> Response:
        if call.tenant in _MS_SHARED_TENANTS:
            return self._aad(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by any provided credentials.",
            )
        problem = self._check_client(call)
        if problem is not None:
            return problem
        scope = call.params.get("scope", "")
        if not scope:
            return self._missing("scope")
        if not scope.endswith("/.default"):
            return self._aad(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have "
                "a scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        client_id = call.client_id or ""
        now, tid = int(self._clock()), self._tid(call.tenant)
        roles = list(self._client_roles.get(client_id, ()))
        header = _jwt_header()
        payload: dict[str, Any] = {
            "aud": "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "app_displayname": "MaxAI",
            "appid": client_id,
            "appidacr": "1",
            "idp": f"https://sts.windows.net/{tid}/",
            "idtyp": "app",
            "oid": str(uuid.uuid4()),
            "sub": str(uuid.uuid4()),
            "tid": tid,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if roles:
            payload["roles"] = roles
        access = f"{b64url(header)}.{b64url(payload)}.{secrets.token_urlsafe(256)}"
        self._app_tokens[access] = (client_id, tid, roles, now + self.expires_in)
        body = {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": access,
        }
        return json_response(200, body, {**NO_STORE, "x-ms-request-id": str(uuid.uuid4())})

    def _new_access(self, grant: Grant) -> str:
        now = int(self._clock())
        tid = str(grant.extra.get("tenant") or uuid.uuid4())
        header = _jwt_header()
        payload = {
            "aud": "00000003-0000-0000-c000-000000000000",
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "scp": grant.scope,
            "tid": tid,
            "upn": grant.account,
            "oid": str(uuid.uuid4()),
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        return f"{b64url(header)}.{b64url(payload)}.{secrets.token_urlsafe(256)}"

    def _new_refresh(self, grant: Grant) -> str:
        return "0.A" + secrets.token_urlsafe(300)

    def _success(self, access: str, refresh: str | None, grant: Grant) -> Response:
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": grant.scope,
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": access,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return json_response(200, body, {**NO_STORE, "x-ms-request-id": str(uuid.uuid4())})

    def _check_client(self, call: TokenRequest) -> Response | None:
        if call.client_id and self._state_scenario == "unknown_client":
            return self._unknown_client(call)
        problem = super()._check_client(call)
        if problem is not None:
            return problem
        home = self._client_tenant.get(call.client_id or "", "common")
        if (
            home not in _MS_SHARED_TENANTS
            and call.tenant not in _MS_SHARED_TENANTS
            and self._tid(call.tenant) != self._tid(home)
        ):
            return self._unknown_client(call)
        if self._state_scenario in ("wrong_secret", "secret_id_pasted"):
            return self._bad_secret(call)
        if self._state_scenario == "expired_secret":
            return self._expired_secret(call)
        if self._state_scenario == "aadsts":
            code = int(self.scenarios.options.get("code") or 0)
            status, error, message = AADSTS_ANSWERS[code]
            return self._aad(status, error, code, message.format(app=call.client_id, tenant=call.tenant))
        return None


def _jwt_header() -> dict[str, str]:
    """The header of an access token Microsoft's identity platform issues (random key ids: the stand-in signs
    nothing)."""
    return {
        "typ": "JWT",
        "nonce": secrets.token_urlsafe(32),
        "alg": "RS256",
        "x5t": secrets.token_urlsafe(20),
        "kid": secrets.token_urlsafe(20),
    }
