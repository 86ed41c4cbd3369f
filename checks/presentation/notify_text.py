"""The words of a notification: one title and a short plain-text body a release manager can act on, with the
dashboard page that shows it. Composed from a :class:`~checks.core.alerts.Transition`; scrubbing is the
sender's job (it happens once, before the body is sent or stored)."""

from __future__ import annotations

from checks.core.alerts import Transition
from checks.core.manifest import Manifest

__all__ = ["compose"]

_MAX_LINES = 12

_PREFIX = {"opened": "", "changed": "Changed: ", "resolved": "Resolved: "}


def compose(change: Transition, manifest: Manifest, *, run_id: str | None = None) -> tuple[str, str]:
    """``(title, body)`` for one transition."""
    alert = change.alert
    title = _resolved_title(change, manifest) if change.kind == "resolved" else _PREFIX[change.kind] + alert.title
    lines: list[str] = []
    if change.kind == "opened":
        lines += [f"- {d}" for d in alert.detail[:_MAX_LINES]]
    elif change.kind == "changed":
        lines += [f"+ {d}" for d in change.added[:_MAX_LINES]]
        lines += [f"- no longer: {d}" for d in change.removed[:_MAX_LINES]]
    else:
        lines += [f"- cleared: {d}" for d in change.removed[:_MAX_LINES]]
    if len(alert.detail) > _MAX_LINES and change.kind == "opened":
        lines.append(f"- ... and {len(alert.detail) - _MAX_LINES} more")
    release = manifest.release
    link = f"{manifest.notify.dashboard_url}{alert.page}"
    lines += ["", f"Release: {release.story} {release.title}; decision point {release.decision_point}"]
    if alert.contact and alert.contact in manifest.contacts:
        lines.append(f"Contact: {manifest.contacts[alert.contact].name}")
    lines.append(f"Dashboard: {link}")
    if run_id:
        lines.append(f"Run: {run_id}")
    return title, "\n".join(lines)


def _resolved_title(change: Transition, manifest: Manifest) -> str:
    alert = change.alert
    story = manifest.release.story
    if alert.event == "verdict":
        return f"Resolved: {story} is back to GO (was {alert.fingerprint})"
    if alert.event == "sweep_failed":
        return f"Resolved: {story}: sweeps run again"
    if alert.event == "waiver_expiring":
        return f"Resolved: {alert.title} (no longer due: renewed, revoked or lapsed)"
    return f"Resolved: {alert.title}"
