"""Who may do what on the dashboard: its roles, the manifest's identity-to-role mapping, the network guard.

Plain functions over plain data (no Streamlit session needed), so the dashboard, the CLI and the tests
share one answer:

* :func:`role_for` turns what the identity provider says about a person (``st.user``: ``is_logged_in``,
  ``email``, ``email_verified``, the group claim) into a role by ``[[dashboard.access]]``; anyone it does
  not name, and anyone not signed in, is a ``viewer``.
* :func:`exposure_refusal` is why ``readiness dashboard`` / ``readiness demo`` refuse to serve a writable
  dashboard without sign-in on an address other hosts can reach.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from checks.core.manifest import DASHBOARD_ROLES, DashboardSpec

__all__ = [
    "ALLOW_FLAG",
    "ROLES",
    "WRITE_ROLES",
    "exposure_refusal",
    "identity_provider_configured",
    "is_loopback",
    "role_for",
]

ROLES = DASHBOARD_ROLES
WRITE_ROLES = frozenset({"release_manager", "admin"})
"""Roles that may write: run checks (a sweep records a run and reads the vault), attest, waive, decide."""
ALLOW_FLAG = "--allow-unauthenticated-writes"


def _groups(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}  # some providers send a lone group as a string
    if isinstance(value, list | tuple | set | frozenset):
        return {g for g in value if isinstance(g, str)}
    return set()


def _verified_email(user: Mapping[str, Any]) -> str | None:
    email = user.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    verified = user.get("email_verified", True)  # absent: the provider does not say (e.g. Entra ID)
    if verified is False or (isinstance(verified, str) and verified.strip().lower() == "false"):
        return None
    return email.strip().lower()


def role_for(user: Mapping[str, Any], spec: DashboardSpec) -> str:
    """The role of a person signed in through the identity provider (``st.user`` or any mapping shaped like
    it): the first ``[[dashboard.access]]`` rule naming their verified email or one of their groups (the
    ``spec.group_claim`` claim); ``viewer`` when none does or when they are not signed in."""
    if not user.get("is_logged_in"):
        return "viewer"
    email = _verified_email(user)
    groups = _groups(user.get(spec.group_claim))
    for rule in spec.access:
        if (email is not None and email in rule.emails) or groups.intersection(rule.groups):
            return rule.role
    return "viewer"


def identity_provider_configured() -> bool:
    """Streamlit's sign-in is set up: an ``[auth]`` section in the ``secrets.toml`` files Streamlit reads
    from here (``./.streamlit/secrets.toml``, ``~/.streamlit/secrets.toml`` or ``secrets.files``)."""
    from streamlit.auth_util import get_secrets_auth_section

    try:
        return bool(get_secrets_auth_section())
    except Exception:  # an unreadable secrets.toml: Streamlit would not sign anyone in either
        return False


def is_loopback(address: str) -> bool:
    """``127.0.0.1``, ``::1``, ``localhost``: reachable from this machine only. Anything else (``0.0.0.0``,
    ``""``, a host name, a LAN address) may be reachable from others."""
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_refusal(address: str, role: str, *, identity_provider: bool, allow: bool = False) -> str | None:
    """Why serving the dashboard on ``address`` as ``role`` is refused, in one line, or None when it is fine:
    a write role, nobody signing in, and an address other machines can reach make a dashboard anyone on the
    network can write to. ``allow`` (the ``--allow-unauthenticated-writes`` flag) says that is intended."""
    if allow or identity_provider or role not in WRITE_ROLES or is_loopback(address):
        return None
    return (
        f"refusing to serve a writable dashboard (role {role}) on {address or 'every interface'} without sign-in: "
        f"anyone who can reach it could run checks, attest and waive. Bind to 127.0.0.1, use --role viewer, "
        f"configure an identity provider ([auth] in .streamlit/secrets.toml), or pass {ALLOW_FLAG}"
    )
