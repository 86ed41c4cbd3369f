"""Signs, colours and words the dashboard shows: pure functions, no Streamlit, no clock (``now`` is passed).

Two rules the page keeps: a state is always said in words as well as in colour (colour alone fails
the colour-blind and a grey-scale print), and no sign depends on a font the machine may lack (a plain
Debian Chromium draws every colour emoji as the same empty box). Signs are Streamlit's Material icons
(``:material/name:``, a font Streamlit serves itself) or text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from checks.core.facts import Attestation
from checks.core.status import Status
from checks.presentation.views.oauth import Lifecycle

__all__ = [
    "STATE_COLOR",
    "STATUS_SIGN",
    "VERDICT_COLOR",
    "VERDICT_WORDS",
    "ReviewDue",
    "area_card_html",
    "criterion_sign",
    "dashboard_remediation",
    "format_utc",
    "is_step_back",
    "latest_status",
    "lifecycle_line",
    "review_due",
    "stage_sign",
    "status_sign",
    "vault_role_note",
    "verdict_html",
]

VERDICT_COLOR = {"GO": "#1a7f37", "CONDITIONAL": "#9a6700", "NO-GO": "#cf222e", "NO RUN": "#57606a"}
"""Solid fills with white text (contrast at least 4.5:1): green, amber, red, grey."""
VERDICT_WORDS = {
    "GO": "release can go ahead",
    "CONDITIONAL": "go only under the waivers in force",
    "NO-GO": "release blocked",
    "NO RUN": "nothing checked yet",
}
STATE_COLOR = {"NOT STARTED": "#cf222e", "PARTIAL": "#9a6700", "NEEDS VALIDATION": "#0969da", "READY": "#1a7f37"}

STATUS_SIGN = {
    Status.PASS: ":green[:material/check_circle:]",
    Status.WARN: ":orange[:material/warning:]",
    Status.PENDING: ":blue[:material/hourglass_top:]",
    Status.SKIPPED: ":gray[:material/skip_next:]",
    Status.FAIL: ":red[:material/cancel:]",
    Status.ERROR: ":violet[:material/error:]",
}
"""A status as Streamlit markdown (a Material icon in the status's colour); always shown beside its word."""


def status_sign(status: str | Status | None) -> str:
    """The sign for a status value (a dash in words when there is none)."""
    if status is None or status == "":
        return ":gray[:material/remove:]"
    return STATUS_SIGN[Status(status)]


def criterion_sign(met: bool) -> str:
    """A success criterion's tick, in words too: met and open must not look alike."""
    return ":green[:material/check_circle:] **met**" if met else ":red[:material/radio_button_unchecked:] **open**"


def stage_sign(reached: bool) -> str:
    return ":green[:material/check_circle:]" if reached else ":gray[:material/radio_button_unchecked:]"


def lifecycle_line(life: Lifecycle) -> str:
    """An OAuth app's attested lifecycle as one line: reached stages ticked with their date, the rest "not
    yet". ``not_created`` is where every app starts, not a step reached: it shows only while it is current."""
    steps = [
        f"{stage_sign(s.reached)} {s.status}"
        + (f" {s.since.isoformat()}" if s.since else "" if s.reached else " (not yet)")
        for s in life.stages
        if s.status != "not_created"
    ]
    if life.current == "not_created":
        steps.insert(0, ":gray[:material/radio_button_unchecked:] **not created yet**")
    return " → ".join(steps)


def format_utc(at: Any) -> str:
    """``2025-10-17 12:00 UTC``; blank for none (``None``, NaT)."""
    if at is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(at):
            return ""
        ts = pd.Timestamp(at)
    except (TypeError, ValueError):
        return str(at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return f"{ts:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class ReviewDue:
    """The next review date as the page says it: ``overdue`` once its day has passed."""

    day: date
    overdue: bool
    days: int
    """Days past (when overdue) or left."""

    @property
    def text(self) -> str:
        if self.overdue:
            return f"overdue by {self.days} day{'s' if self.days != 1 else ''}"
        if self.days == 0:
            return "today"
        return f"in {self.days} day{'s' if self.days != 1 else ''}"


def review_due(day: date, now: datetime) -> ReviewDue:
    """Whether the review on ``day`` is still ahead (or today) or has passed, seen at ``now`` (UTC)."""
    delta = (day - now.date()).days
    return ReviewDue(day, delta < 0, abs(delta))


_ATTEST = re.compile(r"(?P<run>[Rr]un )?`readiness attest (?P<item>\S+) [^`]*`")


def dashboard_remediation(text: str) -> str:
    """A remediation as the dashboard says it: the page has the Attest form, so point at it rather than at
    ``readiness attest …`` (the CLI and the reports keep the command)."""

    def point(m: re.Match[str]) -> str:
        lead = "Use" if m.group("run") == "Run " else "use"
        return f"{lead} the Attest form on the OAuth apps page (item `{m.group('item')}`)"

    return _ATTEST.sub(point, text)


def latest_status(attestations: Iterable[Attestation], item: str) -> str | None:
    """The newest attested status of ``item`` (by recording time), None when never attested."""
    mine = sorted((a for a in attestations if a.item == item), key=lambda a: (a.at, a.id or 0))
    return mine[-1].status if mine else None


def is_step_back(order: list[str] | tuple[str, ...], current: str | None, new: str) -> bool:
    """True when attesting ``new`` moves an item backwards in its lifecycle ``order`` (e.g. submitted → created).

    Statuses outside the order (``rejected``, a manual check's own words) are never a step back.
    """
    if current is None or current not in order or new not in order:
        return False
    return order.index(new) < order.index(current)


def vault_role_note(dashboard_role: str, vault_role: str, actor: str) -> str:
    """One caption line: why the vault header names a different role than the sidebar."""
    return (
        f"Acting in the vault as **{actor}** with the vault role **{vault_role}**: the dashboard role "
        f"**{dashboard_role}** maps to it (admin → admin, auditor → auditor, every other role → viewer; "
        "the vault has no release-manager role, and reading its state needs no more than viewer)."
    )


def _pill(text: str, color: str, cls: str, state: str, size: str = "0.85rem") -> str:
    return (
        f'<span class="{cls}" data-state="{html.escape(state)}" style="background:{color};color:#fff;'
        f"font-weight:700;padding:0.15rem 0.6rem;border-radius:0.4rem;font-size:{size};"
        f'white-space:nowrap;display:inline-block">{html.escape(text)}</span>'
    )


def verdict_html(decision: str) -> str:
    """The verdict as a solid pill in its colour, with what it means in words."""
    color = VERDICT_COLOR.get(decision, VERDICT_COLOR["NO RUN"])
    words = VERDICT_WORDS.get(decision, "")
    return (
        '<div class="readiness-verdict-line" style="display:flex;flex-wrap:wrap;align-items:center;gap:0.6rem">'
        + _pill(decision, color, "readiness-verdict", decision, "1.6rem")
        + f'<span style="font-size:1.1rem;font-weight:600">{html.escape(words)}</span></div>'
    )


def area_card_html(state: str, passed: int, total: int) -> str:
    """An area's state badge and its progress bar, both in the state's colour, the state and count in words."""
    color = STATE_COLOR.get(state, "#57606a")
    share = 100.0 * passed / total if total else 0.0
    return (
        _pill(state, color, "readiness-state", state)
        + f'<div class="readiness-bar" data-state="{html.escape(state)}" role="progressbar" '
        f'aria-valuenow="{passed}" aria-valuemin="0" aria-valuemax="{total}" '
        f'aria-label="{passed} of {total} checks pass" '
        'style="margin-top:0.5rem;height:0.6rem;border-radius:0.3rem;background:#eaeef2;overflow:hidden">'
        f'<div class="readiness-bar-fill" style="width:{share:.1f}%;height:100%;background:{color}"></div></div>'
    )
