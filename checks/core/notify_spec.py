"""``[notify]`` in the manifest: where ``readiness watch`` sends what it notices, as pydantic models.

Channels are Apprise URLs, but the manifest never holds one: a channel names the environment variable that
does (``url_env = "READINESS_NOTIFY_SLACK"``), so a webhook's token or a mail password stays out of the
manifest, the database and every message. Routes pick channels by event, area and contact::

    [notify]
    dashboard_url = "https://readiness.example.org"
    waiver_days = 3            # warn this many days before a waiver in force expires
    decision_days = 3          # warn this many days before the decision point while NO-GO
    rate_limit = 20            # messages per channel per rate_window_s; more are stored as suppressed

    [notify.channels.release]
    url_env = "READINESS_NOTIFY_SLACK"

    [notify.channels.security]
    url_env = "READINESS_NOTIFY_SECURITY_MAIL"

    [[notify.routes]]          # the release manager hears about the verdict and the schedule
    events = ["verdict", "decision_point", "sweep_failed"]
    channels = ["release"]

    [[notify.routes]]          # an escalation goes to the contact the rule names
    events = ["escalation"]
    contacts = ["security"]
    channels = ["security"]
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["EVENTS", "Event", "NotifyChannel", "NotifyRoute", "NotifySpec"]

Event = Literal["verdict", "escalation", "waiver_expiring", "decision_point", "vault_health", "sweep_failed"]
EVENTS: tuple[str, ...] = ("verdict", "escalation", "waiver_expiring", "decision_point", "vault_health", "sweep_failed")
"""What the watcher tells people about (docs/watch.md, "Events")."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)


class NotifyChannel(_Model):
    """One Apprise destination, its URL (with whatever secret it carries) read from ``url_env`` at send time."""

    url_env: str = Field(min_length=1)

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"must name an environment variable (letters, digits, '_'), got {value!r}")
        return value


class NotifyRoute(_Model):
    """Send the events listed (all when empty) about the areas and contacts listed (any when empty)."""

    events: list[Event] = []
    areas: list[str] = []
    """Area ids; an event about no area (the verdict, a failed sweep) matches only a route without areas."""
    contacts: list[str] = []
    """Keys of ``[contacts]``; an event with no contact matches only a route without contacts."""
    channels: list[str] = Field(min_length=1)

    def matches(self, event: str, area: str | None, contact: str | None) -> bool:
        if self.events and event not in self.events:
            return False
        if self.areas and area not in self.areas:
            return False
        return not (self.contacts and contact not in self.contacts)


class NotifySpec(_Model):
    dashboard_url: str = "http://127.0.0.1:8501"
    """Where a message links to (the dashboard's pages hang below it)."""
    waiver_days: float = Field(default=3.0, ge=0)
    decision_days: float = Field(default=3.0, ge=0)
    rate_limit: int = Field(default=20, ge=1)
    """Messages a channel is sent per ``rate_window_s``; the rest are stored, marked ``suppressed``."""
    rate_window_s: float = Field(default=3600.0, gt=0)
    channels: dict[str, NotifyChannel] = {}
    routes: list[NotifyRoute] = []

    @field_validator("dashboard_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s@]+", value):
            raise ValueError("must be an http(s) URL without credentials, e.g. https://readiness.example.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _known_channels(self) -> NotifySpec:
        for n, route in enumerate(self.routes):
            unknown = [c for c in route.channels if c not in self.channels]
            if unknown:
                known = ", ".join(sorted(self.channels)) or "none declared"
                raise ValueError(f"routes[{n}].channels: unknown channel {unknown[0]!r} (known: {known})")
        return self

    def channels_for(self, event: str, area: str | None, contact: str | None) -> list[str]:
        """The channels (ids, in first-mention order) some route sends this event to."""
        found: list[str] = []
        for route in self.routes:
            if route.matches(event, area, contact):
                found.extend(c for c in route.channels if c not in found)
        return found
