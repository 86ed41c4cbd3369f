"""OAuth apps as the OAuth page shows them: the attested lifecycle (not_created → created → configured →
submitted → approved or rejected), each redirect URI with the check probing it, and the approval Gantt
(attested phases, ongoing ones, the manifest's expected approval window)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from checks.core.facts import Attestation
from checks.core.manifest import Duration, Manifest, OAuthApp
from checks.core.run import Run

if TYPE_CHECKING:
    pass

OAUTH_LIFECYCLE = ("not_created", "created", "configured", "submitted", "approved")
"""An OAuth app's attested lifecycle; ``rejected`` ends it instead of ``approved``."""


@dataclass(frozen=True)
class Stage:
    status: str
    reached: bool
    since: date | None = None
    """When the state began (the attestation's effective date, else when it was recorded)."""
    by: str = ""
    note: str = ""


@dataclass(frozen=True)
class Lifecycle:
    key: str
    provider: str
    title: str
    item: str
    current: str
    """The latest attested status, ``not_created`` when nothing is attested."""
    since: date | None
    stages: list[Stage]
    history: list[Attestation]


def oauth_lifecycle(manifest: Manifest, key: str, attestations: Sequence[Attestation]) -> Lifecycle:
    """The attested lifecycle of ``[oauth_apps.<key>]``: not_created → created → (configured) → submitted →
    approved, or rejected. A later stage marks the earlier ones reached even when never attested."""
    app = manifest.oauth_apps[key]
    mine = sorted((a for a in attestations if a.item == app.item), key=lambda a: (a.at, a.id or 0))
    first: dict[str, Attestation] = {}
    for a in mine:
        first.setdefault(a.status, a)
    current = mine[-1].status if mine else "not_created"
    end = "rejected" if current == "rejected" else "approved"
    order = [s for s in OAUTH_LIFECYCLE if s != "approved"] + [end]
    if "configured" not in first:
        order.remove("configured")
    reached_at = max((order.index(s) for s in first if s in order), default=0)
    stages = []
    for n, status in enumerate(order):
        att = first.get(status)
        stages.append(
            Stage(
                status=status,
                reached=n <= reached_at,
                since=att.since.date() if att else None,
                by=att.by if att else "",
                note=att.note if att else "",
            )
        )
    return Lifecycle(
        key=key,
        provider=app.provider,
        title=app.title,
        item=app.item,
        current=current,
        since=mine[-1].since.date() if mine else None,
        stages=stages,
        history=mine,
    )


@dataclass(frozen=True)
class RedirectRow:
    environment: str
    uri: str
    check: str | None
    """The check that probes this URI (kind with ``params.environment``), if the manifest has one."""
    status: str | None
    summary: str


def redirect_rows(manifest: Manifest, key: str, run: Run | None) -> list[RedirectRow]:
    """Each redirect URI of the app with the status of the check probing it, when there is one."""
    app = manifest.oauth_apps[key]
    results = {r.id: r for r in run.results} if run is not None else {}
    out = []
    for ru in app.redirect_uris:
        spec = next(
            (
                c
                for c in manifest.checks_for_items([app.item])
                if c.params.get("environment") == ru.environment and c.params.get("app", key) == key
            ),
            None,
        )
        result = results.get(spec.id) if spec is not None else None
        out.append(
            RedirectRow(
                environment=ru.environment,
                uri=ru.uri,
                check=spec.id if spec is not None else None,
                status=result.status.value if result is not None else None,
                summary=result.result.summary if result is not None else ("not run yet" if spec else "no probe"),
            )
        )
    return out


@dataclass(frozen=True)
class GanttRow:
    app: str
    """The app's title: the Gantt's row."""
    phase: str
    start: datetime
    finish: datetime
    kind: str
    """``expected`` (the manifest's duration), ``attested`` (both ends attested) or ``ongoing`` (ends now)."""
    detail: str = ""


def _days(duration: Duration, bound: float) -> timedelta:
    factor = {"hours": 1 / 24, "days": 1.0, "business_days": 7 / 5, "weeks": 7.0}[duration.unit]
    return timedelta(days=bound * factor)


def _app_duration(manifest: Manifest, app: OAuthApp) -> Duration | None:
    item = manifest.items_by_id.get(app.item)
    return app.approval_duration or (item.expected if item else None)


def gantt_rows(manifest: Manifest, attestations: Sequence[Attestation], now: datetime) -> list[GanttRow]:
    """Per OAuth app: setup (created → submitted), approval (submitted → approved/rejected, or ongoing) from
    the attestations, and the expected approval window from the manifest, counted from the submission (or
    from ``now`` as a projection while not submitted)."""
    rows: list[GanttRow] = []
    for app in manifest.oauth_apps.values():
        mine = sorted((a for a in attestations if a.item == app.item), key=lambda a: (a.at, a.id or 0))
        created = next((a.since for a in mine if a.status in ("created", "configured", "submitted")), None)
        submitted = next((a.since for a in mine if a.status == "submitted"), None)
        decided = next(
            (a for a in mine if a.status in ("approved", "rejected") and (submitted is None or a.since >= submitted)),
            None,
        )
        if created is not None:
            end = submitted or (decided.since if decided else None)
            rows.append(
                GanttRow(
                    app.title,
                    "setup",
                    created,
                    end or now,
                    "attested" if end else "ongoing",
                    "created → submitted" if end else "created, not yet submitted",
                )
            )
        if submitted is not None:
            end = decided.since if decided else None
            rows.append(
                GanttRow(
                    app.title,
                    "approval",
                    submitted,
                    end or now,
                    "attested" if end else "ongoing",
                    f"submitted → {decided.status}" if decided else "submitted, waiting for approval",
                )
            )
        duration = _app_duration(manifest, app)
        if duration is not None:
            anchor = submitted or now
            rows.append(
                GanttRow(
                    app.title,
                    "expected approval",
                    anchor + _days(duration, duration.min),
                    anchor + _days(duration, duration.max),
                    "expected",
                    f"{duration.text} after submission" + ("" if submitted else " (if submitted now)"),
                )
            )
    return rows
