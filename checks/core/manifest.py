"""The manifest (``readiness.toml``): what a release depends on, as pydantic models.

Every model forbids unknown keys. Reading and validating a file or text (size limits, TOML, the models,
the cross-references and dependency cycles) is :mod:`checks.core.manifest_load`, which turns any problem
into one :class:`~checks.core.errors.ManifestError` naming the file and each field path, e.g.
``oauth_apps.google.redirect_uris[1].uri: must be an https URL``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from datetime import date
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks.core.notify_spec import NotifySpec
from checks.core.status import Severity, Status

__all__ = [
    "Action",
    "Area",
    "AccessRule",
    "CheckSpec",
    "Contact",
    "Criterion",
    "DashboardSpec",
    "Duration",
    "EnvVar",
    "EscalationRule",
    "GhlProxy",
    "Item",
    "Manifest",
    "Milestone",
    "OAuthApp",
    "RedirectUri",
    "Release",
    "Risk",
    "Sandbox",
    "VaultRequirement",
    "VaultSpec",
]

Priority = Literal["critical", "high", "medium", "low"]
SeedStatus = Literal["not_started", "partial", "needs_validation", "existing", "ready"]
EnvType = Literal[
    "google_client_id",
    "google_client_secret",
    "microsoft_client_id",
    "microsoft_client_secret",
    "microsoft_tenant_id",
    "twilio_account_sid",
    "twilio_auth_token",
    "retell_api_key",
    "api_key",
    "url",
    "vault_key",
    "id_list",
    "string",
]
SECRET_ENV_TYPES = frozenset(
    {"google_client_secret", "microsoft_client_secret", "twilio_auth_token", "retell_api_key", "api_key", "vault_key"}
)


SCHEMA_VERSION: Literal[1] = 1
"""The manifest schema this version reads (``schema = 1`` at the top; the default when absent)."""
MAX_TIMEOUT_S = 300.0
"""Bound of any check timeout: a provider that has not answered in five minutes will not."""
MAX_SWEEP_DEADLINE_S = 600.0
"""Bound of the sweep deadline: twice the largest timeout allowed."""
DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
MAX_RESPONSE_BYTES = 64 << 20
DEFAULT_CONCURRENCY = 64
"""Checks at once in a sweep: enough for a sweep of 50 slow checks to take about one check's time; a provider
is protected by ``per_host``, memory by ``max_response_bytes`` (at most this many answers are held at once)."""
DEFAULT_PER_HOST = 16
"""Requests at once to one provider host: what the sweep-wide default was before the limit was per host, so no
provider is sent more at once than before; more than the checks of any one provider in the project's manifest
(six, Google's); far under Twilio's documented 100 concurrent requests an account."""
MAX_PER_HOST = 100
_GLOB = re.compile(r"[*?\[]")
"""What makes a check pattern a glob (fnmatch's special characters); anything else is an exact id."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)


class Duration(Model):
    """An expected duration, e.g. Google verification: 3-7 business days."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)
    unit: Literal["hours", "days", "business_days", "weeks"]

    @model_validator(mode="after")
    def _ordered(self) -> Duration:
        if self.max < self.min:
            raise ValueError(f"max ({self.max:g}) is less than min ({self.min:g})")
        return self

    @property
    def text(self) -> str:
        unit = self.unit.replace("_", " ")
        span = f"{self.min:g}" if self.min == self.max else f"{self.min:g}-{self.max:g}"
        return f"{span} {unit}"

    def max_days(self) -> float:
        """Upper bound in calendar days (business days count 7/5)."""
        factor = {"hours": 1 / 24, "days": 1.0, "business_days": 7 / 5, "weeks": 7.0}[self.unit]
        return self.max * factor


class Release(Model):
    story: str
    title: str
    issue_url: str = ""
    release_manager: str
    assessment_date: date
    summary: str = ""
    seed_status: str = ""
    """The assessment's own headline, e.g. "CRITICAL - BLOCKING DEVELOPMENT"."""
    next_review: date
    next_review_title: str = ""
    decision_point: date
    decision_text: str = ""
    refresh_interval_s: int = Field(default=300, ge=10)
    """How often the dashboard refreshes, seconds."""


class Area(Model):
    id: str
    title: str
    priority: Priority
    impact: str = ""
    timeline: Duration | None = None
    seed_status: SeedStatus = "not_started"
    summary: str = ""


class Item(Model):
    """One prerequisite."""

    id: str
    title: str
    area: str
    priority: Priority
    blocks: list[str] = []
    owner: str
    """A key of ``[contacts]``."""
    expected: Duration | None = None
    contingency: str = ""
    mitigation: str = ""
    description: str = ""
    seed_status: SeedStatus = "not_started"


class RedirectUri(Model):
    environment: str
    uri: str

    @field_validator("uri")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s]+/\S*$", value):
            raise ValueError(f"must be an https URL, got {value!r}")
        return value


class OAuthApp(Model):
    item: str
    provider: Literal["google", "microsoft", "ghl"]
    title: str
    setup_location: str = ""
    approval: str = ""
    approval_duration: Duration | None = None
    apis: list[str] = []
    client_id_env: str
    client_secret_env: str
    tenant_id_env: str | None = None
    redirect_uris: list[RedirectUri] = []
    scopes: list[str] = []


class GhlProxy(Model):
    item: str
    title: str = "GHL OAuth proxy"
    url_env: str
    api_key_env: str
    location_ids_env: str
    note: str = ""
    required: str = ""


class VaultRequirement(Model):
    id: str
    category: Literal["core", "integration", "security"]
    title: str
    text: str


class VaultSpec(Model):
    item: str
    url_env: str = "TOKEN_VAULT_URL"
    key_env: str = "TOKEN_VAULT_ENCRYPTION_KEY"
    requirements: list[VaultRequirement] = []


class Sandbox(Model):
    id: str
    item: str
    provider: str
    title: str
    purpose: str = ""
    test_data: list[str] = []


class EnvVar(Model):
    name: str
    type: EnvType = "string"
    group: str = ""
    item: str
    required: bool = True
    secret: bool | None = None
    """Defaults from the type (client secrets, tokens, keys are secret)."""
    seed_placeholder: str = ""
    description: str = ""
    severity: Severity | None = None
    """Severity of the generated ``env.NAME`` check; blocking when ``required``, minor otherwise."""

    @field_validator("name")
    @classmethod
    def _upper_snake(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
            raise ValueError(f"must be UPPER_SNAKE_CASE, got {value!r}")
        return value

    @property
    def is_secret(self) -> bool:
        return self.secret if self.secret is not None else self.type in SECRET_ENV_TYPES


class Milestone(Model):
    id: str
    title: str
    due: date | None = None


class Criterion(Model):
    milestone: str
    text: str
    checks: list[str] = Field(min_length=1)
    """Check ids or glob patterns (``env.*``); met when every matching check passes."""


class EscalationWhen(Model):
    attested: list[str] = []
    """Attestation statuses that start the clock, e.g. ``["submitted"]``."""
    status: list[Status] = []
    """Check statuses that start the clock, e.g. ``["fail", "error"]``."""
    older_than_days: float = Field(default=0, ge=0)
    """For ``status``: fires once the current streak of that status is at least this old (``0``: at once;
    a streak of another status before it does not count). For ``attested``: fires once the attested state
    is strictly older (the seed's "approval takes >7 days"), in whole days when the attestation has an
    ``effective`` date."""

    @model_validator(mode="after")
    def _something(self) -> EscalationWhen:
        if not self.attested and not self.status:
            raise ValueError("give 'attested' statuses or check 'status'es that trigger the escalation")
        return self


class EscalationRule(Model):
    id: str
    title: str
    text: str = ""
    items: list[str] = []
    checks: list[str] = []
    """Check ids or globs the ``status`` trigger looks at; empty means the items' checks."""
    when: EscalationWhen
    contact: str


class Contact(Model):
    name: str
    scope: str = ""
    channel: str = ""


class Risk(Model):
    id: str
    category: Literal["critical_path", "dependency"]
    title: str
    text: str = ""
    mitigation: str = ""
    contingency: str = ""
    impact: str = ""
    resolution: str = ""
    items: list[str] = []


class Action(Model):
    id: str
    milestone: str
    title: str
    urgent: bool = False
    steps: list[str] = []
    items: list[str] = []


class CheckSpec(Model):
    """One check instance: which kind runs, for which item, how much it matters."""

    id: str
    item: str
    kind: str
    title: str = ""
    severity: Severity = Severity.BLOCKING
    depends_on: list[str] = []
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    """Per-check timeout; ``settings.timeout_s`` when unset. Finite, at most ``MAX_TIMEOUT_S``."""
    params: dict[str, Any] = {}

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", value):
            raise ValueError(f"must be letters, digits, '.', '_', ':' or '-', got {value!r}")
        return value


DASHBOARD_ROLES = ("viewer", "release_manager", "admin", "auditor")
"""The dashboard's roles; ``release_manager`` and ``admin`` may write (see :mod:`checks.shell.access`)."""


class AccessRule(Model):
    """``[[dashboard.access]]``: people signed in through the identity provider who get ``role``: any whose
    (verified) email is in ``emails`` or who belongs to one of ``groups``. The first matching rule wins."""

    role: str
    emails: list[str] = []
    """Compared case-insensitively with the ``email`` claim; ignored when the provider says it is unverified."""
    groups: list[str] = []
    """Compared exactly with the values of the group claim (``[dashboard] group_claim``)."""

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in DASHBOARD_ROLES:
            raise ValueError(f"unknown role {value!r}: use one of {', '.join(DASHBOARD_ROLES)}")
        return value

    @field_validator("emails")
    @classmethod
    def _email_shape(cls, value: list[str]) -> list[str]:
        for email in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", email.strip()):
                raise ValueError(f"{email!r} is not an email address")
        return [e.strip().lower() for e in value]

    @model_validator(mode="after")
    def _someone(self) -> AccessRule:
        if not self.emails and not self.groups:
            raise ValueError("names nobody: give emails, groups or both")
        return self


class DashboardSpec(Model):
    """``[dashboard]``: who gets which role when the dashboard signs people in (Streamlit's ``[auth]``).
    Without an identity provider the role is READINESS_DASHBOARD_ROLE and this section is not used."""

    group_claim: str = Field(default="groups", min_length=1)
    """The ID-token claim that lists a person's groups (``groups``, ``roles``, ``cognito:groups``, ...)."""
    access: list[AccessRule] = []


class Settings(Model):
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=1000)
    """Checks running at once in a sweep."""
    per_host: int = Field(default=DEFAULT_PER_HOST, ge=1, le=MAX_PER_HOST)
    """Requests in flight at once to one provider host (scheme, host and port), however many checks run."""
    timeout_s: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    """Default per-check timeout (seconds): finite, at most ``MAX_TIMEOUT_S``."""
    sweep_deadline_s: float | None = Field(default=None, gt=0, le=MAX_SWEEP_DEADLINE_S, allow_inf_nan=False)
    """Wall-clock bound of one whole sweep, dependency waits included; unset: :meth:`deadline_for`."""
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024, le=MAX_RESPONSE_BYTES)
    """A provider answer longer than this (after content decoding) is not read further: ``error``."""
    env_file: str | None = ".env"
    """Read next to the manifest; the process environment wins over it."""

    def deadline_for(self, timeouts: Iterable[float]) -> float:
        """The sweep deadline in seconds: ``sweep_deadline_s``, else twice the largest of ``timeouts`` (the
        effective timeouts of the checks the sweep runs), never past ``MAX_SWEEP_DEADLINE_S``."""
        if self.sweep_deadline_s is not None:
            return self.sweep_deadline_s
        return min(2 * max(timeouts, default=self.timeout_s), MAX_SWEEP_DEADLINE_S)


class Manifest(Model):
    """The whole manifest. Cross-references are checked by :func:`~checks.core.manifest_load.parse_manifest`."""

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")
    release: Release
    areas: list[Area]
    items: list[Item]
    contacts: dict[str, Contact]
    oauth_apps: dict[str, OAuthApp] = {}
    ghl_proxy: GhlProxy | None = None
    vault: VaultSpec | None = None
    sandboxes: list[Sandbox] = []
    env: list[EnvVar] = []
    milestones: list[Milestone] = []
    criteria: list[Criterion] = []
    escalations: list[EscalationRule] = []
    risks: list[Risk] = []
    actions: list[Action] = []
    checks: list[CheckSpec] = []
    settings: Settings = Settings()
    dashboard: DashboardSpec = DashboardSpec()
    notify: NotifySpec = NotifySpec()
    """``[notify]``: where ``readiness watch`` sends what it notices (:mod:`checks.core.notify_spec`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    # ``source`` and ``digest`` are set by parse_manifest; they are not manifest fields.
    _source: str = "<manifest>"
    _digest: str = ""

    @property
    def source(self) -> str:
        return self._source

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the manifest text, recorded with every run and checkpoint."""
        return self._digest

    @cached_property
    def items_by_id(self) -> dict[str, Item]:
        return {i.id: i for i in self.items}

    @cached_property
    def areas_by_id(self) -> dict[str, Area]:
        return {a.id: a for a in self.areas}

    def env_checks(self) -> list[CheckSpec]:
        """One ``env`` check per declared variable, id ``env.NAME``."""
        return [
            CheckSpec(
                id=f"env.{var.name}",
                item=var.item,
                kind="env",
                title=f"{var.name} is set and valid",
                severity=var.severity or (Severity.BLOCKING if var.required else Severity.MINOR),
                params={"variable": var.name, "type": var.type, "secret": var.is_secret, "required": var.required},
            )
            for var in self.env
        ]

    @cached_property
    def all_checks(self) -> list[CheckSpec]:
        """Every check instance: the generated env checks, then the ``[[checks]]`` table."""
        return [*self.env_checks(), *self.checks]

    @cached_property
    def checks_by_id(self) -> dict[str, CheckSpec]:
        return {c.id: c for c in self.all_checks}

    def area_of(self, check: CheckSpec) -> str:
        return self.items_by_id[check.item].area

    def match_checks(self, patterns: list[str]) -> list[CheckSpec]:
        """Checks whose id matches any of ``patterns`` (exact ids or globs), in manifest order."""
        exact = {p for p in patterns if not _GLOB.search(p)}  # most are ids: a set lookup, not a glob match each
        globs = [p for p in patterns if p not in exact]
        return [c for c in self.all_checks if c.id in exact or any(fnmatch.fnmatchcase(c.id, p) for p in globs)]

    def checks_for_items(self, items: list[str]) -> list[CheckSpec]:
        return [c for c in self.all_checks if c.item in items]

    def env_var(self, name: str) -> EnvVar | None:
        return next((v for v in self.env if v.name == name), None)

    def iter_secret_env(self) -> Iterator[str]:
        """Names of every variable that holds a secret (for the scrubber)."""
        seen = {v.name for v in self.env if v.is_secret}
        for app in self.oauth_apps.values():
            seen.add(app.client_secret_env)
        if self.ghl_proxy:
            seen.add(self.ghl_proxy.api_key_env)
        if self.vault:
            seen.add(self.vault.key_env)
        yield from sorted(seen)
