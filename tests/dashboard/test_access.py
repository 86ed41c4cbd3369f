"""Who may run checks, and who is who under an identity provider (issue #9, section 6).

A sweep records a run and reads the vault: only release_manager and admin may start one, and the page's
function refuses a forged trigger from a read-only session, not only the disabled button. Under Streamlit's
sign-in (``st.user``, seeded here through ``AppTest.user``) each person's role comes from the manifest's
``[[dashboard.access]]``; anyone it does not name is a viewer, and READINESS_DASHBOARD_ROLE no longer applies.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from streamlit.testing.v1 import AppTest

from checks import FixedClock, ManifestError, load_manifest, parse_manifest
from checks.core.manifest import DashboardSpec
from checks.shell.access import exposure_refusal, is_loopback, role_for
from checks.storage.history import Store
from dashboard import context
from tests.dashboard.story import STORY_MANIFEST
from tests.dashboard.test_pages import DASH, NOW, TIMEOUT, as_role, env, render, text  # noqa: F401  (env: fixture)

ACCESS = """
[dashboard]
group_claim = "groups"

[[dashboard.access]]
role = "release_manager"
emails = ["Rohan.Patel@Example.com"]

[[dashboard.access]]
role = "admin"
groups = ["readiness-admins"]

[[dashboard.access]]
role = "auditor"
groups = ["security"]
"""


def runs_in(url):
    with Store.open(url) as store:
        return store.runs(limit=1000)


def run_button(at):
    (button,) = [b for b in at.button if b.label == "Run checks now"]
    return button


def forge_click(button):
    """What a hand-made websocket message can do: trigger a button the page drew disabled (AppTest's own
    ``click`` refuses a disabled widget, as a browser does). Streamlit 1.67 discards such a value server-side;
    :meth:`dashboard.context.Page.run_checks` refuses the sweep whatever Streamlit does (tested below)."""
    button._value = True
    return button


@pytest.fixture
def empty_db(env, tmp_path):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    env.mp.setenv("READINESS_DB_URL", url)
    return url


# ------------------------------------------------------------------------------------ who may sweep


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_read_only_roles_cannot_run_checks_now(env, empty_db, role):  # noqa: F811
    as_role(env, role)
    at = render("overview.py")
    button = run_button(at)
    assert button.disabled
    reason = "Running checks records a run and reads the vault: it needs the release_manager or admin role"
    assert any(c.value.startswith(reason) and f"(this session: {role})" in c.value for c in at.caption)
    with pytest.raises(Exception, match="disabled"):
        button.click()
    forge_click(button)
    at.run()
    assert not at.exception
    assert not at.success
    assert runs_in(empty_db) == []  # nothing recorded, no provider called


@pytest.mark.parametrize("role", ["release_manager", "admin"])
def test_write_roles_run_checks_now(env, empty_db, role):  # noqa: F811
    as_role(env, role)
    at = render("overview.py")
    assert not run_button(at).disabled
    run_button(at).click().run()
    assert not at.exception
    assert "Run finished: NO-GO, 32 checks." in [s.value for s in at.error]  # NO-GO is never announced in green
    (run,) = runs_in(empty_db)
    assert run.trigger == "dashboard"


def test_viewer_cannot_rerun_a_check(env):  # noqa: F811
    as_role(env, "viewer")
    before = len(runs_in(env.db))
    at = render("checks_page.py")
    at.selectbox(key="check").select("environment.dev_configured").run()
    button = at.button(key="rerun")
    assert button.disabled
    assert any("needs the release_manager or admin role" in c.value for c in at.caption)
    forge_click(button)
    at.run()
    assert not at.exception
    assert not at.success
    assert len(runs_in(env.db)) == before


def test_the_sweep_function_checks_the_role_itself(env, empty_db, manifest_path):  # noqa: F811
    """Whatever page or request calls it, a read-only session's sweep is refused before anything runs."""
    s = context.settings({"READINESS_DB_URL": empty_db, "READINESS_MANIFEST": str(manifest_path)})
    store = Store.open(empty_db)
    try:
        clock = FixedClock(datetime.fromisoformat(NOW))
        viewer = context.Page(s, load_manifest(manifest_path), store, clock, None, "viewer")
        with pytest.raises(context.NotAllowed, match="release_manager or admin"):
            viewer.run_checks()
        with pytest.raises(context.NotAllowed):
            viewer.run_checks(only=["environment.dev_configured"])
        assert store.runs() == []
        manager = context.Page(s, load_manifest(manifest_path), store, clock, None, "release_manager")
        assert [r.id for r in manager.run_checks(only=["environment.dev_configured"]).results] == [
            "environment.dev_configured"
        ]
        assert len(store.runs()) == 1
    finally:
        store.close()


# ------------------------------------------------------------------------- identity -> role (resolver)


@pytest.fixture(scope="module")
def spec() -> DashboardSpec:
    return parse_manifest(STORY_MANIFEST.read_text() + ACCESS).dashboard


@pytest.mark.parametrize(
    ("user", "role"),
    [
        ({"is_logged_in": True, "email": "rohan.patel@example.com", "email_verified": True}, "release_manager"),
        ({"is_logged_in": True, "email": "ROHAN.PATEL@example.COM"}, "release_manager"),
        ({"is_logged_in": True, "email": "rohan.patel@example.com", "email_verified": False}, "viewer"),
        ({"is_logged_in": True, "email": "rohan.patel@example.com", "email_verified": "false"}, "viewer"),
        ({"is_logged_in": True, "email": "kim@example.com", "groups": ["staff", "readiness-admins"]}, "admin"),
        ({"is_logged_in": True, "email": "kim@example.com", "groups": "security"}, "auditor"),
        ({"is_logged_in": True, "email": "kim@example.com", "groups": ["Readiness-Admins"]}, "viewer"),
        ({"is_logged_in": True, "email": "kim@example.com", "groups": ["staff"]}, "viewer"),
        ({"is_logged_in": True, "sub": "1234567890"}, "viewer"),
        ({"is_logged_in": False, "email": "rohan.patel@example.com", "groups": ["readiness-admins"]}, "viewer"),
        ({"email": "rohan.patel@example.com"}, "viewer"),
        ({"is_logged_in": True, "email": "rohan.patel@example.com", "groups": ["security"]}, "release_manager"),
    ],
    ids=[
        "email",
        "email-any-case",
        "email-unverified",
        "email-unverified-string",
        "group",
        "lone-group-string",
        "group-case-matters",
        "unknown-group",
        "no-email",
        "signed-out",
        "no-login-flag",
        "first-rule-wins",
    ],
)
def test_role_for_identity(spec, user, role):
    assert role_for(user, spec) == role


def test_role_for_a_custom_group_claim():
    spec = parse_manifest(
        STORY_MANIFEST.read_text()
        + '\n[dashboard]\ngroup_claim = "cognito:groups"\n\n[[dashboard.access]]\nrole = "admin"\ngroups = ["ops"]\n'
    ).dashboard
    assert role_for({"is_logged_in": True, "cognito:groups": ["ops"]}, spec) == "admin"
    assert role_for({"is_logged_in": True, "groups": ["ops"]}, spec) == "viewer"


def test_no_mapping_makes_everyone_a_viewer():
    spec = load_manifest(STORY_MANIFEST).dashboard
    assert spec.access == [] and spec.group_claim == "groups"
    assert role_for({"is_logged_in": True, "email": "rohan.patel@example.com", "groups": ["admin"]}, spec) == "viewer"


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            '[[dashboard.access]]\nrole = "root"\nemails = ["a@example.com"]\n',
            "dashboard.access[0].role: unknown role 'root'",
        ),
        ('[[dashboard.access]]\nrole = "admin"\n', "dashboard.access[0]: names nobody: give emails, groups or both"),
        (
            '[[dashboard.access]]\nrole = "admin"\nemails = ["rohan"]\n',
            "dashboard.access[0].emails: 'rohan' is not an email",
        ),
        ('[[dashboard.access]]\nrole = "admin"\nteams = ["x"]\n', "dashboard.access[0].teams: unknown key"),
        ('[dashboard]\ngroup_claim = ""\n', "dashboard.group_claim:"),
    ],
    ids=["unknown-role", "nobody", "bad-email", "unknown-key", "empty-claim"],
)
def test_access_section_is_validated(section, problem):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(STORY_MANIFEST.read_text() + "\n" + section, source="readiness.toml")
    message = str(caught.value)
    assert problem in message and "readiness.toml" in message
    if "unknown role" in problem:
        assert "viewer, release_manager, admin, auditor" in message


# ---------------------------------------------------------------------- identity -> role (on the page)


def signed_in(env, name, user, db=None):  # noqa: F811
    """The page as someone signed in through the identity provider (``st.user`` seeded by AppTest)."""
    env.manifest.write_text(STORY_MANIFEST.read_text() + ACCESS)
    if db is not None:
        env.mp.setenv("READINESS_DB_URL", db)
    at = AppTest.from_file(str(DASH / name), default_timeout=TIMEOUT)
    at.user = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar(at):
    return "\n".join(c.value for c in at.sidebar.caption)


def test_signed_in_release_manager_by_email_runs_checks(env, empty_db):  # noqa: F811
    at = signed_in(env, "overview.py", {"is_logged_in": True, "email": "rohan.patel@example.com", "name": "Rohan"})
    assert "Signed in as **rohan.patel@example.com** (identity provider) · role **release_manager**" in sidebar(at)
    assert "([[dashboard.access]])" in sidebar(at)
    run_button(at).click().run()
    assert not at.exception
    assert len(runs_in(empty_db)) == 1


def test_unknown_identity_is_a_viewer_whatever_the_role_variable_says(env, empty_db):  # noqa: F811
    as_role(env, "admin", user="someone-typed")  # READINESS_DASHBOARD_ROLE applies only without sign-in
    at = signed_in(env, "overview.py", {"is_logged_in": True, "email": "stranger@example.com", "groups": ["staff"]})
    assert "role **viewer**" in sidebar(at) and "stranger@example.com" in sidebar(at)
    assert run_button(at).disabled
    forge_click(run_button(at))
    at.run()
    assert runs_in(empty_db) == []


def test_signed_out_visitor_is_a_viewer(env, empty_db):  # noqa: F811
    as_role(env, "admin")
    at = signed_in(env, "overview.py", {"is_logged_in": False})
    assert "Read-only (not signed in) · role **viewer**" in sidebar(at)
    assert run_button(at).disabled
    assert "Sign in" in [b.label for b in at.sidebar.button]


def test_group_admin_attests_as_the_signed_in_identity(env):  # noqa: F811
    env.mp.setenv("READINESS_DASHBOARD_USER", "typed-name")  # never the `by` under sign-in
    at = signed_in(env, "oauth.py", {"is_logged_in": True, "email": "kim@example.com", "groups": ["readiness-admins"]})
    assert "role **admin**" in sidebar(at)
    at.selectbox(key="attest_item").select("oauth.microsoft").run()
    at.selectbox(key="attest_status").select("submitted")
    at.date_input(key="attest_date").set_value(date(2025, 10, 14))
    at.button(key="FormSubmitter:attest-Attest").click().run()
    assert not at.exception
    with Store.open(env.db) as store:
        att = store.attestations("oauth.microsoft")[-1]
    assert (att.status, att.by) == ("submitted", "kim@example.com")


def test_signed_in_viewer_is_told_how_to_get_a_write_role(env):  # noqa: F811
    at = signed_in(env, "oauth.py", {"is_logged_in": True, "email": "stranger@example.com"})
    info = "\n".join(i.value for i in at.info)
    assert "role **viewer**, which may only read" in info and "[[dashboard.access]]" in info
    assert "READINESS_DASHBOARD_ROLE" not in info
    assert at.button(key="FormSubmitter:attest-Attest").disabled


# ---------------------------------------------------------------------------------- the network guard


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.5", False), ("dashboard.internal", False)],
)  # fmt: skip
def test_is_loopback(address, loopback):
    assert is_loopback(address) is loopback


def test_exposure_refusal_cases():
    assert exposure_refusal("0.0.0.0", "release_manager", identity_provider=False) is not None
    assert exposure_refusal("0.0.0.0", "admin", identity_provider=False) is not None
    assert exposure_refusal("0.0.0.0", "viewer", identity_provider=False) is None  # read-only: open reading
    assert exposure_refusal("0.0.0.0", "release_manager", identity_provider=True) is None  # people sign in
    assert exposure_refusal("0.0.0.0", "admin", identity_provider=False, allow=True) is None
    assert exposure_refusal("127.0.0.1", "admin", identity_provider=False) is None
