"""``readiness watch`` with real parts: the Twilio stand-in flips the verdict, Apprise delivers to a loopback
webhook and a real SMTP server, the lease and the stored notifications on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from checks.core.clock import FixedClock
from checks.core.facts import Waiver
from checks.core.manifest_load import parse_manifest
from checks.shell.watch import Watcher
from checks.standins.server import StandinServer
from checks.standins.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, TwilioStandin
from checks.storage.history import Store
from checks.storage.lease import Lease, read_lease, request_sweep
from checks.storage.notifications import WatchBook
from tests.checks.watch_helpers import WATCH_TOML, Mailbox, Webhook, wait_for

INTERVAL = 0.5


@pytest.fixture
def receivers():
    hook, mail = Webhook(), Mailbox()
    yield hook, mail
    hook.close()
    mail.close()


@pytest.fixture
def twilio():
    standin = TwilioStandin(retry_after=0)
    with StandinServer([standin]) as server:
        yield standin, server.url


def environ(standins_url: str, hook: Webhook, mail: Mailbox) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "READINESS_STANDINS_URL": standins_url,
        "READINESS_NOTIFY_HOOK": hook.url,
        "READINESS_NOTIFY_MAIL": mail.url,
    }


def test_lease_one_leader_one_sweep_per_interval_and_takeover(db_url):
    clock = FixedClock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    with Store.open(db_url) as store:
        a = Lease(store.engine, "watch:T", "a", ttl=timedelta(seconds=5), clock=clock)
        b = Lease(store.engine, "watch:T", "b", ttl=timedelta(seconds=5), clock=clock)
        interval = timedelta(seconds=10)
        assert a.acquire() and not b.acquire()
        assert a.claim_sweep(interval) == "schedule" and b.claim_sweep(interval) is None
        assert a.claim_sweep(interval) is None  # booked: the next is due in one interval
        request_sweep(store.engine, "watch:T", clock.now())
        assert a.claim_sweep(interval) == "request"
        clock.advance(timedelta(seconds=4))
        assert a.acquire() and not b.acquire()  # renewed
        clock.advance(timedelta(seconds=6))
        assert b.acquire()  # a went silent for a ttl: b leads, and sweeps when a's booking falls due
        assert b.claim_sweep(interval) == "schedule"  # 10 s after a's request-sweep
        assert not a.acquire() and not a.sweep_done("x")  # a lost it: fenced
        b.release()
        assert read_lease(store.engine, "watch:T").holder is None and a.acquire()


def test_verdict_flip_sends_one_message_per_change_and_one_resolved(sqlite_url, twilio, receivers):
    standin, url = twilio
    hook, mail = receivers
    manifest = parse_manifest(WATCH_TOML, source="watch.toml")
    with Store.open(sqlite_url) as store:
        watcher = Watcher(manifest, store, interval_s=INTERVAL, environ=environ(url, hook, mail), refresh_every_s=0)
        watcher.start()
        loop = threading.Thread(target=watcher.run, daemon=True)
        loop.start()
        try:
            wait_for(lambda: watcher.last_run is not None, 5)
            assert watcher.last_run.verdict.decision.value == "GO"
            assert hook.messages == [] and mail.mails == []

            flipped = time.monotonic()
            standin.set_scenario("suspended")
            wait_for(lambda: hook.messages and mail.mails, 5)
            latency = hook.arrived[0] - flipped
            time.sleep(3 * INTERVAL)  # three more sweeps: nothing new to say
            assert [m["title"] for m in hook.messages] == ["TEST-1 is NO-GO"]
            assert mail.subjects() == ["Escalation: Twilio account unusable (Item one) to Platform Team"]
            assert "Dashboard: http://127.0.0.1:8501" in hook.messages[0]["message"]

            flipped_back = time.monotonic()
            standin.set_scenario("valid")
            wait_for(lambda: len(hook.messages) == 2 and len(mail.mails) == 2, 5)
            resolved_latency = hook.arrived[1] - flipped_back
            time.sleep(2 * INTERVAL)
            assert hook.messages[1]["title"] == "Resolved: TEST-1 is back to GO (was NO-GO)"
            assert mail.subjects()[1].startswith("Resolved: Escalation: Twilio account unusable")
            assert len(hook.messages) == 2 and len(mail.mails) == 2
        finally:
            watcher.stop()
            loop.join(5)
        stored = WatchBook(store.engine).notifications()
        assert sorted((n.event, n.transition, n.channel, n.status) for n in stored) == [
            ("escalation", "opened", "mail", "sent"),
            ("escalation", "resolved", "mail", "sent"),
            ("verdict", "opened", "hook", "sent"),
            ("verdict", "resolved", "hook", "sent"),
        ]
        for n in stored:  # the channel URLs and the Twilio token never reach the database
            assert hook.url not in n.body and DEFAULT_AUTH_TOKEN not in n.body and "mailto" not in n.body
        assert read_lease(store.engine, watcher.lease.name).holder is None  # stop released it
    print(f"message latency after the flip: {latency:.2f} s, resolved {resolved_latency:.2f} s (interval {INTERVAL} s)")
    assert latency < INTERVAL + 1 and resolved_latency < INTERVAL + 1  # the next sweep, plus a second of slack


def test_waiver_and_decision_point_alerts_on_an_injected_clock(sqlite_url, twilio, receivers):
    standin, url = twilio
    hook, mail = receivers
    standin.set_scenario("suspended")
    manifest = parse_manifest(WATCH_TOML, source="watch.toml")
    clock = FixedClock(datetime(2025, 10, 11, 9, 0, tzinfo=UTC))  # decision point 2025-10-13: 39 h away
    with Store.open(sqlite_url) as store:
        w = Watcher(manifest, store, interval_s=60, clock=clock, environ=environ(url, hook, mail), refresh_every_s=0)
        assert w.lease.acquire()
        titles = lambda notes: sorted((n.event, n.transition) for n in notes)  # noqa: E731
        assert titles(w.sweep_and_notify()) == [
            ("decision_point", "opened"),
            ("escalation", "opened"),
            ("verdict", "opened"),
        ]
        assert titles(w.sweep_and_notify()) == []  # nothing new: nothing said
        store.add_waiver(Waiver("tw", "Twilio support ticket open", "rm", clock.now() + timedelta(days=1), clock.now()))
        notes = w.sweep_and_notify()  # CONDITIONAL now: the decision alert resolves, the waiver's opens
        assert titles(notes) == [("decision_point", "resolved"), ("verdict", "changed"), ("waiver_expiring", "opened")]
        waiver_note = next(n for n in notes if n.event == "waiver_expiring")
        assert "expires 2025-10-12 09:00 UTC (24 h)" in waiver_note.title and waiver_note.channel == "hook"
        clock.advance(timedelta(days=1, hours=1))  # the waiver lapsed; 14 h to the decision point, NO-GO again
        assert w.lease.acquire()  # a day passed: the heartbeat would have renewed it
        assert titles(w.sweep_and_notify()) == [
            ("decision_point", "opened"),
            ("verdict", "changed"),
            ("waiver_expiring", "resolved"),
        ]
        clock.advance(timedelta(days=1))  # past the decision point: no longer "approaching"
        assert w.lease.acquire()
        assert titles(w.sweep_and_notify()) == [("decision_point", "resolved")]
    assert len(hook.messages) == 9 and len(mail.mails) == 1


def test_rate_limit_stores_the_rest_as_suppressed(sqlite_url, twilio, receivers):
    standin, url = twilio
    hook, mail = receivers
    toml = WATCH_TOML.replace("decision_days = 3", "decision_days = 3\nrate_limit = 1")
    manifest = parse_manifest(toml, source="watch.toml")
    standin.set_scenario("suspended")
    clock = FixedClock(datetime(2025, 10, 11, 9, 0, tzinfo=UTC))
    with Store.open(sqlite_url) as store:
        w = Watcher(manifest, store, interval_s=60, clock=clock, environ=environ(url, hook, mail), refresh_every_s=0)
        assert w.lease.acquire()
        notes = w.sweep_and_notify()
    statuses = sorted((n.channel, n.status) for n in notes)
    assert statuses == [("hook", "sent"), ("hook", "suppressed"), ("mail", "sent")]
    assert len(hook.messages) == 1


def test_a_sweep_that_fails_is_announced_and_resolved(sqlite_url, receivers, twilio):
    standin, url = twilio
    hook, mail = receivers
    manifest = parse_manifest(WATCH_TOML.replace('kind = "twilio"', 'kind = "no_such_kind"'), source="w.toml")
    good = parse_manifest(WATCH_TOML, source="watch.toml")
    clock = FixedClock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    with Store.open(sqlite_url) as store:
        bad = Watcher(manifest, store, interval_s=60, clock=clock, environ=environ(url, hook, mail), refresh_every_s=0)
        assert bad.lease.acquire()
        assert [(n.event, n.transition) for n in bad.sweep_and_notify()] == [("sweep_failed", "opened")]
        fixed = Watcher(good, store, interval_s=60, clock=clock, environ=environ(url, hook, mail), refresh_every_s=0)
        bad.lease.release()
        assert fixed.lease.acquire()
        assert [(n.event, n.transition) for n in fixed.sweep_and_notify()] == [("sweep_failed", "resolved")]
    assert "no_such_kind" in hook.messages[0]["message"]


def test_messages_a_dead_leader_stored_but_did_not_send_are_sent_by_the_next(sqlite_url, twilio, receivers):
    from checks.core.alerts import current_alerts, transitions
    from checks.shell.sweep import sweep

    standin, url = twilio
    hook, mail = receivers
    standin.set_scenario("suspended")
    manifest = parse_manifest(WATCH_TOML, source="watch.toml")
    clock = FixedClock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    env = environ(url, hook, mail)
    with Store.open(sqlite_url) as store:
        dead = Watcher(manifest, store, interval_s=60, clock=clock, environ=env, refresh_every_s=0)
        assert dead.lease.acquire()
        # What the dead leader did before it died: swept, stored its messages and settled its alerts (one
        # transaction), and sent nothing.
        run = sweep(manifest, store=store, clock=clock, environ=env, trigger="watch")
        changes = transitions({}, current_alerts(manifest, run, waivers=[], now=clock.now()))
        notes = dead.notifier.prepare(changes, run_id=run.id, holder=dead.holder)
        dead.book.enqueue(notes, [c.alert for c in changes], [], clock.now())
        assert hook.messages == [] and mail.mails == []

        clock.advance(timedelta(minutes=2))  # its lease expired
        heir = Watcher(manifest, store, interval_s=60, clock=clock, environ=env, refresh_every_s=0)
        assert heir.lease.acquire()
        assert heir.sweep_and_notify() == []  # nothing new to announce ...
    assert [m["title"] for m in hook.messages] == ["TEST-1 is NO-GO"]  # ... but the dead leader's messages went out
    assert len(mail.mails) == 1
    stored = WatchBook(store.engine).notifications()
    assert sorted(n.status for n in stored) == ["sent", "sent"]


def test_a_channel_url_with_credentials_never_reaches_the_database_or_the_log(sqlite_url, twilio, caplog):
    import logging

    from tests.checks.watch_helpers import free_port

    standin, url = twilio
    standin.set_scenario("suspended")
    password = "hunter2-channel-password-x9"
    env = {
        "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "READINESS_STANDINS_URL": url,
        "READINESS_NOTIFY_HOOK": f"json://bot:{password}@127.0.0.1:{free_port()}/hook",  # nobody listens
        "READINESS_NOTIFY_MAIL": f"mailto://bot:{password}@127.0.0.1:{free_port()}?to=a@example.org",
    }
    manifest = parse_manifest(WATCH_TOML, source="watch.toml")
    clock = FixedClock(datetime(2025, 10, 6, 9, 0, tzinfo=UTC))
    caplog.set_level(logging.DEBUG)
    with Store.open(sqlite_url) as store:
        w = Watcher(manifest, store, interval_s=60, clock=clock, environ=env, refresh_every_s=0)
        assert w.lease.acquire()
        notes = w.sweep_and_notify()
        assert {n.status for n in notes} == {"failed"}
        with store.engine.connect() as conn:
            import sqlalchemy as sa

            dump = repr(conn.execute(sa.text("select * from notifications")).all())
            dump += repr(conn.execute(sa.text("select * from watch_alerts")).all())
    assert password not in dump and "bot:" not in dump
    assert password not in caplog.text
    assert password not in repr(w) and password not in repr(w.notifier)
