"""Issue #10 section 5, "the page", through AppTest: what the pages say and what their forms preset.

Colours, icons and overflow need a browser: see test_browser.py.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from checks.core.status import Status
from checks.presentation import pagetext, plots
from checks.presentation.views import oauth, trends
from checks.shell.demo_launch import streamlit_command
from tests.dashboard.test_pages import NOW, as_role, env, html, render, store_of, text, vault_env  # noqa: F401

EMOJI = re.compile("[\u2300-\u23ff\u2460-\u27bf\u2b00-\u2bff\u2e80-\u2eff\U0001f000-\U0001faff\ufe0f]")
"""Pictographs a plain Debian Chromium lacks a font for (✅ ⬜ ❌ ⏳ 🚨 ➖ 🟡 ...): drawn as empty boxes."""

PAGES = ["overview.py", "checks_page.py", "trends.py", "oauth.py", "checkpoint.py"]


@pytest.mark.parametrize("name", PAGES)
def test_no_emoji_on_the_page(env, name):  # noqa: F811
    at = render(name)
    found = sorted(set(EMOJI.findall(text(at))))
    frames = "\n".join(str(d.value.to_dict()) for d in at.dataframe)
    found += sorted(set(EMOJI.findall(frames)))
    assert not found, f"{name} shows emoji that render as empty boxes without a colour-emoji font: {found}"


def test_status_signs_differ_and_use_no_font():
    signs = [pagetext.status_sign(s) for s in Status]
    assert len(set(signs)) == len(signs)
    assert all(":material/" in s and not EMOJI.search(s) for s in signs)
    assert pagetext.criterion_sign(True) != pagetext.criterion_sign(False)
    assert "met" in pagetext.criterion_sign(True) and "open" in pagetext.criterion_sign(False)


# ---------------------------------------------------------------------------------------------- overview


def test_next_review_is_marked_overdue_once_passed(env):  # noqa: F811
    at = render("overview.py")  # now 2025-10-15, review 2025-10-11
    review = next(m for m in at.metric if m.label == "Next review")
    assert review.value == "2025-10-11" and review.delta == "overdue by 4 days"
    assert any("**overdue**" in w.value for w in at.warning)


def test_next_review_ahead_is_not_overdue(env):  # noqa: F811
    env.mp.setenv("READINESS_DASHBOARD_NOW", "2025-10-09T09:00:00+00:00")
    at = render("overview.py")
    review = next(m for m in at.metric if m.label == "Next review")
    assert review.delta == "in 2 days"
    assert not any("overdue" in w.value for w in at.warning)


def test_verdict_and_states_are_coloured_and_said_in_words(env):  # noqa: F811
    body = html(render("overview.py"))
    assert "background:#cf222e" in body and ">NO-GO<" in body and "release blocked" in body
    for state in ("PARTIAL", "NEEDS VALIDATION"):
        assert f'data-state="{state}"' in body and f">{state}<" in body
    assert 'class="readiness-bar" data-state="PARTIAL"' in body  # the bar carries the state's colour
    assert f"background:{pagetext.STATE_COLOR['PARTIAL']}" in body


def test_verdict_colours_are_green_amber_red():
    assert "#1a7f37" in pagetext.verdict_html("GO") and "release can go ahead" in pagetext.verdict_html("GO")
    assert "#9a6700" in pagetext.verdict_html("CONDITIONAL") and "waivers" in pagetext.verdict_html("CONDITIONAL")
    assert "#cf222e" in pagetext.verdict_html("NO-GO")


# ------------------------------------------------------------------------------------------------ OAuth


def test_attest_form_presets_no_status(env):  # noqa: F811
    as_role(env, "release_manager")
    at = render("oauth.py")
    assert at.selectbox(key="attest_status").value is None
    with store_of(env) as store:
        before = len(store.attestations())
    at.button(key="FormSubmitter:attest-Attest").click().run()  # one click records nothing
    assert "Not recorded: choose an item and a status." in [e.value for e in at.error]
    with store_of(env) as store:
        assert len(store.attestations()) == before


def test_a_step_backwards_needs_a_note_and_a_confirmation(env):  # noqa: F811
    as_role(env, "release_manager")
    at = render("oauth.py")  # oauth.google is submitted
    with store_of(env) as store:
        before = len(store.attestations("oauth.google"))
    at.selectbox(key="attest_status").select("created")
    at.button(key="FormSubmitter:attest-Attest").click().run()
    assert any("step backwards from submitted" in e.value for e in at.error)
    at.selectbox(key="attest_status").select("created")
    at.text_input(key="attest_note").input("verification withdrawn to change scopes")
    at.button(key="FormSubmitter:attest-Attest").click().run()
    assert any("step backwards" in e.value for e in at.error)  # a note without the tick is not enough
    with store_of(env) as store:
        assert len(store.attestations("oauth.google")) == before
    at.selectbox(key="attest_status").select("created")
    at.text_input(key="attest_note").input("verification withdrawn to change scopes")
    at.checkbox(key="attest_back").check()
    at.button(key="FormSubmitter:attest-Attest").click().run()
    assert not at.error
    with store_of(env) as store:
        att = store.attestations("oauth.google")[-1]
    assert (att.status, att.note) == ("created", "verification withdrawn to change scopes")


def test_a_step_forwards_needs_no_confirmation(env):  # noqa: F811
    as_role(env, "release_manager")
    at = render("oauth.py")
    at.selectbox(key="attest_status").select("approved")
    at.button(key="FormSubmitter:attest-Attest").click().run()
    assert not at.error
    with store_of(env) as store:
        assert store.attestations("oauth.google")[-1].status == "approved"


def test_lifecycle_does_not_tick_not_created(env):  # noqa: F811
    page = text(render("oauth.py"))
    assert "not_created" not in page.split("**Scopes**")[0]


def test_waive_form_presets_no_check(env):  # noqa: F811
    as_role(env, "release_manager")
    at = render("oauth.py")
    assert at.selectbox(key="waive_check").value is None


def test_step_back_rule():
    order = oauth.OAUTH_LIFECYCLE
    assert pagetext.is_step_back(order, "submitted", "created")
    assert not pagetext.is_step_back(order, "created", "submitted")
    assert not pagetext.is_step_back(order, None, "not_created")
    assert not pagetext.is_step_back(order, "submitted", "rejected")


# ----------------------------------------------------------------------------------------------- checks


def test_remediation_points_at_the_attest_form(env):  # noqa: F811
    at = render("checks_page.py")
    at.selectbox(key="check").select("oauth.ghl.validated").run()
    remediation = next(m.value for m in at.markdown if m.value.startswith("**Remediation**"))
    assert "readiness attest" not in remediation and "run use" not in remediation.lower()
    assert "Attest form on the OAuth apps page" in remediation and "`oauth.ghl`" in remediation


def test_dashboard_remediation_keeps_other_text():
    assert pagetext.dashboard_remediation("Set X in .env") == "Set X in .env"
    assert pagetext.dashboard_remediation("When it is approved, run `readiness attest a.b <status> --note '...'`") == (
        "When it is approved, use the Attest form on the OAuth apps page (item `a.b`)"
    )
    assert pagetext.dashboard_remediation("Run `readiness attest a.b <status> --note '...'` (pass: x)") == (
        "Use the Attest form on the OAuth apps page (item `a.b`) (pass: x)"
    )
    said = pagetext.dashboard_remediation(
        "Confirm it is still true and attest again: `readiness attest vault.review <status> --note '...'`"
    )
    assert (
        said == "Confirm it is still true and attest again: use the Attest form on the OAuth apps page (item "
        "`vault.review`)"
    )


# ------------------------------------------------------------------------------------------------ vault


def test_vault_caption_explains_the_role_mapping(vault_env):  # noqa: F811
    as_role(vault_env, "release_manager")
    at = render("vault_page.py")
    captions = "\n".join(c.value for c in at.caption)
    assert "the dashboard role **release_manager** maps to it" in captions
    assert "vault role **viewer**" in captions


def test_credentials_chart_counts_in_whole_numbers():
    fig = plots.credentials_by_provider({"google": {"active": 1}})
    assert fig.layout.yaxis.dtick == 1 and fig.layout.yaxis.tickformat == "d"


# ------------------------------------------------------------------------------------------------ trends


def test_trend_figures_leave_room_for_labels_legend_and_year():
    from checks.presentation.views.trends import CheckpointPoint

    series = trends.blocking_share(
        __import__("pandas").DataFrame(
            {
                "started_at": [datetime(2025, 10, 6, tzinfo=UTC), datetime(2025, 10, 13, tzinfo=UTC)],
                "blocking_passed": [1, 2],
                "blocking_total": [4, 4],
                "verdict": ["NO-GO", "NO-GO"],
            }
        )
    )
    marks = [
        CheckpointPoint(datetime(2025, 10, 6, tzinfo=UTC), "Week 0", 25.0, "NO-GO"),
        CheckpointPoint(datetime(2025, 10, 13, tzinfo=UTC), "Week 1", 50.0, "NO-GO"),
    ]
    fig = plots.blocking_trend(series, marks)
    cp = next(t for t in fig.data if t.name == "checkpoints")
    assert cp.textposition[0] == "top right" and cp.cliponaxis is False  # "Week 0" starts at its point
    assert fig.layout.legend.y > 1  # above the plot, not on the x axis title
    assert fig.layout.margin.b >= 60  # the year under the dates
    assert fig.layout.xaxis.title.standoff


# ------------------------------------------------------------------------------------------- checkpoint


def test_checkpoint_changes_are_rows_not_four_columns(env):  # noqa: F811
    at = render("checkpoint.py")
    assert "**Still blocking** (3)" in text(at)
    assert len(at.columns) == 2  # only the two download buttons


def test_decision_table_formats_times_and_blanks(env):  # noqa: F811
    as_role(env, "release_manager")
    at = render("checkpoint.py")
    with store_of(env) as store:
        cp = store.checkpoints()[0]
    at.selectbox(key="decision_cp").select(cp.id)
    at.text_area(key="decision_rationale").set_value("vault review open")
    at.button(key="FormSubmitter:decision-Record decision").click().run()
    table = at.dataframe[-1].value
    decided = dict(zip(table["checkpoint"], table["decided at"], strict=True))
    assert decided[cp.id] == "2025-10-15 10:00 UTC"
    assert all(v == "" for k, v in decided.items() if k != cp.id)
    cells = table.astype(str).to_numpy().ravel()
    assert "None" not in cells and not any("+00:00" in c for c in cells)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", a) for a in table["at"])


def test_format_utc():
    assert pagetext.format_utc(datetime(2025, 10, 17, 12, 0, tzinfo=UTC)) == "2025-10-17 12:00 UTC"
    assert pagetext.format_utc(None) == ""
    assert pagetext.review_due(date(2025, 10, 11), datetime(2025, 10, 11, 20, tzinfo=UTC)).text == "today"


# ------------------------------------------------------------------------------------------------ chrome


def test_streamlit_runs_with_the_viewer_toolbar():
    cmd = streamlit_command(port=8501, address="127.0.0.1")
    assert cmd[cmd.index("--client.toolbarMode") + 1] == "viewer"  # no Deploy button, no developer menu
