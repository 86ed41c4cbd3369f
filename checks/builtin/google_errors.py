"""Reading Google's refusals: the ``authError`` protobuf of the sign-in error page, what each OAuth error
code means and how to fix it, and the ``{"error": {...}}`` body of Google's APIs."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks.builtin.google_common import CREDENTIALS_PAGE

__all__ = ["AUTH_ERRORS", "AuthError", "google_error", "read_auth_error"]


AUTH_ERRORS: Mapping[str, tuple[str, str]] = {
    "invalid_client": (
        "Google does not know this OAuth client",
        f"create it in {CREDENTIALS_PAGE} or fix {{id_env}}",
    ),
    "deleted_client": (
        "the OAuth client was deleted",
        f"restore it (within 30 days) in {CREDENTIALS_PAGE} › Deleted credentials, or create a new one and "
        "update {id_env} and the secret",
    ),
    "disabled_client": ("the OAuth client is disabled", f"enable it in {CREDENTIALS_PAGE}"),
    "unauthorized_client": (
        "this client may not use the authorization-code flow",
        "use an OAuth client of type Web application",
    ),
    "org_internal": (
        "the app is Internal: only its own Workspace organization may sign in",
        "make the user type External in the OAuth consent screen",
    ),
    "access_denied": (
        "Google denies access to this app (blocked by policy, or restricted to its test users)",
        "check the OAuth consent screen's publishing status and test users",
    ),
    "admin_policy_enforced": (
        "a Workspace admin policy blocks this app",
        "ask the Workspace admin to trust the app (Admin console › Security › API controls)",
    ),
    "policy_enforced": ("Google's account policy blocks this app", "check the OAuth consent screen and verification"),
    "invalid_request": (
        "Google refused the authorization request as malformed",
        "check the client id, scopes and redirect URI in the manifest",
    ),
}


@dataclass(frozen=True)
class AuthError:
    """What Google's ``authError`` carries: field 1 the error code, field 2 its description."""

    code: str
    description: str = ""


def read_auth_error(blob: str) -> AuthError | None:
    """Decode an ``authError`` value (urlsafe or standard base64, padding optional) holding a protobuf
    message whose field 1 is the error code; None when it is not one."""
    text = blob.strip().replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    if not text or not re.fullmatch(r"[A-Za-z0-9+/]+", text):
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    fields = _proto_fields(raw)
    code, description = fields.get(1), fields.get(2)
    if not isinstance(code, bytes):
        return None
    try:
        code_text = code.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not re.fullmatch(r"[a-z][a-z0-9_]{2,63}", code_text):
        return None
    shown = description.decode("utf-8", "replace") if isinstance(description, bytes) else ""
    return AuthError(code_text, shown)


def _proto_fields(raw: bytes) -> dict[int, bytes | int]:
    """The first value of each field of a protobuf message; stops quietly at anything malformed or cut short."""
    fields: dict[int, bytes | int] = {}
    pos = 0
    try:
        while pos < len(raw):
            key, pos = _varint(raw, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                break
            value: bytes | int
            if wire == 0:
                value, pos = _varint(raw, pos)
            elif wire == 2:
                length, pos = _varint(raw, pos)
                if pos + length > len(raw):
                    break
                value, pos = raw[pos : pos + length], pos + length
            elif wire in (1, 5):
                size = 8 if wire == 1 else 4
                if pos + size > len(raw):
                    break
                value, pos = int.from_bytes(raw[pos : pos + size], "little"), pos + size
            else:
                break
            fields.setdefault(number, value)
    except IndexError:
        pass
    return fields


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        byte = raw[pos]  # IndexError when cut short
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise IndexError("varint longer than 10 bytes")


def google_error(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """(status, message, ErrorInfo reason) of Google's ``{"error": {...}}`` body; blanks when absent."""
    error = body.get("error")
    if not isinstance(error, dict):
        return "", str(error or ""), ""
    reason = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reason = str(detail["reason"])
            break
    return str(error.get("status", "")), str(error.get("message", "")), reason
