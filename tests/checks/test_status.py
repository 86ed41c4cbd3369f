"""The order of statuses decides every area's colour and the verdict's worst gap."""

from __future__ import annotations

import pytest

from checks.core.status import Status, worst

E, F, P, W, S, OK = Status.ERROR, Status.FAIL, Status.PENDING, Status.WARN, Status.SKIPPED, Status.PASS


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], OK),
        ([OK], OK),
        ([OK, W], W),
        ([S, OK], S),
        ([W, S, OK], W),
        ([OK, P, W], P),
        ([P, F, W], F),
        ([F, E, OK], E),
        ([OK, OK, E], E),
    ],
    ids=lambda v: ",".join(s.value for s in v) if isinstance(v, list) else v.value,
)
def test_worst_is_the_first_in_error_fail_pending_warn_skipped_pass(statuses, expected):
    assert worst(statuses) is expected
    assert worst(iter(statuses)) is expected  # any iterable, read once


def test_ranks_run_worst_first():
    assert [s.rank for s in (E, F, P, W, S, OK)] == [0, 1, 2, 3, 4, 5]


def test_only_pass_and_warn_satisfy_a_dependency():
    assert {s for s in Status if s.ok} == {OK, W}


def test_a_check_that_could_not_look_is_not_checked():
    assert {s for s in Status if not s.checked} == {S, E}
