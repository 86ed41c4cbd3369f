"""``VaultClient``: the vault service's client, for the platform's backend (and the ``vault`` check's probe).

    with VaultClient("https://vault.internal:8443", token, verify="/etc/ssl/vault-ca.pem") as vault:
        with vault.get_token("acme", "google", "ops@acme.test") as token:
            calendar.get(..., headers={"Authorization": f"Bearer {token.access_token.reveal()}"})

A small httpx client over one keep-alive connection pool (TCP_NODELAY set: small requests would otherwise
wait on Nagle and delayed ACKs). Errors are :class:`VaultServiceError` carrying the service's stable ``code``
(``unauthorized``, ``forbidden``, ``not_found``, ``rate_limited``, …, or ``unreachable`` / ``tls`` when no answer
came); a message never carries the service token, and the access token comes back as a
:class:`~vault.secret.Secret`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from vault.errors import VaultError
from vault.redact import scrub_text
from vault.secret import Secret

__all__ = ["AccessToken", "VaultClient", "VaultServiceError"]

USER_AGENT = "readiness-vault-client/1"


class VaultServiceError(VaultError):
    """The service refused (``status`` and its stable ``code``), or did not answer (``status`` None)."""

    def __init__(self, code: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.retry_after = retry_after


@dataclass(repr=False)
class AccessToken:
    """A usable access token from the service (``with`` wipes it)."""

    access_token: Secret
    expires_at: datetime | None
    credential_id: str
    scopes: list[str] = field(default_factory=list)
    refreshed: bool = False

    def wipe(self) -> None:
        self.access_token.wipe()

    def __enter__(self) -> AccessToken:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wipe()

    def __repr__(self) -> str:
        return (
            f"AccessToken(credential_id={self.credential_id!r}, access_token=Secret(***), "
            f"expires_at={self.expires_at!r})"
        )


def _segment(value: str) -> str:
    return quote(value, safe="")


class VaultClient:
    """The service at ``base_url`` as the identity of ``token`` (``rvs_…``).

    ``verify``: an :class:`ssl.SSLContext`, a CA bundle path, or True (the system's); ``cert``: a client
    certificate (path, or (cert, key)) for mutual TLS. ``transport``: an httpx transport (tests)."""

    def __init__(
        self,
        base_url: str,
        token: str | Secret,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: str | tuple[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = token if isinstance(token, Secret) else Secret(token)
        context: ssl.SSLContext | bool = (
            verify if isinstance(verify, ssl.SSLContext | bool) else ssl.create_default_context(cafile=verify)
        )
        if cert is not None:
            if context is False:
                raise ValueError("a client certificate needs TLS verification on")
            if context is True:
                context = ssl.create_default_context()
            certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
            context.load_cert_chain(certfile, keyfile)
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            follow_redirects=False,
            transport=transport
            or httpx.HTTPTransport(verify=context, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VaultClient({self.base_url!r}, token=Secret(***))"

    # --------------------------------------------------------------------------------------------- calls

    def get_token(self, tenant: str, provider: str, account: str) -> AccessToken:
        """A usable access token (the service refreshes it first when due)."""
        data = self._call("GET", self._path(tenant, provider, account))
        expires = data.get("expires_at")
        return AccessToken(
            Secret(data["access_token"]),
            datetime.fromisoformat(expires) if expires else None,
            data.get("credential_id", ""),
            list(data.get("scopes") or []),
            bool(data.get("refreshed")),
        )

    def put_token(
        self,
        tenant: str,
        provider: str,
        account: str,
        access_token: str | Secret,
        refresh_token: str | Secret | None = None,
        *,
        expires_in: int | None = None,
        expires_at: datetime | None = None,
        scopes: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Store tokens (from the OAuth callback); answers the credential's id and expiry."""
        body: dict[str, Any] = {
            "access_token": access_token.reveal() if isinstance(access_token, Secret) else access_token,
            "scopes": list(scopes),
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token.reveal() if isinstance(refresh_token, Secret) else refresh_token
        if expires_in is not None:
            body["expires_in"] = expires_in
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        try:
            return self._call("PUT", self._path(tenant, provider, account), json=body)
        finally:
            body.clear()

    def list(self, tenant: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
        """Credential metadata within the identity's scope."""
        params = {k: v for k, v in (("tenant", tenant), ("provider", provider)) if v}
        return list(self._call("GET", "/v1/credentials", params=params)["credentials"])

    def revoke(self, tenant: str, provider: str, account: str) -> dict[str, Any]:
        return self._call("POST", self._path(tenant, provider, account) + "/revoke")

    def health(self) -> dict[str, Any]:
        """``/healthz`` (no identity needed): ``{"status": "ok", …}``; a 503 is an ``unavailable`` error."""
        return self._call("GET", "/healthz", auth=False)

    # --------------------------------------------------------------------------------------------- plumbing

    @staticmethod
    def _path(tenant: str, provider: str, account: str) -> str:
        return f"/v1/tokens/{_segment(tenant)}/{_segment(provider)}/{_segment(account)}"

    def _call(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"} if auth else {}
        try:
            response = self._http.request(method, path, headers=headers, **kw)
        except httpx.ConnectError as exc:
            text = str(exc)
            code = "tls" if "CERTIFICATE" in text.upper() or "SSL" in text.upper() else "unreachable"
            raise VaultServiceError(
                code,
                f"could not reach the vault service at {self.base_url} "
                f"({type(exc).__name__}: {scrub_text(text)[:200]})",
            ) from None
        except httpx.HTTPError as exc:
            raise VaultServiceError(
                "unreachable", f"no answer from the vault service at {self.base_url} ({type(exc).__name__})"
            ) from None
        finally:
            headers.clear()
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success and isinstance(data, dict):
            return data
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            code, message = error["code"], str(error.get("message", ""))
        else:
            code, message = "unexpected", f"HTTP {response.status_code} without a vault error body"
        retry = response.headers.get("retry-after")
        raise VaultServiceError(
            code, scrub_text(message)[:300], response.status_code, float(retry) if retry and retry.isdigit() else None
        )
