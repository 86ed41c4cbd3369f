"""OAuth apps: each provider's attested lifecycle, probe results, redirect URIs and scopes; attest and waive."""

import pandas as pd
import streamlit as st

from checks.presentation import pagetext
from checks.presentation.views import checks_table, oauth
from dashboard import context, data, widgets

page = context.load()
m = page.manifest
st.title("OAuth apps")
widgets.show_flash()

run = data.current_run(page.db_url, m)
attestations = data.attestations(page.db_url)
clean = page.scrubber()


if not m.oauth_apps:
    st.info("The manifest declares no [oauth_apps].")
for (key, app), tab in zip(m.oauth_apps.items(), st.tabs([a.title for a in m.oauth_apps.values()]), strict=False):
    with tab:
        life = oauth.oauth_lifecycle(m, key, attestations)
        st.markdown(f"**Lifecycle** (attested): {pagetext.lifecycle_line(life)}")
        since = f" since {life.since.isoformat()}" if life.since else ""
        st.caption(
            f"Now: **{life.current}**{since} · {app.setup_location} · {app.approval}"
            + (f" ({app.approval_duration.text})" if app.approval_duration else "")
        )

        st.markdown("**Probe results**")
        results = checks_table.item_results(m, app.item, run)
        if results:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "check": r.id,
                            "status": r.status.value,
                            "severity": r.severity.value,
                            "summary": clean(r.result.summary),
                        }
                        for r in results
                    ]
                ),
                hide_index=True,
            )
        else:
            st.caption("No result yet for this app's checks.")

        st.markdown("**Redirect URIs**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "environment": r.environment,
                        "uri": r.uri,
                        "check": r.check or "",
                        "status": r.status or "not run",
                        "summary": clean(r.summary),
                    }
                    for r in oauth.redirect_rows(m, key, run)
                ]
            ),
            hide_index=True,
        )
        st.markdown("**Scopes**\n" + "\n".join(f"- `{s}`" for s in app.scopes))
        if app.apis:
            st.markdown("**APIs**: " + ", ".join(app.apis))
        if life.history:
            with st.expander(f"Attestations ({len(life.history)})"):
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "status": a.status,
                                "since": pagetext.format_utc(a.since),
                                "by": a.by,
                                "recorded": pagetext.format_utc(a.at),
                                "note": a.note,
                            }
                            for a in life.history
                        ]
                    ),
                    hide_index=True,
                )

st.divider()
widgets.write_notice(page)
oauth_items = [a.item for a in m.oauth_apps.values()]
items = oauth_items + [i.id for i in m.items if i.id not in oauth_items]
left, right = st.columns(2)
with left:
    st.subheader("Attest a status")
    widgets.attest_form(page, items)
with right:
    st.subheader("Waive a check")
    gaps = [r.id for r in run.results if not r.status.ok and not r.waived] if run is not None else []
    widgets.waive_form(page, gaps + [c.id for c in m.all_checks if c.id not in gaps])
