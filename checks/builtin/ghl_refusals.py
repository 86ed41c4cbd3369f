"""GHL's refusals as the proxy forwards them (HighLevel API 2.0 bodies ``{"statusCode": N, "message": "..."}``):
which reason each answer gives, what it means and what to do. Anything else in a 401/403 is the proxy
refusing our key."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

__all__ = ["TOKEN_INVALID", "Reason", "refusal"]


@dataclass(frozen=True)
class Reason:
    code: str
    """For evidence: ``no_access``, ``wrong_scope``, ...; ``ok`` and ``unexpected`` are not reasons."""
    what: str
    """What the answer means, e.g. ``the app's OAuth install does not cover it``."""
    fix: str


_NO_ACCESS = Reason(
    "no_access",
    "the app's OAuth install does not cover it",
    "install (or reinstall) the app on that sub-account so the proxy gets a token for it",
)
_WRONG_SCOPE = Reason(
    "wrong_scope",
    "the app's token lacks the locations.readonly scope",
    "add locations.readonly to the app's scopes (Marketplace › your app › Auth) and reinstall it on the location",
)
_USER_TYPE = Reason(
    "user_type",
    "the token's class (Company/agency vs Location/sub-account) does not fit the route",
    "make the proxy call location routes with a Location token (POST /oauth/locationToken exchanges a Company "
    "token for one), or install the app from inside the sub-account",
)
TOKEN_INVALID = Reason(
    "token_invalid",
    "the proxy's GHL token is expired or revoked",
    "the proxy's refresh failed: reconnect (reinstall) the app on that location and check the proxy's refresh logs",
)
_VERSION = Reason(
    "version_header",
    "the proxy does not forward the Version header unchanged",
    "make the proxy forward the Version header (GHL wants Version: 2021-07-28 on this route)",
)
_MISSING = Reason(
    "missing",
    "GHL has no such location",
    "fix the id (the sub-account's Settings › Business Profile, or the id after /location/ in its URL)",
)
_NO_ROUTE = Reason(
    "no_route",
    "the proxy has no such route",
    "set the check's location_path to the proxy's route for GHL's GET /locations/{id}",
)
# GHL's own refusals, as the proxy forwards them. Anything else in a 401/403 is the proxy refusing our key.
_GHL_REFUSALS: tuple[tuple[re.Pattern[str], Reason], ...] = (
    (re.compile(r"version header", re.I), _VERSION),
    (re.compile(r"does not have access to this location", re.I), _NO_ACCESS),
    (re.compile(r"not authorized for this scope", re.I), _WRONG_SCOPE),
    (re.compile(r"user type mismatch|authclass|not yet supported by the iam service", re.I), _USER_TYPE),
    (re.compile(r"invalid jwt|jwt expired|invalid private integration token", re.I), TOKEN_INVALID),
)


def _ghl_message(response: httpx.Response) -> str:
    """The ``message`` of a GHL-style error body (a list is joined), or ``""``."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    return message if isinstance(message, str) else ""


def refusal(response: httpx.Response) -> tuple[Reason | None, str]:
    """GHL's reason for a non-200 answer as the proxy forwarded it (None: not one of GHL's), and its message."""
    message = _ghl_message(response)
    code = response.status_code
    for pattern, reason in _GHL_REFUSALS:
        if code in (400, 401, 403) and pattern.search(message):
            return reason, message
    if code == 404:
        return (_NO_ROUTE if message.startswith("Cannot ") else _MISSING), message
    if code in (400, 422) and re.search(r"not found", message, re.I):
        return _MISSING, message
    return None, message
