"""The demo's story: three scripted weeks of STORY-ONB-05, made by the real checks against the stand-ins.

:func:`build_demo` drives the provider stand-ins (:func:`checks.standins.demo_server`) through the story
below with an injected :class:`~checks.core.clock.FixedClock`, records the attestations and waivers people
would have recorded, and runs the real sweep every ``step_hours``: no result is ever written by hand.

==================  ========================================================================================
Oct 6 (week 0)      the seed's state: no OAuth app, no sandbox, no vault; only the existing GHL proxy is
                    configured. NO-GO: variables not set, apps not created.
Oct 8               Google app created (staging redirect URI forgotten), submitted for verification;
                    Microsoft app registered; the vault design goes to the security review.
Oct 9               sandboxes requested; Retell key and Twilio trial issued; Business Profile API enabled.
Oct 10              staging redirect URI added; security review approved; Microsoft app submitted.
Oct 11              **Week 1 checkpoint**: NO-GO (GHL proxy not validated, dev environment not configured).
Oct 13 (week 2)     vault live (key in Secret Manager, test-account tokens stored); Retell agents ready;
                    decision point: the GHL proxy extension slips to week 3 and is waived until Oct 24;
                    development environment configured: CONDITIONAL.
Oct 14              Microsoft approved, vault service implemented, GHL locations and the Workspace and
                    Microsoft 365 tenants operational; Twilio suspends the trial account, then denies it:
                    escalation "Provider Account Blocks".
Oct 16              Google's verification took over 7 days (escalation "OAuth Approval Delays" from
                    midnight); approved at 15:00 with Business Profile access.
Oct 17 18:00        **Week 2 checkpoint**: CONDITIONAL. Every blocking check passes but the GHL proxy
                    validation, waived until Oct 24; Twilio's sandbox is denied (major: development
                    proceeds with mocks) and escalated to the Platform Team.
==================  ========================================================================================

CONDITIONAL is the ending that tells the story best: development starts on the decision it was waiting
for, a waiver carries the one blocking gap left, and an escalation remains open for the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from checks.standins import DemoConfig, StandinServer, demo_environment, restore_demo

if TYPE_CHECKING:
    pass

__all__ = [
    "DASHBOARD_NOW",
    "DB_FILE",
    "END",
    "Event",
    "MANIFEST_FILE",
    "PHASES",
    "START",
    "STORY",
    "apply_phase",
    "story_environment",
]


STORY_VERSION = 1
"""Bumped when the story changes, so an older demo directory is rebuilt instead of reused."""
START = datetime(2025, 10, 6, 6, 0, tzinfo=UTC)
END = datetime(2025, 10, 17, 18, 0, tzinfo=UTC)
DASHBOARD_NOW = END + timedelta(minutes=30)
"""The demo dashboard's pinned clock: just after the Week 2 checkpoint (so the waiver is in force and a
"Run checks now" run is newer than the story's last)."""
DB_FILE = "readiness.db"
MANIFEST_FILE = "readiness.toml"
MARKER_FILE = "demo.json"
VAULT_TENANT = DemoConfig.vault_tenant
"""The vault tenant of the sandbox test accounts (the manifest's calendar probes read it)."""

RELEASE_MANAGER = "rohan-patel"
PLATFORM = "maria-lopez (platform)"
SECURITY = "sam-okafor (security)"
DEVELOPMENT = "kenji-ito (development)"
SANDBOXES = ("google_workspace", "microsoft365", "retell", "twilio", "ghl")


def _at(month_day: str, hour: int, minute: int = 0) -> datetime:
    month, day = (int(x) for x in month_day.split("-"))
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------ the story


@dataclass(frozen=True)
class Fact:
    """An attestation the story records (``by`` at the event's time)."""

    item: str
    status: str
    by: str
    note: str = ""
    effective: date | None = None


@dataclass(frozen=True)
class Event:
    """One moment of the story: what changes at the providers, in the environment and in the facts."""

    at: datetime
    what: str
    """One line for the terminal."""
    standins: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    """``(host, scenario, options)`` applied in order; scenario ``register`` re-registers the demo client."""
    env: tuple[str, ...] = ()
    """Variables that become set (their values come from :func:`checks.standins.demo_environment`)."""
    facts: tuple[Fact, ...] = ()
    waivers: tuple[tuple[str, str, datetime], ...] = ()
    """``(check, reason, until)`` granted by the release manager."""
    vault_live: bool = False
    """Initialise the vault and store the sandbox test accounts' tokens."""
    checkpoint: str | None = None
    """Title of a checkpoint recorded after the sweep at ``at``."""
    decision: tuple[str, str] | None = None
    """``(decision, rationale)`` recorded on that checkpoint by the release manager."""


_G_ACCOUNTS = "accounts.google.com"
_G_TOKEN = "oauth2.googleapis.com"
_G_USAGE = "serviceusage.googleapis.com"
_G_BUSINESS = "mybusinessaccountmanagement.googleapis.com"
_MS_LOGIN = "login.microsoftonline.com"
_MS_GRAPH = "graph.microsoft.com"
_TWILIO = "api.twilio.com"
_RETELL = "api.retellai.com"
_GHL_PROXY = "ghl-proxy.standin.local"
_SECRETS = "secretmanager.googleapis.com"
_VAULT_SERVICE = "token-vault.standin.local"
_NONE: dict[str, Any] = {}

STORY: tuple[Event, ...] = (
    Event(
        START,
        "Week 0, the seed's assessment: no OAuth app, no sandbox, no vault; only the existing GHL proxy is set up",
        standins=(
            (_G_ACCOUNTS, "unknown_client", _NONE),
            (_G_TOKEN, "unregister", _NONE),
            (_G_USAGE, "no_permission", _NONE),
            (_G_BUSINESS, "approval_pending", _NONE),
            (_MS_LOGIN, "unknown_client", _NONE),
            (_MS_GRAPH, "unknown_client", _NONE),
            (_TWILIO, "no_account", _NONE),
            (_RETELL, "bad_key", _NONE),
            (_GHL_PROXY, "no_access", _NONE),
            (_SECRETS, "empty", _NONE),
            (_VAULT_SERVICE, "down", _NONE),
        ),
        env=("GHL_PROXY_URL", "GHL_PROXY_API_KEY"),
        facts=(
            Fact("oauth.google", "not_created", RELEASE_MANAGER, "Seed assessment: not created"),
            Fact("oauth.microsoft", "not_created", RELEASE_MANAGER, "Seed assessment: not created"),
            Fact("oauth.ghl", "existing", RELEASE_MANAGER, "Seed assessment: existing, needs validation"),
            Fact("vault.security_review", "not_started", RELEASE_MANAGER, "Seed assessment: not implemented"),
        ),
    ),
    Event(
        _at("10-06", 12),
        "Week 0 checkpoint recorded: NO-GO, as the seed says",
        checkpoint="Week 0: the seed's assessment",
        decision=("NO-GO", "CRITICAL - BLOCKING DEVELOPMENT: every infrastructure prerequisite is missing"),
    ),
    Event(
        _at("10-08", 9),
        "Google OAuth app created in Cloud Console (dev and app redirect URIs; staging forgotten)",
        standins=(
            (_G_TOKEN, "register", _NONE),
            (_G_ACCOUNTS, "valid", _NONE),
            (_G_ACCOUNTS, "redirect_mismatch", {"environment": "staging"}),
            (_G_USAGE, "valid", _NONE),
            (_G_USAGE, "api_disabled", _NONE),
        ),
        env=(
            "GOOGLE_OAUTH_CLIENT_ID",
            "GOOGLE_OAUTH_CLIENT_SECRET",
            "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_SERVICE_USAGE_TOKEN",
        ),
        facts=(Fact("oauth.google", "created", PLATFORM, "Project maxai-readiness, consent screen set up"),),
    ),
    Event(
        _at("10-08", 10),
        "Microsoft app registered in Azure; the vault design goes to the security review",
        standins=((_MS_LOGIN, "valid", _NONE), (_MS_GRAPH, "valid", _NONE)),
        env=("MICROSOFT_OAUTH_CLIENT_ID", "MICROSOFT_OAUTH_CLIENT_SECRET", "MICROSOFT_TENANT_ID"),
        facts=(
            Fact("oauth.microsoft", "created", PLATFORM, "App registration MaxAI Platform"),
            Fact("vault.security_review", "in_review", SECURITY, "Architecture document received"),
        ),
    ),
    Event(
        _at("10-08", 17),
        "Google OAuth app submitted for verification",
        facts=(
            Fact(
                "oauth.google",
                "submitted",
                PLATFORM,
                "Verification submitted with the privacy policy and the scope justifications",
                date(2025, 10, 8),
            ),
        ),
    ),
    Event(
        _at("10-09", 10),
        "Sandboxes requested; Retell key and Twilio trial credentials issued; Business Profile API enabled",
        standins=((_G_USAGE, "valid", _NONE), (_TWILIO, "trial", _NONE), (_RETELL, "no_agents", _NONE)),
        env=("RETELL_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "GHL_TEST_LOCATION_IDS"),
        facts=(
            *(Fact(f"sandbox.{s}", "requested", PLATFORM) for s in SANDBOXES),
            Fact("oauth.microsoft", "configured", PLATFORM, "Graph permissions Calendars.ReadWrite, Mail.Read"),
        ),
    ),
    Event(
        _at("10-10", 11),
        "Staging redirect URI added to the Google client; security approves the vault design",
        standins=((_G_ACCOUNTS, "valid", _NONE),),
        facts=(
            Fact("vault.security_review", "approved", SECURITY, "Envelope encryption, RBAC and audit chain approved"),
            Fact("oauth.microsoft", "submitted", PLATFORM, "Admin consent requested", date(2025, 10, 10)),
        ),
    ),
    Event(
        _at("10-11", 12),
        "Week 1 checkpoint recorded",
        checkpoint="Week 1 checkpoint",
        decision=(
            "NO-GO",
            "OAuth apps created and Google submitted; the GHL proxy is not validated and the development "
            "environment is not configured yet. Re-assess at the decision point on Oct 13.",
        ),
    ),
    Event(
        _at("10-13", 8),
        "Vault live: key in Secret Manager, vault initialised, test-account tokens stored; Retell agents ready",
        standins=((_SECRETS, "valid", _NONE), (_VAULT_SERVICE, "valid", _NONE), (_RETELL, "valid", _NONE)),
        env=("TOKEN_VAULT_URL", "TOKEN_VAULT_ENCRYPTION_KEY", "TOKEN_VAULT_ACTOR"),
        vault_live=True,
        facts=(Fact("sandbox.retell", "operational", PLATFORM, "Two mock agents configured"),),
    ),
    Event(
        _at("10-13", 11),
        "Decision point: the GHL proxy extension slips to week 3 (waived until Oct 24); dev environment configured",
        facts=(
            Fact(
                "oauth.ghl",
                "extension_in_progress",
                PLATFORM,
                "Current proxy validated; extension for the wizard's calendar scopes lands in week 3",
            ),
            Fact("environment.variables", "configured", PLATFORM, "OAuth credentials handed to the development team"),
        ),
        waivers=(
            (
                "oauth.ghl.validated",
                "The existing proxy answers (oauth.ghl.proxy passes); development of #65/#66 starts on it while "
                "the extension for the new use cases lands in week 3",
                datetime(2025, 10, 24, 23, 59, 59, tzinfo=UTC),
            ),
        ),
    ),
    Event(
        _at("10-14", 9),
        "Microsoft approved; vault service implemented; GHL locations and developer tenants operational; "
        "Twilio suspends the trial account",
        standins=((_GHL_PROXY, "valid", _NONE), (_TWILIO, "suspended", _NONE)),
        facts=(
            Fact("oauth.microsoft", "approved", PLATFORM),
            Fact("vault.service", "implemented", PLATFORM, "Self-test passes; refresher running"),
            Fact("sandbox.ghl", "operational", PLATFORM, "Sample contacts, appointments, workflows"),
            Fact("sandbox.google_workspace", "operational", PLATFORM, "Sample calendar events created"),
            Fact("sandbox.microsoft365", "operational", PLATFORM, "Sample calendar events created"),
            Fact("environment.dev_team", "active", DEVELOPMENT, "Working on #65 and #66"),
        ),
    ),
    Event(
        _at("10-14", 16),
        "Twilio denies the development account (business verification failed): escalated to the Platform Team",
        facts=(
            Fact(
                "sandbox.twilio",
                "denied",
                PLATFORM,
                "Trial account suspended pending business verification; support ticket open",
            ),
        ),
    ),
    Event(
        _at("10-16", 15),
        "Google approves the OAuth verification (8 days after submission) and Business Profile access",
        standins=((_G_BUSINESS, "valid", _NONE),),
        facts=(Fact("oauth.google", "approved", PLATFORM, "Verification approved", date(2025, 10, 16)),),
    ),
    Event(END, "Week 2 checkpoint recorded", checkpoint="Week 2 checkpoint"),
)

PHASES: Mapping[str, datetime] = {"week0": START, "week1": _at("10-11", 12), "week2": END}
"""Named moments of the story (``readiness standins --scenario week1``)."""


# ------------------------------------------------------------------------------------------ the providers


def _apply_standin(
    server: StandinServer, config: DemoConfig, host: str, scenario: str, options: dict[str, Any]
) -> None:
    from checks.standins.oauth import GoogleOAuthStandin
    from checks.standins.secretmanager import SecretManagerStandin

    provider: Any = server.provider(host)
    if isinstance(provider, GoogleOAuthStandin):
        if scenario == "unregister":
            provider.reset()
        elif scenario == "register":
            provider.register_client(config.google_client_id, config.google_client_secret)
        return
    if isinstance(provider, SecretManagerStandin):
        provider.reset()
        if scenario == "valid":
            project, _, secret = config.key_secret.removeprefix("projects/").partition("/secrets/")
            provider.add_version(project, secret, config.vault_key.encode())
        return
    if options:
        provider.set_scenario(scenario, **options)
    else:
        provider.set_scenario(scenario)


def apply_phase(server: StandinServer, config: DemoConfig, at: datetime) -> None:
    """Put every stand-in in the state the story has reached at ``at`` (from the registered world)."""
    restore_demo(server, config)
    for event in STORY:
        if event.at <= at:
            for host, scenario, options in event.standins:
                _apply_standin(server, config, host, scenario, options)


def story_environment(server_url: str, config: DemoConfig, at: datetime) -> dict[str, str]:
    """The variables set at ``at`` in the story (``READINESS_STANDINS_URL`` always)."""
    full = demo_environment(server_url, config=config)
    names = {"READINESS_STANDINS_URL"}
    for event in STORY:
        if event.at <= at:
            names.update(event.env)
    return {k: v for k, v in full.items() if k in names}
