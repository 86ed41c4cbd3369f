"""What is wrong right now, as alerts: the watcher's view of a sweep (pure; no I/O, time passed in).

Each alert has a stable ``key`` (``verdict``, ``escalation:RULE:ITEM``, ``waiver:ID``, ...) and a
``fingerprint`` of the state it announces. The watcher compares the alerts of each sweep with those it announced
before (:mod:`checks.storage.notifications`): a new key is *opened*, a changed fingerprint *changed*, a key gone
*resolved*, so a person hears once per change and once when it is over, never once per sweep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from checks.core.facts import Waiver
from checks.core.manifest import Manifest
from checks.core.run import Decision, Run

__all__ = ["Alert", "Transition", "current_alerts", "sweep_failed_alert", "transitions", "vault_alert"]


@dataclass(frozen=True)
class Alert:
    key: str
    event: str
    """One of :data:`checks.core.notify_spec.EVENTS`."""
    fingerprint: str
    title: str
    detail: tuple[str, ...] = ()
    """The facts behind it, one line each (for a verdict: its reasons), compared with the last announced."""
    area: str | None = None
    contact: str | None = None
    """A key of ``[contacts]``: escalations go to the contact their rule names."""
    page: str = ""
    """The dashboard page that shows it (appended to ``notify.dashboard_url``)."""
    extra: dict[str, str] = field(default_factory=dict)


def current_alerts(manifest: Manifest, run: Run, *, waivers: Iterable[Waiver], now: datetime) -> dict[str, Alert]:
    """The alerts one recorded sweep raises: the verdict when not GO, each escalation, each waiver in force that
    expires within ``notify.waiver_days``, and the decision point within ``notify.decision_days`` while NO-GO."""
    spec = manifest.notify
    alerts: list[Alert] = []
    decision = run.verdict.decision
    story = manifest.release.story
    if decision is not Decision.GO:
        alerts.append(
            Alert("verdict", "verdict", decision.value, f"{story} is {decision.value}", tuple(run.verdict.reasons))
        )
    rules = {r.id: r for r in manifest.escalations}
    for hit in run.verdict.escalations:
        rule = rules.get(hit.rule)
        item = manifest.items_by_id.get(hit.item)
        alerts.append(
            Alert(
                f"escalation:{hit.rule}:{hit.item}",
                "escalation",
                "open",
                f"Escalation: {hit.title or hit.rule} ({item.title if item else hit.item}) to {hit.contact}",
                tuple(x for x in (hit.text, f"since {hit.since:%Y-%m-%d %H:%M} UTC") if x),
                area=item.area if item else None,
                contact=rule.contact if rule else None,
                page="/checks",
            )
        )
    horizon = now + timedelta(days=spec.waiver_days)
    for waiver in waivers:
        if waiver.in_force(now) and waiver.until <= horizon:
            check = manifest.checks_by_id.get(waiver.check)
            left = waiver.until - now
            alerts.append(
                Alert(
                    f"waiver:{waiver.id}:{waiver.check}",
                    "waiver_expiring",
                    waiver.until.isoformat(),
                    f"Waiver on {waiver.check} expires {waiver.until:%Y-%m-%d %H:%M} UTC ({_days(left)})",
                    (f"reason: {waiver.reason}", f"by {waiver.by}", "renew it or fix the check before it lapses"),
                    area=manifest.area_of(check) if check else None,
                    page="/checks",
                )
            )
    decision_at = datetime.combine(manifest.release.decision_point, datetime.min.time(), tzinfo=now.tzinfo)
    left = decision_at - now
    if decision is Decision.NO_GO and timedelta(0) <= left <= timedelta(days=spec.decision_days):
        alerts.append(
            Alert(
                "decision_point",
                "decision_point",
                manifest.release.decision_point.isoformat(),
                f"{story}: decision point {manifest.release.decision_point} in {_days(left)} and the verdict is NO-GO",
                (manifest.release.decision_text, *run.verdict.reasons),
                page="/checkpoint",
            )
        )
    return {a.key: a for a in alerts}


def sweep_failed_alert(manifest: Manifest, problem: str) -> Alert:
    """The scheduled sweep did not run to a verdict (the database, the manifest, a bug)."""
    return Alert(
        "sweep_failed",
        "sweep_failed",
        "failed",
        f"{manifest.release.story}: the scheduled sweep failed",
        (problem, "the verdict on the dashboard is getting old"),
    )


def vault_alert(manifest: Manifest, problems: Iterable[str]) -> Alert | None:
    """The token vault is unhealthy (its checks fail, or the refresher cannot renew tokens)."""
    lines = tuple(problems)
    if not lines:
        return None
    area = manifest.vault.item if manifest.vault else None
    item = manifest.items_by_id.get(area) if area else None
    return Alert(
        "vault_health",
        "vault_health",
        "failing",
        f"{manifest.release.story}: token vault health failing",
        lines,
        area=item.area if item else None,
        page="/vault",
    )


def _days(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


@dataclass(frozen=True)
class Transition:
    """One thing to tell people: an alert ``opened``, ``changed`` (new fingerprint) or ``resolved``."""

    kind: str
    alert: Alert
    before: tuple[str, ...] = ()
    """The detail last announced (``changed``, ``resolved``), to say what changed."""

    @property
    def added(self) -> list[str]:
        return [line for line in self.alert.detail if line not in self.before] if self.kind != "resolved" else []

    @property
    def removed(self) -> list[str]:
        if self.kind == "resolved":
            return list(self.before)
        return [line for line in self.before if line not in self.alert.detail]


def transitions(announced: dict[str, Alert], current: dict[str, Alert]) -> list[Transition]:
    """What changed between the alerts last announced and the current ones, in a stable order."""
    out: list[Transition] = []
    for key, alert in current.items():
        old = announced.get(key)
        if old is None:
            out.append(Transition("opened", alert))
        elif old.fingerprint != alert.fingerprint:
            out.append(Transition("changed", alert, old.detail))
    out.extend(Transition("resolved", old, old.detail) for key, old in announced.items() if key not in current)
    return out
