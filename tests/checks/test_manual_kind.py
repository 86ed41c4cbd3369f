"""Kind `manual`: attestations read as pass, pending, stale or missing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from checks.builtin.manual import ManualParams, manual
from checks.core.clock import FixedClock
from checks.core.facts import Attestation
from checks.core.status import Status
from tests.checks.helpers import check_block, make_manifest, run_kind

NOW = datetime(2025, 10, 20, 12, tzinfo=UTC)


def run(attestation: Attestation | None, **params):
    m = make_manifest(check_block("a.one.approved", kind="manual", pass_on=["approved"]))
    validated = ManualParams(**{"pass_on": ["approved"], **params})
    return run_kind(
        lambda ctx: manual(validated, ctx),
        manifest=m,
        check=m.checks[0],
        clock=FixedClock(NOW),
        attestations={"a.one": attestation} if attestation else {},
    )


def att(status, days_ago=1, effective=None):
    return Attestation(
        item="a.one",
        status=status,
        by="rohan",
        at=NOW - timedelta(days=days_ago),
        note="form sent",
        effective=effective,
    )


def test_missing_attestation_fails_and_says_how_to_attest():
    r = run(None)
    assert r.status is Status.FAIL
    assert "No attestation for a.one" in r.summary and "readiness attest a.one" in r.remediation


@pytest.mark.parametrize(
    "status, params, expected",
    [
        ("approved", {}, Status.PASS),
        ("submitted", {"pending_on": ["submitted"]}, Status.PENDING),
        ("configured", {"warn_on": ["configured"]}, Status.WARN),
        ("rejected", {}, Status.FAIL),
        ("submitted", {}, Status.FAIL),
    ],
    ids=["approved-pass", "submitted-pending", "configured-warn", "rejected-fail", "unlisted-fail"],
)
def test_status_mapping(status, params, expected):
    r = run(att(status), **params)
    assert r.status is expected
    assert r.evidence["attested"] == status and r.evidence["by"] == "rohan"


def test_pending_summary_counts_days_since_the_effective_date():
    r = run(att("submitted", days_ago=0, effective=date(2025, 10, 10)), pending_on=["submitted"])
    assert r.status is Status.PENDING and "(10 days so far)" in r.summary


def test_stale_attestation_is_not_passing():
    assert run(att("approved", days_ago=10), ttl_days=30).status is Status.PASS
    stale = run(att("approved", days_ago=40), ttl_days=30)
    assert stale.status is Status.FAIL and stale.evidence["stale"] is True and "stale" in stale.summary
