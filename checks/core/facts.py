"""The manual facts no API can tell: attestations and waivers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

__all__ = ["Attestation", "Waiver"]


@dataclass(frozen=True)
class Attestation:
    """A person's statement about an item, e.g. "Google OAuth app submitted for verification on 10-07".

    ``status`` is free-form per item but the OAuth lifecycle uses
    ``not_created -> created -> submitted -> approved | rejected``; reviews use ``approved``.
    """

    item: str
    status: str
    by: str
    at: datetime
    """When it was recorded."""
    note: str = ""
    effective: date | None = None
    """The date the fact became true (e.g. the submission date), when it differs from ``at``."""
    id: int | None = None

    @property
    def since(self) -> datetime:
        """When the attested state began: ``effective`` at midnight UTC, else ``at``."""
        if self.effective is not None:
            return datetime(self.effective.year, self.effective.month, self.effective.day, tzinfo=self.at.tzinfo)
        return self.at

    def age(self, now: datetime) -> timedelta:
        """How long the attested state has held. With an ``effective`` date, counted in whole days
        (submitted on the 13th is 7 days old all through the 20th), else exactly."""
        if self.effective is not None:
            return timedelta(days=(now.date() - self.effective).days)
        return now - self.at

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "status": self.status,
            "by": self.by,
            "at": self.at.isoformat(),
            "note": self.note,
            "effective": self.effective.isoformat() if self.effective else None,
        }


@dataclass(frozen=True)
class Waiver:
    """Accept a gap in one check until a date. Expired waivers do not count."""

    check: str
    reason: str
    by: str
    until: datetime
    created_at: datetime
    id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def in_force(self, now: datetime) -> bool:
        """From ``created_at`` (included) to ``until`` (excluded): ``until`` is the instant it expires, so at
        that instant the gap is open again; a waiver until 2025-10-20T00:00Z covers all of the 19th."""
        return self.created_at <= now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "reason": self.reason,
            "by": self.by,
            "until": self.until.isoformat(),
            "created_at": self.created_at.isoformat(),
        }
