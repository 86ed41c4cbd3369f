"""Pieces several pages draw: the verdict banner, state badges, the attest and waive forms, change lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from checks import Attestation, Waiver
from checks.presentation import pagetext
from checks.presentation.report import Change
from checks.presentation.views import checks_table, oauth, overview
from dashboard import data
from dashboard.context import Page


def verdict_banner(b: overview.Banner, clean: Callable[[str], str]) -> None:
    with st.container(border=True):
        st.html(pagetext.verdict_html(b.decision))
        st.markdown(f"### {b.headline}")
        if b.started_at is not None and b.run_id:
            st.caption(f"Run `{b.run_id[:12]}` started {b.started_at:%Y-%m-%d %H:%M} UTC ({b.trigger})")
        if b.reasons:
            st.markdown("\n".join(f"- {clean(r)}" for r in b.reasons))
        if b.notes:
            with st.expander(f"{len(b.notes)} major gap(s), named but not blocking"):
                st.markdown("\n".join(f"- {clean(r)}" for r in b.notes))


def area_state(state: str, passed: int, total: int) -> None:
    """The area's state badge and progress bar in the state's colour, with the state in words."""
    st.html(pagetext.area_card_html(state, passed, total))


def until_end_of(day: date) -> datetime:
    """A waiver "until Oct 20" holds through that day (UTC)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def box(kind: str, message: str) -> None:
    """``message`` in the Streamlit box ``kind`` names: ``success``, ``warning`` or ``error``."""
    {"success": st.success, "warning": st.warning}.get(kind, st.error)(message)


def flash(message: str, kind: str = "success") -> None:
    """Show ``message`` in the box ``kind`` (see :func:`box`) after the rerun that redraws the page."""
    st.session_state["_flash"] = (kind, message)
    st.rerun()


def show_flash() -> None:
    flashed = st.session_state.pop("_flash", None)
    if flashed:
        box(*flashed)


def write_notice(page: Page) -> None:
    """Say why the forms below are disabled, when they are."""
    block = page.write_block()
    if block:
        st.info(block)


def attest_form(page: Page, items: Sequence[str]) -> None:
    """Attest an item's status (item, status, date, note); ``by`` is the session's identity.

    No status is preset (one click must not record anything), and a step backwards in an OAuth app's
    lifecycle (e.g. submitted → created) needs a note and a ticked confirmation.
    """
    m = page.manifest
    block = page.write_block()
    titles = {i.id: i.title for i in m.items}
    item = st.selectbox(
        "Item", items, format_func=lambda i: f"{titles.get(i, i)} ({i})", key="attest_item", disabled=bool(block)
    )
    statuses = checks_table.attestable_statuses(m, item) if item else []
    current = pagetext.latest_status(data.attestations(page.db_url), item) if item else None
    with st.form("attest", clear_on_submit=True):
        if statuses:
            status = st.selectbox("Status", statuses, index=None, placeholder="Choose a status", key="attest_status")
        else:
            status = st.text_input("Status", key="attest_status", help="e.g. approved, operational")
        if current:
            st.caption(f"Latest attested status: **{current}**.")
        effective = st.date_input("Date it became true", value=page.now().date(), key="attest_date")
        note = st.text_input("Note", key="attest_note", help="Required for a step backwards")
        confirm_back = st.checkbox(
            "I confirm a step backwards in the lifecycle (e.g. submitted → created)", key="attest_back"
        )
        if page.who is not None:
            st.caption(f"Recorded as **{page.who.name}** ({page.who.source}).")
        submitted = st.form_submit_button("Attest", disabled=bool(block))
    if submitted:
        if block or page.who is None:
            st.error("Not recorded: this session may not write. " + (block or ""))
            return
        if not item or not (status or "").strip():
            st.error("Not recorded: choose an item and a status.")
            return
        status = (status or "").strip()
        if pagetext.is_step_back(oauth.OAUTH_LIFECYCLE, current, status) and not (confirm_back and note.strip()):
            st.error(
                f"Not recorded: {status} is a step backwards from {current}. Say why in the note and tick "
                "the confirmation."
            )
            return
        att = page.store.add_attestation(Attestation(item, status, page.who.name, page.now(), note.strip(), effective))
        data.clear()
        flash(f"Attested {item}: {att.status} (effective {effective.isoformat()}) by {att.by}.")


def waive_form(page: Page, checks: Sequence[str]) -> None:
    """Waive a check (check, reason, until); ``by`` is the session's identity."""
    block = page.write_block()
    today = page.now().date()
    with st.form("waive", clear_on_submit=True):
        check = st.selectbox("Check", checks, index=None, placeholder="Choose a check", key="waive_check")
        reason = st.text_input("Reason", key="waive_reason", help="Why the gap is acceptable until then")
        until = st.date_input("Until (inclusive)", value=today + timedelta(days=7), min_value=today, key="waive_until")
        if page.who is not None:
            st.caption(f"Recorded as **{page.who.name}** ({page.who.source}).")
        submitted = st.form_submit_button("Waive", disabled=bool(block))
    if submitted:
        if block or page.who is None:
            st.error("Not recorded: this session may not write. " + (block or ""))
            return
        if not check or not reason.strip():
            st.error("Not recorded: a waiver needs a check and a reason.")
            return
        w = page.store.add_waiver(Waiver(check, reason.strip(), page.who.name, until_end_of(until), page.now()))
        data.clear()
        flash(f"Waived {w.check} until {until.isoformat()} by {w.by}: {w.reason}")


def change_list(title: str, changes: Sequence[Change], titles: dict[str, str]) -> None:
    st.markdown(f"**{title}** ({len(changes)})")
    if not changes:
        st.caption("None.")
        return
    lines = []
    for c in changes:
        before = f"{pagetext.status_sign(c.before)} {c.before.value}" if c.before else "new"
        waived = " (waived)" if c.waived else ""
        after = f"{pagetext.status_sign(c.after)} {c.after.value}"
        lines.append(f"- {titles.get(c.item, c.item)} `{c.check}`: {before} → {after}{waived}")
    st.markdown("\n".join(lines))
