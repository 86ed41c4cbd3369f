"""The Notifications page lists what the watcher stored: sent, failed (with the error), held back by the rate
limit, unrouted; the alerts still open; a chart per day; filters; and no secret, even one stored before it was
declared secret."""

from __future__ import annotations

from datetime import datetime, timedelta

from checks.core.alerts import Alert
from checks.core.clock import utc
from checks.storage.history import Store
from checks.storage.notifications import Notification, WatchBook
from tests.dashboard.test_pages import NOW, env, render, text  # noqa: F401  (env: the fixture)

AT = utc(datetime.fromisoformat(NOW))
LEAKED = "GOCSPX-notifyleak-4f1c9a7e2b"


def note(minutes_ago: float, status: str, title: str, **kw) -> Notification:
    values = {
        "at": AT - timedelta(minutes=minutes_ago),
        "event": "verdict",
        "key": "verdict",
        "transition": "opened",
        "channel": "ops-mail",
        "title": title,
        "body": f"{title}: see the dashboard",
        "status": status,
    }
    return Notification(**{**values, **kw})


def seed(db: str, notes: list[Notification], alerts: list[Alert] = ()) -> None:
    with Store.open(db) as store:
        book = WatchBook(store.engine)
        book.enqueue(notes, list(alerts), [], AT)


def frame(at, i: int = -1):
    return at.dataframe[i].value


def test_no_notification_yet_says_where_they_come_from(env):  # noqa: F811
    at = render("notifications_page.py")
    assert "No notification stored yet: `readiness watch` stores every message" in text(at)
    assert "No open alert" in text(at)


def test_every_notification_is_listed_newest_first_with_its_error(env):  # noqa: F811
    seed(
        env.db,
        [
            note(300, "sent", "NO-GO: 3 blocking checks fail"),
            note(
                200,
                "failed",
                "Escalation: Google OAuth approval past 7 days",
                event="escalation",
                key="escalation:google",
                contact="platform_lead",
                error="SMTP 550 mailbox unavailable",
            ),
            note(100, "suppressed", "Waiver expiring in 2 days: ghl.proxy", event="waiver", key="waiver:ghl"),
            note(60 * 24 * 9, "sent", "GO: every blocking check passes"),  # older than the week's summary
        ],
        [
            Alert(
                "escalation:google",
                "escalation",
                "fp",
                "Escalation: Google OAuth approval past 7 days",
                area="oauth",
                contact="platform_lead",
            )
        ],
    )
    at = render("notifications_page.py")
    table = frame(at)
    assert list(table["status"]) == ["suppressed", "failed", "sent", "sent"]
    assert list(table["title"])[1] == "Escalation: Google OAuth approval past 7 days"
    assert list(table["error"])[1] == "SMTP 550 mailbox unavailable"
    assert list(table["contact"])[1] == "platform_lead"
    # a failed delivery is a warning with the week's counts (the 9-day-old message is outside the week)
    assert any(
        w.value.startswith("3 notifications in the last 7 days: 1 sent, 1 failed, 1 suppressed.") for w in at.warning
    )
    alerts = frame(at, 0)
    assert list(alerts["title"]) == ["Escalation: Google OAuth approval past 7 days"]
    assert list(alerts["contact"]) == ["platform_lead"]
    chart = at.get("plotly_chart")[0].proto.spec
    assert '"name":"sent"' in chart and '"name":"failed"' in chart and '"name":"suppressed"' in chart


def test_filters_narrow_the_table(env):  # noqa: F811
    seed(
        env.db,
        [
            note(30, "sent", "NO-GO"),
            note(20, "failed", "Escalation", event="escalation", key="e", error="refused"),
            note(10, "sent", "Escalation resolved", event="escalation", key="e", transition="resolved"),
        ],
    )
    at = render("notifications_page.py")
    at.multiselect(key="n_status").select("sent").run()
    assert list(frame(at)["title"]) == ["Escalation resolved", "NO-GO"]
    at.multiselect(key="n_event").select("escalation").run()
    assert list(frame(at)["title"]) == ["Escalation resolved"]
    assert list(frame(at)["change"]) == ["resolved"]
    assert "1 of 3 latest notifications" in text(at)


def test_all_sent_is_a_caption_not_a_warning(env):  # noqa: F811
    seed(env.db, [note(5, "sent", "NO-GO"), note(4, "unrouted", "Waiver expiring", event="waiver", key="w")])
    at = render("notifications_page.py")
    assert "2 notifications in the last 7 days: 1 sent, 1 unrouted." in text(at)
    assert not at.warning


def test_a_secret_in_a_stored_message_is_masked_on_the_page(env):  # noqa: F811
    env.mp.setenv("GOOGLE_OAUTH_CLIENT_SECRET", LEAKED)
    seed(env.db, [note(5, "failed", f"Escalation {LEAKED}", error=f"401 for client_secret={LEAKED}", contact=LEAKED)])
    at = render("notifications_page.py")
    table = frame(at)
    shown = " ".join(str(v) for v in table.to_numpy().ravel()) + text(at)
    assert LEAKED not in shown
    assert list(table["title"])[0].startswith("Escalation ")
