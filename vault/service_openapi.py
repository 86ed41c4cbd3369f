"""The vault service's OpenAPI 3.1 document, as data: served at ``/openapi.json`` and committed as
``docs/vault-openapi.json`` (a test holds them equal: regenerate with
``python -c "import vault.service_openapi as o; o.write('docs/vault-openapi.json')"``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vault.names import NAME_LIMITS
from vault.service_http import MAX_EXPIRES_IN, TOKEN_PATTERN

__all__ = ["openapi_document", "write"]

_CODES = {
    "invalid_request": (400, "The request is malformed (body, fields, JSON)."),
    "unauthorized": (401, "No usable service token: missing, unknown, expired or revoked (audited)."),
    "forbidden": (403, "The identity's role, tenants or providers do not allow this (audited)."),
    "not_found": (404, "No such credential (or route)."),
    "method_not_allowed": (405, "The route does not take this method."),
    "needs_reauth": (409, "The provider refused the refresh token: the user must authorise again."),
    "revoked": (410, "The credential was revoked: store new tokens after the user authorises again."),
    "too_large": (413, "The body is over the server's limit (64 KiB by default)."),
    "rate_limited": (429, "Over the identity's (or an unidentified address's) rate: see Retry-After."),
    "internal": (500, "The service failed (an integrity failure included); nothing was returned."),
    "refresh_failed": (502, "The access token expired and the provider did not refresh it: see Retry-After."),
    "unavailable": (503, "The vault database did not answer: see Retry-After."),
}


def _error_ref(*codes: str) -> dict[str, Any]:
    return {
        str(_CODES[c][0]): {
            "description": f"`{c}`: {_CODES[c][1]}",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for c in codes
    }


_COMMON = ("unauthorized", "forbidden", "rate_limited", "unavailable", "internal")
_NOT_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"


def _name_schema(what: str) -> dict[str, Any]:
    """A tenant, provider or account name (:func:`vault.names.check_name`): not blank, no control character, no
    longer than its column."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": NAME_LIMITS[what],
        "pattern": f"^[^{_NOT_CONTROL}]*[^\\s{_NOT_CONTROL}][^{_NOT_CONTROL}]*$",
    }


_PATH_PARAMS = [
    {"name": "tenant", "in": "path", "required": True, "schema": _name_schema("tenant")},
    {
        "name": "provider",
        "in": "path",
        "required": True,
        "schema": _name_schema("provider"),
        "description": "google, microsoft, ghl, …",
    },
    {
        "name": "account",
        "in": "path",
        "required": True,
        "schema": _name_schema("account"),
        "description": "The account the tokens belong to (an email, a GHL location id); URL-encoded.",
    },
]


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def openapi_document() -> dict[str, Any]:
    """The document (a fresh dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Readiness token vault service",
            "version": "1",
            "description": "OAuth tokens for the platform's backend: a usable access token per (tenant, provider, "
            "account), refreshed on demand; the refresh token never leaves the service. Every "
            "/v1 call needs a service token (`readiness vault service-token create`) and is "
            "authorised by the vault's RBAC matrix and audited. See docs/vault.md.",
        },
        "security": [{"serviceToken": []}],
        "paths": {
            "/v1/tokens/{tenant}/{provider}/{account}": {
                "parameters": _PATH_PARAMS,
                "get": {
                    "operationId": "getToken",
                    "summary": "A usable access token (refreshed first when due; one refresh across replicas).",
                    "description": "Permission `get` (admin; service for its tenants and providers).",
                    "responses": {
                        "200": _json("AccessToken", "The access token and its expiry; never the refresh token"),
                        **_error_ref(
                            "invalid_request", "not_found", "needs_reauth", "revoked", "refresh_failed", *_COMMON
                        ),
                    },
                },
                "put": {
                    "operationId": "putToken",
                    "summary": "Store tokens from the OAuth callback (replaces; reactivates a revoked credential).",
                    "description": "Permission `put`. Without refresh_token the stored one is kept.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StoreTokens"}}},
                    },
                    "responses": {
                        "200": _json("Stored", "Stored"),
                        **_error_ref("invalid_request", "too_large", *_COMMON),
                    },
                },
            },
            "/v1/tokens/{tenant}/{provider}/{account}/revoke": {
                "parameters": _PATH_PARAMS,
                "post": {
                    "operationId": "revokeToken",
                    "summary": "Revoke the credential and erase its ciphertexts (idempotent).",
                    "description": "Permission `revoke`. The provider's own revocation is separate.",
                    "responses": {
                        "200": _json("Revoked", "Revoked"),
                        **_error_ref("invalid_request", "not_found", *_COMMON),
                    },
                },
            },
            "/v1/credentials": {
                "get": {
                    "operationId": "listCredentials",
                    "summary": "Credential metadata (never a token), within the identity's tenants and providers.",
                    "description": "Permission `list` (every role; scoped identities see their own tenants).",
                    "parameters": [
                        {"name": "tenant", "in": "query", "required": False, "schema": _name_schema("tenant")},
                        {"name": "provider", "in": "query", "required": False, "schema": _name_schema("provider")},
                    ],
                    "responses": {
                        "200": _json("CredentialList", "Metadata"),
                        **_error_ref("invalid_request", *_COMMON),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the service and its database answer (no identity needed).",
                    "security": [],
                    "responses": {
                        "200": _json("Health", "Healthy"),
                        "503": _json("Health", "The database does not answer"),
                    },
                },
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus text: requests, refusals, refreshes (permission `stats`).",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_error_ref("unauthorized", "forbidden", "rate_limited", "internal"),
                    },
                },
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {
                "serviceToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A service token `rvs_…` (shown once at creation, stored as a SHA-256 hash).",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string", "enum": list(_CODES)},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "AccessToken": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_at"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"type": "string", "const": "Bearer"},
                        "expires_at": {"type": ["string", "null"], "format": "date-time"},
                        "scopes": {"type": "array", "items": {"type": "string"}},
                        "credential_id": {"type": "string"},
                        "tenant": {"type": "string"},
                        "provider": {"type": "string"},
                        "account": {"type": "string"},
                        "refreshed": {"type": "boolean", "description": "This call refreshed it first"},
                    },
                },
                "StoreTokens": {
                    "type": "object",
                    "required": ["access_token"],
                    "additionalProperties": False,
                    "properties": {
                        "access_token": {"type": "string", "pattern": TOKEN_PATTERN},
                        "refresh_token": {"type": ["string", "null"], "pattern": TOKEN_PATTERN},
                        "expires_in": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_EXPIRES_IN},
                        "expires_at": {"type": ["string", "null"], "format": "date-time"},
                        "scopes": {"type": ["array", "null"], "items": {"type": "string"}},
                    },
                    "not": {
                        "description": "expires_in or expires_at, not both",
                        "required": ["expires_in", "expires_at"],
                        "properties": {"expires_in": {"type": "integer"}, "expires_at": {"type": "string"}},
                    },
                },
                "Stored": {
                    "type": "object",
                    "properties": {
                        "credential_id": {"type": "string"},
                        "tenant": {"type": "string"},
                        "provider": {"type": "string"},
                        "account": {"type": "string"},
                        "expires_at": {"type": ["string", "null"], "format": "date-time"},
                        "has_refresh_token": {"type": "boolean"},
                    },
                },
                "Revoked": {
                    "type": "object",
                    "properties": {
                        "credential_id": {"type": "string"},
                        "state": {"type": "string", "const": "revoked"},
                    },
                },
                "CredentialList": {
                    "type": "object",
                    "properties": {
                        "credentials": {"type": "array", "items": {"$ref": "#/components/schemas/Credential"}}
                    },
                },
                "Credential": {
                    "type": "object",
                    "description": "Metadata only (vault.CredentialInfo).",
                    "properties": {
                        k: {"type": t}
                        for k, t in (
                            ("id", "string"),
                            ("tenant", "string"),
                            ("provider", "string"),
                            ("account", "string"),
                            ("state", "string"),
                            ("has_refresh_token", "boolean"),
                            ("token_fingerprint", "string"),
                            ("failures", "integer"),
                        )
                    },
                },
                "Health": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "down"]},
                        "service": {"type": "string"},
                        "database": {"type": "string"},
                    },
                },
            },
        },
    }


def write(path: str | Path) -> None:
    """Write the document as ``docs/vault-openapi.json`` holds it."""
    Path(path).write_text(json.dumps(openapi_document(), indent=2) + "\n", encoding="utf-8")
