"""The Overview shows the watcher: none, the leader and the last sweep's age, a warning when it went silent, and a
"sweep now" request the leader picks up (the lease row written by the real :class:`checks.storage.lease.Lease`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from checks.core.clock import FixedClock
from checks.storage.history import Store
from checks.storage.lease import Lease, lease_name, read_lease
from tests.dashboard.test_pages import NOW, as_role, env, render, text  # noqa: F401  (env: the fixture)

NAME = lease_name("STORY-ONB-05")


def lease_at(db: str, at: datetime, *, swept: bool = True) -> None:
    clock = FixedClock(at)
    with Store.open(db) as store:
        lease = Lease(store.engine, NAME, "host-a:4242:abc", ttl=timedelta(seconds=150), clock=clock, interval_s=300)
        assert lease.acquire()
        if swept:
            assert lease.claim_sweep(timedelta(seconds=300)) == "schedule"


def test_no_watcher_is_said_plainly(env):  # noqa: F811
    at = render("overview.py")
    assert "No watcher (`readiness watch`) runs against this database" in text(at)
    assert not [b for b in at.button if b.key == "watch_sweep"]


def test_a_leader_and_the_age_of_its_last_sweep(env):  # noqa: F811
    lease_at(env.db, datetime.fromisoformat(NOW) - timedelta(seconds=40))
    at = render("overview.py")
    assert "Watcher: leader host-a:4242:abc, last scheduled sweep 40 s ago, every 5 min." in text(at)
    assert not at.warning or all("watcher" not in w.value for w in at.warning)


def test_a_silent_watcher_is_a_warning(env):  # noqa: F811
    lease_at(env.db, datetime.fromisoformat(NOW) - timedelta(hours=2))  # the lease long expired
    at = render("overview.py")
    warnings = [w.value for w in at.warning]
    assert any(
        w.startswith("The watcher is silent: no watcher leads (last scheduled sweep 2.0 h ago") for w in warnings
    )


def test_sweep_now_sets_the_request_the_leader_takes(env):  # noqa: F811
    as_role(env, "release_manager")
    lease_at(env.db, datetime.fromisoformat(NOW) - timedelta(seconds=10))
    at = render("overview.py")
    next(b for b in at.button if b.key == "watch_sweep").click().run()
    assert not at.exception
    assert "Requested: the watcher sweeps at its next tick" in [s.value for s in at.success][-1]
    with Store.open(env.db) as store:
        assert read_lease(store.engine, NAME).requested_at == datetime.fromisoformat(NOW)
        leader = Lease(
            store.engine,
            NAME,
            "host-a:4242:abc",
            ttl=timedelta(seconds=150),
            clock=FixedClock(datetime.fromisoformat(NOW)),
            interval_s=300,
        )
        assert leader.acquire() and leader.claim_sweep(timedelta(seconds=300)) == "request"
