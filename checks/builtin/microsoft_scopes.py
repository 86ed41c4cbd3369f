"""The ``scopes`` probe of ``oauth_microsoft``: manifest hygiene, no network. OpenID Connect scopes
unprefixed (``offline_access``), Graph permissions in their canonical casing, ``offline_access`` present."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from checks.builtin.microsoft_common import GRAPH_PREFIX
from checks.core.manifest import OAuthApp
from checks.core.result import Result

__all__ = ["ScopeReview", "probe_scopes", "review_scopes"]


_OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
_GRAPH_SCOPES = {
    name.lower(): name
    for name in (
        "User.Read", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite", "Calendars.Read", "Calendars.ReadBasic",
        "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared", "Mail.Read", "Mail.ReadBasic",
        "Mail.ReadWrite", "Mail.Send", "Mail.Read.Shared", "MailboxSettings.Read", "MailboxSettings.ReadWrite",
        "Contacts.Read", "Contacts.ReadWrite", "People.Read", "Files.Read", "Files.ReadWrite", "Files.Read.All",
        "Files.ReadWrite.All", "OnlineMeetings.Read", "OnlineMeetings.ReadWrite", "Tasks.Read", "Tasks.ReadWrite",
        "Presence.Read", "Application.Read.All", "Directory.Read.All",
    )
}  # fmt: skip
"""Microsoft Graph permission names in their canonical casing, keyed by lower case."""


@dataclass(frozen=True)
class ScopeReview:
    """What :func:`review_scopes` found: the scopes as they should be written and each fix, in words."""

    suggested: list[str]
    fixes: list[str]
    unchecked: list[str]
    """Scopes of other APIs, or Graph permissions this module does not know: left as written."""


def review_scopes(scopes: list[str]) -> ScopeReview:
    """OpenID Connect scopes (``offline_access``, ``openid``, ...) unprefixed and lower case; Graph permissions
    in their canonical casing (``Calendars.ReadWrite``), prefixed or not as written; ``offline_access`` present."""
    suggested: list[str] = []
    oidc_fixes: list[str] = []
    case_fixes: list[str] = []
    unchecked: list[str] = []
    for raw in scopes:
        scope = raw.strip()
        prefixed = scope.lower().startswith(GRAPH_PREFIX)
        name = scope[len(GRAPH_PREFIX) :] if prefixed else scope
        if name.lower() in _OIDC_SCOPES:
            right = name.lower()
            if right == "offline_access" and prefixed:
                oidc_fixes.append(f"write offline_access, not {scope}: the prefixed form yields no refresh token")
            elif prefixed:
                oidc_fixes.append(f"write {right}, not {scope}: OpenID Connect scopes go unprefixed")
            elif name != right:
                oidc_fixes.append(f"write {right}, not {scope}")
        elif name.lower() in _GRAPH_SCOPES:
            right = (GRAPH_PREFIX if prefixed else "") + _GRAPH_SCOPES[name.lower()]
            if right != scope:
                case_fixes.append(f"write {right}, not {scope} (Graph's canonical casing)")
        else:
            right = scope
            unchecked.append(scope)
        if right not in suggested:
            suggested.append(right)
    if "offline_access" not in suggested:
        oidc_fixes.append("add offline_access: without it Microsoft issues no refresh token")
        suggested.append("offline_access")
    return ScopeReview(suggested, oidc_fixes + case_fixes, unchecked)


def probe_scopes(app: OAuthApp, key: str) -> Result:
    if not app.scopes:
        return Result.warned(
            f"[oauth_apps.{key}] lists no scopes: add the Graph permissions the app asks for, and offline_access",
            remediation='e.g. scopes = ["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"]',
        )
    review = review_scopes(list(app.scopes))
    evidence: dict[str, Any] = {
        "scopes": list(app.scopes),
        "fixes": review.fixes,
        "suggested": review.suggested,
        "unchecked": review.unchecked,
    }
    if not review.fixes:
        return Result.passed(f"[oauth_apps.{key}] scopes are canonical: {' '.join(app.scopes)}", **evidence)
    count = f"{len(review.fixes)} scope fix{'es' if len(review.fixes) > 1 else ''}"
    return Result.warned(
        f"{count} in [oauth_apps.{key}]: " + "; ".join(review.fixes),
        remediation=f"In the manifest's [oauth_apps.{key}], write scopes = {json.dumps(review.suggested)}. Graph "
        "matches permission names case-insensitively on the wire, but the manifest should use the canonical form "
        "Azure Portal shows, so reviews and diffs compare like with like",
        **evidence,
    )
