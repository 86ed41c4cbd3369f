"""Local HTTP stand-ins of the providers Readiness talks to, for the demo and the tests.

:class:`StandinServer` (``server.py``) routes ``/HOST/PATH`` to the provider registered for ``HOST``;
one module per provider holds its stand-in (``secretmanager.py``: Google Secret Manager; ``tokenvault.py``: the
token vault service), each keeping its named scenarios in a :class:`~checks.standins.scenarios.Scenarios`.
Nothing here runs at import time.

The demo world (``readiness demo``, ``readiness standins``) is assembled here:

* :func:`demo_config`: the demo's client configuration, the same in every stand-in and in the environment
  (fake, fixed client ids and secrets; a vault key generated once and kept in ``DIR/vault.key``, mode 0600);
* :func:`all_providers` / :func:`demo_server`: every provider stand-in, registered with that configuration;
* :func:`demo_environment`: the variables that point the checks at a running demo server.

None of these values is a real credential: they open nothing but the stand-ins on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checks.standins.server import Controllable, Provider, Response, StandinServer, json_response
from checks.standins.tokenvault import VAULT_SERVICE_HOST, VaultServiceStandin

__all__ = [
    "DEFAULT_DEMO_DIR",
    "DEMO_SECRET_VARIABLES",
    "VAULT_SERVICE_HOST",
    "Controllable",
    "DemoConfig",
    "Provider",
    "Response",
    "StandinServer",
    "VaultServiceStandin",
    "all_providers",
    "demo_config",
    "demo_environment",
    "demo_server",
    "json_response",
    "restore_demo",
]

DEFAULT_DEMO_DIR = Path(".readiness") / "demo"
DEMO_SECRET_VARIABLES = (
    "GOOGLE_OAUTH_CLIENT_SECRET",
    "GOOGLE_SERVICE_USAGE_TOKEN",
    "MICROSOFT_OAUTH_CLIENT_SECRET",
    "RETELL_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "TOKEN_VAULT_ENCRYPTION_KEY",
    "GHL_PROXY_API_KEY",
)
"""Variables of :func:`demo_environment` that hold a (demo) secret: never printed without ``--print-env``."""

_KEY_FILE = "vault.key"


@dataclass(frozen=True)
class DemoConfig:
    """The demo's client configuration. Every stand-in is registered with it and :func:`demo_environment`
    hands the same values to the checks. All fake; only ``vault_key`` is generated (per demo directory)."""

    vault_key: str
    """Base64 of 32 random bytes: ``TOKEN_VAULT_ENCRYPTION_KEY`` and the Secret Manager KEK version."""
    google_client_id: str = "480215637902-rd3m0onlyfakeclient7q2x.apps.googleusercontent.com"
    google_client_secret: str = "GOCSPX-DemoOnlyNotReal_k3Yq9Lw2Pz7Vb"
    google_project: str = "maxai-readiness"
    google_service_usage_token: str = "ya29.a0DemoOnlyServiceUsageNotReal4f8e2c1a9b"
    google_test_account: str = "sandbox.tester@maxai-sandbox.test"
    microsoft_tenant_id: str = "3f6c2a9e-8b41-4d7a-a5e2-91c0d4b7e6f3"
    microsoft_domain: str = "maxaisandbox.onmicrosoft.com"
    microsoft_client_id: str = "c2d9e4f1-7a36-4b8c-9e05-d1a2b3c4e5f6"
    microsoft_client_secret: str = "Qm8~DemoOnlyNotReal.u5Tk2Hy7Wc3Rn9Lp4Xs6Zd"
    microsoft_test_account: str = "adelev@maxaisandbox.onmicrosoft.com"
    twilio_account_sid: str = "AC" + "d3e0a1b2c3d4e5f6" * 2
    twilio_auth_token: str = "0d3e4f5a6b7c8d9e" * 2
    retell_api_key: str = "key_d3m0NotReal7c4e1a9f5b2d8c6e0a3f"
    ghl_proxy_api_key: str = "ghlpx_demo_NotReal_9b2e7c4a1f6d"
    ghl_client_id: str = "68e3f1c2a9b4d70012ab34cd-mgd3m0"
    ghl_client_secret: str = "9c1e5a7b-demo-only-not-real-4d2f8a6c0e1b"
    vault_tenant: str = "sandbox"
    """The vault tenant of the sandbox test accounts (the manifest's calendar probes read it)."""
    key_secret: str = "projects/maxai-readiness/secrets/token-vault-kek"
    """The Secret Manager secret holding the vault key (``TOKEN_VAULT_KEY_SOURCE=gcp:...``)."""

    def _derived(self, label: str, size: int = 48) -> str:
        # Test-account tokens follow from the key, so a new server process for the same demo directory
        # accepts the tokens an earlier one's vault stored; they are never written anywhere in clear.
        digest = hmac.new(base64.b64decode(self.vault_key), label.encode(), hashlib.sha512).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:size]

    @property
    def google_calendar_token(self) -> str:
        """The Google Workspace test account's access token (the Calendar stand-in accepts it)."""
        return "ya29.a0" + self._derived("google-calendar")

    @property
    def microsoft_calendar_token(self) -> str:
        """The Microsoft 365 test account's access token (the Graph stand-in accepts it)."""
        return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + self._derived("microsoft-calendar", 64)

    @property
    def ghl_location_ids(self) -> list[str]:
        from checks.standins.ghl import DEFAULT_LOCATIONS

        return [loc.id for loc in DEFAULT_LOCATIONS]

    def secret_values(self) -> list[str]:
        """Every value that must never reach a page, a log, the history or a report."""
        return [
            self.google_client_secret,
            self.google_service_usage_token,
            self.microsoft_client_secret,
            self.twilio_auth_token,
            self.retell_api_key,
            self.ghl_proxy_api_key,
            self.ghl_client_secret,
            self.vault_key,
            self.google_calendar_token,
            self.microsoft_calendar_token,
        ]

    def __repr__(self) -> str:  # the dataclass repr would print every secret
        return f"DemoConfig(google={self.google_client_id}, microsoft={self.microsoft_client_id}, vault_key=***)"


def demo_config(directory: Path | str | None = None) -> DemoConfig:
    """The demo configuration of ``directory`` (default ``./.readiness/demo``): creates the directory (0700)
    and its vault key (``vault.key``, 0600, base64 of 32 random bytes) the first time."""
    base = Path(directory) if directory is not None else DEFAULT_DEMO_DIR
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = base / _KEY_FILE
    if not path.exists():
        key = base64.b64encode(os.urandom(32)).decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"# Readiness demo vault key (demo only, not a real secret)\n{key}\n")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    if not keys:
        raise ValueError(f"{path} holds no key: delete it and the demo makes a new one")
    return DemoConfig(vault_key=keys[0])


def all_providers(config: DemoConfig) -> list[Provider]:
    """One stand-in per provider host, every client of ``config`` registered and valid:

    Google (token endpoint, authorize endpoint with the manifest's three redirect URIs, Service Usage,
    Business Profile approved, Calendar with the test account), Microsoft (tenant, app with the three
    redirect URIs and a secret valid for a year, Graph with the test account), Twilio (a full, active
    account), Retell (two agents), the GHL proxy (two test locations) and GHL's token endpoint, Secret
    Manager (the vault key as version 1) and the token vault service's health endpoint.
    """
    from checks.standins.ghl import GhlProxyStandin
    from checks.standins.google_accounts import GoogleAccountsStandin
    from checks.standins.google_apis import BusinessAccountsStandin, ServiceUsageStandin
    from checks.standins.google_calendar import CalendarStandin
    from checks.standins.microsoft import AppRegistration, GraphStandin, password_credential
    from checks.standins.oauth import GhlOAuthStandin, GoogleOAuthStandin, MicrosoftOAuthStandin
    from checks.standins.retell import RetellStandin
    from checks.standins.secretmanager import SecretManagerStandin
    from checks.standins.twilio import TwilioStandin

    google_token = GoogleOAuthStandin()
    google_token.register_client(config.google_client_id, config.google_client_secret)
    ms_login = MicrosoftOAuthStandin()
    ms_login.add_tenant(config.microsoft_tenant_id, domains=[config.microsoft_domain])
    ms_login.register_client(
        config.microsoft_client_id,
        config.microsoft_client_secret,
        tenant=config.microsoft_tenant_id,
        roles=["Application.Read.All"],
    )
    graph = GraphStandin(
        [
            AppRegistration(
                config.microsoft_client_id,
                web=_redirects("microsoft"),
                secrets=[
                    password_credential(
                        "readiness-demo",
                        datetime(2026, 10, 8, 9, 0, tzinfo=UTC),
                        hint=config.microsoft_client_secret[:3],
                        start=datetime(2025, 10, 8, 9, 0, tzinfo=UTC),
                    )
                ],
            )
        ],
        accounts={config.microsoft_calendar_token: config.microsoft_test_account},
        issuer=ms_login,
    )
    ghl_token = GhlOAuthStandin()
    ghl_token.register_client(config.ghl_client_id, config.ghl_client_secret)
    secret_manager = SecretManagerStandin()
    project, secret = _split_secret(config.key_secret)
    secret_manager.add_version(project, secret, config.vault_key.encode())
    # (a list of Any: mypy reads the stand-ins' ClassVar ``host`` as not matching the protocol's attribute)
    providers: list[Any] = [
        google_token,
        GoogleAccountsStandin({config.google_client_id: _redirects("google")}),
        ServiceUsageStandin(tokens={config.google_service_usage_token}),
        BusinessAccountsStandin(approved=True, tokens={config.google_service_usage_token}),
        CalendarStandin(accounts={config.google_calendar_token: config.google_test_account}),
        ms_login,
        graph,
        TwilioStandin(config.twilio_account_sid, config.twilio_auth_token, friendly_name="MaxAI development"),
        RetellStandin(config.retell_api_key),
        GhlProxyStandin(config.ghl_proxy_api_key),
        ghl_token,
        secret_manager,
        VaultServiceStandin(live=True),
    ]
    return providers


def restore_demo(server: StandinServer, config: DemoConfig) -> None:
    """Bring every provider of a :func:`demo_server` back to the registered, valid world of :func:`all_providers`
    (scenarios cleared, clients registered again, the vault key back in Secret Manager)."""
    from checks.standins.oauth import GhlOAuthStandin, GoogleOAuthStandin, MicrosoftOAuthStandin
    from checks.standins.secretmanager import SecretManagerStandin

    server.hostile = False
    for host in server.hosts:
        provider: Any = server.provider(host)
        if isinstance(provider, GoogleOAuthStandin):
            provider.reset()
            provider.register_client(config.google_client_id, config.google_client_secret)
        elif isinstance(provider, GhlOAuthStandin):
            provider.reset()
            provider.register_client(config.ghl_client_id, config.ghl_client_secret)
        elif isinstance(provider, MicrosoftOAuthStandin):
            provider.set_scenario("valid")  # its reset() would forget the tenant and the app
        elif isinstance(provider, SecretManagerStandin):
            provider.reset()
            project, secret = _split_secret(config.key_secret)
            provider.add_version(project, secret, config.vault_key.encode())
        elif hasattr(provider, "reset"):
            provider.reset()
        elif hasattr(provider, "set_scenario"):
            provider.set_scenario("valid")


def demo_server(
    directory: Path | str | None = None,
    *,
    config: DemoConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> StandinServer:
    """A (not yet started) :class:`StandinServer` on loopback with :func:`all_providers` registered, configured
    as :func:`demo_config` of ``directory`` says (or ``config``)."""
    return StandinServer(all_providers(config or demo_config(directory)), host=host, port=port)


def demo_environment(
    server_url: str, directory: Path | str | None = None, *, config: DemoConfig | None = None
) -> dict[str, str]:
    """Every variable of the STORY-ONB-05 manifest, pointing at the demo server at ``server_url``.

    ``READINESS_STANDINS_URL`` reroutes the providers' real URLs; ``GHL_PROXY_URL`` and ``TOKEN_VAULT_URL``
    (used as given) name the stand-ins' own hosts. Demo-only values, see :class:`DemoConfig`.
    """
    c = config or demo_config(directory)
    url = server_url.rstrip("/")
    return {
        "READINESS_STANDINS_URL": url,
        "GOOGLE_OAUTH_CLIENT_ID": c.google_client_id,
        "GOOGLE_OAUTH_CLIENT_SECRET": c.google_client_secret,
        "GOOGLE_CLOUD_PROJECT": c.google_project,
        "GOOGLE_SERVICE_USAGE_TOKEN": c.google_service_usage_token,
        "MICROSOFT_OAUTH_CLIENT_ID": c.microsoft_client_id,
        "MICROSOFT_OAUTH_CLIENT_SECRET": c.microsoft_client_secret,
        "MICROSOFT_TENANT_ID": c.microsoft_tenant_id,
        "RETELL_API_KEY": c.retell_api_key,
        "TWILIO_ACCOUNT_SID": c.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": c.twilio_auth_token,
        "TOKEN_VAULT_URL": f"{url}/{VAULT_SERVICE_HOST}",
        "TOKEN_VAULT_ENCRYPTION_KEY": c.vault_key,
        "TOKEN_VAULT_ACTOR": f"readiness-probe:service:{c.vault_tenant}",
        "GHL_PROXY_URL": f"{url}/ghl-proxy.standin.local",
        "GHL_PROXY_API_KEY": c.ghl_proxy_api_key,
        "GHL_TEST_LOCATION_IDS": ",".join(c.ghl_location_ids),
    }


def _redirects(provider: str) -> dict[str, str]:
    return {
        env: f"https://{env}.maxai-platform.com/api/auth/oauth/{provider}/callback" for env in ("dev", "staging", "app")
    }


def _split_secret(name: str) -> tuple[str, str]:
    parts = name.split("/")
    return parts[1], parts[3]
