"""Verdict rules: GO, NO-GO, waivers in force and expired, escalations on a fixed clock, criteria."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from checks.core.facts import Attestation, Waiver
from checks.core.manifest import Manifest
from checks.core.result import CheckResult, Result
from checks.core.run import Decision
from checks.core.status import Severity, Status
from checks.core.verdict import area_state, decide
from tests.checks.helpers import check_block, make_manifest

NOW = datetime(2025, 10, 20, 12, 0, tzinfo=UTC)

RULES = """
[[escalations]]
id = "oauth_approval_delay"
title = "OAuth Approval Delays"
text = "If Google/Microsoft approval takes >7 days"
items = ["a.one"]
contact = "platform"
when = { attested = ["submitted"], older_than_days = 7 }

[[escalations]]
id = "still_failing"
title = "Failing for two days"
items = ["b.two"]
contact = "platform"
when = { status = ["fail", "error"], older_than_days = 2 }

[[criteria]]
milestone = "week1"
text = "Item one done"
checks = ["one.*"]

[[criteria]]
milestone = "week1"
text = "Item two done"
checks = ["two"]
"""


def manifest():
    return make_manifest(
        check_block("one.a"),
        check_block("one.b"),
        check_block("two", item="b.two", severity="major"),
        extra=RULES,
    )


def result(id, status, item="a.one", area="a", severity=Severity.BLOCKING, at=NOW):
    return CheckResult(id, item, area, "fixed", severity, Result(Status(status), f"{id} is {status}", observed_at=at))


def results(one_a="pass", one_b="pass", two="pass"):
    return [
        result("one.a", one_a),
        result("one.b", one_b),
        result("two", two, item="b.two", area="b", severity=Severity.MAJOR),
    ]


def test_go_when_every_blocking_check_passes():
    verdict, _ = decide(manifest(), results(two="fail"), now=NOW)
    assert verdict.decision is Decision.GO
    assert verdict.reasons == ["All 2 blocking checks pass", "Major (does not block): two [fail]: two is fail"]


def test_warn_counts_as_passing():
    verdict, _ = decide(manifest(), results(one_a="warn"), now=NOW)
    assert verdict.decision is Decision.GO


@pytest.mark.parametrize("status", ["fail", "error", "pending", "skipped"])
def test_no_go_when_a_blocking_check_does_not_pass(status):
    verdict, _ = decide(manifest(), results(one_b=status), now=NOW)
    assert verdict.decision is Decision.NO_GO
    assert verdict.reasons == [f"Item one [{status}] one.b: one.b is {status}"]


def test_no_go_reasons_list_the_worst_gap_first():
    verdict, _ = decide(manifest(), results(one_a="pending", one_b="error"), now=NOW)
    assert verdict.reasons == ["Item one [error] one.b: one.b is error", "Item one [pending] one.a: one.a is pending"]


def waiver(check, until, created=NOW - timedelta(days=1)):
    return Waiver(check=check, reason="mock OAuth flows meanwhile", by="rohan", until=until, created_at=created)


def test_waiver_in_force_makes_it_conditional():
    verdict, marked = decide(
        manifest(), results(one_b="fail"), now=NOW, waivers=[waiver("one.b", NOW + timedelta(days=3))]
    )
    assert verdict.decision is Decision.CONDITIONAL
    assert verdict.waived == ["one.b"]
    assert {r.id: r.waived for r in marked} == {"one.a": False, "one.b": True, "two": False}
    assert verdict.reasons == ["Waived until 2025-10-23 by rohan: one.b [fail] (mock OAuth flows meanwhile)"]


def test_expired_waiver_does_not_count():
    verdict, marked = decide(
        manifest(), results(one_b="fail"), now=NOW, waivers=[waiver("one.b", NOW - timedelta(seconds=1))]
    )
    assert verdict.decision is Decision.NO_GO
    assert not any(r.waived for r in marked)


@pytest.mark.parametrize(
    "now, in_force",
    [
        (NOW - timedelta(days=1) - timedelta(microseconds=1), False),
        (NOW - timedelta(days=1), True),
        (NOW + timedelta(days=3) - timedelta(microseconds=1), True),
        (NOW + timedelta(days=3), False),
    ],
    ids=["before-created", "at-created", "just-before-until", "at-until"],
)
def test_a_waiver_counts_from_its_creation_up_to_but_not_at_its_until(now, in_force):
    # `until` is the instant it expires: at that instant the gap is open again (Waiver.in_force).
    w = waiver("one.b", NOW + timedelta(days=3), created=NOW - timedelta(days=1))
    assert w.in_force(now) is in_force
    verdict, _ = decide(manifest(), results(one_b="fail"), now=now, waivers=[w])
    assert verdict.decision is (Decision.CONDITIONAL if in_force else Decision.NO_GO)
    assert verdict.waived == (["one.b"] if in_force else [])


def test_waiver_covering_only_some_gaps_is_still_no_go():
    verdict, _ = decide(
        manifest(), results(one_a="fail", one_b="fail"), now=NOW, waivers=[waiver("one.b", NOW + timedelta(days=3))]
    )
    assert verdict.decision is Decision.NO_GO


def test_waiver_glob_covers_matching_checks():
    verdict, _ = decide(
        manifest(), results(one_a="fail", one_b="error"), now=NOW, waivers=[waiver("one.*", NOW + timedelta(days=3))]
    )
    assert verdict.decision is Decision.CONDITIONAL


def test_waiver_on_passing_check_marks_nothing():
    verdict, marked = decide(manifest(), results(), now=NOW, waivers=[waiver("one.a", NOW + timedelta(days=3))])
    assert verdict.decision is Decision.GO and verdict.waived == []


def submitted(days_ago):
    return Attestation(
        item="a.one",
        status="submitted",
        by="rohan",
        at=NOW - timedelta(days=days_ago),
        effective=(NOW - timedelta(days=days_ago)).date(),
    )


@pytest.mark.parametrize(
    "days, escalated",
    [(3, False), (7, False), (8, True), (20, True)],
    ids=["3-days", "7-days-not-yet", "8-days", "20-days"],
)
def test_escalation_when_submitted_more_than_7_days(days, escalated):
    verdict, _ = decide(manifest(), results(), now=NOW, attestations={"a.one": submitted(days)})
    hits = [e for e in verdict.escalations if e.rule == "oauth_approval_delay"]
    assert bool(hits) is escalated
    if escalated:
        assert hits[0].contact == "Platform Team" and hits[0].item == "a.one"
        assert hits[0].since.date() == (NOW - timedelta(days=days)).date()


def test_no_escalation_once_approved():
    approved = Attestation(item="a.one", status="approved", by="rohan", at=NOW - timedelta(days=30))
    verdict, _ = decide(manifest(), results(), now=NOW, attestations={"a.one": approved})
    assert verdict.escalations == []


def test_status_escalation_uses_the_streak_start():
    fail_since = {"two": (Status.FAIL, NOW - timedelta(days=3))}
    verdict, _ = decide(manifest(), results(two="fail"), now=NOW, status_since=fail_since)
    [hit] = verdict.escalations
    assert hit.rule == "still_failing" and hit.since == NOW - timedelta(days=3)
    # a fresh failure (no earlier streak) does not escalate yet
    verdict, _ = decide(manifest(), results(two="fail"), now=NOW)
    assert verdict.escalations == []


def test_a_fresh_failure_does_not_inherit_an_earlier_streak_of_another_status():
    # Pending for a month, failing since this morning's sweep: the failure is hours old, not a month.
    long_pending = {"two": (Status.PENDING, NOW - timedelta(days=30))}
    verdict, _ = decide(manifest(), results(two="fail"), now=NOW, status_since=long_pending)
    assert verdict.escalations == []
    # ... and once the failure itself is two days old, it escalates from when it began.
    failing = {"two": (Status.FAIL, NOW - timedelta(days=2))}
    verdict, _ = decide(manifest(), results(two="error"), now=NOW, status_since=failing)
    assert verdict.escalations == [], "fail then error is a new streak too"
    verdict, _ = decide(manifest(), results(two="fail"), now=NOW, status_since=failing)
    assert [(e.rule, e.item, e.since) for e in verdict.escalations] == [
        ("still_failing", "b.two", NOW - timedelta(days=2))
    ]


@pytest.mark.parametrize(
    "age, escalated",
    [
        (timedelta(days=2) - timedelta(microseconds=1), False),
        (timedelta(days=2), True),
        (timedelta(days=2) + timedelta(microseconds=1), True),
    ],
    ids=["just-under-2-days", "exactly-2-days", "just-over-2-days"],
)
def test_a_status_escalation_fires_once_the_streak_is_exactly_as_old_as_the_limit(age, escalated):
    # `older_than_days` for check statuses: the streak has lasted at least that long (0 days: at once).
    since = {"two": (Status.FAIL, NOW - age)}
    verdict, _ = decide(manifest(), results(two="fail"), now=NOW, status_since=since)
    assert [e.rule for e in verdict.escalations] == (["still_failing"] if escalated else [])


@pytest.mark.parametrize(
    "age, escalated",
    [
        (timedelta(days=7), False),
        (timedelta(days=7, microseconds=1), True),
    ],
    ids=["exactly-7-days", "just-over-7-days"],
)
def test_an_attested_escalation_fires_only_past_the_limit(age, escalated):
    # `older_than_days` for attestations: strictly more (the seed's "approval takes >7 days"); without an
    # effective date, counted to the instant.
    att = Attestation(item="a.one", status="submitted", by="rohan", at=NOW - age)
    verdict, _ = decide(manifest(), results(), now=NOW, attestations={"a.one": att})
    assert [e.rule for e in verdict.escalations] == (["oauth_approval_delay"] if escalated else [])


def test_criteria_follow_results():
    verdict, _ = decide(manifest(), results(one_a="pass", one_b="fail", two="pass"), now=NOW)
    crit = {c.text: c for c in verdict.criteria}
    assert crit["Item one done"].met is False and crit["Item one done"].checks == ["one.a", "one.b"]
    assert crit["Item two done"].met is True
    verdict, _ = decide(manifest(), results(), now=NOW)
    assert all(c.met for c in verdict.criteria)


@pytest.mark.parametrize("not_looked", ["skipped", "error"])
def test_a_check_that_could_not_look_never_counts_as_passing(not_looked):
    verdict, _ = decide(manifest(), results(one_b=not_looked), now=NOW)
    assert verdict.decision is Decision.NO_GO
    area = next(a for a in verdict.areas if a.id == "a")
    assert (area.passed, area.not_checked, area.total) == (1, 1, 2)
    assert str(area.tally) == "1 passed, 1 not checked of 2"
    assert area.to_dict()["not_checked"] == 1 and {"id", "title", "status", "passed", "total"} <= set(area.to_dict())
    assert next(c for c in verdict.criteria if c.text == "Item one done").met is False


def test_an_area_line_tells_passed_not_checked_and_failing_apart():
    four = [
        *results(one_a="pass", one_b="skipped", two="error"),
        result("one.c", "fail"),
        result("one.d", "warn"),
        result("one.e", "pending"),
    ]
    verdict, _ = decide(manifest(), four, now=NOW)
    (area,) = [a for a in verdict.areas if a.id == "a"]
    assert str(area.tally) == "2 passed, 1 pending, 1 not checked, 1 failing of 5"


def test_a_criterion_whose_checks_did_not_run_is_not_met():
    # `readiness check --only one.a`: one.b never ran, so "Item one done" is not known to be met.
    verdict, _ = decide(manifest(), [result("one.a", "pass"), result("two", "pass", item="b.two")], now=NOW)
    crit = {c.text: c for c in verdict.criteria}
    assert crit["Item one done"].met is False and crit["Item one done"].checks == ["one.a", "one.b"]
    assert crit["Item two done"].met is True


def test_a_criterion_none_of_whose_checks_ran_is_not_met():
    # `readiness check --area b`: no result matches "Item one done" at all; it must stay open, not be ticked.
    verdict, _ = decide(manifest(), [result("two", "pass", item="b.two", area="b")], now=NOW)
    crit = {c.text: (c.met, c.checks) for c in verdict.criteria}
    assert crit == {"Item one done": (False, ["one.a", "one.b"]), "Item two done": (True, ["two"])}


def test_a_criterion_that_names_no_check_is_never_met():
    # parse_manifest refuses such a criterion; a Manifest built in a notebook (model_validate skips the
    # cross-references) can still hold one, and an empty list of checks must not read as "all of them passed".
    data = manifest().model_dump(by_alias=True)
    data["checks"] = [c for c in data["checks"] if c["id"] == "two"]
    m = Manifest.model_validate(data)
    verdict, _ = decide(m, [result("two", "pass", item="b.two", area="b")], now=NOW)
    crit = {c.text: (c.met, c.checks) for c in verdict.criteria}
    assert crit == {"Item one done": (False, []), "Item two done": (True, ["two"])}


def test_areas_count_and_state():
    verdict, _ = decide(manifest(), results(one_b="fail"), now=NOW)
    a = {x.id: x for x in verdict.areas}
    assert (a["a"].passed, a["a"].total, a["a"].status, a["a"].state) == (1, 2, Status.FAIL, "PARTIAL")
    assert (a["b"].passed, a["b"].total, a["b"].state) == (1, 1, "READY")


@pytest.mark.parametrize(
    "statuses, state",
    [
        ([], "NOT STARTED"),
        (["fail", "fail"], "NOT STARTED"),
        (["pass", "fail"], "PARTIAL"),
        (["pass", "pending"], "NEEDS VALIDATION"),
        (["pending"], "NEEDS VALIDATION"),
        (["pass", "warn"], "READY"),
    ],
)
def test_area_state_vocabulary(statuses, state):
    assert area_state([Status(s) for s in statuses]) == state


def test_attestation_since_prefers_effective_date():
    att = Attestation(item="x", status="submitted", by="a", at=NOW, effective=date(2025, 10, 7))
    assert att.since == datetime(2025, 10, 7, tzinfo=UTC)


def test_escalations_areas_and_criteria_carry_their_titles_and_texts():
    from checks.core.run import EscalationHit

    fail_since = {"two": (Status.FAIL, NOW - timedelta(days=3))}
    verdict, _ = decide(
        manifest(), results(two="fail"), now=NOW, attestations={"a.one": submitted(9)}, status_since=fail_since
    )
    assert verdict.escalations == [
        EscalationHit(
            "oauth_approval_delay",
            "a.one",
            datetime(2025, 10, 11, tzinfo=UTC),
            "Platform Team",
            "OAuth Approval Delays",
            "If Google/Microsoft approval takes >7 days",
        ),
        EscalationHit("still_failing", "b.two", NOW - timedelta(days=3), "Platform Team", "Failing for two days", ""),
    ]
    assert [(a.id, a.title) for a in verdict.areas] == [("a", "Area A"), ("b", "Area B")]
    assert [(c.milestone, c.text, c.met) for c in verdict.criteria] == [
        ("week1", "Item one done", True),
        ("week1", "Item two done", False),
    ]


def test_a_status_escalation_looks_only_at_its_checks_and_statuses():
    rule = """
[[escalations]]
id = "one_b_erroring"
title = "one.b erroring"
checks = ["one.b"]
contact = "platform"
when = { status = ["error"], older_than_days = 0 }
"""
    m = make_manifest(check_block("one.a"), check_block("one.b"), extra=rule)
    observed_now = [result("one.a", "error"), result("one.b", "fail")]
    verdict, _ = decide(m, observed_now, now=NOW)
    assert verdict.escalations == []  # one.a is not the rule's check; one.b's status is not the rule's
    unobserved = [result("one.a", "pass"), result("one.b", "error", at=None)]
    verdict, _ = decide(m, unobserved, now=NOW)
    assert [(e.rule, e.item, e.since) for e in verdict.escalations] == [("one_b_erroring", "a.one", NOW)]


def test_of_two_waivers_in_force_the_one_that_lasts_longer_is_named():
    short = Waiver("one.a", "short", "rm", NOW + timedelta(days=1), NOW - timedelta(days=1))
    long = Waiver("one.*", "long", "rm", NOW + timedelta(days=5), NOW - timedelta(days=1))
    for waivers in ([short, long], [long, short]):
        verdict, _ = decide(manifest(), results(one_a="fail"), now=NOW, waivers=waivers)
        assert verdict.reasons == ["Waived until 2025-10-25 by rm: one.a [fail] (long)"]
