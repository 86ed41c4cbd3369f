"""Overview: the verdict and why, time left, the four areas, blockers, escalations, success criteria."""

import streamlit as st

from checks import ManifestError
from checks.presentation import pagetext
from checks.presentation.views import overview
from checks.presentation.views.watcher import watcher_status
from dashboard import context, data, widgets

page = context.load()
m = page.manifest
st.title(f"{m.release.story} · {m.release.title}")

block = page.sweep_block()
if st.button(
    "Run checks now",
    type="primary",
    key="run_now",
    disabled=bool(block),
    help="Runs every check of the manifest and records the run",
):
    bar = st.progress(0.0, text="Starting the checks…")

    def progress(result, done, total):
        bar.progress(done / total, text=f"{done} of {total} · {result.id}: {result.status.value}")

    try:
        run = page.run_checks(on_result=progress)
    except context.NotAllowed as exc:
        bar.empty()
        st.error(f"Not run: {exc}")
    except ManifestError as exc:
        st.error(f"The checks could not run: the manifest is not usable.\n\n```\n{exc}\n```")
    else:
        data.clear()
        bar.empty()
        decision = run.verdict.decision
        widgets.box(overview.box_for_decision(decision), f"Run finished: {decision.value}, {len(run.results)} checks.")
if block:
    st.caption(block)


@st.fragment(run_every=m.release.refresh_interval_s)
def live():
    watcher = watcher_status(data.watch_state(page.db_url, m.release.story), page.now(), m.release.refresh_interval_s)
    if watcher.kind == "silent":
        st.warning(watcher.text, icon=":material/notifications_off:")
    else:
        st.caption(watcher.text)
    if watcher.can_request and not block and st.button("Ask the watcher to sweep", key="watch_sweep"):
        try:
            page.request_watch_sweep()
        except context.NotAllowed as exc:
            st.error(f"Not requested: {exc}")
        else:
            data.clear()
            st.success("Requested: the watcher sweeps at its next tick and records the run.")
    run = data.current_run(page.db_url, m)
    clean = page.scrubber()
    banner = overview.banner(run)
    widgets.verdict_banner(banner, clean)

    left = overview.time_left(m.release.decision_point, page.now())
    passed, total = overview.blocking_count(run)
    # wrapping rows of fixed-width boxes rather than st.columns: at 800 px three columns cut the values
    # ("pass…") and four broke the area titles mid-word
    row = st.container(horizontal=True, wrap=True)
    row.metric(
        "Decision point", left.text, help=f"{m.release.decision_point.isoformat()} (UTC)", border=True, width=305
    )
    row.metric("Blocking checks passing", f"{passed} of {total}", border=True, width=305)
    review = pagetext.review_due(m.release.next_review, page.now())
    row.metric(
        "Next review",
        m.release.next_review.isoformat(),
        delta=review.text,
        delta_color="inverse" if review.overdue else "off",
        delta_arrow="off",
        help=m.release.next_review_title or None,
        border=True,
        width=305,
    )
    if review.overdue:
        st.warning(
            f"The review planned for {review.day.isoformat()} is **overdue** by {review.days} day(s): hold it, or "
            "set the next date (`next_review` in the manifest).",
            icon=":material/event_busy:",
        )
    st.caption(f"{m.release.decision_text or 'Go/no-go'} on {m.release.decision_point.isoformat()}: {left.text}.")

    st.subheader("Areas")
    cards = overview.area_cards(m, run)
    row = st.container(horizontal=True, wrap=True)
    for card in cards:
        with row.container(border=True, width=228):
            st.markdown(f"**{card.title}**")
            widgets.area_state(card.state, card.passed, card.total)
            st.caption(card.caption)

    st.subheader("Blockers")
    found = overview.blockers(m, run)
    if not found:
        st.markdown("No open blocking gap." if run is not None else "No run yet.")
    for b in found:
        blocks = f" · blocks **{', '.join(b.blocks)}**" if b.blocks else ""
        with st.container(border=True):
            st.markdown(f"**{b.title}** ({b.priority}){blocks} · owner **{b.owner}**")
            for c in b.checks:
                st.markdown(f"{pagetext.status_sign(c.status)} `{c.id}` [{c.status}]: {clean(c.summary)}")
            if b.contingency:
                st.caption(f"Contingency: {b.contingency}")

    st.subheader("Escalations")
    escalations = overview.open_escalations(m, run, page.now())
    if not escalations:
        st.markdown("None in force.")
    for e in escalations:
        scope = f" ({e.contact_scope})" if e.contact_scope else ""
        what = f": {e.text}" if e.text else ""
        st.markdown(
            f":red[:material/notifications_active:] **{e.title}**: {e.item_title}, "
            f"since {e.since.date().isoformat()} ({e.days_open:g} days){what} "
            f"→ contact **{e.contact}**{scope}"
        )

    st.subheader("Success criteria")
    for ms in overview.criteria_by_milestone(m, run):
        due = f" (due {ms.due.isoformat()})" if ms.due else ""
        st.markdown(f"**{ms.title}**{due}: {ms.met} of {len(ms.criteria)} met")
        st.markdown("\n".join(f"- {pagetext.criterion_sign(c.met)} {c.text}" for c in ms.criteria))


live()
