"""Stand-in for Google's OAuth 2.0 token endpoint (``oauth2.googleapis.com`` ``POST /token``).

A refresh answers ``{"access_token": "ya29.…", "expires_in": 3599, "scope": …, "token_type": "Bearer"}`` and,
like Google, no new refresh token. An ``authorization_code`` grant from a known client answers ``invalid_grant``
"Malformed auth code." (a provider probe uses that to validate a client without a user). Clients, grants,
scenarios and the control surface are :class:`~checks.standins.oauth_base.TokenStandin`'s.
"""

from __future__ import annotations

import secrets
from typing import Any

from checks.standins.oauth_base import NO_STORE, Grant, TokenRequest, TokenStandin
from checks.standins.provider import Response, json_response

__all__ = ["GOOGLE_HOST", "GoogleOAuthStandin"]

GOOGLE_HOST = "oauth2.googleapis.com"


class GoogleOAuthStandin(TokenStandin):
    """``oauth2.googleapis.com``: Google's token endpoint. Does not rotate refresh tokens."""

    host = GOOGLE_HOST
    rotates_by_default = False
    expires_in = 3599
    default_scope = "https://www.googleapis.com/auth/calendar.readonly"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._disabled: set[str] = set()

    def disable_client(self, client_id: str) -> None:
        """The client was disabled in the Cloud Console: every token request answers 401 ``disabled_client``."""
        with self._lock:
            self._disabled.add(client_id)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._disabled.clear()

    def _check_client(self, call: TokenRequest) -> Response | None:
        if call.client_id in self._disabled and call.client_id in self._clients:
            return self._error(401, "disabled_client", "The OAuth client was disabled.")
        return super()._check_client(call)

    def _match_path(self, path: str) -> str | None:
        return "" if path.rstrip("/") == "/token" else None

    def _new_access(self, grant: Grant) -> str:
        return "ya29.a0" + secrets.token_urlsafe(120)

    def _new_refresh(self, grant: Grant) -> str:
        return "1//0g" + secrets.token_urlsafe(75)

    def _success(self, access: str, refresh: str | None, grant: Grant) -> Response:
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.expires_in,
            "scope": grant.scope,
            "token_type": "Bearer",
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return json_response(200, body, NO_STORE)

    def _missing(self, name: str) -> Response:
        if name == "client_id":
            return self._error(400, "invalid_request", "Could not determine client ID from request.")
        return super()._missing(name)

    def _invalid_grant(self, what: str) -> Response:
        if what == "code":
            return self._error(400, "invalid_grant", "Malformed auth code.")
        return self._error(400, "invalid_grant", "Token has been expired or revoked.")
