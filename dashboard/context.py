"""The dashboard's configuration, who is using it, and the preamble every page runs.

Everything comes from the environment (the same names as the CLI):

=============================  ====================================================================
``READINESS_MANIFEST``         the manifest (default ``./readiness.toml``, else the packaged one)
``READINESS_DB_URL``           the history database (default SQLite under ``./.readiness/``)
``TOKEN_VAULT_DB_URL``         the vault's database (default: the history database)
``TOKEN_VAULT_KEY_SOURCE``     ``env`` (default), ``file:PATH`` or ``gcp:projects/P/secrets/S``
``READINESS_DASHBOARD_ROLE``   ``viewer`` (default), ``release_manager``, ``admin`` or ``auditor``; only
                               when no identity provider is set up
``READINESS_DASHBOARD_USER``   the operator's name, used as ``by`` when no identity provider is set up
``READINESS_DASHBOARD_NOW``    pins the dashboard's clock (ISO 8601; the demo and tests)
=============================  ====================================================================

When Streamlit's identity provider is configured (``[auth]`` in ``secrets.toml``), the person comes from
``st.user``, their role from the manifest's ``[[dashboard.access]]`` (anyone it does not name is a viewer,
see :func:`checks.shell.access.role_for`), and writes wait until they sign in. Values of secret variables are
never shown: the scrubber built here replaces them with fingerprints wherever a string could carry one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from checks import Clock, FixedClock, Manifest, ManifestError, Run, SystemClock
from checks.core.redact import Scrubber
from checks.core.runner import ProgressCallback
from checks.shell.access import ROLES, WRITE_ROLES, role_for
from checks.storage.history import Store
from dashboard.settings import ConfigError, Settings, mask_url, settings
from vault import Actor, Role

__all__ = [
    "ROLES",
    "WRITE_ROLES",
    "ConfigError",
    "Identity",
    "NotAllowed",
    "Page",
    "Settings",
    "identity",
    "load",
    "mask_url",
    "settings",
    "vault_actor",
]

_VAULT_ROLE = {"admin": Role.ADMIN, "auditor": Role.AUDITOR}


class NotAllowed(PermissionError):
    """This session's role may not do that (the page should not have offered it; a forged request did)."""


@dataclass(frozen=True)
class Identity:
    name: str
    source: str
    """``identity provider`` or ``READINESS_DASHBOARD_USER``."""


def oidc_configured() -> bool:
    """Streamlit's identity provider is set up: ``st.user`` then carries ``is_logged_in``."""
    try:
        return "is_logged_in" in st.user
    except Exception:  # outside a script run
        return False


def identity(s: Settings) -> Identity | None:
    """Who is using the dashboard: the signed-in person when an identity provider is set up, else the operator
    named by READINESS_DASHBOARD_USER; None when neither (reading works, writing waits for an identity)."""
    if oidc_configured():
        if not st.user.get("is_logged_in"):
            return None
        for claim in ("email", "preferred_username", "name", "sub"):
            value = st.user.get(claim)
            if isinstance(value, str) and value:
                return Identity(value, "identity provider")
        return None
    if s.operator:
        return Identity(s.operator, "READINESS_DASHBOARD_USER")
    return None


def vault_actor(who: Identity | None, role: str) -> Actor:
    """The vault actor for the dashboard: its identity, with admin → admin, auditor → auditor, else viewer."""
    return Actor(who.name if who else "dashboard", _VAULT_ROLE.get(role, Role.VIEWER))


@dataclass(frozen=True)
class Page:
    """What a page needs: settings, the manifest, the history store, the clock and the person."""

    settings: Settings
    manifest: Manifest
    store: Store
    clock: Clock
    who: Identity | None
    role: str
    role_source: str = "READINESS_DASHBOARD_ROLE"
    """Where the role came from: ``READINESS_DASHBOARD_ROLE`` or ``[[dashboard.access]]`` (identity provider)."""

    @property
    def db_url(self) -> str:
        return self.settings.db_url

    def now(self) -> datetime:
        return self.clock.now()

    def write_block(self) -> str | None:
        """Why this session may not write (attest, waive, decide), or None when it may."""
        if self.role not in WRITE_ROLES:
            how = (
                "restart it with READINESS_DASHBOARD_ROLE=release_manager."
                if self.role_source == "READINESS_DASHBOARD_ROLE"
                else "sign in with an identity the manifest's [[dashboard.access]] maps to one."
            )
            return (
                f"The dashboard runs as role **{self.role}**, which may only read. Attesting, waiving and "
                f"recording decisions need `release_manager` or `admin`: {how}"
            )
        if self.who is None:
            if oidc_configured():
                return "Sign in first (sidebar): what you record is signed with the signed-in identity."
            return (
                "No operator identity: set READINESS_DASHBOARD_USER to your name (or configure an identity "
                "provider, `[auth]` in secrets.toml) and restart; what you record is signed with it."
            )
        return None

    def sweep_block(self) -> str | None:
        """Why this session may not run checks (one line), or None when it may. A sweep is a write: it records
        a run and reads the vault."""
        if self.role in WRITE_ROLES:
            return None
        return (
            "Running checks records a run and reads the vault: it needs the release_manager or admin role "
            f"(this session: {self.role})."
        )

    def run_checks(self, *, only: Sequence[str] = (), on_result: ProgressCallback | None = None) -> Run:
        """Sweep the manifest's checks (or ``only`` these) and record the run. The role is checked here, not
        only by the page's button: a forged request from a read-only session raises :class:`NotAllowed`."""
        block = self.sweep_block()
        if block:
            raise NotAllowed(block)
        from checks.shell.sweep import sweep_with_vault

        return sweep_with_vault(
            self.manifest,
            store=self.store,
            db_url=self.db_url,
            clock=self.clock,
            only=list(only),
            on_result=on_result,
            trigger="dashboard",
        )

    def request_watch_sweep(self) -> None:
        """Ask the leading ``readiness watch`` for a sweep at its next tick (it records the run). A sweep is a
        write: the same role as :meth:`run_checks`, checked here."""
        block = self.sweep_block()
        if block:
            raise NotAllowed(block)
        from checks.storage.lease import lease_name, request_sweep

        request_sweep(self.store.engine, lease_name(self.manifest.release.story), self.now())

    def scrubber(self) -> Scrubber:
        """Masks the values of the manifest's secret variables (and secret-shaped strings) in text."""
        names = set(self.manifest.iter_secret_env()) | {"TOKEN_VAULT_ENCRYPTION_KEY", "TOKEN_VAULT_PREVIOUS_KEYS"}
        values: list[str] = []
        for name in names:
            values += [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]
        return Scrubber(values)


def _fail(message: str) -> None:
    st.error(message)
    st.stop()


def load() -> Page:
    """Read the settings, the manifest and the store; on a problem show ``st.error`` with the fix and stop."""
    from dashboard import data

    try:
        s = settings()
    except ConfigError as exc:
        _fail(f"The dashboard is misconfigured: {exc}")
        raise
    try:
        manifest = data.manifest(str(s.manifest_path))
    except ManifestError as exc:
        _fail(
            f"The manifest is not usable.\n\n```\n{exc}\n```\n\nFix the field(s) named above in "
            f"`{exc.path}`, or point READINESS_MANIFEST at a "
            "valid manifest."
        )
        raise
    try:
        store = data.store(s.db_url)
    except Exception as exc:  # unreachable, refused, not a URL, a newer schema: say which and how to fix
        _fail(data.db_error(s.db_url, exc, "READINESS_DB_URL"))
        raise
    clock: Clock = FixedClock(s.now) if s.now is not None else SystemClock()
    if oidc_configured():  # READINESS_DASHBOARD_ROLE does not apply: each person's role comes from the manifest
        role = role_for(st.user, manifest.dashboard)
        page = Page(s, manifest, store, clock, identity(s), role, "[[dashboard.access]]")
    else:
        page = Page(s, manifest, store, clock, identity(s), s.role)
    _sidebar(page)
    return page


def _sidebar(page: Page) -> None:
    with st.sidebar:
        who = page.who
        if who is not None:
            st.caption(f"Signed in as **{who.name}** ({who.source}) · role **{page.role}** ({page.role_source})")
        else:
            missing = "not signed in" if oidc_configured() else "no identity: READINESS_DASHBOARD_USER is unset"
            st.caption(f"Read-only ({missing}) · role **{page.role}** ({page.role_source})")
        if oidc_configured():
            if who is None:
                st.button("Sign in", on_click=st.login)
            else:
                st.button("Sign out", on_click=st.logout)
        m = page.manifest
        st.caption(f"{m.release.story}: {m.release.title}  \nManifest `{page.settings.manifest_path}`")
        st.caption(f"History `{mask_url(page.db_url)}`")
        if page.settings.now is not None:
            st.caption(f"Clock pinned at {page.settings.now.isoformat()} (READINESS_DASHBOARD_NOW)")
