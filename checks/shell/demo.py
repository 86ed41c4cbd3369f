"""The demo's history: three scripted weeks of STORY-ONB-05, made by the real checks against the stand-ins.

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

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.core.clock import FixedClock
from checks.core.facts import Attestation, Waiver
from checks.core.manifest import Manifest
from checks.core.manifest_load import default_manifest_path, load_manifest
from checks.shell.sweep import close_vault_extras, vault_extras
from checks.standins import DemoConfig, StandinServer, demo_config, demo_environment, restore_demo

if TYPE_CHECKING:
    from checks.core.run import Run
    from checks.storage.history import Store

__all__ = [
    "DB_FILE",
    "END",
    "MANIFEST_FILE",
    "PHASES",
    "START",
    "STORY",
    "DemoProgress",
    "Event",
    "apply_phase",
    "build_demo",
    "db_url",
    "demo_dashboard_env",
    "story_environment",
]

STORY_VERSION = 1
"""Bumped when the story changes, so an older demo directory is rebuilt instead of reused."""
START = datetime(2025, 10, 6, 6, 0, tzinfo=UTC)
END = datetime(2025, 10, 17, 18, 0, tzinfo=UTC)
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


# ---------------------------------------------------------------------------------------------- building


@dataclass(frozen=True)
class DemoProgress:
    """What :func:`build_demo` reports as it goes: an event of the story, or a sweep done."""

    done: int
    """Sweeps done so far."""
    total: int
    at: datetime
    message: str
    verdict: str | None = None
    """The sweep's verdict (None for an event)."""
    escalations: tuple[str, ...] = field(default=())


def db_url(directory: Path) -> str:
    """The demo's history (and vault) database URL."""
    return f"sqlite:///{(directory / DB_FILE).resolve()}"


def schedule(step_hours: float) -> list[datetime]:
    """When the story sweeps: every ``step_hours`` from :data:`START` to :data:`END`, and at each checkpoint."""
    if step_hours <= 0:
        raise ValueError("step_hours must be positive")
    times = {e.at for e in STORY if e.checkpoint} | {END}
    t = START
    while t <= END:
        times.add(t)
        t += timedelta(hours=step_hours)
    return sorted(times)


def build_demo(
    directory: Path,
    *,
    server: StandinServer,
    clock: FixedClock | None = None,
    step_hours: float = 6,
    manifest: Path | None = None,
    reset: bool = False,
    on_progress: Callable[[DemoProgress], None] | None = None,
) -> Path:
    """Make (or reuse) the demo under ``directory``; return the history database's path.

    ``server`` is a running :func:`checks.standins.demo_server` for the same ``directory``: it is driven
    through the story and left in the story's final state. ``manifest`` (default: the usual manifest lookup)
    is copied to ``directory/readiness.toml``. An existing demo made from the same manifest and story is
    reused (only the stand-ins are set to the final state) unless ``reset``.
    """
    directory = Path(directory)
    config = demo_config(directory)
    source = Path(manifest) if manifest is not None else default_manifest_path()
    text = source.read_text(encoding="utf-8")
    m = load_manifest(source)
    db_path = directory / DB_FILE
    if not reset and _reusable(directory, m):
        apply_phase(server, config, END)
        return db_path
    _clear(directory)
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")
    m = load_manifest(directory / MANIFEST_FILE)
    clock = clock or FixedClock(START)
    apply_phase(server, config, START - timedelta(seconds=1))

    from checks.storage.history import Store

    store = Store.open(db_url(directory))
    extras: dict[str, Any] = {}
    runs = 0
    times = schedule(step_hours)
    pending = list(STORY)
    try:
        for t in times:
            while pending and pending[0].at <= t:
                event = pending.pop(0)
                clock.set(event.at)
                _apply_event(event, server, config, store, clock, directory)
                if on_progress is not None and not event.checkpoint:
                    on_progress(DemoProgress(runs, len(times), event.at, event.what))
            clock.set(t)
            environ = story_environment(server.url, config, t)
            if "vault" not in extras:  # until the vault is live: cheap, says why there is none
                extras = vault_extras(environ, db_url=db_url(directory), clock=clock)
            run = _sweep(m, store, clock, environ, extras)
            runs += 1
            if on_progress is not None:
                hits = tuple(f"{e.title or e.rule}: {e.item}" for e in run.verdict.escalations)
                on_progress(DemoProgress(runs, len(times), t, "sweep", run.verdict.decision.value, hits))
            for event in STORY:
                if event.at == t and event.checkpoint:
                    _checkpoint(m, store, event, t)
                    if on_progress is not None:
                        on_progress(DemoProgress(runs, len(times), t, event.what))
        verdict = run.verdict.decision.value
    finally:
        close_vault_extras(extras)
        store.close()
    _write_marker(directory, m, runs, verdict)
    return db_path


def _sweep(m: Manifest, store: Store, clock: FixedClock, environ: dict[str, str], extras: dict[str, Any]) -> Run:
    """One real sweep; ``extras`` from :func:`checks.shell.sweep.vault_extras` (the vault, once it is live, and
    the ``TOKEN_VAULT_ACTOR`` the calendar probes read the test accounts' tokens as)."""
    from checks.shell.sweep import sweep

    # os.devnull: no .env file next to a manifest may slip into the story
    return sweep(m, store=store, clock=clock, environ=environ, env_file=os.devnull, trigger="demo", extras=extras)


def _apply_event(
    event: Event,
    server: StandinServer,
    config: DemoConfig,
    store: Store,
    clock: FixedClock,
    directory: Path,
) -> None:
    for host, scenario, options in event.standins:
        _apply_standin(server, config, host, scenario, options)
    for fact in event.facts:
        store.add_attestation(Attestation(fact.item, fact.status, fact.by, event.at, fact.note, fact.effective))
    for check, reason, until in event.waivers:
        store.add_waiver(Waiver(check, reason, RELEASE_MANAGER, until, event.at))
    if event.vault_live:
        _init_vault(server, config, clock, directory)


def _init_vault(server: StandinServer, config: DemoConfig, clock: FixedClock, directory: Path) -> None:
    """Initialise the vault in the demo database and store the sandbox test accounts' tokens."""
    from checks.standins.oauth import GoogleOAuthStandin
    from vault import Actor, Role, Vault
    from vault.keys import EnvKeySource

    vault = Vault.init(db_url(directory), EnvKeySource({"TOKEN_VAULT_ENCRYPTION_KEY": config.vault_key}), clock)
    admin = Actor(PLATFORM, Role.ADMIN)
    now = clock.now()
    google: Any = server.provider("oauth2.googleapis.com")
    refresh = (
        google.grant(config.google_test_account, config.google_client_id)
        if isinstance(google, GoogleOAuthStandin)
        else None
    )
    vault.put(
        admin,
        VAULT_TENANT,
        "google",
        config.google_test_account,
        config.google_calendar_token,
        refresh_token=refresh,
        expires_at=now + timedelta(days=7),
        scopes=["https://www.googleapis.com/auth/calendar.readonly"],
    )
    vault.put(
        admin,
        VAULT_TENANT,
        "microsoft",
        config.microsoft_test_account,
        config.microsoft_calendar_token,
        expires_at=now + timedelta(days=7),
        scopes=["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"],
    )
    vault.close()


def _checkpoint(m: Manifest, store: Store, event: Event, at: datetime) -> None:
    from checks.presentation.report_build import record_checkpoint

    cp = record_checkpoint(m, store, title=event.checkpoint, now=at)
    if event.decision is not None:
        decision, rationale = event.decision
        store.record_decision(cp.id, decision, RELEASE_MANAGER, at + timedelta(minutes=30), rationale)


# -------------------------------------------------------------------------------------- reuse and reset

_OWNED = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal", MANIFEST_FILE, MARKER_FILE)


def _clear(directory: Path) -> None:
    for name in _OWNED:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()


def reset_demo(directory: Path) -> None:
    """Delete what the demo made under ``directory`` (its database, manifest copy, marker and vault key)."""
    _clear(directory)
    with contextlib.suppress(FileNotFoundError):
        (directory / "vault.key").unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()  # only when nothing else lives there


def _marker(m: Manifest) -> dict[str, Any]:
    return {"story": STORY_VERSION, "manifest_digest": m.digest}


def _reusable(directory: Path, m: Manifest) -> bool:
    try:
        saved = json.loads((directory / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same = isinstance(saved, dict) and all(saved.get(k) == v for k, v in _marker(m).items())
    return same and (directory / DB_FILE).is_file() and (directory / MANIFEST_FILE).is_file()


def _write_marker(directory: Path, m: Manifest, runs: int, verdict: str) -> None:
    info = {**_marker(m), "runs": runs, "verdict": verdict, "start": START.isoformat(), "end": END.isoformat()}
    (directory / MARKER_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def demo_info(directory: Path) -> dict[str, Any]:
    """What the marker of a built demo says (runs, verdict), or ``{}``."""
    try:
        saved = json.loads((directory / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def demo_dashboard_env(
    directory: Path, server_url: str, base: Mapping[str, str], *, role: str = "release_manager"
) -> dict[str, str]:
    """The dashboard's environment for the demo: ``base`` without any provider or Readiness variable of the
    user's, then the demo's (stand-ins, manifest copy, database, role, the clock pinned at the story's end)."""
    from checks.standins import demo_config

    drop = ("GOOGLE_", "MICROSOFT_", "RETELL_", "TWILIO_", "TOKEN_VAULT_", "GHL_", "READINESS_")
    env = {k: v for k, v in base.items() if not k.startswith(drop)}
    env.update(demo_environment(server_url, config=demo_config(directory)))
    env.update(
        {
            "READINESS_MANIFEST": str((directory / MANIFEST_FILE).resolve()),
            "READINESS_DB_URL": db_url(directory),
            "READINESS_DASHBOARD_ROLE": role,
            "READINESS_DASHBOARD_USER": RELEASE_MANAGER,
            "READINESS_DASHBOARD_NOW": DASHBOARD_NOW.isoformat(),
        }
    )
    return env


# ------------------------------------------------------------------------------------------ launching

DASHBOARD_NOW = END + timedelta(minutes=30)
"""The demo dashboard's pinned clock: just after the Week 2 checkpoint (so the waiver is in force and a
"Run checks now" run is newer than the story's last)."""


def streamlit_command(*, port: int, address: str) -> list[str]:
    """``streamlit run`` of the dashboard app: headless (the caller opens a browser), no usage statistics, and
    the toolbar in viewer mode (no "Deploy" button, no developer menu: this is a product, not a sketch)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(dashboard_app()),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def dashboard_app() -> Path:
    """The dashboard's ``app.py`` (``dashboard.app_path()``; found through the package's path when an editable
    install made before the package existed sees it as a namespace package)."""
    import dashboard

    finder = getattr(dashboard, "app_path", None)
    if callable(finder):
        return Path(finder())
    return Path(next(iter(dashboard.__path__))) / "app.py"


def wait_until_up(url: str, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> bool:
    """Poll ``url`` (e.g. Streamlit's ``/_stcore/health``) until it answers 200; False on timeout or when
    ``process`` exits first."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0, trust_env=False).status_code == 200:
                return True
        time.sleep(0.25)
    return False


def run_until_interrupted(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process``; on Ctrl-C (or any exit from here) stop it, politely first. Returns its exit code."""
    try:
        return process.wait()
    except KeyboardInterrupt:
        return stop_process(process)
    finally:
        if process.poll() is None:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
