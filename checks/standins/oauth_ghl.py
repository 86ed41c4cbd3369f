"""Stand-in for HighLevel's OAuth 2.0 token endpoint (``services.leadconnectorhq.com`` ``POST /oauth/token``).

Rotates refresh tokens (a used one stops working) and answers ``expires_in`` 86399, ``userType``,
``locationId``…, with GHL's error bodies. Clients, grants, scenarios and the control surface are
:class:`~checks.standins.oauth_base.TokenStandin`'s.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from checks.standins.oauth_base import (
    Grant,
    TokenRequest,
    TokenStandin,
    b64url,
)
from checks.standins.provider import Response, json_response

__all__ = ["GHL_HOST", "GhlOAuthStandin"]

GHL_HOST = "services.leadconnectorhq.com"


class GhlOAuthStandin(TokenStandin):
    """``services.leadconnectorhq.com``: HighLevel's OAuth 2.0 token endpoint. Rotates refresh tokens and
    retires the one presented (a refresh token works once)."""

    host = GHL_HOST
    rotates_by_default = True
    expires_in = 86399
    default_scope = "contacts.readonly calendars.readonly calendars/events.write locations.readonly"

    def __init__(
        self, *, rotate: bool | None = None, retire_used: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(rotate=rotate, retire_used=retire_used, clock=clock)

    def grant(self, account: str, client_id: str, scope: str = "", **extra: Any) -> str:
        """``account`` is the location (or company) id; ``extra`` may set ``userType``, ``companyId``."""
        extra.setdefault("userType", "Location")
        extra.setdefault("companyId", secrets.token_hex(10))
        extra.setdefault("userId", secrets.token_hex(10))
        return super().grant(account, client_id, scope, **extra)

    def _match_path(self, path: str) -> str | None:
        return "" if path.rstrip("/") == "/oauth/token" else None

    def _jwt(self, grant: Grant, kind: str, lifetime: int) -> str:
        now = int(self._clock())
        payload = {
            "authClass": grant.extra.get("userType", "Location"),
            "authClassId": grant.account,
            "source": "INTEGRATION",
            "sourceId": grant.client_id.split("-")[0],
            "channel": "OAUTH",
            "primaryAuthClassId": grant.account,
            "oauthMeta": {"scopes": grant.scope.split(), "client": grant.client_id.split("-")[0]},
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(12),
            "type": kind,
        }
        return f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(payload)}.{secrets.token_urlsafe(32)}"

    def _new_access(self, grant: Grant) -> str:
        return self._jwt(grant, "access", self.expires_in)

    def _new_refresh(self, grant: Grant) -> str:
        return self._jwt(grant, "refresh", 365 * 86400)

    def _success(self, access: str, refresh: str | None, grant: Grant) -> Response:
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in}
        if refresh is not None:
            body["refresh_token"] = refresh
        user_type = grant.extra.get("userType", "Location")
        body.update(
            {
                "scope": grant.scope,
                "refreshTokenId": secrets.token_hex(12),
                "userType": user_type,
                "companyId": grant.extra.get("companyId"),
                "userId": grant.extra.get("userId"),
                "isBulkInstallation": False,
            }
        )
        if user_type == "Location":
            body["locationId"] = grant.account
        return json_response(200, body)

    def _error(
        self,
        status: int,
        error: str,
        description: str,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return json_response(status, {"error": error, "error_description": description}, headers)

    def _missing(self, name: str) -> Response:
        return self._error(400, "invalid_request", f"Missing parameter: `{name}`")

    def _unsupported_grant(self, grant_type: str) -> Response:
        return self._error(400, "unsupported_grant_type", "Unsupported grant type: `grant_type` is invalid")

    def _unknown_client(self, call: TokenRequest) -> Response:
        return self._error(401 if call.basic_auth else 400, "invalid_client", "Invalid client: client is invalid")

    def _bad_secret(self, call: TokenRequest) -> Response:
        return self._unknown_client(call)

    def _wrong_client(self) -> Response:
        return self._error(400, "invalid_grant", "Invalid grant: refresh token is invalid")

    def _invalid_grant(self, what: str) -> Response:
        if what == "code":
            return self._error(400, "invalid_grant", "Invalid grant: authorization code is invalid")
        return self._error(400, "invalid_grant", "Invalid grant: refresh token is invalid")

    def _server_error(self, status: int) -> Response:
        return json_response(status, {"statusCode": status, "message": "Internal server error"})

    def _too_many(self, retry_after: int | str | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return json_response(429, {"statusCode": 429, "message": "Too Many Requests"}, headers)

    def _not_found(self, method: str, path: str) -> Response:
        return json_response(404, {"message": f"Cannot {method} {path}", "error": "Not Found", "statusCode": 404})
