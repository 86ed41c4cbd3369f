"""The runner: every selected check concurrently, on one shared ``httpx.AsyncClient``.

* a concurrency bound (``settings.concurrency``) and a timeout per check (``timeout_s``); its own client
  (:func:`checks.core.outbound_pool.sweep_client`) also bounds the requests in flight to each provider host
  (``settings.per_host``), each host on a pool of its own;
* a deadline for the whole sweep (``settings.sweep_deadline_s``, default twice the largest timeout of the
  selected checks): a check still running then is cancelled, one not started by then (waiting on a
  dependency or a free slot) is not started; both are ``error`` results naming the deadline;
* a check whose dependency did not pass (``pass`` or ``warn``) is ``skipped``, naming the dependency;
* an exception becomes an ``error`` result with its type and a scrubbed message, a timeout an ``error``
  result saying so: a sweep never raises;
* a kind that does not stop when cancelled (a retry loop that swallows the cancellation) is abandoned
  after a short grace: its check ends as ``error`` on time, and neither its dependants nor the sweep hang;
* every summary, remediation and evidence string passes through the scrubber on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel

from checks.core.clock import Clock, SystemClock
from checks.core.facts import Attestation
from checks.core.hookspecs import CheckContext
from checks.core.manifest import CheckSpec, Manifest
from checks.core.outbound_pool import sweep_client
from checks.core.redact import Scrubber
from checks.core.registry import Registry, get_registry
from checks.core.result import CheckResult, Condition, Result
from checks.core.status import Status
from checks.core.version import __version__

__all__ = ["ProgressCallback", "run_checks", "select_checks", "user_agent"]

ProgressCallback = Callable[[CheckResult, int, int], None]
"""Called after each check finishes with (result, done, total)."""


def user_agent() -> str:
    return f"readiness/{__version__} (+release readiness probe)"


def select_checks(manifest: Manifest, only: Collection[str] = (), areas: Collection[str] = ()) -> list[CheckSpec]:
    """Checks chosen by ``--only`` (ids or globs) and ``--area``, plus what they depend on."""
    chosen = list(manifest.all_checks)
    if only:
        chosen = [c for c in chosen if any(fnmatch.fnmatchcase(c.id, p) for p in only)]
    if areas:
        chosen = [c for c in chosen if manifest.area_of(c) in areas]
    wanted = {c.id for c in chosen}
    frontier = list(wanted)
    while frontier:
        for dep in manifest.checks_by_id[frontier.pop()].depends_on:
            if dep not in wanted:
                wanted.add(dep)
                frontier.append(dep)
    return [c for c in manifest.all_checks if c.id in wanted]


async def run_checks(
    manifest: Manifest,
    checks: list[CheckSpec] | None = None,
    *,
    registry: Registry | None = None,
    params: Mapping[str, BaseModel] | None = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    attestations: Mapping[str, Attestation] | None = None,
    client: httpx.AsyncClient | None = None,
    scrubber: Scrubber | None = None,
    standins_url: str | None = None,
    extras: dict[str, Any] | None = None,
    on_result: ProgressCallback | None = None,
) -> list[CheckResult]:
    """Run ``checks`` (default: all) and return their results in manifest order. Never raises for a check."""
    registry = registry or get_registry()
    checks = list(manifest.all_checks) if checks is None else checks
    params = params if params is not None else registry.validate(manifest, checks)
    clock = clock or SystemClock()
    env = dict(env or {})
    scrubber = scrubber or Scrubber(env[name] for name in manifest.iter_secret_env() if env.get(name))
    semaphore = asyncio.Semaphore(manifest.settings.concurrency)
    done: dict[str, asyncio.Future[CheckResult]] = {}
    loop = asyncio.get_running_loop()
    for check in checks:
        done[check.id] = loop.create_future()
    counter = [0]
    abandoned: set[asyncio.Task[Result]] = set()  # kinds that ignored cancellation, still running

    own_client = client is None
    if client is None:
        client = sweep_client(manifest.settings.per_host, manifest.settings.timeout_s, user_agent())

    async def _bounded(work: Awaitable[Result], until: float) -> Result:
        """``work`` until ``until``, then cancelled; raises ``TimeoutError`` (``_Abandoned`` when it did not
        stop within ``_GRACE_S`` of the cancellation: left running, never awaited again)."""
        task = asyncio.ensure_future(work)
        try:
            finished, _ = await asyncio.wait({task}, timeout=max(until - loop.time(), 0))
        except asyncio.CancelledError:
            task.cancel()
            raise
        if finished:
            return task.result()
        task.cancel()
        finished, _ = await asyncio.wait({task}, timeout=_GRACE_S)
        if finished:
            _ = task.cancelled() or task.exception()  # answered or raised while being cancelled: too late
            raise TimeoutError
        abandoned.add(task)
        task.add_done_callback(_forget(abandoned))
        raise _Abandoned

    async def one(check: CheckSpec) -> None:
        started = time.perf_counter()
        result = await _run_one(check, started)
        outcome = CheckResult(
            id=check.id,
            item=check.item,
            area=manifest.area_of(check),
            kind=check.kind,
            severity=check.severity,
            result=_scrubbed(result, scrubber, (time.perf_counter() - started) * 1000, clock.now()),
        )
        done[check.id].set_result(outcome)
        counter[0] += 1
        if on_result is not None:
            with contextlib.suppress(Exception):  # a broken progress display must not break the sweep
                on_result(outcome, counter[0], len(checks))

    deadline_s = manifest.settings.deadline_for(c.timeout_s or manifest.settings.timeout_s for c in checks)
    deadline = loop.time() + deadline_s

    async def _run_one(check: CheckSpec, started: float) -> Result:
        waiting = [dep for dep in check.depends_on if dep in done]  # others: not selected, judged by their run
        if waiting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    for dep in waiting:
                        await asyncio.shield(done[dep])  # a cancelled wait must not cancel the dependency's result
        known = {dep: done[dep].result() for dep in waiting if done[dep].done()}
        blocked = [f"{d} ({r.status.value})" for d, r in known.items() if not r.status.ok and not _cut(r.result)]
        if blocked:
            return Result(
                Status.SKIPPED,
                f"Skipped: depends on {', '.join(blocked)}; fix that first",
                {"blocked_by": [b.split(" ")[0] for b in blocked]},
            )
        late = [dep for dep in waiting if dep not in known or _cut(known[dep].result)]
        if late or loop.time() >= deadline:
            what = f"its dependencies ({', '.join(late)})" if late else "its turn"
            return _not_started(deadline_s, what, waiting_on=late)
        timeout = check.timeout_s or manifest.settings.timeout_s
        if semaphore.locked():  # a free slot is taken at once: no deadline to arm
            try:
                async with asyncio.timeout_at(deadline):
                    await semaphore.acquire()
            except TimeoutError:
                return _not_started(deadline_s, f"a free slot (settings.concurrency = {manifest.settings.concurrency})")
        else:
            await semaphore.acquire()
        try:
            started_inner = time.perf_counter()
            until = min(loop.time() + timeout, deadline)
            try:
                kind = registry.get(check.kind)
                ctx = CheckContext(
                    check=check,
                    client=client,
                    clock=clock,
                    env=env,
                    manifest=manifest,
                    attestations=attestations or {},
                    scrubber=scrubber,
                    standins_url=standins_url,
                    extras=extras if extras is not None else {},
                    deadline=until,
                )
                result = await _bounded(kind.run(params[check.id], ctx), until)
                if not isinstance(result, Result):
                    return Result.errored(
                        f"Check kind {check.kind!r} returned {type(result).__name__}, not a Result (a bug in the kind)",
                        error_type="TypeError",
                    )
                return result
            except TimeoutError as exc:
                waited = time.perf_counter() - started_inner
                stuck = (
                    " (it ignored the cancellation and was abandoned: a bug in the check kind)"
                    if isinstance(exc, _Abandoned)
                    else ""
                )
                if until >= deadline:
                    return Result.errored(
                        f"Cancelled at the sweep deadline ({deadline_s:g}s) after running {waited:.1f}s{stuck}: "
                        "could not tell; fix what is slow, or raise settings.sweep_deadline_s",
                        error_type=_DEADLINE,
                        sweep_deadline_s=deadline_s,
                        timeout_s=timeout,
                        waited_s=round(waited, 3),
                        abandoned=bool(stuck),
                    )
                return Result.errored(
                    f"Timed out after {timeout:g}s{stuck}: could not tell; retry, or raise timeout_s if the service "
                    "is slow",
                    error_type="TimeoutError",
                    timeout_s=timeout,
                    waited_s=round(waited, 3),
                    abandoned=bool(stuck),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # collected, never raised: one bad check must not stop the sweep
                return Result.errored(
                    f"Check crashed with {type(exc).__name__}: {scrubber.clip(str(exc), 300)}",
                    remediation="This is a bug in the check kind or an answer it did not expect; see the evidence",
                    error_type=type(exc).__name__,
                    error=scrubber.clip(str(exc), 1000),
                )
        finally:
            semaphore.release()

    try:
        await asyncio.gather(*(one(c) for c in checks))
    finally:
        if own_client:
            await client.aclose()
    return [done[c.id].result() for c in checks]


_DEADLINE = "SweepDeadline"
_GRACE_S = 0.1
"""How long a cancelled kind may take to stop before the runner stops waiting for it."""


class _Abandoned(TimeoutError):
    """The kind did not stop when cancelled."""


def _forget(tasks: set[asyncio.Task[Result]]) -> Callable[[asyncio.Task[Result]], None]:
    def done(task: asyncio.Task[Result]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned kind's late failure is not an unhandled-task warning

    return done


def _cut(result: Result) -> bool:
    return result.evidence.get("error_type") == _DEADLINE


def _not_started(deadline_s: float, what: str, **evidence: Any) -> Result:
    """The ``error`` of a check the sweep deadline reached before it could start."""
    return Result.errored(
        f"Not started: the sweep deadline ({deadline_s:g}s) passed while it waited for {what}: could not tell; "
        "fix what is slow, or raise settings.sweep_deadline_s",
        error_type=_DEADLINE,
        sweep_deadline_s=deadline_s,
        **evidence,
    )


def _scrubbed(result: Result, scrubber: Scrubber, duration_ms: float, observed_at: datetime) -> Result:
    """``result`` as it leaves the runner: every string scrubbed and cut, timed (one copy: ``with_timing``'s too)."""
    return replace(
        result,
        duration_ms=duration_ms,
        observed_at=observed_at,
        summary=scrubber.clip(result.summary, _SUMMARY_MAX),
        remediation=scrubber.clip(result.remediation, _SUMMARY_MAX),
        evidence=_scrub_value(result.evidence, scrubber),
        conditions=tuple(
            Condition(scrubber.clip(c.name, 200), c.passed, scrubber.clip(c.detail, _SUMMARY_MAX))
            for c in result.conditions
        ),
    )


_SUMMARY_MAX = 2000  # a summary, remediation or condition: long enough for any we write, bounded for any echo
_EVIDENCE_MAX = 4000  # one evidence string
_EVIDENCE_DEPTH = 8


def _scrub_value(value: Any, scrubber: Scrubber, depth: int = 0) -> Any:
    """Evidence, scrubbed then cut, keys included (a provider may key a map by what we sent)."""
    if isinstance(value, str):
        return scrubber.clip(value, _EVIDENCE_MAX)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _EVIDENCE_DEPTH:
        return scrubber.clip(repr(value), 200)
    if isinstance(value, dict):
        return {scrubber.clip(str(k), 200): _scrub_value(v, scrubber, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v, scrubber, depth + 1) for v in value]
    return scrubber.clip(str(value), _EVIDENCE_MAX)
