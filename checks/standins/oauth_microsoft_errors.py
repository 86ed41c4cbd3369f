"""How ``login.microsoftonline.com`` refuses: the AADSTS codes and error bodies of the identity platform's stand-in.

Every refusal of :class:`~checks.standins.oauth_microsoft.MicrosoftOAuthStandin` is an AADSTS answer as the
real service words it: ``error``, an ``error_description`` opening ``AADSTSn: `` and closing with the trace id,
correlation id and timestamp, ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id`` and
``error_uri``. :class:`MicrosoftRefusals` puts them in place of the generic answers of
:class:`~checks.standins.oauth_base.TokenStandin` (90002 tenant not found, 700016 unknown application, 7000215
invalid secret, 7000222 expired secret, 70000 invalid grant, 900144 missing parameter, 70003 unsupported grant,
90033/90100 transient failure, 50196 request loop); :data:`AADSTS_ANSWERS` holds the codes the ``aadsts``
scenario can answer with.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from checks.standins.oauth_base import NO_STORE, TokenRequest, TokenStandin
from checks.standins.provider import Response, json_response

__all__ = ["AADSTS_ANSWERS", "MicrosoftRefusals"]

AADSTS_ANSWERS: Mapping[int, tuple[int, str, str]] = {
    7000112: (400, "unauthorized_client", "Application '{app}'(MaxAI) is disabled."),
    7000229: (
        400,
        "invalid_client",
        "The client application {app} is missing service principal in the tenant "
        "{tenant}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
    ),
    70002: (400, "invalid_client", "The client does not exist or is not enabled for consumers."),
    700025: (
        401,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    ),
    53003: (
        400,
        "access_denied",
        "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
    ),
    50194: (
        400,
        "invalid_request",
        "Application '{app}'(MaxAI) is not configured as a multi-tenant application. "
        "Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use "
        "a tenant-specific endpoint or configure the application to be multi-tenant.",
    ),
    900023: (
        400,
        "invalid_request",
        "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain.",
    ),
    50059: (
        400,
        "invalid_request",
        "No tenant-identifying information found in either the request or implied by any provided credentials.",
    ),
    7000218: (
        401,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    ),
    700027: (401, "invalid_client", "Client assertion failed signature validation."),
    90014: (
        400,
        "invalid_request",
        "The required field 'client_secret' is missing from the credential. Ensure "
        "that you have all the necessary parameters for the login request.",
    ),
    900144: (400, "invalid_request", "The request body must contain the following parameter: 'client_id'."),
    70011: (
        400,
        "invalid_scope",
        "The provided request must include a 'scope' input parameter. The provided value "
        "for the input parameter 'scope' is not valid.",
    ),
    90009: (
        400,
        "invalid_request",
        "Application '{app}'(MaxAI) is requesting a token for itself. This scenario is "
        "supported only if resource is specified using the GUID based App Identifier.",
    ),
    500011: (
        400,
        "invalid_resource",
        "The resource principal named https://graph.microsoft.com was not found in "
        "the tenant named {tenant}. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant.",
    ),
    65001: (
        400,
        "invalid_grant",
        "The user or administrator has not consented to use the application with ID "
        "'{app}' named 'MaxAI'. Send an interactive authorization request for this user and resource.",
    ),
    50011: (
        400,
        "invalid_request",
        "The redirect URI 'https://app.example/callback' specified in the request does "
        "not match the redirect URIs configured for the application '{app}'.",
    ),
    700054: (400, "invalid_request", "response_type 'id_token' is not enabled for the application."),
    9002313: (400, "invalid_request", "Invalid request. Request is malformed or invalid."),
    50034: (400, "invalid_grant", "The user account {{EUII Hidden}} does not exist in the {tenant} directory."),
    50126: (400, "invalid_grant", "Error validating credentials due to invalid username or password."),
    50076: (
        400,
        "invalid_grant",
        "Due to a configuration change made by your administrator, or because you moved "
        "to a new location, you must use multi-factor authentication to access 'MaxAI'.",
    ),
    50079: (
        400,
        "interaction_required",
        "Due to a configuration change made by your administrator, or because you "
        "moved to a new location, you must enroll in multi-factor authentication to access 'MaxAI'.",
    ),
    50053: (
        400,
        "invalid_grant",
        "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
    ),
    50196: (
        400,
        "invalid_request",
        "The server terminated an operation because it encountered a client request "
        "loop. Please contact your app vendor.",
    ),
}
"""Codes the ``aadsts`` scenario can answer: code -> (HTTP status, ``error``, the message after ``AADSTSn: ``),
as login.microsoftonline.com words them (``{app}``, ``{tenant}`` filled in)."""


class MicrosoftRefusals(TokenStandin):
    """A token endpoint whose every refusal is an AADSTS answer (see the module docstring)."""

    def _tenant_not_found(self, tenant: str, error: str = "invalid_request") -> Response:
        return self._aad(
            400,
            error,
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are no active subscriptions for the tenant.",
        )

    def _aad(
        self, status: int, error: str, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.fromtimestamp(self._clock(), UTC)
        shown = stamp.strftime("%Y-%m-%d %H:%M:%SZ")
        description = f"AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {shown}"
        body = {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": shown,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }
        return json_response(status, body, {**NO_STORE, "x-ms-request-id": trace, **(headers or {})})

    def _error(
        self,
        status: int,
        error: str,
        description: str,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return self._aad(status, error, code or 900144, description, headers)

    def _missing(self, name: str) -> Response:
        return self._aad(
            400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
        )

    def _unsupported_grant(self, grant_type: str) -> Response:
        return self._aad(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")

    def _unknown_client(self, call: TokenRequest) -> Response:
        return self._aad(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{call.client_id}' was not found in the directory "
            f"'{call.tenant}'. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You may have sent "
            "your authentication request to the wrong tenant.",
        )

    def _bad_secret(self, call: TokenRequest) -> Response:
        return self._aad(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{call.client_id}'.",
        )

    def _expired_secret(self, call: TokenRequest) -> Response:
        return self._aad(
            401,
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{call.client_id}' are expired. Visit the Azure "
            "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
            "certificate credentials for added security: https://aka.ms/certCreds.",
        )

    def _wrong_client(self) -> Response:
        return self._aad(
            400,
            "invalid_grant",
            70000,
            "The provided value for the 'refresh_token' is not valid. The refresh token was issued to "
            "a different client.",
        )

    def _invalid_grant(self, what: str) -> Response:
        if what == "code":
            return self._aad(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        return self._aad(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")

    def _server_error(self, status: int) -> Response:
        return self._aad(
            status,
            "temporarily_unavailable",
            90033 if status == 503 else 90100,
            "A transient error has occurred. Please try again.",
        )

    def _too_many(self, retry_after: int | str | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self._aad(
            429,
            "temporarily_unavailable",
            50196,
            "The server terminated an operation because it encountered a client request loop.",
            headers,
        )
