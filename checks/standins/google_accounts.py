"""Stand-in for ``accounts.google.com``: the OAuth authorize endpoint (``GET /o/oauth2/v2/auth``), as an
unauthenticated browser meets it.

Registered clients with their redirect URIs; answers as Google does, with a 302 either to the sign-in page
(``/v3/signin/identifier?...``) or to ``/signin/oauth/error?authError=...``, where ``authError`` is base64 of a
real protobuf message (:func:`encode_auth_error`: field 1 the error code, 2 its description, 4 the HTTP
status). Its scenarios are in :mod:`checks.standins.google`.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from checks.standins.google import ACCOUNTS_HOST, GoogleStandin, first_value
from checks.standins.provider import Response

__all__ = ["KNOWN_SCOPES", "SCOPE_PREFIX", "GoogleAccountsStandin", "encode_auth_error"]

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
KNOWN_SCOPES = frozenset(
    {"openid", "email", "profile"}
    | {
        SCOPE_PREFIX + s
        for s in (
            "calendar", "calendar.readonly", "calendar.events", "calendar.events.readonly", "business.manage",
            "userinfo.email", "userinfo.profile", "cloud-platform", "gmail.readonly", "drive.readonly",
        )
    }
)  # fmt: skip
"""Scopes the authorize stand-in knows; anything else (``calendar.readonly`` without its prefix) is
``invalid_scope``, as at Google."""


def encode_auth_error(code: str, description: str = "", status: int = 400) -> str:
    """Google's ``authError`` value: base64 of a protobuf with field 1 ``code``, 2 ``description``, 4 ``status``."""
    message = _field_bytes(1, code.encode()) + (_field_bytes(2, description.encode()) if description else b"")
    message += bytes([4 << 3 | 0]) + _varint(status)
    return base64.b64encode(message).decode()


def _field_bytes(number: int, data: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@dataclass
class _Client:
    redirect_uris: dict[str, str]
    """Environment (or the URI itself) -> URI."""
    deleted: bool = False
    disabled: bool = False


class GoogleAccountsStandin(GoogleStandin):
    """``accounts.google.com``: the OAuth authorize endpoint, as an unauthenticated browser meets it."""

    host = ACCOUNTS_HOST

    def __init__(self, clients: Mapping[str, Mapping[str, str] | Iterable[str]] | None = None) -> None:
        """``clients``: client id -> its redirect URIs (``{environment: uri}`` or a list of URIs)."""
        super().__init__()
        self._clients: dict[str, _Client] = {}
        self._refused: set[str] = set()
        self._signin = f"https://{ACCOUNTS_HOST}/v3/signin/identifier"
        for client_id, uris in (clients or {}).items():
            self._clients[client_id] = _Client(_uri_map(uris))
        self._initial = copy.deepcopy(self._clients)

    def register_client(self, client_id: str, redirect_uris: Mapping[str, str] | Iterable[str]) -> None:
        """Register (or replace) a client; it becomes part of the ``valid`` state."""
        with self._lock:
            self._clients[client_id] = _Client(_uri_map(redirect_uris))
            self._initial[client_id] = copy.deepcopy(self._clients[client_id])

    def _restore(self) -> None:
        self._clients = copy.deepcopy(self._initial)
        self._refused.clear()
        self._signin = f"https://{ACCOUNTS_HOST}/v3/signin/identifier"

    def _scenario(self, name: str, options: Mapping[str, Any]) -> None:
        only = options.get("client_id")
        chosen = [c for c in self._clients if only is None or c == only]
        if name == "unknown_client":
            for client_id in chosen:
                del self._clients[client_id]
        elif name == "deleted_client":
            for client_id in chosen:
                self._clients[client_id].deleted = True
        elif name == "disabled_client":
            for client_id in chosen:
                self._clients[client_id].disabled = True
        elif name == "redirect_mismatch":
            which = options.get("environment") or options.get("uri")
            for client_id in chosen:
                uris = self._clients[client_id].redirect_uris
                for key in [k for k, v in uris.items() if which is None or which in (k, v)]:
                    del uris[key]
        elif name == "invalid_scope":
            self._refused.add(str(options.get("scope") or SCOPE_PREFIX + "business.manage"))
        elif name == "signin_page":
            host = str(options.get("host") or ACCOUNTS_HOST)
            self._signin = f"https://{host}{options.get('path') or '/o/oauth2/v2/auth/identifier'}"

    def _writes(self) -> dict[str, Callable[[Any], Any]]:
        return {"register_client": lambda p: self.register_client(str(p["client_id"]), p.get("redirect_uris") or [])}

    def _state(self) -> dict[str, Any]:
        clients = {
            cid: {"redirect_uris": c.redirect_uris, "deleted": c.deleted, "disabled": c.disabled}
            for cid, c in self._clients.items()
        }
        return {**super()._state(), "clients": clients, "refused_scopes": sorted(self._refused)}

    def _answer(self, method: str, path: str, query: Mapping[str, list[str]], token: str | None) -> Response:
        if path.rstrip("/") not in ("/o/oauth2/v2/auth", "/o/oauth2/auth"):
            return self._not_found(method, path)
        client_id = first_value(query, "client_id")
        redirect_uri = first_value(query, "redirect_uri")
        client = self._clients.get(client_id)
        if not client_id:
            return self._error(client_id, "invalid_request", "Missing required parameter: client_id", 400)
        if client is None:
            return self._error(client_id, "invalid_client", "The OAuth client was not found.", 401)
        if client.deleted:
            return self._error(client_id, "deleted_client", "The OAuth client was deleted.", 401)
        if client.disabled:
            return self._error(client_id, "disabled_client", "The OAuth client was disabled.", 401)
        if redirect_uri not in client.redirect_uris.values():
            return self._error(
                client_id,
                "redirect_uri_mismatch",
                "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.\n\n"
                "If you're the app developer, register the redirect URI in the Google Cloud Console.\n"
                f"Request details: redirect_uri={redirect_uri} flowName=GeneralOAuthFlow",
                400,
            )
        scopes = first_value(query, "scope").split()
        if not scopes:
            return self._error(client_id, "invalid_request", "Missing required parameter: scope", 400)
        invalid = [s for s in scopes if s not in KNOWN_SCOPES or s in self._refused]
        if invalid:
            valid = [s for s in scopes if s not in invalid]
            return self._error(
                client_id,
                "invalid_scope",
                f"Some requested scopes were invalid. {{valid=[{', '.join(valid)}], invalid=[{', '.join(invalid)}]}}",
                400,
            )
        if first_value(query, "response_type") not in ("code", "token", "code id_token", "id_token"):
            return self._error(client_id, "unsupported_response_type", "Invalid response_type", 400)
        forward = {
            "opparams": "%3F",
            "dsh": "S-1204598813:1759741200000000",
            "client_id": client_id,
            "o2v": "2",
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "service": "lso",
            "flowName": "GeneralOAuthFlow",
        }
        joiner = "&" if "?" in self._signin else "?"
        return _redirect(f"{self._signin}{joiner}{urlencode(forward)}")

    def _error(self, client_id: str, code: str, description: str, status: int) -> Response:
        params = {
            "authError": encode_auth_error(code, description, status),
            "client_id": client_id,
            "flowName": "GeneralOAuthFlow",
        }
        return _redirect(f"https://{ACCOUNTS_HOST}/signin/oauth/error?{urlencode(params)}")

    def _garbage(self) -> Response:
        junk = base64.b64encode(b"\xff\xfe<html>not a protobuf</html>").decode()
        return _redirect(f"https://{ACCOUNTS_HOST}/signin/oauth/error?{urlencode({'authError': junk})}")


def _uri_map(uris: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    if isinstance(uris, Mapping):
        return {str(k): str(v) for k, v in uris.items()}
    return {str(u): str(u) for u in uris}


def _redirect(location: str) -> Response:
    return 302, {"Location": location, "Content-Type": "text/html; charset=UTF-8"}, b""
