"""Runner paths: concurrency, timeout, exception, dependency, scrubbing, progress."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from checks.core.registry import Registry
from checks.core.runner import run_checks, select_checks
from checks.core.status import Status
from tests.checks import kinds_for_tests
from tests.checks.helpers import check_block, make_manifest


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add_module(kinds_for_tests, "tests")
    return reg


def run(manifest, registry, **kw):
    return asyncio.run(run_checks(manifest, registry=registry, **kw))


def by_id(results):
    return {r.id: r for r in results}


def test_checks_run_concurrently(registry):
    m = make_manifest(*(check_block(f"c{i}", kind="inflight", sleep_s=0.05) for i in range(10)))
    seen = {"now": 0, "max": 0}
    results = run(m, registry, extras={"inflight": seen})
    assert [r.status for r in results] == [Status.PASS] * 10
    assert seen["max"] == 10, f"{seen['max']} of 10 checks were in flight at once at the default concurrency"


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bound_is_respected_and_reached(registry, concurrency):
    extra = f"[settings]\nconcurrency = {concurrency}\n"
    m = make_manifest(*(check_block(f"c{i}", kind="inflight", sleep_s=0.02) for i in range(8)), extra=extra)
    seen = {"now": 0, "max": 0}
    results = run(m, registry, extras={"inflight": seen})
    assert [r.status for r in results] == [Status.PASS] * 8
    assert seen == {"now": 0, "max": concurrency}, f"at most {concurrency} checks in flight, and that many"


def test_timeout_becomes_error_with_evidence(registry):
    m = make_manifest(check_block("slow", sleep_s=5, timeout_s=0.2), check_block("fast"))
    results = by_id(run(m, registry))
    slow = results["slow"].result
    assert slow.status is Status.ERROR
    assert "Timed out after 0.2s" in slow.summary
    assert slow.evidence["error_type"] == "TimeoutError"
    assert slow.duration_ms < 2000
    assert results["fast"].status is Status.PASS


def test_exception_becomes_error_naming_its_type(registry):
    m = make_manifest(check_block("crash", kind="boom", message="bad answer"), check_block("ok"))
    results = by_id(run(m, registry))
    crash = results["crash"].result
    assert crash.status is Status.ERROR
    assert "ValueError" in crash.summary and "bad answer" in crash.summary
    assert crash.evidence["error_type"] == "ValueError"
    assert results["ok"].status is Status.PASS


def test_non_result_return_is_an_error(registry):
    m = make_manifest(check_block("odd", kind="wrong_type"))
    [r] = run(m, registry)
    assert r.status is Status.ERROR and "not a Result" in r.result.summary


@pytest.mark.parametrize(
    "dep_status, expected",
    [
        ("fail", Status.SKIPPED),
        ("error", Status.SKIPPED),
        ("pending", Status.SKIPPED),
        ("warn", Status.PASS),
        ("pass", Status.PASS),
    ],
    ids=["dep-fail", "dep-error", "dep-pending", "dep-warn-runs", "dep-pass-runs"],
)
def test_dependency_gates_dependants(registry, dep_status, expected):
    m = make_manifest(
        check_block("base", status=dep_status, sleep_s=0.05),
        check_block("child", depends_on=["base"]),
        check_block("grandchild", depends_on=["child"]),
    )
    results = by_id(run(m, registry))
    assert results["child"].status is expected
    assert results["grandchild"].status is expected
    if expected is Status.SKIPPED:
        assert "base" in results["child"].result.summary
        assert results["child"].result.evidence["blocked_by"] == ["base"]
        assert "child" in results["grandchild"].result.summary


def test_secret_is_scrubbed_from_every_field(registry):
    secret = "GOCSPX-abcdefghijklmnopqrstuvwx"
    extra = '[[env]]\nname = "GOOGLE_OAUTH_CLIENT_SECRET"\ntype = "google_client_secret"\nitem = "a.one"\n'
    m = make_manifest(check_block("leak", kind="leaky"), extra=extra)
    results = run(m, registry, env={"GOOGLE_OAUTH_CLIENT_SECRET": secret}, checks=m.match_checks(["leak"]))
    r = results[0]
    assert secret not in repr(r) and secret not in str(r.to_dict())
    assert "***" in r.result.summary  # a Google client secret's shape: masked whole by its shape


def test_a_registered_secret_without_a_shape_shows_as_its_fingerprint(registry):
    from checks.core.redact import fingerprint

    secret = "plain-looking-value-4f2a9c"
    extra = '[[env]]\nname = "GOOGLE_OAUTH_CLIENT_SECRET"\ntype = "string"\nsecret = true\nitem = "a.one"\n'
    m = make_manifest(check_block("leak", kind="leaky"), extra=extra)
    results = run(m, registry, env={"GOOGLE_OAUTH_CLIENT_SECRET": secret}, checks=m.match_checks(["leak"]))
    r = results[0]
    assert secret not in str(r.to_dict())
    assert fingerprint(secret) in r.result.summary  # which secret the check leaked, not what it is


def test_exception_message_is_scrubbed(registry):
    secret = "GOCSPX-zyxwvutsrqponmlkjihgfedc"
    extra = '[[env]]\nname = "GOOGLE_OAUTH_CLIENT_SECRET"\ntype = "google_client_secret"\nitem = "a.one"\n'
    m = make_manifest(check_block("crash", kind="boom", message=f"token={secret} rejected"), extra=extra)
    [r] = run(m, registry, env={"GOOGLE_OAUTH_CLIENT_SECRET": secret}, checks=m.match_checks(["crash"]))
    assert r.status is Status.ERROR
    assert secret not in str(r.to_dict())


def test_progress_callback_sees_every_check(registry):
    m = make_manifest(*(check_block(f"c{i}") for i in range(5)))
    seen = []
    run(m, registry, on_result=lambda r, done, total: seen.append((r.id, done, total)))
    assert sorted(s[0] for s in seen) == [f"c{i}" for i in range(5)]
    assert [s[1] for s in seen] == [1, 2, 3, 4, 5] and {s[2] for s in seen} == {5}


def test_broken_progress_callback_does_not_break_the_sweep(registry):
    m = make_manifest(check_block("c"))

    def explode(*_):
        raise RuntimeError("display died")

    [r] = run(m, registry, on_result=explode)
    assert r.status is Status.PASS


def test_select_only_pulls_in_dependencies():
    m = make_manifest(check_block("base"), check_block("child", depends_on=["base"]), check_block("other"))
    assert [c.id for c in select_checks(m, only=["child"])] == ["base", "child"]
    assert [c.id for c in select_checks(m, only=["oth*"])] == ["other"]


def test_select_by_area():
    m = make_manifest(check_block("a1"), check_block("b1", item="b.two"))
    assert [c.id for c in select_checks(m, areas=["b"])] == ["b1"]


def test_results_carry_area_timing_and_clock(registry, clock):
    m = make_manifest(check_block("x", item="b.two", sleep_s=0.05))
    [r] = run(m, registry, clock=clock)
    assert r.area == "b" and r.item == "b.two"
    assert r.result.observed_at == clock.now()
    assert r.result.duration_ms >= 40


# --- the sweep deadline (issue #9, section 4): a chain of slow checks must not add up past it ---------------


def test_sweep_deadline_cuts_a_slow_chain(registry):
    m = make_manifest(
        check_block("c1", sleep_s=0.6),
        check_block("c2", sleep_s=0.6, depends_on=["c1"]),
        check_block("c3", sleep_s=0.6, depends_on=["c2"]),
        check_block("free", sleep_s=0.05),
        extra="[settings]\nsweep_deadline_s = 0.9\n",
    )
    results = by_id(run(m, registry))
    assert results["c1"].status is Status.PASS and results["free"].status is Status.PASS
    running, waiting = results["c2"].result, results["c3"].result
    assert running.status is Status.ERROR and "Cancelled at the sweep deadline (0.9s)" in running.summary
    assert running.evidence["sweep_deadline_s"] == 0.9 and running.evidence["error_type"] == "SweepDeadline"
    assert waiting.status is Status.ERROR and "Not started: the sweep deadline (0.9s)" in waiting.summary
    assert waiting.evidence == {"error_type": "SweepDeadline", "sweep_deadline_s": 0.9, "waiting_on": ["c2"]}


def test_default_sweep_deadline_is_twice_the_largest_timeout(registry):
    m = make_manifest(
        *(
            check_block(f"c{i}", sleep_s=0.25, timeout_s=0.3, depends_on=[f"c{i - 1}"] if i > 1 else None)
            for i in (1, 2, 3)
        )
    )
    results = by_id(run(m, registry))  # cut at 0.6 s, not run to 0.75 s
    assert results["c1"].status is Status.PASS and results["c2"].status is Status.PASS
    assert results["c3"].status is Status.ERROR and "sweep deadline (0.6s)" in results["c3"].result.summary


def test_sweep_deadline_bounds_waiting_for_a_free_slot(registry):
    m = make_manifest(
        *(check_block(f"c{i}", sleep_s=0.2 if i == 0 else 5) for i in range(3)),
        extra="[settings]\nconcurrency = 1\nsweep_deadline_s = 0.3\n",
    )
    results = run(m, registry)
    assert [r.status for r in results] == [Status.PASS, Status.ERROR, Status.ERROR]
    # the last one never got the slot: it was not started, and the release manager is told what to change
    assert results[2].result.summary == (
        "Not started: the sweep deadline (0.3s) passed while it waited for a free slot (settings.concurrency = 1): "
        "could not tell; fix what is slow, or raise settings.sweep_deadline_s"
    )
    # the second was cut at the deadline rather than left to sleep its 5 s
    assert results[1].result.duration_ms < 5000 and "sweep deadline" in results[1].result.summary


def test_check_timeout_is_cut_to_the_deadline_and_said_so(registry):
    m = make_manifest(check_block("slow", sleep_s=5, timeout_s=2), extra="[settings]\nsweep_deadline_s = 0.2\n")
    [r] = run(m, registry)
    assert r.status is Status.ERROR and "sweep deadline" in r.result.summary and r.result.duration_ms < 1000


def test_a_check_whose_turn_comes_after_the_deadline_is_not_started(registry):
    """Its dependency passed in time, but the sweep got back to it only after the deadline (here a progress
    display held the event loop): it is not started then, and says why; its kind never runs."""
    m = make_manifest(
        check_block("first"),
        check_block("then", kind="client", depends_on=["first"]),
        extra="[settings]\nsweep_deadline_s = 0.4\n",
    )

    def slow_display(result, done, total):
        if result.id == "first":
            time.sleep(0.6)

    seen: dict = {}
    results = by_id(run(m, registry, on_result=slow_display, extras=seen))
    assert results["first"].status is Status.PASS
    then = results["then"].result
    assert then.status is Status.ERROR
    assert then.summary.startswith("Not started: the sweep deadline (0.4s) passed while it waited for its turn")
    assert then.evidence == {"error_type": "SweepDeadline", "sweep_deadline_s": 0.4, "waiting_on": []}
    assert "client" not in seen


class _RateLimited(BaseHTTPRequestHandler):
    """Answers every request 429 with ``Retry-After: 5``; counts them."""

    def do_GET(self) -> None:  # noqa: N802
        self.server.calls += 1  # type: ignore[attr-defined]
        self.send_response(429)
        self.send_header("Retry-After", "5")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_kind_is_told_the_sweep_deadline_and_does_not_wait_past_it(registry):
    """A provider asks to be retried in 5 s: within the check's 10 s timeout, but past the sweep's 2 s
    deadline. The kind knows the deadline (``ctx.deadline``), so it reports the rate limit at once rather than
    sleeping until the sweep cuts it with nothing to show."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    srv.calls = 0  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1/thing"
        m = make_manifest(check_block("api", kind="retrying", timeout_s=10), extra="[settings]\nsweep_deadline_s = 2\n")
        [r] = run(m, registry, extras={"url": url})
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.status is Status.ERROR
    assert "rate-limited, retry after 5 s" in r.result.summary, r.result.summary
    assert (r.result.evidence["retry_after_s"], srv.calls) == (5, 1)


# --- a dependency that never finishes: its kind ignores cancellation ------------------------------------------


def run_with_stuck_kind(manifest, registry, budget_s=3.0):
    """The sweep's results, and whether it returned on its own: the stuck kind is released once the sweep
    returns, or after ``budget_s`` if it has not (a sweep that waited for the stuck kind then returns only after
    the release, which the test sees, instead of hanging the test run)."""
    release = asyncio.Event()
    out = {}

    async def sweep():
        out["results"] = by_id(await run_checks(manifest, registry=registry, extras={"release": release}))
        out["on_its_own"] = not release.is_set()

    async def bounded():
        task = asyncio.ensure_future(sweep())
        await asyncio.wait({task}, timeout=budget_s)
        release.set()
        await task

    asyncio.run(bounded())
    return out["results"], out["on_its_own"]


def test_a_dependency_stuck_past_the_deadline_ends_its_dependant_as_error(registry):
    m = make_manifest(
        check_block("stuck", kind="stuck", timeout_s=5),
        check_block("child", depends_on=["stuck"]),
        check_block("free"),
        extra="[settings]\nsweep_deadline_s = 0.3\n",
    )
    results, on_its_own = run_with_stuck_kind(m, registry)
    assert on_its_own, "the sweep waited for the stuck check past its 0.3 s deadline"
    stuck, child = results["stuck"].result, results["child"].result
    assert stuck.status is Status.ERROR
    assert stuck.summary.startswith("Cancelled at the sweep deadline (0.3s) after running 0.")
    assert "(it ignored the cancellation and was abandoned: a bug in the check kind)" in stuck.summary
    assert stuck.evidence["abandoned"] is True
    # how long it ran before the deadline cut it, to the millisecond (0.3 s, not rounded to 0)
    assert 0.25 <= stuck.evidence["waited_s"] < 1.0 and stuck.evidence["waited_s"] == round(
        stuck.evidence["waited_s"], 3
    )
    assert child.status is Status.ERROR
    assert child.summary.startswith(
        "Not started: the sweep deadline (0.3s) passed while it waited for its dependencies (stuck)"
    )
    assert child.evidence["waiting_on"] == ["stuck"]
    assert results["free"].status is Status.PASS


def test_a_dependency_stuck_past_its_timeout_skips_its_dependant(registry):
    m = make_manifest(check_block("stuck", kind="stuck", timeout_s=0.2), check_block("child", depends_on=["stuck"]))
    results, on_its_own = run_with_stuck_kind(m, registry)
    assert on_its_own, "the sweep waited for a check stuck past its 0.2 s timeout"
    stuck = results["stuck"].result
    assert stuck.status is Status.ERROR and stuck.evidence["error_type"] == "TimeoutError"
    assert stuck.summary.startswith("Timed out after 0.2s (it ignored the cancellation and was abandoned")
    assert results["child"].status is Status.SKIPPED
    assert results["child"].result.summary == "Skipped: depends on stuck (error); fix that first"


def test_an_abandoned_kind_failing_late_leaves_no_asyncio_error_in_the_log(registry, caplog):
    """A kind that ignored its cancellation and raises after the sweep gave up on it: its failure is
    collected by the runner, not left for asyncio to print ("Task exception was never retrieved") over
    the release manager's output."""
    import gc

    m = make_manifest(check_block("late", kind="stuck_then_crash", timeout_s=0.2))
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        results, _ = run_with_stuck_kind(m, registry)
        gc.collect()
    assert results["late"].result.evidence["abandoned"] is True
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_an_abandoned_kind_is_left_running_to_its_end_not_destroyed(registry, caplog):
    """The runner stops waiting for a kind that ignored its cancellation, but keeps it alive: asyncio holds
    tasks only weakly, and a collected task dies mid-work with "Task was destroyed but it is pending!" on the
    release manager's output. Here the garbage is collected while the sweep still runs another check."""
    m = make_manifest(check_block("stuck", kind="orphan", timeout_s=0.1), check_block("other", kind="collector"))
    extras: dict = {"abandoned": asyncio.Event()}

    def given_up(result, done, total):
        if result.id == "stuck":
            extras["abandoned"].set()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        results = by_id(run(m, registry, extras=extras, on_result=given_up))
    assert results["stuck"].result.evidence["abandoned"] is True
    assert (results["other"].status, results["other"].result.summary) == (
        Status.PASS,
        "the abandoned kind ran to its end",
    )
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_a_kind_failing_while_it_is_cancelled_leaves_no_asyncio_error_in_the_log(registry, caplog):
    """Cut at its timeout, the kind's clean-up raises: it did stop (not abandoned), the check is a timeout, and
    its exception is collected by the runner rather than printed by asyncio ("Task exception was never
    retrieved") when the task is freed."""
    import gc

    m = make_manifest(check_block("cleanup", kind="crash_on_cancel", timeout_s=0.2))
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        [r] = run(m, registry)
        gc.collect()
    assert (r.result.status, r.result.evidence["error_type"]) == (Status.ERROR, "TimeoutError")
    assert r.result.evidence["abandoned"] is False
    assert [rec.getMessage() for rec in caplog.records if rec.name == "asyncio"] == []


def test_a_dependant_waiting_on_several_late_dependencies_names_them_all(registry):
    m = make_manifest(
        check_block("one", kind="stuck", timeout_s=5),
        check_block("two", kind="stuck", timeout_s=5),
        check_block("child", depends_on=["one", "two"]),
        extra="[settings]\nsweep_deadline_s = 0.3\n",
    )
    results, _ = run_with_stuck_kind(m, registry)
    child = results["child"].result
    assert child.summary.startswith(
        "Not started: the sweep deadline (0.3s) passed while it waited for its dependencies (one, two)"
    ), child.summary
    assert child.evidence["waiting_on"] == ["one", "two"]


# --- what the release manager reads when a check could not tell: whole texts and evidence ---------------


def test_a_crash_reads_as_a_bug_in_the_kind_with_its_message(registry):
    m = make_manifest(check_block("crash", kind="boom", message="bad answer"))
    [r] = run(m, registry)
    assert (r.result.summary, r.result.remediation, r.result.evidence) == (
        "Check crashed with ValueError: bad answer",
        "This is a bug in the check kind or an answer it did not expect; see the evidence",
        {"error_type": "ValueError", "error": "bad answer"},
    )


def test_a_crash_message_is_cut_at_300_in_the_summary_and_1000_in_the_evidence(registry):
    m = make_manifest(check_block("crash", kind="boom", message="y" * 5000))
    [r] = run(m, registry)
    assert r.result.summary == "Check crashed with ValueError: " + "y" * 299 + "…"
    assert r.result.evidence["error"] == "y" * 999 + "…"


def test_a_non_result_names_the_kind_and_what_it_returned(registry):
    m = make_manifest(check_block("odd", kind="wrong_type"))
    [r] = run(m, registry)
    assert (r.result.summary, r.result.evidence) == (
        "Check kind 'wrong_type' returned str, not a Result (a bug in the kind)",
        {"error_type": "TypeError"},
    )


def test_a_timeout_says_what_to_do_and_records_the_wait(registry):
    m = make_manifest(check_block("slow", sleep_s=5, timeout_s=0.2))
    [r] = run(m, registry)
    assert r.result.summary == (
        "Timed out after 0.2s: could not tell; retry, or raise timeout_s if the service is slow"
    )
    evidence = dict(r.result.evidence)
    waited = evidence.pop("waited_s")
    assert evidence == {"error_type": "TimeoutError", "timeout_s": 0.2, "abandoned": False}
    assert 0.2 <= waited < 2 and waited == round(waited, 3)


def test_a_skip_names_each_blocking_dependency_and_its_status(registry):
    m = make_manifest(
        check_block("base", status="fail"),
        check_block("other", status="error"),
        check_block("child", depends_on=["base", "other"]),
    )
    child = by_id(run(m, registry))["child"].result
    assert (child.summary, child.evidence) == (
        "Skipped: depends on base (fail), other (error); fix that first",
        {"blocked_by": ["base", "other"]},
    )


def test_evidence_is_scrubbed_and_cut_at_every_depth(registry):
    from checks.core.result import Condition, Result

    class Odd:
        def __repr__(self) -> str:
            return "Odd(repr)"

        def __str__(self) -> str:
            return "odd " + "z" * 5000

    deep: object = "bottom"
    for _ in range(9):
        deep = [deep]
    result = Result(
        Status.FAIL,
        "s",
        {
            "odd": Odd(),
            "n": 3,
            "f": 1.5,
            "b": True,
            "none": None,
            "k" * 300: "v",
            "deep": deep,
            "deep_map": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": Odd()}}}}}}}},
        },
        "r" * 3000,
        conditions=(Condition("n" * 300, False, "d" * 3000),),
    )
    m = make_manifest(check_block("e", kind="echo"))
    [r] = run(m, registry, extras={"result": result})
    ev = r.result.evidence
    assert ev["odd"] == "odd " + "z" * 3995 + "…"
    assert (ev["n"], ev["f"], ev["b"], ev["none"]) == (3, 1.5, True, None)
    assert ev["k" * 199 + "…"] == "v"
    # the evidence map is level 0: what lies at level 8 is shown as its repr, cut to 200
    assert ev["deep"] == [[[[[[["[['bottom']]"]]]]]]]
    assert ev["deep_map"] == {"a": {"b": {"c": {"d": {"e": {"f": {"g": "{'h': Odd(repr)}"}}}}}}}
    assert r.result.remediation == "r" * 1999 + "…"
    assert r.result.conditions == (Condition("n" * 199 + "…", False, "d" * 1999 + "…"),)


def test_the_runner_s_own_client_names_readiness_and_is_closed_after_the_sweep(registry):
    from checks.core.runner import user_agent

    m = make_manifest(check_block("c", kind="client"), extra="[settings]\ntimeout_s = 7\n")
    seen: dict = {}
    run(m, registry, extras=seen)
    own = seen["client"]
    assert own.headers["User-Agent"] == user_agent()
    assert own.timeout.read == 7
    assert own.is_closed


def test_a_client_the_caller_passes_is_used_and_left_open(registry):
    import httpx

    async def sweep():
        async with httpx.AsyncClient() as mine:
            seen: dict = {}
            m = make_manifest(check_block("c", kind="client"))
            await run_checks(m, registry=registry, client=mine, extras=seen)
            return mine, seen["client"], mine.is_closed

    mine, used, closed_after_sweep = asyncio.run(sweep())
    assert used is mine and not closed_after_sweep


def test_a_sweep_given_no_extras_hands_each_kind_an_empty_map(registry):
    """``extras`` is optional: a kind that reads or writes ``ctx.extras`` (the vault kinds, env) gets an empty
    map, not ``None``."""
    m = make_manifest(check_block("c", kind="client"))
    [r] = run(m, registry)
    assert (r.status, r.result.summary) == (Status.PASS, "seen")
